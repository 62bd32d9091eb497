/* cmd_train.c - `dissect train CONFIG`: train a network described by an INI
 * file on a Broden-format dataset (train/loop.h does the work).
 *
 * Config keys (every section and key is checked; unknown ones are errors
 * naming the file, line, section and key):
 *   [architecture] input = S (crop size), then one key per layer in order:
 *                  NAME = KIND [key=value ...] (train/table.h)
 *   [data]         dataset = DIR, category = scene, split = train,
 *                  val_split = NAME (optional held-out split), resize = S
 *                  (stored size before cropping; default input + input/8)
 *   [schedule]     iterations, batch, lr, momentum (0.9), weight_decay (5e-4),
 *                  lr_schedule = constant | step | cosine, step_size, gamma (0.1),
 *                  warmup (0: iterations over which the lr rises linearly to the schedule's)
 *   [conditions]   seed, dropout = on|off, dropout_rate (0.5),
 *                  batchnorm = on|off, augment = on|off
 *   [snapshots]    iterations = I1, I2, ... (the last iteration is always saved)
 *   [output]       dir = DIR, checkpoint = DIR (optional: start from it)
 */
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"
#include "train/loop.h"

#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    tr_table tab;
    int input, resize;
    char *dataset, *category, *split, *val_split, *out, *checkpoint;
    long iterations, batch, step_size, warmup;
    double lr, momentum, wd, gamma, dropout_rate;
    tr_lr_kind schedule;
    long seed;
    int dropout, batchnorm, augment;
    long *snaps;
    int nsnaps;
    char err[1024];
    int seen_iterations, seen_batch, seen_lr, seen_dataset, seen_out;
} tcfg;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect train CONFIG [--out DIR] [--threads N]\n"
            "       dissect train CONFIG --from CKPT --steps N --out DIR\n\n"
            "Trains the network of CONFIG (INI: [architecture] [data] [schedule]\n"
            "[conditions] [snapshots] [output]; see experiments/configs/README.md) with\n"
            "mini-batch SGD.  Writes DIR/snap-NNNNNNNN/ checkpoints at the chosen iterations\n"
            "(net.txt + one .npy per tensor in PyTorch layouts + state.txt) and\n"
            "DIR/snapshots.csv (loss, train and held-out accuracy).  Started again, it\n"
            "resumes from its latest snapshot and ends identical to an uninterrupted run.\n\n"
            "  --out DIR     output folder (overrides [output] dir)\n"
            "  --from CKPT   with --steps: start from this checkpoint and run N full-batch\n"
            "                steps (every training image, index order, no augmentation);\n"
            "                the result is DIR/snap-<N>/\n"
            "  --steps N     number of such steps\n"
            "  --threads N   worker threads (default: every CPU; results do not depend on it)\n"
            "A progress line (iteration, loss, train accuracy, images/s, time left) goes to\n"
            "stderr (ND_QUIET=1 silences it).\n");
}

static int set_err(tcfg *c, const char *sec, const char *key, const char *fmt, const char *v)
{
    if (!c->err[0]) {
        char m[512];
        snprintf(m, sizeof m, fmt, v);
        snprintf(c->err, sizeof c->err, "[%s] %s: %s", sec, key, m);
    }
    return 0; /* inih stops and reports the line */
}

static int on_off(const char *v, int *out)
{
    *out = !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1");
    return *out || !strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") ||
                   !strcmp(v, "0")
               ? 0
               : -1;
}

static int num(const char *v, double lo, double hi, double *out)
{
    return cli_double(v, out) || *out < lo || *out > hi ? -1 : 0;
}

static int lnum(const char *v, long lo, long *out)
{
    return cli_long(v, out) || *out < lo ? -1 : 0;
}

static int path_key(tcfg *c, const char *s, const char *k, const char *v, char **out)
{
    free(*out);
    if (!(*out = config_resolve_path(c->path, v)))
        return set_err(c, s, k, "'%s' is not a usable path", v);
    return 1;
}

