/* training.c - the steps of the training-conditions experiment (see
 * training.h): worlds, derived train configs, training, dissection of every
 * condition and of the baseline's snapshots, the sweep. */
#include "experiments/training.h"

#include "core/afile.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/jobs.h"
#include "datasets/world.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"
#include "experiments/layers.h"
#include "experiments/sweep.h"
#include "models/extract.h"
#include "train/ckpt.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static char *join(const char *a, const char *b)
{
    return nd_path_join(a, b);
}

static void say(const training_spec *s, const char *fmt, const char *a, const char *b)
{
    if (!s->quiet) {
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
}

static int write_text(const char *path, const char *text)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    fputs(text, a.f);
    return afile_commit(&a);
}

/* The resume rule of every step.  keyfile holds the step's key; `done` is
 * the file or folder that exists once the step is complete; `dir` is the
 * step's own output (removed when no key claims it: a leftover).
 * 1 = complete with this key (skip), 0 = claimed (do the work), -1 = error
 * (a different key: refused). */
static int step_claim(const char *keyfile, const char *key, const char *done, const char *dir)
{
    if (exists(keyfile)) {
        char *old = nd_read_text(keyfile);
        if (!old)
            return -1;
        int same = !strcmp(old, key);
        free(old);
        if (!same)
            return nd_fail("%s: made with other settings than this run's (the key differs); "
                           "remove %s to redo it", keyfile, dir);
        return exists(done) ? 1 : 0;
    }
    if (exists(dir))
        afile_remove_dir(dir);
    char *parent = strdup(keyfile);
    if (!parent)
        return nd_fail("out of memory");
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = 0;
    int rc = (slash && nd_mkdirs(parent)) || write_text(keyfile, key) ? -1 : 0;
    free(parent);
    return rc;
}

/* ---------- worlds ---------- */

static char *world_key(const training_spec *s, int probe)
{
    char *k = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&k, &n);
    if (!f)
        return NULL;
    fprintf(f, "world %s\nimages = %ld\nsize = %ld\nseed = %lu\nval_every = %d\n",
            probe ? "probe" : "train", probe ? s->probe_images : s->images, s->size,
            probe ? s->probe_seed : s->world_seed, probe ? 0 : (int)s->val_every);
    fprintf(f, "noise = %.17g\nlight = %.17g\nclutter = %.17g\nrotate = %.17g\ncue = %.17g\n"
               "colors = %s\n", s->noise, s->light, s->clutter, s->rotate, s->cue, s->colors);
    fclose(f);
    return k;
}

static void world_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    double *last = ctx, t = nd_now();
    (void)stage;
    if (done < total && t - *last < 1.0)
        return;
    *last = t;
    cli_progress("training: world %zu/%zu images", done, total);
}

static int step_world(const training_spec *s, int probe, char **key_out)
{
    const char *name = probe ? "probe" : "world";
    char kname[32];
    snprintf(kname, sizeof kname, "%s.key", name);
    char *dir = join(s->out_dir, name), *kf = join(s->out_dir, kname), *key = world_key(s, probe);
    int rc = dir && kf && key ? step_claim(kf, key, dir, dir) : -1;
    if (rc == 0) {
        world_write_opts o = world_write_defaults();
        o.world.size = (int)s->size;
        o.world.seed = probe ? s->probe_seed : s->world_seed;
        o.world.noise = s->noise, o.world.light = s->light;
        o.world.clutter = s->clutter, o.world.rotate = s->rotate, o.world.cue = s->cue;
        o.out_dir = dir, o.colors = s->colors;
        o.images = (size_t)(probe ? s->probe_images : s->images);
        o.val_every = probe ? 0 : (int)s->val_every;
        o.threads = s->threads, o.samples = probe ? 0 : 8;
        double last = 0;
        if (!s->quiet)
            o.progress = (nd_progress){world_progress, &last};
        world_stats st;
        rc = world_write(&o, &st);
        cli_progress_done();
        say(s, "training: %s rendered (%s)", name, dir);
    } else if (rc == 1) {
        say(s, "training: %s complete, skipped (%s)", name, dir);
        rc = 0;
    }
    free(dir);
    free(kf);
    if (rc)
        free(key);
    else
        *key_out = key;
    return rc;
}

