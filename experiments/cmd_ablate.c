/* cmd_ablate.c - `dissect ablate`: options and the INI config (section
 * [ablate], one key per long option), then abl_experiment (ablate.h). */
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/ablate.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"

#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: dissect ablate (--weights FILE | --checkpoint DIR) --dataset DIR --layer NAME\n"
        "                      --out DIR [options]\n"
        "       dissect ablate --config FILE.ini [options]\n\n"
        "Switches units of a layer off and measures what the network loses.  The\n"
        "layer is dissected (and dissected again rotated by Q = rot_haar(K, seed + d),\n"
        "alpha = 1, as the sweep's draw d); then for each concept and k: its k best\n"
        "detectors (highest IoU with it), k random units, and its k best detectors of\n"
        "the rotated layer (the directions rows of Q, projected out at every pixel)\n"
        "are removed and the rest of the network run.  On images that contain the\n"
        "concept and on the others: the mean drop of the probability of the class the\n"
        "intact network predicts, and the fraction of images whose top-1 class changes.\n\n"
        "Writes DIR/effects.csv, DIR/figures/ablate_effect.{png,svg} (data: effect_vs_k.dat),\n"
        "DIR/dissection/ and DIR/dissection-rot-d<d>/ (dissect units' files), and with\n"
        "--classes DIR/classes.csv.  Files are replaced atomically.\n\n"
        "  --weights FILE        SqueezeNet v1.0 compressed_SqueezeNet.net\n"
        "  --checkpoint DIR      a network trained by `dissect train` (a snap-* folder)\n"
        "  --dataset DIR         Broden-format dataset\n"
        "  --layer NAME          the layer whose units are switched off (e.g. fire9)\n"
        "  --features F.npy      the layer's activations over the dataset (dissect\n"
        "                        features); default: computed here\n"
        "  --out DIR             output folder\n"
        "  --concepts A,B        label names (default: the --top-concepts best)\n"
        "  --top-concepts N      concepts with the highest single-unit IoU (default 5)\n"
        "  --k LIST              numbers of units (default 1,2,4,8,16)\n"
        "  --random-draws N      random unit sets per k (default 5), seeds S, S+1, ...\n"
        "  --random-seed S       (default 1)\n"
        "  --rotation-draws N    rotations (default 1; 0 = none), seeds S, S+1, ...\n"
        "  --rotation-seed S     (default 1: the sweep's base_seed)\n"
        "  --units LIST          also remove these units (result.csv numbers, from 1)\n"
        "  --category NAME       also remove every detector of this category (units whose\n"
        "                        best category it is, with IoU > --iou-threshold)\n"
        "  --classes CATEGORY    the network's outputs are this image-level category's\n"
        "                        classes (a trained world network: scene): balanced\n"
        "                        accuracy drops per class -> classes.csv\n"
        "  --train-split S       ranking split for --classes (default train)\n"
        "  --test-split S        measuring split for --classes (default val: the\n"
        "                        held-out split of `dissect world`)\n"
        "  --profile P           dissection profile (default netdissect)\n"
        "  --quantile Q          top quantile (default 0.005)\n"
        "  --iou-threshold T     detector if IoU > T (default 0.04)\n"
        "  --threads N           worker threads, 0 = all cores (default); results do not\n"
        "                        depend on it\n\n"
        "Config: [ablate] with the long option names as keys (weights = ..., k = 1,4,16);\n"
        "paths relative to the config's folder, ${DATA} (default ../shared) and\n"
        "${RESULTS} (default results) expanded; options given after it win.\n");
}