static int snaps_key(tcfg *c, const char *v)
{
    double *d;
    int n;
    if (cli_double_list(v, &d, &n))
        return set_err(c, "snapshots", "iterations", "'%s' is not a list of iterations", v);
    free(c->snaps);
    c->snaps = malloc(sizeof(long) * (size_t)(n ? n : 1));
    c->nsnaps = n;
    for (int i = 0; c->snaps && i < n; i++) {
        c->snaps[i] = (long)d[i];
        if (d[i] != floor(d[i]) || d[i] < 1 || (i && c->snaps[i] <= c->snaps[i - 1])) {
            free(d);
            return set_err(c, "snapshots", "iterations", "'%s' must be increasing integers >= 1",
                           v);
        }
    }
    free(d);
    return c->snaps ? 1 : set_err(c, "snapshots", "iterations", "%s", "out of memory");
}

static int handler(void *user, const char *s, const char *k, const char *v)
{
    tcfg *c = user;
    double d;
    long l;
#define IS(sec, key) (!strcmp(s, sec) && !strcmp(k, key))
#define BAD(msg) set_err(c, s, k, msg, v)
    if (IS("architecture", "input"))
        return lnum(v, 1, &l) ? BAD("'%s' is not a size >= 1") : (c->input = (int)l, 1);
    if (!strcmp(s, "architecture")) {
        if (tr_table_add(&c->tab, k, v))
            return set_err(c, s, k, "%s", nd_errmsg());
        return 1;
    }
    if (IS("data", "dataset"))
        return c->seen_dataset = 1, path_key(c, s, k, v, &c->dataset);
    if (IS("data", "category") || IS("data", "split") || IS("data", "val_split")) {
        char **p = k[0] == 'c' ? &c->category : k[0] == 's' ? &c->split : &c->val_split;
        free(*p);
        return (*p = strdup(v)) ? 1 : 0;
    }
    if (IS("data", "resize"))
        return lnum(v, 1, &l) ? BAD("'%s' is not a size >= 1") : (c->resize = (int)l, 1);
    if (IS("schedule", "iterations"))
        return lnum(v, 1, &c->iterations) ? BAD("'%s' is not an integer >= 1")
                                           : (c->seen_iterations = 1);
    if (IS("schedule", "batch"))
        return lnum(v, 1, &c->batch) ? BAD("'%s' is not an integer >= 1") : (c->seen_batch = 1);
    if (IS("schedule", "warmup"))
        return lnum(v, 0, &c->warmup) ? BAD("'%s' is not an integer >= 0") : 1;
    if (IS("schedule", "step_size"))
        return lnum(v, 1, &c->step_size) ? BAD("'%s' is not an integer >= 1") : 1;
    if (IS("schedule", "lr"))
        return num(v, 0, 1e3, &c->lr) ? BAD("'%s' is not a learning rate >= 0") : (c->seen_lr = 1);
    if (IS("schedule", "momentum"))
        return num(v, 0, 1, &c->momentum) ? BAD("'%s' is not in [0, 1]") : 1;
    if (IS("schedule", "weight_decay"))
        return num(v, 0, 1, &c->wd) ? BAD("'%s' is not in [0, 1]") : 1;
    if (IS("schedule", "gamma"))
        return num(v, 0, 1e3, &c->gamma) ? BAD("'%s' is not a factor >= 0") : 1;
    if (IS("schedule", "lr_schedule")) {
        if (!strcmp(v, "constant"))
            c->schedule = TR_LR_CONST;
        else if (!strcmp(v, "step"))
            c->schedule = TR_LR_STEP;
        else if (!strcmp(v, "cosine"))
            c->schedule = TR_LR_COSINE;
        else
            return BAD("'%s' is not constant, step or cosine");
        return 1;
    }
    if (IS("conditions", "seed"))
        return lnum(v, 0, &c->seed) ? BAD("'%s' is not a seed >= 0") : 1;
    if (IS("conditions", "dropout_rate"))
        return num(v, 0, 0.99, &d) ? BAD("'%s' is not in [0, 0.99]") : (c->dropout_rate = d, 1);
    if (IS("conditions", "dropout"))
        return on_off(v, &c->dropout) ? BAD("'%s' is not on or off") : 1;
    if (IS("conditions", "batchnorm"))
        return on_off(v, &c->batchnorm) ? BAD("'%s' is not on or off") : 1;
    if (IS("conditions", "augment"))
        return on_off(v, &c->augment) ? BAD("'%s' is not on or off") : 1;
    if (IS("snapshots", "iterations"))
        return snaps_key(c, v);
    if (IS("output", "dir"))
        return c->seen_out = 1, path_key(c, s, k, v, &c->out);
    if (IS("output", "checkpoint"))
        return path_key(c, s, k, v, &c->checkpoint);
    return BAD("unknown key (value '%s')");
#undef IS
#undef BAD
}

