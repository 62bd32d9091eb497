/* sweep.c - the rotation sweep: points, resume, sweep.csv / summary.csv (figures:
 * figures.c).
 *
 * Resume design: each point is a folder whose last file, point.csv (its
 * sweep.csv row with the header), is committed atomically after
 * nd_write_result() returned; a folder without point.csv is an unfinished
 * point and is simply recomputed (its files are overwritten atomically).
 * sweep.csv and summary.csv are always rebuilt from the point.csv files in
 * the config's point order, so a resumed run and an uninterrupted one write
 * byte-identical tables.  A flock on <out>/.sweep.lock keeps two sweeps off
 * one folder; leftover afile temporaries of a killed run are removed.
 * sweep.log is appended one whole line per write() (O_APPEND): it is a log,
 * not a result, and a torn last line after kill -9 is acceptable.
 *
 * Rotations: for draw d, Q_d = rot_haar(K, base_seed + d) is drawn once and
 * R = Q_d^alpha (rot_power) is applied on the fly by rot_features(), so
 * rotated activations are never written.  alpha = 0 never touches R: it is
 * nd_dissect() on the activations as read, exactly what `dissect units` does.
 */
#include "experiments/sweep.h"
#include "experiments/sweep_probes.h"
#include "core/afile.h"
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/features.h"
#include "core/format.h"
#include "core/npy.h"
#include "core/onepass.h"
#include "core/result.h"
#include "experiments/cli.h"
#include "experiments/dist.h"
#include "experiments/figures.h"
#include "experiments/resume_key.h"
#include "experiments/units_io.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "models/extract.h"
#include "train/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_statistics_double.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    double alpha;
    int draw;
    long seed; /* -1 for the unrotated point */
    char name[96];
    int *val;  /* the counts of its row (n_val) */
    int done;
    int mine;  /* computed (or, sharded, written) by this rank in this run */
} point;


static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}


static void log_line(const char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const char *out, const char *fmt, ...)
{
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, "pid %ld ", (long)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    char *p = nd_path_join(out, "sweep.log");
    int fd = p ? open(p, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
    if (fd >= 0) {
        ssize_t w = write(fd, line, strlen(line));
        (void)w;
        close(fd);
    }
    free(p);
}

/* Remove the temporaries of a killed run of this host from the run folder
 * (afile_stale_temp: never another node's, never a live process's). */
static void remove_stale_temps_all(const char *out)
{
    afile_remove_stale(out);
    char *pts = nd_path_join(out, "points");
    char *fig = nd_path_join(out, "figures");
    if (fig)
        afile_remove_stale(fig);
    DIR *d = pts ? opendir(pts) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                char *p = nd_path_join(pts, e->d_name);
                if (p)
                    afile_remove_stale(p);
                free(p);
            }
        closedir(d);
    }
    free(pts);
    free(fig);
}

/* ---------------------------------------------------------------- setup */

static int resolve_field(config *c)
{
    if (c->profile != ND_PROFILE_NETDISSECT || c->have_field)
        return 0;
    int f[3];
    int r = mdl_read_field(c->npy, f);
    if (r == 1) {
        c->field_offset = f[0], c->field_size = f[1], c->field_stride = f[2];
        c->have_field = 1;
        return 0;
    }
    if (r < 0)
        return -1;
    char *json = mdl_geometry_path(c->npy);
    if (!json)
        return -1;
    if (c->model && c->layer) {
        if (mdl_layer_field(c->model, c->layer, &c->field_offset, &c->field_size, &c->field_stride) == 0)
            c->have_field = 1;
        else
            r = -1;
    } else {
        nd_fail("%s: profile netdissect needs the layer's receptive field: give [dissect] field = "
                "OFFSET,SIZE,STRIDE, or [activations] model and layer, or put %s beside the activations",
                c->path, json);
        r = -1;
    }
    free(json);
    return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- tables */

typedef struct {
    char *header;  /* "alpha,draw,seed,<count names>" */
    int n_val;     /* count columns */
    char **names;  /* [n_val] */
} table;

static int table_init(table *t, const broden *ds)
{
    size_t C = broden_num_categories(ds);
    t->n_val = 3 + 3 * (int)C;
    t->names = nd_calloc((size_t)t->n_val, sizeof *t->names);
    if (!t->names)
        return -1;
    static const char *base[3] = {"detectors", "unique_percat", "unique_toplabel"};
    int k = 0;
    for (int i = 0; i < 3; i++)
        t->names[k++] = strdup(base[i]);
    for (size_t c = 0; c < C; c++)
        for (int i = 0; i < 3; i++) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s_%s", broden_category_name(ds, c), base[i]);
            t->names[k++] = strdup(buf);
        }
    size_t len = 32;
    for (int i = 0; i < t->n_val; i++) {
        if (!t->names[i])
            return nd_fail("out of memory");
        len += strlen(t->names[i]) + 1;
    }
    t->header = nd_malloc(len);
    if (!t->header)
        return nd_fail("out of memory");
    strcpy(t->header, "alpha,draw,seed");
    for (int i = 0; i < t->n_val; i++) {
        strcat(t->header, ",");
        strcat(t->header, t->names[i]);
    }
    return 0;
}

static void table_free(table *t)
{
    for (int i = 0; t->names && i < t->n_val; i++)
        free(t->names[i]);
    free(t->names);
    free(t->header);
}

