/* cmd_training.c - `dissect training CONFIG`: the training-conditions
 * experiment (experiments/training.h) from a strict INI file.
 *
 * Keys (R = required; every section and key is checked):
 *   [experiment] train_config (R)  the baseline's `dissect train` config
 *                seeds             baseline seeds, default 1, 2, 3 (the first also
 *                                  seeds nodropout, batchnorm and random)
 *                layers (R)        comma list of layers dissected per condition
 *                last_layer        default the last of layers (iterations, sweep)
 *                iterations        replaces the train config's [schedule] iterations
 *                snapshots (R)     snapshot iterations of the first seed's run
 *   [world]      images 20000, probe_images 2000, size 72, seed 1, probe_seed 2,
 *                val_every 5, noise 6, light 0.5, clutter 0.25, rotate 12, cue 0.7,
 *                colors (${DATA}/data/colornames/w2color.npy)
 *   [dissect]    profile netdissect, quantile 0.005, iou_threshold 0.04, batch 32
 *   [sweep]      alphas (none: no sweep), draws 1, probes false, probe_alphas (all)
 *   [output]     dir (R)
 */
#include "core/err.h"
#include "core/options.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"
#include "experiments/training.h"

#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect training CONFIG [--out DIR] [--threads N] [--no-plot]\n\n"
            "The training-conditions experiment on the synthetic world: renders a training\n"
            "world and a probe world, trains the baseline (three seeds), no dropout, batch\n"
            "norm and a random untrained network from one train config, dissects each at\n"
            "every layer on the probe world, dissects the first seed's log-spaced snapshots\n"
            "at the last conv layer, runs the rotation sweep on the trained baseline, and\n"
            "writes conditions.csv, summary.csv, iterations.csv, table.md and figures/.\n"
            "Every step keeps a key of its settings: started again, it skips finished\n"
            "steps and refuses a folder made with other settings.  See\n"
            "experiments/configs/README.md for the keys.\n\n"
            "  --out DIR      output folder (overrides [output] dir)\n"
            "  --threads N    threads (default: every CPU; results do not depend on it)\n"
            "  --no-plot      skip the figures\n");
}

typedef struct {
    training_spec *s;
    char err[1024];
    int seen_train, seen_layers, seen_snaps, seen_out;
} parse_ctx;

static int bad(parse_ctx *p, const char *sec, const char *key, const char *what, const char *v)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, "[%s] %s: '%s' %s", sec, key, v, what);
    return 0;
}

static int lkey(parse_ctx *p, const char *s, const char *k, const char *v, long lo, long hi,
                long *out)
{
    if (cli_long(v, out) || *out < lo || *out > hi) {
        char m[96];
        snprintf(m, sizeof m, "is not an integer in %ld..%ld", lo, hi);
        return bad(p, s, k, m, v);
    }
    return 1;
}

static int dkey(parse_ctx *p, const char *s, const char *k, const char *v, double lo, double hi,
                double *out)
{
    if (cli_double(v, out) || *out < lo || *out > hi) {
        char m[96];
        snprintf(m, sizeof m, "is not a number in [%g, %g]", lo, hi);
        return bad(p, s, k, m, v);
    }
    return 1;
}

static int skey(char **dst, const char *v)
{
    free(*dst);
    return (*dst = strdup(v)) != NULL;
}

static int seeds_key(parse_ctx *p, const char *v)
{
    double *d;
    int n;
    if (cli_double_list(v, &d, &n) || n < 1 || n > TRAINING_MAX_SEEDS)
        return bad(p, "experiment", "seeds", "is not a list of 1..8 seeds", v);
    p->s->nseeds = n;
    int ok = 1;
    for (int i = 0; i < n; i++) {
        p->s->seeds[i] = (long)d[i];
        ok &= d[i] >= 0 && d[i] == (double)(long)d[i];
        for (int j = 0; j < i; j++)
            ok &= p->s->seeds[j] != p->s->seeds[i];
    }
    free(d);
    return ok ? 1 : bad(p, "experiment", "seeds", "must be distinct integers >= 0", v);
}