static void tcfg_free(tcfg *c)
{
    tr_table_free(&c->tab);
    free(c->dataset), free(c->category), free(c->split), free(c->val_split);
    free(c->out), free(c->checkpoint), free(c->snaps);
}

static int tcfg_load(tcfg *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->momentum = 0.9, c->wd = 5e-4, c->gamma = 0.1, c->dropout_rate = 0.5;
    c->dropout = c->batchnorm = c->augment = 1;
    c->category = strdup("scene");
    c->split = strdup("train");
    FILE *f = fopen(path, "r");
    if (!f)
        return nd_fail("%s: cannot read config", path);
    int r = ini_parse_file(f, handler, c);
    fclose(f);
    if (r > 0)
        return c->err[0] ? nd_fail("%s:%d: %s", path, r, c->err)
                         : nd_fail("%s:%d: syntax error (expected [section] or key = value)",
                                   path, r);
    if (r < 0)
        return nd_fail("%s: cannot parse", path);
    const char *miss = !c->input              ? "[architecture] input"
                       : !c->tab.n            ? "[architecture] (no layers)"
                       : !c->seen_dataset     ? "[data] dataset"
                       : !c->seen_iterations  ? "[schedule] iterations"
                       : !c->seen_batch       ? "[schedule] batch"
                       : !c->seen_lr          ? "[schedule] lr"
                                              : NULL;
    if (miss)
        return nd_fail("%s: missing %s", path, miss);
    if (!c->resize)
        c->resize = c->input + c->input / 8;
    if (!c->batchnorm)
        tr_table_drop_kind(&c->tab, NET_BATCHNORM);
    if (!c->dropout)
        tr_table_drop_kind(&c->tab, NET_DROPOUT);
    return 0;
}

typedef struct {
    tr_status st;
    double t0, shown; /* start, last line printed */
    long batch;
} prog_ctx;

static void on_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    prog_ctx *p = ctx;
    /* at most two lines a second, but always the last of a stage */
    double now = nd_now();
    if (strcmp(stage, "snapshot") && done != total && now - p->shown < 0.5)
        return;
    p->shown = now;
    if (!strcmp(stage, "images")) {
        cli_progress("train: decoding images: %zu", done);
        return;
    }
    double secs = nd_now() - p->t0, its = (double)(p->st.it - p->st.start);
    double ips = secs > 0 ? its * p->batch / secs : 0;
    double left = its > 0 ? secs / its * (double)(total - done) : 0;
    if (!strcmp(stage, "snapshot")) {
        cli_progress("train: snapshot at iteration %zu: held-out accuracy %.4f", done,
                     p->st.val_acc);
        cli_progress_done();
        return;
    }
    cli_progress("train: iteration %zu/%zu  loss %.4f  train acc %.3f  %.1f images/s  "
                 "%.0f s left",
                 done, total, p->st.loss, p->st.acc, ips, left);
}

/* The decoded images of the last call (dataset, category, split, size), so
 * that an experiment training several conditions on one world decodes it
 * once (cmd_train_config); a plain `dissect train` loads and frees. */
typedef struct {
    char *key;
    tr_data train, val;
    int have_val;
} data_cache;
static data_cache cache;

static void cache_drop(void)
{
    free(cache.key);
    tr_data_free(&cache.train);
    tr_data_free(&cache.val);
    memset(&cache, 0, sizeof cache);
}