/* ---------- derived train configs ---------- */

typedef struct {
    const char *sec, *key;
    char val[4200];
    int used;
} override;

/* The template with the overrides' values; *iters = its [schedule]
 * iterations after the overrides.  Every overridden key must exist. */
static char *derive(const char *path, override *ov, int nov, long *iters)
{
    char *t = nd_read_text(path);
    if (!t)
        return NULL;
    char *out = NULL, sec[64] = "";
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    *iters = 0;
    for (char *line = t, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        const char *p = line + strspn(line, " \t");
        if (*p == '[')
            sscanf(p, "[%63[^]]", sec);
        size_t kl = strcspn(p, " \t=");
        char emit[8400];
        snprintf(emit, sizeof emit, "%s", line);
        for (int i = 0; i < nov; i++)
            if (*p != '[' && *p != ';' && !strcmp(sec, ov[i].sec) && strlen(ov[i].key) == kl &&
                !strncmp(p, ov[i].key, kl) && strchr(p, '=')) {
                snprintf(emit, sizeof emit, "%s = %s", ov[i].key, ov[i].val);
                ov[i].used = 1;
                break;
            }
        fprintf(f, "%s\n", emit);
        if (!strcmp(sec, "schedule") && kl == 10 && !strncmp(p, "iterations", 10) && strchr(p, '='))
            *iters = strtol(strchr(emit, '=') + 1, NULL, 10);
    }
    fclose(f);
    free(t);
    for (int i = 0; i < nov && out; i++)
        if (!ov[i].used) {
            nd_fail("%s: no key '%s' in [%s] (the experiment sets it per condition)", path,
                    ov[i].key, ov[i].sec);
            free(out);
            out = NULL;
        }
    return out;
}

static void set(override *ov, int *n, const char *sec, const char *key, const char *fmt,
                const char *v)
{
    ov[*n] = (override){sec, key, "", 0};
    snprintf(ov[*n].val, sizeof ov[*n].val, fmt, v);
    (*n)++;
}

static char *cond_config(const training_spec *s, const training_cond *c, long *iters)
{
    char *world = join(s->out_dir, "world"), *runs = join(s->out_dir, "runs");
    char *run = runs ? join(runs, c->name) : NULL, num[32];
    override ov[10];
    int n = 0;
    snprintf(num, sizeof num, "%ld", s->iterations);
    if (c->random) { /* He initialisation, never moved: lr 0 for one iteration */
        set(ov, &n, "schedule", "iterations", "%s", "1");
        set(ov, &n, "schedule", "lr", "%s", "0");
        set(ov, &n, "snapshots", "iterations", "%s", "1");
    } else {
        long total = s->iterations;
        char *t = total > 0 ? NULL : derive(s->train_config, ov, 0, &total);
        free(t);
        if (s->iterations > 0)
            set(ov, &n, "schedule", "iterations", "%s", num);
        /* the curve's snapshots in the first seed's run; the others keep
         * their last (each snapshot costs a held-out evaluation) */
        snprintf(num, sizeof num, "%ld", total > 0 ? total : 1);
        set(ov, &n, "snapshots", "iterations", "%s", c->seed == s->seeds[0] && c->dropout &&
                                                         !c->batchnorm ? s->snapshots : num);
    }
    snprintf(num, sizeof num, "%ld", c->seed);
    set(ov, &n, "conditions", "seed", "%s", num);
    set(ov, &n, "conditions", "dropout", "%s", c->dropout ? "on" : "off");
    set(ov, &n, "conditions", "batchnorm", "%s", c->batchnorm ? "on" : "off");
    char *text = NULL;
    if (world && run) {
        set(ov, &n, "data", "dataset", "%s", world);
        set(ov, &n, "output", "dir", "%s", run);
        text = derive(s->train_config, ov, n, iters);
    }
    if (text && *iters < 1) {
        nd_fail("%s: no [schedule] iterations", s->train_config);
        free(text);
        text = NULL;
    }
    free(world);
    free(runs);
    free(run);
    return text;
}