static int path_key(parse_ctx *p, const char *s, const char *k, const char *v, char **dst)
{
    free(*dst);
    if (!(*dst = config_resolve_path(p->s->path, v)))
        return bad(p, s, k, "is not a usable path", v);
    return 1;
}

static int experiment_key(parse_ctx *p, const char *k, const char *v)
{
    training_spec *s = p->s;
    const char *S = "experiment";
    if (!strcmp(k, "train_config"))
        return p->seen_train = 1, path_key(p, S, k, v, &s->train_config);
    if (!strcmp(k, "seeds"))
        return seeds_key(p, v);
    if (!strcmp(k, "layers"))
        return p->seen_layers = 1, skey(&s->layers, v);
    if (!strcmp(k, "last_layer"))
        return skey(&s->last_layer, v);
    if (!strcmp(k, "iterations"))
        return lkey(p, S, k, v, 1, 100000000, &s->iterations);
    if (!strcmp(k, "snapshots")) {
        double *d;
        int n;
        if (cli_double_list(v, &d, &n) || n < 1)
            return bad(p, S, k, "is not a list of iterations", v);
        free(d);
        return p->seen_snaps = 1, skey(&s->snapshots, v);
    }
    return bad(p, S, k, "is not a key of this section", v);
}

static int world_key(parse_ctx *p, const char *k, const char *v)
{
    training_spec *s = p->s;
    const char *S = "world";
    long l;
    if (!strcmp(k, "images"))
        return lkey(p, S, k, v, 1, 999999, &s->images);
    if (!strcmp(k, "probe_images"))
        return lkey(p, S, k, v, 1, 999999, &s->probe_images);
    if (!strcmp(k, "size"))
        return lkey(p, S, k, v, 8, 1024, &s->size);
    if (!strcmp(k, "val_every"))
        return lkey(p, S, k, v, 2, 1000000, &s->val_every);
    if (!strcmp(k, "seed"))
        return lkey(p, S, k, v, 0, 2147483647L, &l) ? (s->world_seed = (unsigned long)l, 1) : 0;
    if (!strcmp(k, "probe_seed"))
        return lkey(p, S, k, v, 0, 2147483647L, &l) ? (s->probe_seed = (unsigned long)l, 1) : 0;
    if (!strcmp(k, "noise"))
        return dkey(p, S, k, v, 0, 100, &s->noise);
    if (!strcmp(k, "light"))
        return dkey(p, S, k, v, 0, 1, &s->light);
    if (!strcmp(k, "clutter"))
        return dkey(p, S, k, v, 0, 1, &s->clutter);
    if (!strcmp(k, "rotate"))
        return dkey(p, S, k, v, 0, 180, &s->rotate);
    if (!strcmp(k, "cue"))
        return dkey(p, S, k, v, 0, 1, &s->cue);
    if (!strcmp(k, "colors"))
        return path_key(p, S, k, v, &s->colors);
    return bad(p, S, k, "is not a key of this section", v);
}

static int other_key(parse_ctx *p, const char *sec, const char *k, const char *v)
{
    training_spec *s = p->s;
    long l;
    if (!strcmp(sec, "dissect") && !strcmp(k, "profile")) {
        if (nd_profile_parse(v, &s->profile))
            return bad(p, sec, k, "is not netdissect or netdissect-lite", v);
        return 1;
    }
    if (!strcmp(sec, "dissect") && !strcmp(k, "quantile"))
        return dkey(p, sec, k, v, 1e-9, 0.5, &s->quantile);
    if (!strcmp(sec, "dissect") && !strcmp(k, "iou_threshold"))
        return dkey(p, sec, k, v, 0, 0.999999, &s->iou_threshold);
    if (!strcmp(sec, "dissect") && !strcmp(k, "batch"))
        return lkey(p, sec, k, v, 1, 4096, &l) ? (s->batch = (int)l, 1) : 0;
    if (!strcmp(sec, "sweep") && !strcmp(k, "alphas"))
        return skey(&s->alphas, v);
    if (!strcmp(sec, "sweep") && !strcmp(k, "probe_alphas"))
        return skey(&s->probe_alphas, v);
    if (!strcmp(sec, "sweep") && !strcmp(k, "draws"))
        return lkey(p, sec, k, v, 1, 1000, &s->draws);
    if (!strcmp(sec, "sweep") && !strcmp(k, "probes")) {
        if (strcmp(v, "true") && strcmp(v, "false"))
            return bad(p, sec, k, "is not true or false", v);
        return s->probes = !strcmp(v, "true"), 1;
    }
    if (!strcmp(sec, "output") && !strcmp(k, "dir"))
        return p->seen_out = 1, path_key(p, sec, k, v, &s->out_dir);
    return bad(p, sec, k, "is not a known section and key", v);
}