static void row_text(FILE *f, const point *p, int n_val)
{
    char a[64];
    cli_fmt_double(a, sizeof a, p->alpha);
    fprintf(f, "%s,%d,%ld", a, p->draw, p->seed);
    for (int i = 0; i < n_val; i++)
        fprintf(f, ",%d", p->val[i]);
    fputc('\n', f);
}

/* Read a finished point's point.csv back (header must match this sweep). */
static int point_read(point *p, const char *path, const table *t)
{
    char *text = nd_read_text(path);
    if (!text)
        return -1;
    char *nl = strchr(text, '\n');
    int rc = 0;
    if (!nl || (size_t)(nl - text) != strlen(t->header) || strncmp(text, t->header, strlen(t->header))) {
        rc = nd_fail("%s: line 1: header differs from this sweep's columns (%s)", path, t->header);
        goto done;
    }
    char *s = nl + 1, *e;
    double alpha = strtod(s, &e);
    long draw = 0, seed = 0;
    int ok = *e == ',' && alpha == p->alpha;
    if (ok) {
        draw = strtol(e + 1, &e, 10);
        ok = *e == ',' && draw == p->draw;
    }
    if (ok) {
        seed = strtol(e + 1, &e, 10);
        ok = *e == ',' && seed == p->seed;
    }
    for (int i = 0; ok && i < t->n_val; i++) {
        long v = strtol(e + 1, &e, 10);
        ok = (*e == ',' || (*e == '\n' && i == t->n_val - 1)) && v >= 0 && v <= INT_MAX;
        p->val[i] = (int)v;
    }
    if (!ok)
        rc = nd_fail("%s: line 2: expected alpha,draw,seed and %d counts of point %s", path, t->n_val, p->name);
done:
    free(text);
    return rc;
}

static int point_write(const point *p, const char *path, const table *t)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    fprintf(a.f, "%s\n", t->header);
    row_text(a.f, p, t->n_val);
    return afile_commit(&a);
}

static int write_tables(const char *out, const point *pts, int np, const double *alphas, int na,
                        const table *t)
{
    char *path = nd_path_join(out, "sweep.csv");
    afile a;
    if (!path || afile_open(&a, path)) {
        free(path);
        return -1;
    }
    fprintf(a.f, "%s\n", t->header);
    for (int i = 0; i < np; i++)
        row_text(a.f, &pts[i], t->n_val);
    free(path);
    if (afile_commit(&a))
        return -1;

    path = nd_path_join(out, "summary.csv");
    if (!path || afile_open(&a, path)) {
        free(path);
        return -1;
    }
    free(path);
    fprintf(a.f, "alpha,n");
    for (int i = 0; i < t->n_val; i++)
        fprintf(a.f, ",%s_mean,%s_sd,%s_min,%s_max", t->names[i], t->names[i], t->names[i], t->names[i]);
    fputc('\n', a.f);
    double *x = nd_malloc(sizeof *x * (size_t)(np ? np : 1));
    if (!x) {
        afile_abort(&a);
        return -1;
    }
    for (int k = 0; k < na; k++) {
        char b[64];
        cli_fmt_double(b, sizeof b, alphas[k]);
        int n = 0;
        for (int i = 0; i < np; i++)
            n += pts[i].alpha == alphas[k];
        fprintf(a.f, "%s,%d", b, n);
        for (int v = 0; v < t->n_val; v++) {
            int m = 0;
            for (int i = 0; i < np; i++)
                if (pts[i].alpha == alphas[k])
                    x[m++] = pts[i].val[v];
            double mean = gsl_stats_mean(x, 1, (size_t)m);
            /* one value (alpha = 0, or a single draw): sd 0, not GSL's NaN */
            double sd = m > 1 ? gsl_stats_sd(x, 1, (size_t)m) : 0.0;
            double mn = x[0], mx = x[0];
            for (int i = 1; i < m; i++) {
                mn = x[i] < mn ? x[i] : mn;
                mx = x[i] > mx ? x[i] : mx;
            }
            char s1[64], s2[64];
            cli_fmt_double(s1, sizeof s1, mean);
            cli_fmt_double(s2, sizeof s2, sd);
            fprintf(a.f, ",%s,%s,%g,%g", s1, s2, mn, mx);
        }
        fputc('\n', a.f);
    }
    free(x);
    return afile_commit(&a);
}

/* ---------------------------------------------------------------- the run */


/* Everything one run holds; sweep_run's steps fill it in order and
 * sweep_free releases whatever was reached. */
typedef struct {
    config *c;
    const sweep_opts *o;
    double t_start;
    int lockfd;
    broden *ds;
    npy_t act;
    int act_open;
    nd_features feats;
    table t;
    point *pts;
    int np;
    int *vals;
    nd_options opt;
    double *Q, *R;     /* the current draw's Q and the current point's R */
    rot_schur *schur;  /* Schur form of Q, for its draw q_draw */
    int q_draw;
    char *points_dir;
    int n_computed, remaining;
    int n_rotated;       /* rotated points computed by this run */
    double t_rotated;    /* their time: the estimate of what is left */
    size_t i0, i1;       /* with a dist: this rank's image shard (sharded points) */
    int ds_shard;        /* s->ds holds only the shard's label maps (every point sharded) */
    int warned;          /* the unlabelled-category warning was given */
    unsigned char *flags; /* [np] the done flags rank 0 hands to every rank */
} sweep;