/* ---------- training ---------- */

/* The final snapshot folder of condition c (allocated). */
static char *final_snapshot(const training_spec *s, const training_cond *c, long iters)
{
    char rel[1024];
    snprintf(rel, sizeof rel, "runs/%s/snap-%08ld", c->name, iters);
    return join(s->out_dir, rel);
}

static int step_train(const training_spec *s, const training_cond *c, const char *wkey,
                      int keep, char **key_out, long *iters)
{
    char *text = cond_config(s, c, iters), *cfgs = join(s->out_dir, "configs");
    char rel[1024];
    snprintf(rel, sizeof rel, "runs/%s", c->name);
    char *run = join(s->out_dir, rel), *kf = run ? join(run, "step.key") : NULL;
    char *snap = final_snapshot(s, c, *iters), *key = NULL;
    int rc = text && cfgs && run && kf && snap ? 0 : -1;
    if (!rc && !(key = malloc(strlen(wkey) + strlen(text) + 2)))
        rc = nd_fail("out of memory");
    if (!rc) {
        sprintf(key, "%s\n%s", wkey, text);
        rc = step_claim(kf, key, snap, run);
    }
    if (rc == 0) {
        snprintf(rel, sizeof rel, "%s.ini", c->name);
        char *cfg = join(cfgs, rel);
        double t0 = nd_now(), c0 = nd_cpu_now();
        rc = !cfg || nd_mkdirs(cfgs) || write_text(cfg, text) ? -1
                                                              : cmd_train_config(cfg, s->threads, keep);
        char tm[128];
        snprintf(tm, sizeof tm, "wall_s,cpu_s\n%.1f,%.1f\n", nd_now() - t0, nd_cpu_now() - c0);
        char *tf = join(run, "timing.csv");
        if (!rc)
            rc = tf ? write_text(tf, tm) : -1;
        free(tf);
        free(cfg);
        say(s, "training: %s trained (%s)", c->name, run);
    } else if (rc == 1) {
        say(s, "training: %s complete, skipped (%s)", c->name, run);
        rc = 0;
    }
    free(text);
    free(cfgs);
    free(run);
    free(kf);
    free(snap);
    if (rc)
        free(key);
    else
        *key_out = key;
    return rc;
}

/* ---------- dissection ---------- */

typedef struct {
    broden *ds;
    char **paths;
} probe_set;

static int probe_open(const training_spec *s, probe_set *p)
{
    if (p->ds)
        return 0;
    char *dir = join(s->out_dir, "probe");
    int rc = dir ? broden_open(&p->ds, dir, NULL) : -1;
    if (!rc && layers_image_paths(p->ds, &p->paths)) {
        broden_free(p->ds);
        p->ds = NULL;
        rc = -1;
    }
    free(dir);
    return rc;
}

static void probe_close(probe_set *p)
{
    if (p->ds)
        layers_free_paths(p->paths, broden_num_images(p->ds));
    broden_free(p->ds);
    p->ds = NULL;
}

/* Dissect `layers` of the checkpoint `snap` on the probe world into dir
 * (dir/<layer>/, dir/counts.csv last), unless done with this key. */
static int dissect_snapshot(const training_spec *s, probe_set *p, const char *snap,
                            const char *layers, const char *name, const char *dir,
                            const char *key)
{
    char *kf = join(dir, "step.key"), *counts = join(dir, "counts.csv");
    int rc = kf && counts ? step_claim(kf, key, counts, dir) : -1;
    if (rc == 1) {
        say(s, "training: %s dissected, skipped (%s)", name, dir);
        rc = 0;
    } else if (rc == 0 && !(rc = probe_open(s, p))) {
        tr_table tab;
        net_t net;
        mdl_runner *r = NULL;
        rc = tr_ckpt_load(snap, &tab, &net, NULL, NULL);
        if (!rc && !(rc = mdl_runner_open_net(&r, &net, snap, layers))) {
            layers_spec ls = {.profile = s->profile, .quantile = s->quantile,
                              .iou_threshold = s->iou_threshold, .threads = s->threads,
                              .batch = s->batch, .quiet = s->quiet};
            rc = layers_dissect(&ls, p->ds, p->paths, r, name, dir, counts);
            mdl_runner_close(r);
        }
        if (!rc || r) {
            net_free(&net);
            tr_table_free(&tab);
        }
        if (!rc)
            say(s, "training: %s dissected (%s)", name, dir);
    }
    free(kf);
    free(counts);
    return rc;
}