static int handler(void *user, const char *sec, const char *k, const char *v)
{
    parse_ctx *p = user;
    if (!strcmp(sec, "experiment"))
        return experiment_key(p, k, v);
    if (!strcmp(sec, "world"))
        return world_key(p, k, v);
    return other_key(p, sec, k, v);
}

static void defaults(training_spec *s)
{
    memset(s, 0, sizeof *s);
    s->seeds[0] = 1, s->seeds[1] = 2, s->seeds[2] = 3, s->nseeds = 3;
    s->images = 20000, s->probe_images = 2000, s->size = 72, s->val_every = 5;
    s->world_seed = 1, s->probe_seed = 2;
    s->noise = 6, s->light = 0.5, s->clutter = 0.25, s->rotate = 12, s->cue = 0.7;
    s->profile = ND_PROFILE_NETDISSECT, s->quantile = 0.005, s->iou_threshold = 0.04;
    s->batch = 32, s->draws = 1;
}

int training_load(training_spec *s, const char *path)
{
    defaults(s);
    parse_ctx p = {.s = s};
    if (!(s->path = strdup(path)))
        return nd_fail("out of memory");
    int line = ini_parse(path, handler, &p);
    if (line < 0)
        return nd_fail("%s: cannot read the config", path);
    if (line > 0)
        return nd_fail("%s:%d: %s", path, line, p.err[0] ? p.err : "not an INI line");
    const char *miss = !p.seen_train ? "[experiment] train_config"
                       : !p.seen_layers ? "[experiment] layers"
                       : !p.seen_snaps ? "[experiment] snapshots"
                       : !p.seen_out ? "[output] dir" : NULL;
    if (miss)
        return nd_fail("%s: missing %s", path, miss);
    if (!s->last_layer) {
        const char *c = strrchr(s->layers, ',');
        if (!skey(&s->last_layer, c ? c + 1 + strspn(c + 1, " ") : s->layers))
            return nd_fail("out of memory");
    }
    if (!s->colors && !(s->colors = config_resolve_path(path, "${DATA}/data/colornames/w2color.npy")))
        return -1;
    return 0;
}

void training_free(training_spec *s)
{
    free(s->path), free(s->train_config), free(s->out_dir), free(s->layers);
    free(s->last_layer), free(s->snapshots), free(s->colors), free(s->alphas);
    free(s->probe_alphas);
    memset(s, 0, sizeof *s);
}

int cmd_training(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'},
                                         {"no-plot", no_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    int threads = 0, no_plot = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 't':
            if (cli_threads(optarg, &threads))
                return cli_usage_error("training", "--threads '%s': expected " CLI_THREADS_RANGE, optarg);
            break;
        case 'P': no_plot = 1; break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error("training", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("training", "expected one CONFIG file, got %d arguments", argc - optind);
    training_spec s;
    if (training_load(&s, argv[optind])) {
        fprintf(stderr, "dissect: %s\n", nd_errmsg());
        training_free(&s);
        return ND_EXIT_USAGE;
    }
    int rc = 0;
    if (out) {
        free(s.out_dir);
        if (!(s.out_dir = config_resolve_path("./-", out)))
            rc = -1;
    }
    s.threads = threads, s.no_plot = no_plot, s.quiet = cli_quiet();
    if (!rc)
        rc = training_run(&s);
    training_free(&s);
    return rc ? cli_fail() : ND_EXIT_OK;
}