static int load_data(const tcfg *c, nd_progress prog)
{
    char key[8192];
    snprintf(key, sizeof key, "%s\n%s\n%s\n%s\n%d", c->dataset, c->category, c->split,
             c->val_split ? c->val_split : "", c->resize);
    if (cache.key && !strcmp(cache.key, key))
        return 0;
    cache_drop();
    cache.have_val = c->val_split && *c->val_split;
    if (tr_data_load(&cache.train, c->dataset, c->category, c->split, c->resize, prog) ||
        (cache.have_val &&
         tr_data_load(&cache.val, c->dataset, c->category, c->val_split, c->resize, prog)) ||
        !(cache.key = strdup(key))) {
        if (!cache.key)
            nd_fail("out of memory");
        cache_drop();
        return -1;
    }
    return 0;
}

static int run(tcfg *c, const char *from, long steps, int threads)
{
    prog_ctx pc = {.batch = c->batch};
    nd_progress prog = {on_progress, &pc};
    if (load_data(c, prog))
        return -1;
    tr_opts o = {c->iterations, c->batch, c->lr, c->momentum, c->wd, c->schedule,
                 c->step_size, c->gamma, (unsigned long)c->seed,
                 c->dropout ? c->dropout_rate : 0, c->augment, c->input, c->snaps,
                 c->nsnaps, c->out, c->checkpoint, 0, threads, c->warmup};
    if (from) {
        o.iterations = steps, o.batch = cache.train.n, o.full_batch = 1, o.augment = 0;
        o.init = from, o.nsnapshots = 0;
        pc.batch = cache.train.n;
    }
    pc.t0 = nd_now();
    int rc = tr_train(&o, &c->tab, &cache.train, cache.have_val ? &cache.val : NULL, &pc.st, prog);
    cli_progress_done();
    if (!rc)
        printf("trained %ld iterations (from %ld): %s/snap-%08ld, held-out accuracy %.4f\n",
               pc.st.it, pc.st.start, c->out, pc.st.it, pc.st.val_acc);
    return rc;
}

int cmd_train_config(const char *path, int threads, int keep_data)
{
    if (!path) {
        cache_drop();
        return 0;
    }
    tcfg c;
    int rc = tcfg_load(&c, path);
    if (!rc && !c.out)
        rc = nd_fail("%s: missing [output] dir", path);
    if (!rc)
        rc = run(&c, NULL, 0, threads);
    tcfg_free(&c);
    if (!keep_data)
        cache_drop();
    return rc;
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"from", required_argument, 0, 'f'},
                                         {"steps", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *from = NULL;
    long steps = 0, threads = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'f': from = optarg; break;
        case 's':
            if (cli_long(optarg, &steps) || steps < 1)
                return cli_usage_error("train", "--steps '%s' is not an integer >= 1", optarg);
            break;
        case 't':
            if (cli_long(optarg, &threads) || threads < 1 || threads > 64)
                return cli_usage_error("train", "--threads '%s': expected 1..64", optarg);
            break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error("train", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("train", "expected one CONFIG file");
    if (!from != !steps)
        return cli_usage_error("train", "--from and --steps go together");
    if (from && !out)
        return cli_usage_error("train", "--from needs --out");
    tcfg c;
    if (tcfg_load(&c, argv[optind])) { /* a config mistake is a usage error, as for sweep */
        tcfg_free(&c);
        fprintf(stderr, "dissect: %s\n", nd_errmsg());
        return ND_EXIT_USAGE;
    }
    int rc = 0;
    if (out) {
        free(c.out);
        if (!(c.out = strdup(out)))
            rc = nd_fail("out of memory");
    } else if (!c.out) {
        tcfg_free(&c);
        return cli_usage_error("train", "%s: missing [output] dir (or give --out)", argv[optind]);
    }
    if (!rc)
        rc = run(&c, from, steps, (int)threads);
    tcfg_free(&c);
    cache_drop();
    return rc ? cli_fail() : ND_EXIT_OK;
}