static char *dissect_key(const training_spec *s, const char *tkey, const char *pkey,
                         const char *snap, const char *layers)
{
    char *k = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&k, &n);
    if (!f)
        return NULL;
    fprintf(f, "%s\n%s\nsnapshot = %s\nlayers = %s\nprofile = %d\nquantile = %.17g\n"
               "iou_threshold = %.17g\n", tkey, pkey, snap, layers, (int)s->profile, s->quantile,
            s->iou_threshold);
    fclose(f);
    return k;
}

/* The first seed's snapshots at [experiment] snapshots and the last. */
static int step_iterations(const training_spec *s, probe_set *p, const char *tkey,
                           const char *pkey, long iters)
{
    char *list = strdup(s->snapshots), *save = NULL;
    int rc = list ? 0 : nd_fail("out of memory");
    for (char *tok = list ? strtok_r(list, ", ", &save) : NULL; !rc; tok = strtok_r(NULL, ", ", &save)) {
        long it = tok ? strtol(tok, NULL, 10) : iters;
        if (it > iters)
            continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "runs/base-s%ld/snap-%08ld", s->seeds[0], it);
        char *snap = join(s->out_dir, rel);
        snprintf(rel, sizeof rel, "iterations/snap-%08ld", it);
        char *dir = join(s->out_dir, rel), *key = snap ? dissect_key(s, tkey, pkey, snap, s->last_layer) : NULL;
        snprintf(rel, sizeof rel, "iteration %ld", it);
        rc = snap && dir && key ? dissect_snapshot(s, p, snap, s->last_layer, rel, dir, key) : -1;
        free(snap);
        free(dir);
        free(key);
        if (!tok || it == iters)
            break;
    }
    free(list);
    return rc;
}

/* ---------- the sweep on the trained baseline ---------- */

static int step_sweep(const training_spec *s, long iters)
{
    char rel[1024];
    snprintf(rel, sizeof rel, "runs/base-s%ld/snap-%08ld", s->seeds[0], iters);
    char *snap = join(s->out_dir, rel), *probe = join(s->out_dir, "probe");
    char *dir = join(s->out_dir, "sweep"), *cfg = join(s->out_dir, "configs/sweep.ini");
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!snap || !probe || !dir || !cfg || !f) {
        if (f)
            fclose(f);
        free(text), free(snap), free(probe), free(dir), free(cfg);
        return nd_fail("out of memory");
    }
    fprintf(f, "; written by dissect training: the rotation sweep of the trained baseline\n"
               "[dataset]\npath = %s\nname = world probe\n[activations]\ncheckpoint = %s\n"
               "layer = %s\n[dissect]\nprofile = %s\nquantile = %.17g\niou_threshold = %.17g\n"
               "[rotation]\nalphas = %s\ndraws = %ld\n[output]\ndir = %s\n"
               "title = trained baseline %s on the world\n[probes]\nenabled = %s\n%s%s%s",
            probe, snap, s->last_layer, s->profile == ND_PROFILE_LITE ? "netdissect-lite" : "netdissect",
            s->quantile, s->iou_threshold, s->alphas, s->draws, dir, s->last_layer,
            s->probes ? "true" : "false", s->probe_alphas ? "alphas = " : "",
            s->probe_alphas ? s->probe_alphas : "", s->probe_alphas ? "\n" : "");
    fclose(f);
    config c;
    int rc = write_text(cfg, text) || config_load(&c, cfg) ? -1 : 0;
    if (!rc) {
        sweep_opts o = {.threads = s->threads, .no_plot = s->no_plot};
        rc = sweep_run(&c, &o);
        config_free(&c);
        if (!rc)
            say(s, "training: sweep complete (%s)%s", dir, "");
    }
    free(text), free(snap), free(probe), free(dir), free(cfg);
    return rc;
}