static void sweep_free(sweep *s)
{
    cli_progress_done();
    rot_schur_free(s->schur);
    free(s->Q);
    free(s->R);
    free(s->pts);
    free(s->vals);
    free(s->flags);
    free(s->points_dir);
    table_free(&s->t);
    if (s->ds)
        broden_free(s->ds);
    if (s->act_open)
        npy_close(&s->act);
    if (s->lockfd >= 0)
        close(s->lockfd);
}

/* Rank 0 of a distributed run, or the one process: the one that locks the
 * folder and writes the run-level files. */
static int is_root(const sweep *s) { return !s->o->dist || s->o->dist->rank == 0; }

/* A step boundary: with a dist, every rank learns whether every rank's step
 * succeeded (so none waits in a later collective for a rank that stopped). */
static int step(sweep *s, int rc)
{
    return s->o->dist ? s->o->dist->all_ok(s->o->dist, rc == 0) : rc;
}

/* Step 1: the output folder, locked against a second sweep, without the
 * temporaries of a killed run. */
static int lock_folder(sweep *s)
{
    const char *out = s->c->out_dir;
    if (nd_mkdirs(out))
        return -1;
    char *lockpath = nd_path_join(out, ".sweep.lock");
    s->lockfd = lockpath ? open(lockpath, O_RDWR | O_CREAT, 0644) : -1;
    if (s->lockfd < 0) {
        nd_fail("%s: cannot create: %s", lockpath ? lockpath : out, strerror(errno));
        free(lockpath);
        return -1;
    }
    free(lockpath);
    /* one process takes it (rank 0 of a distributed run; the others learn
     * the outcome through the step that follows).  Across nodes it needs a
     * filesystem whose flock is cluster-wide (docs/cluster.md) */
    if (flock(s->lockfd, LOCK_EX | LOCK_NB))
        return errno == EWOULDBLOCK
                   ? nd_fail("%s: another sweep is running on this folder", out)
                   : nd_fail("%s/.sweep.lock: cannot lock: %s (the filesystem must support flock; "
                             "docs/cluster.md)", out, strerror(errno));
    remove_stale_temps_all(out);
    return 0;
}