static const struct option opts[] = {
    {"weights", 1, 0, 'w'}, {"checkpoint", 1, 0, 'c'}, {"dataset", 1, 0, 'd'},
    {"layer", 1, 0, 'l'}, {"features", 1, 0, 'f'}, {"out", 1, 0, 'o'},
    {"concepts", 1, 0, 'C'}, {"top-concepts", 1, 0, 'T'}, {"k", 1, 0, 'k'},
    {"random-draws", 1, 0, 'R'}, {"random-seed", 1, 0, 'S'}, {"rotation-draws", 1, 0, 'D'},
    {"rotation-seed", 1, 0, 'Q'}, {"units", 1, 0, 'u'}, {"category", 1, 0, 'g'},
    {"classes", 1, 0, 'y'}, {"train-split", 1, 0, 'a'}, {"test-split", 1, 0, 'e'},
    {"profile", 1, 0, 'p'}, {"quantile", 1, 0, 'q'}, {"iou-threshold", 1, 0, 'i'},
    {"threads", 1, 0, 'j'}, {"config", 1, 0, 'F'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};

static const char *opt_name(int c)
{
    for (const struct option *o = opts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

static int is_path(int c) { return strchr("wcdfo", c) != NULL; }

/* One option's value; 0 ok, else a message in err. */
static int set_opt(abl_args *a, int c, const char *v, char *err, size_t cap)
{
    long l;
    double d;
    switch (c) {
    case 'w': a->weights = v; return 0;
    case 'c': a->checkpoint = v; return 0;
    case 'd': a->dataset = v; return 0;
    case 'l': a->layer = v; return 0;
    case 'f': a->features = v; return 0;
    case 'o': a->out = v; return 0;
    case 'C': a->concepts = v; return 0;
    case 'u': a->units = v; return 0;
    case 'g': a->category = v; return 0;
    case 'y': a->classes = v; return 0;
    case 'a': a->train_split = v; return 0;
    case 'e': a->test_split = v; return 0;
    case 'T':
        if (cli_long(v, &l) || l < 1 || l > 1000)
            return snprintf(err, cap, "'%s' is not a number of concepts in 1..1000", v), -1;
        a->top_concepts = (int)l;
        return 0;
    case 'R': case 'D':
        if (cli_long(v, &l) || l < 0 || l > 1000)
            return snprintf(err, cap, "'%s' is not a number of draws in 0..1000", v), -1;
        *(c == 'R' ? &a->random_draws : &a->rot_draws) = (int)l;
        return 0;
    case 'S': case 'Q':
        if (cli_seed(v, &l))
            return snprintf(err, cap, "'%s' is not a seed in " CLI_SEED_RANGE, v), -1;
        *(c == 'S' ? &a->random_seed : &a->rot_seed) = (unsigned long)l;
        return 0;
    case 'k': {
        double *x;
        int n;
        if (cli_double_list(v, &x, &n) || n < 1 || n > 32)
            return snprintf(err, cap, "'%s' is not a list of 1 to 32 numbers of units", v), -1;
        int ok = 1;
        for (int i = 0; i < n; i++)
            ok &= x[i] >= 1 && x[i] <= 1e6 && x[i] == (int)x[i] && (i == 0 || x[i] > x[i - 1]);
        for (int i = 0; i < n; i++)
            a->ks[i] = (int)x[i];
        a->nk = n;
        free(x);
        return ok ? 0 : (snprintf(err, cap, "'%s': numbers of units must be increasing whole numbers >= 1", v), -1);
    }
    case 'p':
        return nd_profile_parse(v, &a->o.profile) ? (snprintf(err, cap, "'%s' is not a profile", v), -1) : 0;
    case 'q':
        if (cli_double(v, &d) || !(d > 0 && d < 1))
            return snprintf(err, cap, "'%s' is not a quantile in (0, 1)", v), -1;
        a->o.quantile = d;
        return 0;
    case 'i':
        if (cli_double(v, &d) || !(d >= 0 && d < 1))
            return snprintf(err, cap, "'%s' is not an IoU threshold in [0, 1)", v), -1;
        a->o.iou_threshold = d;
        return 0;
    case 'j':
        return cli_threads(v, &a->o.threads) ? (snprintf(err, cap, "'%s' is not a thread count in " CLI_THREADS_RANGE, v), -1) : 0;
    }
    return snprintf(err, cap, "unknown option"), -1;
}

typedef struct {
    abl_args *a;
    const char *path;
    char err[512];
    char *keep[64]; /* strings the args point into */
    int nkeep;
} cfg;

static int handler(void *user, const char *s, const char *k, const char *v)
{
    cfg *g = user;
    if (strcmp(s, "ablate"))
        return snprintf(g->err, sizeof g->err, "[%s]: unknown section (expected [ablate])", s), 0;
    char key[64];
    snprintf(key, sizeof key, "%s", k);
    for (char *p = key; *p; p++)
        *p = *p == '_' ? '-' : *p;
    const struct option *o = opts;
    while (o->name && (strcmp(o->name, key) || o->val == 'F' || o->val == 'h'))
        o++;
    if (!o->name)
        return snprintf(g->err, sizeof g->err, "[ablate] %s: unknown key", k), 0;
    if (g->nkeep == 64)
        return snprintf(g->err, sizeof g->err, "too many keys"), 0;
    char *val = is_path(o->val) ? config_resolve_path(g->path, v) : strdup(v);
    if (!val)
        return snprintf(g->err, sizeof g->err, "[ablate] %s: '%s': %s", k, v, nd_errmsg()), 0;
    g->keep[g->nkeep++] = val;
    char e[400];
    if (set_opt(g->a, o->val, val, e, sizeof e))
        return snprintf(g->err, sizeof g->err, "[ablate] %s: %s", k, e), 0;
    return 1;
}

static int load_config(cfg *g)
{
    FILE *f = fopen(g->path, "r");
    if (!f)
        return nd_fail("%s: cannot read config", g->path);
    int r = ini_parse_file(f, handler, g);
    fclose(f);
    if (r > 0)
        return nd_fail("%s:%d: %s", g->path, r, g->err[0] ? g->err : "syntax error (expected [section] or key = value)");
    return r < 0 ? nd_fail("%s: cannot parse", g->path) : 0;
}

static void defaults(abl_args *a)
{
    memset(a, 0, sizeof *a);
    nd_options_default(&a->o);
    a->top_concepts = 5;
    int ks[] = {1, 2, 4, 8, 16};
    memcpy(a->ks, ks, sizeof ks);
    a->nk = 5;
    a->random_draws = 5, a->rot_draws = 1;
    a->random_seed = 1, a->rot_seed = 1;
    a->train_split = "train", a->test_split = "val";
}

static int check(const abl_args *a, const char *cmd)
{
    if (!a->weights == !a->checkpoint)
        return cli_usage_error(cmd, "give exactly one of --weights and --checkpoint");
    if (!a->dataset || !a->layer || !a->out)
        return cli_usage_error(cmd, "--dataset, --layer and --out are required");
    if (a->classes && !a->checkpoint)
        return cli_usage_error(cmd, "--classes needs a --checkpoint whose outputs are those classes");
    if (a->units && !a->units[0])
        return cli_usage_error(cmd, "--units: empty list");
    return 0;
}

int cmd_ablate(int argc, char **argv)
{
    abl_args a;
    defaults(&a);
    cfg g = {&a, NULL, "", {0}, 0};
    int c, rc = 0;
    char err[512];
    for (int i = 1; i < argc; i++) /* the config first: options given win */
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            g.path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            g.path = argv[i] + 9;
    if (g.path && load_config(&g)) {
        fprintf(stderr, "dissect ablate: %s\n", nd_errmsg());
        rc = ND_EXIT_USAGE;
    }
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            goto done;
        }
        if (c == 'F')
            continue;
        if (c == '?')
            rc = cli_usage_error(argv[0], "unknown option");
        else if (set_opt(&a, c, optarg, err, sizeof err))
            rc = cli_usage_error(argv[0], "--%s: %s", opt_name(c), err);
    }
    if (!rc && optind < argc)
        rc = cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (!rc)
        rc = check(&a, argv[0]);
    if (!rc && (afile_protect_input(a.weights) || afile_protect_input(a.features)))
        rc = cli_fail();
    if (!rc) {
        double t0 = nd_now();
        int r = abl_experiment(&a);
        rc = r == ABL_USAGE ? cli_usage_error(argv[0], "%s", nd_errmsg()) : r ? cli_fail() : ND_EXIT_OK;
        if (rc == ND_EXIT_OK)
            fprintf(stderr, "ablate: wrote %s in %.1f s\n", a.out, nd_now() - t0);
    }
done:
    for (int i = 0; i < g.nkeep; i++)
        free(g.keep[i]);
    return rc;
}