/* ---------- the experiment ---------- */

typedef struct {
    const char *want;
    int found;
} arch_key;

static int arch_handler(void *user, const char *sec, const char *key, const char *v)
{
    arch_key *a = user;
    (void)v;
    a->found |= !strcmp(sec, "architecture") && !strcmp(key, a->want);
    return 1;
}

/* Every dissected layer is a layer of the train config (before any work). */
static int check_layers(const training_spec *s)
{
    char *list = strdup(s->layers), *save = NULL;
    int rc = list ? 0 : nd_fail("out of memory");
    for (char *tok = list ? strtok_r(list, ", ", &save) : NULL; tok && !rc;
         tok = strtok_r(NULL, ", ", &save)) {
        arch_key a = {tok, 0};
        if (ini_parse(s->train_config, arch_handler, &a) < 0)
            rc = nd_fail("%s: cannot read the train config", s->train_config);
        else if (!a.found)
            rc = nd_fail("%s: [experiment] layers: '%s' is not a layer of %s", s->path, tok,
                         s->train_config);
    }
    arch_key a = {s->last_layer, 0};
    if (!rc && ini_parse(s->train_config, arch_handler, &a) >= 0 && !a.found)
        rc = nd_fail("%s: [experiment] last_layer: '%s' is not a layer of %s", s->path,
                     s->last_layer, s->train_config);
    free(list);
    return rc;
}

int training_conditions(const training_spec *s, training_cond *c)
{
    int n = 0;
    for (int i = 0; i < s->nseeds; i++) {
        c[n] = (training_cond){"", s->seeds[i], 1, 0, 0};
        snprintf(c[n++].name, sizeof c->name, "base-s%ld", s->seeds[i]);
    }
    c[n++] = (training_cond){"nodropout", s->seeds[0], 0, 0, 0};
    c[n++] = (training_cond){"batchnorm", s->seeds[0], 1, 1, 0};
    c[n++] = (training_cond){"random", s->seeds[0], 1, 0, 1};
    return n;
}

int training_run(const training_spec *s)
{
    training_cond c[TRAINING_MAX_SEEDS + 3];
    int nc = training_conditions(s, c);
    char *wkey = NULL, *pkey = NULL, *tkey[TRAINING_MAX_SEEDS + 3] = {0};
    long iters[TRAINING_MAX_SEEDS + 3] = {0};
    int rc = check_layers(s) || nd_mkdirs(s->out_dir) || step_world(s, 0, &wkey) ||
                     step_world(s, 1, &pkey) ? -1 : 0;
    for (int i = 0; i < nc && !rc; i++)
        rc = step_train(s, &c[i], wkey, i + 1 < nc, &tkey[i], &iters[i]);
    cmd_train_config(NULL, 0, 0); /* frees the decoded images */
    probe_set p = {0};
    for (int i = 0; i < nc && !rc; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "dissect/%s", c[i].name);
        char *dir = join(s->out_dir, rel), *snap = final_snapshot(s, &c[i], iters[i]);
        char *key = dir && snap ? dissect_key(s, tkey[i], pkey, snap, s->layers) : NULL;
        rc = key ? dissect_snapshot(s, &p, snap, s->layers, c[i].name, dir, key) : -1;
        free(dir), free(snap), free(key);
    }
    if (!rc)
        rc = step_iterations(s, &p, tkey[0], pkey, iters[0]);
    probe_close(&p);
    if (!rc && s->alphas)
        rc = step_sweep(s, iters[0]);
    if (!rc)
        rc = training_tables(s);
    free(wkey);
    free(pkey);
    for (int i = 0; i < nc; i++)
        free(tkey[i]);
    return rc;
}