static void fmt_secs(char *b, size_t cap, double s)
{
    if (s < 60)
        snprintf(b, cap, "%.1f s", s);
    else if (s < 3600)
        snprintf(b, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(b, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void sweep_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    cli_progress("sweep: %s %zu/%zu", stage, done, total);
}

/* a trained network's layer (train/ckpt.h) into the cache file */
static int extract_checkpoint(const config *c, nd_progress pr)
{
    tr_table tab;
    net_t net;
    if (tr_ckpt_load(c->checkpoint, &tab, &net, NULL, NULL))
        return -1;
    int rc = mdl_extract_net(&net, c->checkpoint, c->dataset, c->layer, c->npy, MDL_BATCH, pr);
    net_free(&net);
    tr_table_free(&tab);
    return rc;
}

/* The extraction's progress (always shown: it can take longer than the
 * points), at most one line a second, with its own time estimate. */
typedef struct {
    double t0, last;
} extract_clock;

static void extract_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    extract_clock *k = ctx;
    double t = nd_now();
    if (done < total && k->last >= 0 && t - k->last < 1.0)
        return;
    k->last = t;
    char left[32] = "?";
    if (done > 0)
        fmt_secs(left, sizeof left, (t - k->t0) / (double)done * (double)(total - done));
    cli_progress("sweep: computing activations (%s): %zu/%zu images, about %s left", stage, done, total, left);
}

/* Step 2: the activations, computed once into the cache file when the
 * config says how (rank 0 of a distributed run). */
static int extract_inputs(sweep *s)
{
    config *c = s->c;
    if (c->compute && !file_exists(c->npy)) {
        extract_clock k = {nd_now(), -1};
        char note[512];
        snprintf(note, sizeof note, "dissect sweep: interrupted while computing the activations into %s; "
                 "run the same command again to start over (no point was computed yet)", c->npy);
        afile_set_interrupt_note(note);
        cli_progress("sweep: computing %s %s activations into %s", c->model, c->layer, c->npy);
        nd_progress xp = {extract_progress, &k};
        if (c->checkpoint ? extract_checkpoint(c, xp)
                          : mdl_extract(c->model, c->weights, c->weights ? -1 : c->random_seed,
                                        c->dataset, c->layer, c->npy, MDL_BATCH, xp))
            return -1;
    }
    return 0;
}

/* The memory a point needs whole on one rank: the activations it reads
 * (mapped; the page cache holds them) and, when rotated, their float32
 * rotated copy (compute_point holds it when it fits SWEEP_MEMORY_BUDGET, or
 * sieves it in one rotation pass, its kept maps in a temporary file). */
static double point_bytes(const sweep *s, int rotated)
{
    const nd_features *f = &s->feats;
    double values = (double)f->N * (double)(f->K * f->h * f->w);
    return values * (double)s->act.elsize + (rotated ? values * sizeof(float) : 0);
}

/* Whether the unrotated point (rotated = 0) or the rotated ones are
 * computed by all ranks together (sweep_opts.shard_points).  It depends only
 * on what every rank has alike - the options, the activations' header, the
 * agreed budget - so all ranks agree without a message. */
static int kind_sharded(const sweep *s, int rotated)
{
    const sweep_opts *o = s->o;
    if (!o->dist || o->shard_points == SWEEP_SHARD_NEVER)
        return 0;
    return o->shard_points == SWEEP_SHARD_ALWAYS || (o->rank_memory > 0 && point_bytes(s, rotated) > o->rank_memory);
}

static int point_sharded(const sweep *s, const point *p) { return kind_sharded(s, p->seed >= 0); }

/* Step 2b (every rank, after extract_inputs): the activations, the
 * receptive field, the dataset. */
static int load_inputs(sweep *s)
{
    config *c = s->c;
    const nd_dist *d = s->o->dist;
    if (npy_open(&s->act, c->npy))
        return -1;
    s->act_open = 1;
    if (nd_features_from_npy(&s->feats, &s->act) || resolve_field(c))
        return -1;
    /* when every point is sharded (and no probe needs whole points) a rank
     * decodes only its shard's label maps */
    if (d)
        nd_image_shard(s->feats.N, d->rank, d->size, ND_THR_BLOCK, &s->i0, &s->i1);
    s->ds_shard = d && !c->probes && kind_sharded(s, 0);
    if (s->ds_shard ? broden_open_shard(&s->ds, c->dataset, c->categories, NULL, s->i0, s->i1)
                    : broden_open(&s->ds, c->dataset, c->categories))
        return -1;
    if (broden_num_images(s->ds) != s->feats.N)
        return nd_fail("%s: %zu images, but %s/index.csv has %zu rows", c->npy, s->feats.N,
                       c->dataset, broden_num_images(s->ds));
    return table_init(&s->t, s->ds);
}

int sweep_check_inputs(config *c)
{
    broden *ds = NULL;
    if (broden_open(&ds, c->dataset, c->categories))
        return -1;
    size_t N = broden_num_images(ds);
    broden_free(ds);
    /* computed by the run, checked then; a checkpoint's receptive field comes
     * from the geometry .json its extraction writes */
    if (c->compute && !file_exists(c->npy))
        return c->checkpoint ? 0 : resolve_field(c);
    npy_t a;
    nd_features f;
    if (npy_open(&a, c->npy))
        return -1;
    int rc = nd_features_from_npy(&f, &a);
    if (!rc && f.N != N)
        rc = nd_fail("%s: %zu images, but %s/index.csv has %zu rows", c->npy, f.N, c->dataset, N);
    npy_close(&a);
    return rc ? -1 : resolve_field(c);
}

/* Inputs no output of the run may replace (core/afile.h). */
static int protect_inputs(const config *c)
{
    static const char *files[] = {"index.csv", "category.csv", "label.csv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *p = nd_path_join(c->dataset, files[i]);
        int r = p ? afile_protect_input(p) : -1;
        free(p);
        if (r)
            return -1;
    }
    return afile_protect_input(c->weights) || (!c->compute && afile_protect_input(c->npy)) ? -1 : 0;
}

/* Step 3: the points in run order (alpha 0 once, then per draw every
 * alpha != 0), the dissection options and the rotation buffers. */
static int prepare_points(sweep *s)
{
    const config *c = s->c;
    int nz = 0;
    for (int k = 0; k < c->n_alphas; k++)
        nz += c->alphas[k] != 0;
    int total = 1 + c->draws * nz;
    s->pts = nd_calloc((size_t)total, sizeof *s->pts);
    s->vals = nd_calloc((size_t)total * (size_t)s->t.n_val, sizeof *s->vals);
    s->flags = nd_calloc((size_t)total, 1);
    if (!s->pts || !s->vals || !s->flags)
        return -1;
    point *pts = s->pts;
    s->np = 0;
    pts[s->np++] = (point){.alpha = 0, .draw = 0, .seed = -1};
    for (int d = 0; d < c->draws; d++)
        for (int k = 0; k < c->n_alphas; k++)
            if (c->alphas[k] != 0)
                pts[s->np++] = (point){.alpha = c->alphas[k], .draw = d,
                                       .seed = (long)(c->base_seed + (unsigned long)d)};
    for (int i = 0; i < s->np; i++) {
        char a[32];
        cli_fmt_double(a, sizeof a, pts[i].alpha);
        snprintf(pts[i].name, sizeof pts[i].name, "a%s_d%d", a, pts[i].draw);
        pts[i].val = s->vals + (size_t)i * (size_t)s->t.n_val;
    }

    nd_options_default(&s->opt);
    s->opt.profile = c->profile;
    s->opt.quantile = c->quantile;
    s->opt.iou_threshold = c->iou_threshold;
    if (c->profile == ND_PROFILE_NETDISSECT) {
        s->opt.have_field = 1;
        s->opt.field_offset = c->field_offset;
        s->opt.field_size = c->field_size;
        s->opt.field_stride = c->field_stride;
    }
    s->opt.threads = s->o->threads;
    if (s->o->verbose)
        s->opt.progress = (nd_progress){sweep_progress, NULL};

    size_t K = s->feats.K;
    s->Q = nd_malloc(sizeof *s->Q * K * K);
    s->R = nd_malloc(sizeof *s->R * K * K);
    s->points_dir = nd_path_join(c->out_dir, "points");
    return s->Q && s->R && s->points_dir ? 0 : -1;
}

/* "<points>/<name>/" + file (allocated), or NULL */
static char *point_file(const sweep *s, const point *p, const char *file)
{
    char *dir = nd_path_join(s->points_dir, p->name);
    char *f = dir ? nd_path_join(dir, file) : NULL;
    free(dir);
    return f;
}

/* Step 4: which points are finished (resume), so the time estimate
 * covers only the rest. */
static int scan_finished(sweep *s)
{
    s->remaining = 0;
    for (int i = 0; i < s->np; i++) {
        char *pc = point_file(s, &s->pts[i], "point.csv");
        if (!pc)
            return -1;
        s->pts[i].done = file_exists(pc);
        s->remaining += !s->pts[i].done;
        free(pc);
    }
    if (is_root(s))
        log_line(s->c->out_dir, "start: %d points, %d to compute", s->np, s->remaining);
    return 0;
}

/* R = Q_d^alpha of point p; one Schur form per draw serves all its alphas
 * (rot_power would factorise Q again for each; the result is the same). */
static int point_rotation(sweep *s, const point *p)
{
    size_t K = s->feats.K;
    if (s->q_draw != p->draw) {
        rot_schur_free(s->schur);
        s->schur = NULL;
        s->q_draw = -1;
        if (rot_haar(s->Q, K, (unsigned long)p->seed) || rot_schur_init(&s->schur, s->Q, K))
            return -1;
        s->q_draw = p->draw;
    }
    return rot_schur_power(s->schur, s->R, p->alpha);
}

/* A rotated point is held in memory when it takes at most this much;
 * larger layers are sieved in their one rotation pass (core/onepass.h). */
#define SWEEP_MEMORY_BUDGET ND_ONCE_BUDGET

/* Point p's dissection r into its folder: the result files, then
 * point.csv (the mark of a finished point); p->val filled. */
static int write_point(sweep *s, point *p, nd_result *r)
{
    char a[64], extra[256];
    cli_fmt_double(a, sizeof a, p->alpha);
    snprintf(extra, sizeof extra, "\"alpha\": %s, \"draw\": %d, \"seed\": %ld, \"rotation\": \"%s\"",
             a, p->draw, p->seed, p->seed < 0 ? "none" : "Q^alpha, Q = rot_haar(K, seed)");
    char *dirslash = point_file(s, p, "");
    char *pc = point_file(s, p, "point.csv");
    r->features = s->c->npy;
    int err = !dirslash || !pc || nd_write_result(r, s->ds, dirslash, extra);
    if (!err) {
        p->val[0] = r->counts.detectors;
        p->val[1] = r->counts.unique_percat;
        p->val[2] = r->counts.unique_toplabel;
        size_t C = (size_t)(s->t.n_val - 3) / 3;
        for (size_t cc = 0; cc < C; cc++) {
            p->val[3 + 3 * cc] = r->counts.cat_detectors[cc];
            p->val[4 + 3 * cc] = r->counts.cat_unique_percat[cc];
            p->val[5 + 3 * cc] = r->counts.cat_unique_toplabel[cc];
        }
        err = point_write(p, pc, &s->t);
    }
    free(dirslash);
    free(pc);
    return err ? -1 : 0;
}

/* One point on this rank alone: dissect (rotated unless seed < 0), then
 * write_point. */
static int compute_point(sweep *s, point *p)
{
    nd_result r;
    memset(&r, 0, sizeof r);
    int err;
    if (p->seed < 0) {
        err = nd_dissect(s->ds, &s->feats, &s->opt, &r); /* the very call of `dissect units` */
    } else {
        nd_features rf;
        err = point_rotation(s, p);
        if (!err && !(err = rot_features(&rf, &s->feats, s->R))) {
            /* one rotation pass per point, the same bits as two: held in
             * memory when that fits, else sieved (core/onepass.h) */
            err = nd_dissect_once(s->ds, &rf, &s->opt, SWEEP_MEMORY_BUDGET, NULL, &r, NULL);
            rot_features_free(&rf);
        }
    }
    if (!err)
        err = write_point(s, p, &r);
    nd_result_free(&r); /* safe on a zeroed or partly filled result */
    return err ? nd_fail_prefix("point %s", p->name) : 0;
}

/* ---- a point computed by all ranks together (point_sharded) ---- */

/* R = Q_d^alpha of point p on every rank: rank 0's, copied, so that every
 * shard is rotated by the same bits (nodes of another CPU type could round
 * the Schur step differently). */
static int shared_rotation(sweep *s, const point *p)
{
    nd_dist *d = s->o->dist;
    if (step(s, is_root(s) ? point_rotation(s, p) : 0))
        return -1;
    return d->bcast(d, s->R, s->feats.K * s->feats.K * sizeof *s->R);
}

/* This rank's part of point p: its image shard of the (rotated) source -
 * rotated per image, so a value does not depend on the shard - held in
 * memory when the shard's copy fits, through the collective passes of
 * units_dissect_shard.  Collective. */
static int dissect_shard(sweep *s, const point *p, nd_result *r)
{
    nd_features rf, mf;
    const nd_features *src = &s->feats;
    int held = 0, rc = 0;
    memset(r, 0, sizeof *r);
    memset(&rf, 0, sizeof rf);
    if (p->seed >= 0) {
        rc = shared_rotation(s, p);
        if (!rc)
            rc = step(s, rot_features(&rf, &s->feats, s->R));
        if (!rc) {
            /* held (up to half the rank's budget), the shard's copy saves a
             * rotation pass per histogram pass */
            double half = s->o->rank_memory / 2;
            size_t hold = half > 0 ? (size_t)half : SWEEP_MEMORY_BUDGET;
            held = nd_features_memory_range(&mf, &rf, s->i0, s->i1, hold, s->opt.threads);
            rc = step(s, held < 0 ? -1 : 0);
            src = held > 0 ? &mf : &rf;
        }
    }
    if (!rc)
        rc = units_dissect_shard(s->ds, src, &s->opt, NULL, s->i0, s->i1, s->o->dist, r);
    if (held > 0)
        nd_features_memory_free(&mf);
    if (rf.ctx)
        rot_features_free(&rf);
    return rc;
}

/* Point p on every rank: dissected together, then rank 0 scores the summed
 * tally and writes the folder, as compute_point does.  Collective. */
static int compute_point_sharded(sweep *s, point *p)
{
    nd_result r;
    int rc = dissect_shard(s, p, &r);
    if (!rc)
        rc = step(s, is_root(s) ? (nd_score(s->ds, &r) || write_point(s, p, &r)) : 0);
    nd_result_free(&r);
    if (rc && strcmp(nd_errmsg(), ND_DIST_OTHER_FAILED))
        nd_fail_prefix("point %s", p->name);
    return rc;
}

/* The [probes] step of a point (sweep_probes.h), after its dissection. */
static int probe_point(sweep *s, const point *p)
{
    if (!sweep_probe_wanted(s->c, p->alpha, p->draw))
        return 0;
    if (p->seed >= 0 && point_rotation(s, p))
        return -1;
    char *dir = point_file(s, p, ""), *ref = point_file(s, &s->pts[0], "");
    double secs;
    int rc = !dir || !ref ||
             sweep_probe_point(s->c, s->ds, &s->feats, p->seed >= 0 ? s->R : NULL, p->alpha, p->seed, dir,
                               ref, s->o->threads, &secs);
    if (!rc && secs > 0) {
        log_line(s->c->out_dir, "probes %s in %.2f s", p->name, secs);
        cli_progress("sweep %s: probes in %.1f s", p->name, secs);
    }
    free(dir), free(ref);
    return rc ? nd_fail_prefix("point %s", p->name) : 0;
}

static int probe_tables(sweep *s)
{
    sweep_probe_pt *pp = nd_calloc((size_t)s->np, sizeof *pp);
    char **dirs = nd_calloc((size_t)s->np, sizeof *dirs);
    int n = 0, rc = !pp || !dirs;
    for (int i = 0; !rc && i < s->np; i++)
        if (sweep_probe_wanted(s->c, s->pts[i].alpha, s->pts[i].draw)) {
            if (!(dirs[n] = point_file(s, &s->pts[i], "")))
                rc = 1;
            else
                pp[n] = (sweep_probe_pt){s->pts[i].alpha, s->pts[i].draw, s->pts[i].seed, dirs[n]}, n++;
        }
    rc = rc || sweep_probe_tables(s->c, s->ds, pp, n, !s->o->no_plot);
    for (int i = 0; dirs && i < n; i++)
        free(dirs[i]);
    free(pp), free(dirs);
    return rc ? -1 : 0;
}

/* Point i, finished earlier: its counts read back from its point.csv.  A
 * damaged point.csv (truncated, edited) marks an unfinished point: it is
 * recomputed rather than stop the whole resume (p->done = 0; logged unless
 * quiet, so that only one rank of a distributed run writes the lines). */
static int read_point(sweep *s, int i, int quiet)
{
    point *p = &s->pts[i];
    char *pc = point_file(s, p, "point.csv");
    if (!pc)
        return -1;
    int r = point_read(p, pc, &s->t);
    free(pc);
    if (r) {
        if (!quiet) {
            log_line(s->c->out_dir, "recomputing %s: %s", p->name, nd_errmsg());
            cli_progress("sweep: %s; recomputing the point", nd_errmsg());
        }
        nd_clear_error();
        p->done = 0;
        s->remaining++;
    }
    return 0;
}

/* Point i, done earlier: its lines and its [probes] step. */
static int skip_point(sweep *s, int i)
{
    point *p = &s->pts[i];
    char el[32];
    log_line(s->c->out_dir, "skipped %s (complete)", p->name);
    fmt_secs(el, sizeof el, nd_now() - s->t_start);
    cli_progress("sweep [%d/%d] %s: done earlier, skipped (%d detectors, %d unique); "
                 "elapsed %s", i + 1, s->np, p->name, p->val[0], p->val[1], el);
    return probe_point(s, p);
}

/* Point i computed here (and probed), with its log and progress lines. */
static int run_point(sweep *s, int i)
{
    point *p = &s->pts[i];
    char el[32], left[64];
    char note[512];
    snprintf(note, sizeof note, "dissect sweep: interrupted during point %s (%d of %d points finished, "
             "kept in %s/points); run the same command again to resume from there", p->name,
             s->np - s->remaining, s->np, s->c->out_dir);
    afile_set_interrupt_note(note);
    double t0 = nd_now();
    /* a sharded point: every rank here together; rank 0 writes and probes */
    int sh = point_sharded(s, p);
    int rc = sh ? compute_point_sharded(s, p) : compute_point(s, p);
    if (!rc)
        rc = sh ? step(s, is_root(s) ? probe_point(s, p) : 0) : probe_point(s, p);
    if (rc)
        return -1;
    double dt = nd_now() - t0;
    s->remaining--;
    if (sh && !is_root(s))
        return 0;
    p->mine = 1;
    s->n_computed++;
    if (p->seed >= 0) {
        s->n_rotated++;
        s->t_rotated += dt;
    }
    char how[64] = "";
    if (sh)
        snprintf(how, sizeof how, " (sharded over %d ranks)", s->o->dist->size);
    else if (s->o->dist)
        snprintf(how, sizeof how, " (distributed run)");
    log_line(s->c->out_dir, "computed %s (seed %ld) in %.2f s%s", p->name, p->seed, dt, how);
    fmt_secs(el, sizeof el, nd_now() - s->t_start);
    /* every point left is rotated: the unrotated one (no rotation, no
     * Schur form) would make the first estimate far too short */
    char eta[32];
    fmt_secs(eta, sizeof eta, s->n_rotated ? s->t_rotated / s->n_rotated * (s->remaining > 0 ? s->remaining : 0) : 0);
    if (s->remaining > 0 && !s->n_rotated)
        snprintf(left, sizeof left, "time left known after the first rotated point");
    else
        snprintf(left, sizeof left, "about %s left", eta);
    char seed[32] = "";
    if (p->seed >= 0)
        snprintf(seed, sizeof seed, " seed %ld", p->seed);
    cli_progress("sweep [%d/%d] %s%s: %d detectors, %d unique (per-category), %d "
                 "(top-label) in %.1f s; elapsed %s, %s",
                 i + 1, s->np, p->name, seed, p->val[0], p->val[1], p->val[2], dt, el, left);
    return 0;
}

/* Point i as a task: skipped if done earlier, else computed. */
static int point_task(sweep *s, int i)
{
    if (s->pts[i].done)
        return skip_point(s, i);
    if (!s->warned && is_root(s))
        units_warn_unlabelled(s->ds); /* once, before the first point computed */
    s->warned = 1;
    return run_point(s, i);
}

/* Over ranks, before any point: rank 0's view of which points are done
 * (its scan and read-back) handed to every rank, so that all agree on the
 * points left - and on the sharded ones, which they compute together -
 * whatever each node's filesystem cache shows. */
static int agree_done(sweep *s)
{
    nd_dist *d = s->o->dist;
    for (int i = 0; i < s->np; i++)
        s->flags[i] = (unsigned char)s->pts[i].done;
    if (d->bcast(d, s->flags, (size_t)s->np))
        return -1;
    s->remaining = 0;
    for (int i = 0; i < s->np; i++) {
        s->pts[i].done = s->flags[i];
        s->remaining += !s->pts[i].done;
    }
    return 0;
}

/* The sharded points, in point order, on every rank together: a finished
 * one is skipped by rank 0 (its probes), the others computed (the
 * unlabelled-category warning first, once).  Every point ends with a step,
 * so a failure stops all ranks at the same point. */
static int run_sharded(sweep *s)
{
    int rc = 0;
    for (int i = 0; i < s->np && !rc; i++) {
        if (!point_sharded(s, &s->pts[i]))
            continue;
        if (s->pts[i].done) {
            rc = step(s, is_root(s) ? skip_point(s, i) : 0);
            continue;
        }
        if (!s->warned)
            rc = s->ds_shard ? units_warn_unlabelled_dist(s->ds, s->o->dist)
                             : step(s, is_root(s) ? (units_warn_unlabelled(s->ds), 0) : 0);
        s->warned = 1;
        if (!rc)
            rc = run_point(s, i);
    }
    return rc;
}

/* The counts of the points computed in this run into rank 0's (each point
 * was computed - or, sharded, written - by one rank: the others add 0), so
 * rank 0 needs no other node's files.  Collective. */
static int gather_counts(sweep *s)
{
    nd_dist *d = s->o->dist;
    size_t nv = (size_t)s->t.n_val, n = (size_t)s->np * nv;
    int64_t *v = nd_calloc(n + 2, sizeof *v);
    if (step(s, v ? 0 : -1))
        return free(v), -1;
    for (int i = 0; i < s->np; i++)
        for (size_t k = 0; k < nv && s->pts[i].mine; k++)
            v[(size_t)i * nv + k] = s->pts[i].val[k];
    v[n] = s->n_computed;
    int rc = d->sum_i64(d, v, n + 1);
    for (int i = 0; !rc && is_root(s) && i < s->np; i++)
        for (size_t k = 0; k < nv && !s->pts[i].done; k++)
            s->pts[i].val[k] = (int)v[(size_t)i * nv + k];
    if (!rc && is_root(s))
        s->n_computed = (int)v[n];
    free(v);
    return rc;
}

/* Step 5 over ranks: the sharded points first (all ranks together), then
 * the others as tasks: each rank takes the next untaken one whenever it
 * finishes one (so a slow point does not hold up the others).  With
 * [probes], point 0 (the unrotated one, the others' equivariance
 * reference) comes first: sharded, or by rank 0 before the others start.
 * Sharded points before tasks: a rank that fails a task stops at the last
 * step, which no collective point follows.  Then rank 0 gathers the counts. */
static int run_points_dist(sweep *s)
{
    nd_dist *d = s->o->dist;
    int rc = 0, first = 0, ntask = 0;
    if (agree_done(s))
        return -1;
    if (s->c->probes && s->np > 0 && !point_sharded(s, &s->pts[0])) {
        if (step(s, is_root(s) ? point_task(s, 0) : 0))
            return -1;
        first = 1;
    }
    if (run_sharded(s))
        return -1;
    int *task_point = nd_calloc((size_t)s->np + 1, sizeof *task_point);
    if (step(s, task_point ? 0 : -1))
        return free(task_point), -1;
    for (int i = first; i < s->np; i++)
        if (!point_sharded(s, &s->pts[i]))
            task_point[ntask++] = i;
    for (long task; !rc;) {
        if (d->next_task(d, &task))
            rc = -1;
        else if (task >= ntask)
            break;
        else
            rc = point_task(s, task_point[task]);
    }
    free(task_point);
    afile_set_interrupt_note(NULL);
    if (step(s, rc) || gather_counts(s))
        return -1;
    cli_progress_done();
    return 0;
}

/* Step 5: every point, finished ones read back, with a progress line each. */
static int run_points(sweep *s)
{
    s->q_draw = -1;
    /* the finished points' counts (with a dist every rank reads them, for
     * its progress lines; rank 0's reading decides, agree_done) */
    for (int i = 0; i < s->np; i++)
        if (s->pts[i].done && read_point(s, i, !is_root(s)))
            return -1;
    if (s->o->dist)
        return run_points_dist(s);
    for (int i = 0; i < s->np; i++)
        if (point_task(s, i))
            return -1;
    afile_set_interrupt_note(NULL);
    cli_progress_done();
    return 0;
}

/* Step 6 (after the tables and figures): the headline numbers at alpha = 0
 * and at the largest alpha, on stdout. */
static void closing_note(const sweep *s)
{
    const config *c = s->c;
    const point *pts = s->pts;
    double amax = c->alphas[c->n_alphas - 1];
    printf("sweep: %d points (%d computed, %d done earlier) in %.1f s wall time\n", s->np,
           s->n_computed, s->np - s->n_computed, nd_now() - s->t_start);
    for (int v = 1; v <= 2; v++) {
        printf("unique detectors (%s): alpha 0: %d",
               v == 1 ? "per-category, headline" : "top-label", pts[0].val[v]);
        if (amax != 0) {
            double sum = 0;
            int m = 0, mn = INT_MAX, mx = 0;
            for (int i = 1; i < s->np; i++)
                if (pts[i].alpha == amax) {
                    sum += pts[i].val[v];
                    m++;
                    mn = pts[i].val[v] < mn ? pts[i].val[v] : mn;
                    mx = pts[i].val[v] > mx ? pts[i].val[v] : mx;
                }
            char b[64];
            cli_fmt_double(b, sizeof b, amax);
            printf("; alpha %s: mean %.1f, range %d-%d over %d draw%s", b, sum / m, mn, mx, m,
                   m == 1 ? "" : "s");
        }
        printf("\n");
    }
    printf("results: %s/sweep.csv, %s/summary.csv, per point %s/points/\n", c->out_dir,
           c->out_dir, c->out_dir);
    if (!s->o->no_plot)
        printf("figures: %s/figures/unique_vs_alpha.{png,svg}, "
               "%s/figures/category_vs_alpha.{png,svg}\n", c->out_dir, c->out_dir);
}

/* sweep.json: what the run folder is (format version, inputs, settings,
 * points), beside sweep.csv and summary.csv. */
static int write_run_json(const config *c, int np)
{
    char b[64];
    afile a;
    if (nd_format_open(&a, c->out_dir, "sweep.json", "sweep", ND_FORMAT_SWEEP))
        return -1;
    FILE *f = a.f;
    fprintf(f, "  \"program_version\": \"%s\",\n  \"dataset\": ", ND_VERSION);
    nd_json_str(f, c->dataset);
    fprintf(f, ",\n  \"categories\": ");
    nd_json_str(f, c->categories ? c->categories : "all");
    fprintf(f, ",\n  \"activations\": ");
    nd_json_str(f, c->npy);
    fprintf(f, ",\n  \"profile\": \"%s\",\n", nd_profile_name(c->profile));
    cli_fmt_double(b, sizeof b, c->quantile);
    fprintf(f, "  \"quantile\": %s,\n", b);
    cli_fmt_double(b, sizeof b, c->iou_threshold);
    fprintf(f, "  \"iou_threshold\": %s,\n  \"alphas\": [", b);
    for (int i = 0; i < c->n_alphas; i++) {
        cli_fmt_double(b, sizeof b, c->alphas[i]);
        fprintf(f, "%s%s", i ? ", " : "", b);
    }
    fprintf(f, "],\n  \"draws\": %d,\n  \"base_seed\": %lu,\n  \"points\": %d\n}\n", c->draws,
            c->base_seed, np);
    return afile_commit(&a);
}

int sweep_run(config *c, const sweep_opts *o)
{
    sweep s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.o = o;
    s.t_start = nd_now();
    s.lockfd = -1;
    int rc = -1;
    int root = is_root(&s);
    /* every input checked before anything is written: a failed start leaves
     * the folder as it was.  With a dist every step is collective: rank 0's
     * folder lock and cleanup precede any rank's first write; every rank has
     * scanned the finished points before any computes one */
    if (step(&s, sweep_check_inputs(c) || protect_inputs(c)) || step(&s, root ? lock_folder(&s) : 0) ||
        step(&s, root ? extract_inputs(&s) : 0) || step(&s, load_inputs(&s)) ||
        step(&s, root ? resume_key_claim(c) || config_write_effective(c) : 0) || step(&s, prepare_points(&s)) ||
        step(&s, scan_finished(&s)) || run_points(&s))
        goto done;
    int wrote = 0;
    if (root && !(wrote = write_tables(c->out_dir, s.pts, s.np, c->alphas, c->n_alphas, &s.t) ||
                          write_run_json(c, s.np) || (c->probes && probe_tables(&s)))) {
        log_line(c->out_dir, "tables written: %d points (%d computed now)", s.np, s.n_computed);
        if (!o->no_plot)
            wrote = fig_draw(c->out_dir);
    }
    if (step(&s, wrote))
        goto done;
    if (root)
        closing_note(&s);
    rc = 0;
done:
    sweep_free(&s);
    return rc;
}
