/* sweep.c - the rotation sweep: points, resume, sweep.csv / summary.csv, figures.
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
#include "core/afile.h"
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/features.h"
#include "core/npy.h"
#include "core/result.h"
#include "experiments/cli.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "models/extract.h"

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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    double alpha;
    int draw;
    long seed; /* -1 for the unrotated point */
    char name[96];
    int *val;  /* the counts of its row (n_val) */
    int done;
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

/* Remove "<name>.tmp.<pid>" leftovers of a killed run from one folder. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* afile's "<name>.tmp.<pid>", and the figures' "<base>.tmp.<pid>.<png|svg>" */
        const char *t = strstr(e->d_name, ".tmp.");
        size_t nd = t ? strspn(t + 5, "0123456789") : 0;
        if (!nd || !(t[5 + nd] == 0 || !strcmp(t + 5 + nd, ".png") || !strcmp(t + 5 + nd, ".svg")))
            continue;
        char *p = nd_path_join(dir, e->d_name);
        if (p)
            unlink(p);
        free(p);
    }
    closedir(d);
}

static void remove_stale_temps_all(const char *out)
{
    remove_stale_temps(out);
    char *pts = nd_path_join(out, "points");
    char *fig = nd_path_join(out, "figures");
    if (fig)
        remove_stale_temps(fig);
    DIR *d = pts ? opendir(pts) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                char *p = nd_path_join(pts, e->d_name);
                if (p)
                    remove_stale_temps(p);
                free(p);
            }
        closedir(d);
    }
    free(pts);
    free(fig);
}

/* ---------------------------------------------------------------- setup */

/* The receptive field from "<npy without .npy>.json" ("field": [o, s, t]). */
static int field_from_json(const char *npy, int *o, int *s, int *t, char **json_path)
{
    size_t n = strlen(npy);
    char *j = malloc(n + 8);
    if (!j)
        return nd_fail("out of memory");
    memcpy(j, npy, n + 1);
    if (n > 4 && !strcmp(j + n - 4, ".npy"))
        j[n - 4] = 0;
    strcat(j, ".json");
    *json_path = j;
    if (!file_exists(j))
        return 1;
    char *text = nd_read_text(j);
    if (!text)
        return -1;
    char *f = strstr(text, "\"field\"");
    char *b = f ? strchr(f, '[') : NULL;
    long v[3];
    int ok = b != NULL;
    char *q = b ? b + 1 : NULL;
    for (int i = 0; ok && i < 3; i++) {
        char *e;
        v[i] = strtol(q, &e, 10);
        if (e == q)
            ok = 0;
        q = e;
        while (ok && (*q == ' ' || *q == ','))
            q++;
    }
    free(text);
    if (!ok || v[1] < 1 || v[2] < 1)
        return nd_fail("%s: expected \"field\": [offset, size, stride] with size, stride >= 1", j);
    *o = (int)v[0];
    *s = (int)v[1];
    *t = (int)v[2];
    return 0;
}

static int resolve_field(config *c)
{
    if (c->profile != ND_PROFILE_NETDISSECT || c->have_field)
        return 0;
    char *json = NULL;
    int r = field_from_json(c->npy, &c->field_offset, &c->field_size, &c->field_stride, &json);
    if (r == 0) {
        c->have_field = 1;
    } else if (r > 0 && c->model && c->layer) {
        if (mdl_layer_field(c->model, c->layer, &c->field_offset, &c->field_size, &c->field_stride) == 0)
            c->have_field = 1;
        else
            r = -1;
    } else if (r > 0) {
        nd_fail("%s: profile netdissect needs the layer's receptive field: give [dissect] field = "
                "OFFSET,SIZE,STRIDE, or [activations] model and layer, or put %s beside the activations",
                c->path, json);
        r = -1;
    }
    free(json);
    return r < 0 ? -1 : 0;
}

/* Write config.effective.ini, or check that the folder's one matches. */
static int effective_config(const config *c)
{
    char *now = config_effective(c);
    if (!now)
        return -1;
    char *path = nd_path_join(c->out_dir, "config.effective.ini");
    int rc = 0;
    if (file_exists(path)) {
        char *old = nd_read_text(path);
        if (!old) {
            rc = -1;
        } else {
            /* compare line by line, skipping "; from:" (how the config was named) */
            char *a = old, *b = now;
            int line = 0;
            while (*a || *b) {
                line++;
                char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
                size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
                int skip = !strncmp(a, "; from:", 7) && !strncmp(b, "; from:", 7);
                if (!skip && (la != lb || memcmp(a, b, la))) {
                    nd_fail("%s:%d: this run folder holds another configuration ('%.*s', now '%.*s'); "
                            "use another output folder (--out) or remove %s",
                            path, line, (int)(la > 120 ? 120 : la), a, (int)(lb > 120 ? 120 : lb), b, c->out_dir);
                    rc = -1;
                    break;
                }
                a += la + (ea != NULL);
                b += lb + (eb != NULL);
            }
            free(old);
        }
    } else {
        rc = afile_write_all(path, now, strlen(now));
    }
    free(path);
    free(now);
    return rc;
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
    t->header = malloc(len);
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

static void fmt_secs(char *b, size_t cap, double s)
{
    if (s < 60)
        snprintf(b, cap, "%.1f s", s);
    else if (s < 3600)
        snprintf(b, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(b, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

int sweep_run(config *c, const sweep_opts *o)
{
    double t_start = cli_now();
    int rc = -1, lockfd = -1;
    broden *ds = NULL;
    npy_t act;
    int act_open = 0;
    nd_features feats;
    table t;
    memset(&t, 0, sizeof t);
    point *pts = NULL;
    int np = 0;
    double *Q = NULL, *R = NULL;
    rot_schur *schur = NULL; /* Schur form of the current draw's Q */
    int *vals = NULL;
    char *lockpath = NULL;

    if (nd_mkdirs(c->out_dir))
        return -1;
    lockpath = nd_path_join(c->out_dir, ".sweep.lock");
    lockfd = lockpath ? open(lockpath, O_RDWR | O_CREAT, 0644) : -1;
    if (lockfd < 0) {
        nd_fail("%s: cannot create: %s", lockpath ? lockpath : c->out_dir, strerror(errno));
        goto done;
    }
    if (flock(lockfd, LOCK_EX | LOCK_NB)) {
        nd_fail("%s: another sweep is running on this folder", c->out_dir);
        goto done;
    }
    remove_stale_temps_all(c->out_dir);

    /* Activations: computed once into the cache file when the config says how. */
    if (c->compute && !file_exists(c->npy)) {
        cli_progress("sweep: computing %s %s activations into %s", c->model, c->layer, c->npy);
        if (mdl_extract(c->model, c->weights, c->weights ? -1 : c->random_seed, c->dataset, c->layer, c->npy,
                        !o->verbose))
            goto done;
    }
    if (npy_open(&act, c->npy))
        goto done;
    act_open = 1;
    if (nd_features_from_npy(&feats, &act))
        goto done;
    if (resolve_field(c))
        goto done;
    if (effective_config(c))
        goto done;
    if (broden_open(&ds, c->dataset, c->categories))
        goto done;
    if (broden_num_images(ds) != feats.N) {
        nd_fail("%s: %zu images, but %s/index.csv has %zu rows", c->npy, feats.N, c->dataset,
                broden_num_images(ds));
        goto done;
    }
    if (table_init(&t, ds))
        goto done;

    /* The points, in run order: alpha 0 once, then per draw every alpha != 0. */
    int nz = 0;
    for (int k = 0; k < c->n_alphas; k++)
        nz += c->alphas[k] != 0;
    int total = 1 + c->draws * nz;
    pts = nd_calloc((size_t)total, sizeof *pts);
    vals = nd_calloc((size_t)total * (size_t)t.n_val, sizeof *vals);
    if (!pts || !vals)
        goto done;
    pts[np++] = (point){.alpha = 0, .draw = 0, .seed = -1};
    for (int d = 0; d < c->draws; d++)
        for (int k = 0; k < c->n_alphas; k++)
            if (c->alphas[k] != 0)
                pts[np++] = (point){.alpha = c->alphas[k], .draw = d, .seed = (long)(c->base_seed + (unsigned long)d)};
    for (int i = 0; i < np; i++) {
        char a[32];
        cli_fmt_double(a, sizeof a, pts[i].alpha);
        snprintf(pts[i].name, sizeof pts[i].name, "a%s_d%d", a, pts[i].draw);
        pts[i].val = vals + (size_t)i * (size_t)t.n_val;
    }

    nd_options opt;
    nd_options_default(&opt);
    opt.profile = c->profile;
    opt.quantile = c->quantile;
    opt.iou_threshold = c->iou_threshold;
    if (c->profile == ND_PROFILE_NETDISSECT) {
        opt.have_field = 1;
        opt.field_offset = c->field_offset;
        opt.field_size = c->field_size;
        opt.field_stride = c->field_stride;
    }
    opt.threads = o->threads;

    size_t K = feats.K;
    Q = nd_malloc(sizeof *Q * K * K);
    R = nd_malloc(sizeof *R * K * K);
    if (!Q || !R)
        goto done;
    int q_draw = -1, n_computed = 0;
    double t_compute = 0;
    char *points_dir = nd_path_join(c->out_dir, "points");
    if (!points_dir)
        goto done;
    /* Count the finished points first, so the time estimate covers only the rest. */
    int remaining = 0;
    for (int i = 0; i < np; i++) {
        char *dir = nd_path_join(points_dir, pts[i].name);
        char *pc = dir ? nd_path_join(dir, "point.csv") : NULL;
        pts[i].done = pc && file_exists(pc);
        remaining += !pts[i].done;
        free(pc);
        free(dir);
    }
    log_line(c->out_dir, "start: %d points, %d to compute", np, remaining);
    for (int i = 0; i < np; i++) {
        point *p = &pts[i];
        char *dir = nd_path_join(points_dir, p->name);
        char *pc = dir ? nd_path_join(dir, "point.csv") : NULL;
        char *dirslash = dir ? nd_path_join(dir, "") : NULL;
        char el[32], left[32];
        if (!pc || !dirslash) {
            free(dir), free(pc), free(dirslash);
            free(points_dir);
            goto done;
        }
        if (p->done) {
            int r = point_read(p, pc, &t);
            free(dir), free(pc), free(dirslash);
            if (r) {
                free(points_dir);
                goto done;
            }
            log_line(c->out_dir, "skipped %s (complete)", p->name);
            fmt_secs(el, sizeof el, cli_now() - t_start);
            cli_progress("sweep [%d/%d] %s: done earlier, skipped (%d detectors, %d unique); elapsed %s", i + 1, np,
                         p->name, p->val[0], p->val[1], el);
            continue;
        }
        double t0 = cli_now();
        nd_result r;
        memset(&r, 0, sizeof r);
        int err;
        if (p->seed < 0) {
            err = nd_dissect(ds, &feats, &opt, &r); /* unrotated: the very call of `dissect units` */
        } else {
            err = 0;
            /* one Schur form per draw serves all its alphas (rot_power would
             * factorise Q again for each; the result is the same) */
            if (q_draw != p->draw) {
                rot_schur_free(schur);
                schur = NULL;
                err = rot_haar(Q, K, (unsigned long)p->seed) || rot_schur_init(&schur, Q, K);
                q_draw = err ? -1 : p->draw;
            }
            nd_features rf;
            if (!err)
                err = rot_schur_power(schur, R, p->alpha);
            if (!err && !(err = rot_features(&rf, &feats, R))) {
                err = nd_dissect(ds, &rf, &opt, &r);
                rot_features_free(&rf);
            }
        }
        char a[64], extra[256];
        cli_fmt_double(a, sizeof a, p->alpha);
        snprintf(extra, sizeof extra, "\"alpha\": %s, \"draw\": %d, \"seed\": %ld, \"rotation\": \"%s\"", a, p->draw,
                 p->seed, p->seed < 0 ? "none" : "Q^alpha, Q = rot_haar(K, seed)");
        if (!err)
            err = nd_write_result(&r, ds, dirslash, extra);
        if (!err) {
            p->val[0] = r.counts.detectors;
            p->val[1] = r.counts.unique_percat;
            p->val[2] = r.counts.unique_toplabel;
            size_t C = (size_t)(t.n_val - 3) / 3;
            for (size_t cc = 0; cc < C; cc++) {
                p->val[3 + 3 * cc] = r.counts.cat_detectors[cc];
                p->val[4 + 3 * cc] = r.counts.cat_unique_percat[cc];
                p->val[5 + 3 * cc] = r.counts.cat_unique_toplabel[cc];
            }
            err = point_write(p, pc, &t);
        }
        nd_result_free(&r); /* safe on a zeroed or partly filled result */
        free(dir), free(pc), free(dirslash);
        if (err) {
            nd_fail_prefix("point %s", p->name);
            free(points_dir);
            goto done;
        }
        double dt = cli_now() - t0;
        t_compute += dt;
        n_computed++;
        remaining--;
        log_line(c->out_dir, "computed %s (seed %ld) in %.2f s", p->name, p->seed, dt);
        fmt_secs(el, sizeof el, cli_now() - t_start);
        fmt_secs(left, sizeof left, t_compute / n_computed * remaining);
        char seed[32] = "";
        if (p->seed >= 0)
            snprintf(seed, sizeof seed, " seed %ld", p->seed);
        cli_progress("sweep [%d/%d] %s%s: %d detectors, %d unique (per-category), %d (top-label) in %.1f s; "
                     "elapsed %s, about %s left",
                     i + 1, np, p->name, seed, p->val[0], p->val[1], p->val[2], dt, el, left);
    }
    free(points_dir);
    cli_progress_done();
    if (write_tables(c->out_dir, pts, np, c->alphas, c->n_alphas, &t))
        goto done;
    log_line(c->out_dir, "tables written: %d points (%d computed now)", np, n_computed);
    if (!o->no_plot && sweep_plot(c->out_dir))
        goto done;

    /* Closing note: the headline numbers at alpha = 0 and the largest alpha. */
    double amax = c->alphas[c->n_alphas - 1];
    printf("sweep: %d points (%d computed, %d done earlier) in %.1f s wall time\n", np, n_computed,
           np - n_computed, cli_now() - t_start);
    for (int v = 1; v <= 2; v++) {
        printf("unique detectors (%s): alpha 0: %d", v == 1 ? "per-category, headline" : "top-label", pts[0].val[v]);
        if (amax != 0) {
            double s = 0;
            int m = 0, mn = INT_MAX, mx = 0;
            for (int i = 1; i < np; i++)
                if (pts[i].alpha == amax) {
                    s += pts[i].val[v];
                    m++;
                    mn = pts[i].val[v] < mn ? pts[i].val[v] : mn;
                    mx = pts[i].val[v] > mx ? pts[i].val[v] : mx;
                }
            char b[64];
            cli_fmt_double(b, sizeof b, amax);
            printf("; alpha %s: mean %.1f, range %d-%d over %d draw%s", b, s / m, mn, mx, m, m == 1 ? "" : "s");
        }
        printf("\n");
    }
    printf("results: %s/sweep.csv, %s/summary.csv, per point %s/points/\n", c->out_dir, c->out_dir, c->out_dir);
    if (!o->no_plot)
        printf("figures: %s/figures/unique_vs_alpha.{png,svg}, %s/figures/category_vs_alpha.{png,svg}\n", c->out_dir,
               c->out_dir);
    rc = 0;
done:
    cli_progress_done();
    rot_schur_free(schur);
    free(Q);
    free(R);
    free(pts);
    free(vals);
    table_free(&t);
    if (ds)
        broden_free(ds);
    if (act_open)
        npy_close(&act);
    if (lockfd >= 0)
        close(lockfd);
    free(lockpath);
    return rc;
}

/* ---------------------------------------------------------------- figures */

const char *sweep_plots_dir(void)
{
    static char dir[PATH_MAX + 16];
    const char *env = getenv("ND_PLOTS");
    char probe[PATH_MAX + 64];
    char exe[PATH_MAX - 32];
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        snprintf(probe, sizeof probe, "%s/unique_vs_alpha.gp", dir);
        if (file_exists(probe))
            return dir;
        nd_fail("ND_PLOTS=%s: no unique_vs_alpha.gp there", env);
        return NULL;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(dir, sizeof dir, "%s/../plots", exe);
            snprintf(probe, sizeof probe, "%s/unique_vs_alpha.gp", dir);
            char *real = file_exists(probe) ? realpath(dir, NULL) : NULL;
            if (real) {
                snprintf(dir, sizeof dir, "%s", real);
                free(real);
                return dir;
            }
        }
    }
    snprintf(dir, sizeof dir, "plots");
    if (file_exists("plots/unique_vs_alpha.gp"))
        return dir;
    nd_fail("cannot find the gnuplot scripts (plots/unique_vs_alpha.gp beside the binary's folder or "
            "in the current folder); set ND_PLOTS to their folder");
    return NULL;
}

/* gnuplot string literal in single quotes ('' is a quote inside). */
static void gp_quote(FILE *f, const char *name, const char *v)
{
    fprintf(f, "%s='", name);
    for (; *v; v++) {
        if (*v == '\'')
            fputc('\'', f);
        fputc(*v, f);
    }
    fputs("';", f);
}

/* Run gnuplot on one script; outputs go to figures/<base>.tmp.<pid>.{png,svg}
 * and are renamed when gnuplot succeeded. */
static int run_gnuplot(const char *script, const char *run_dir, const char *base, const char *vars, int first)
{
    char *fig = nd_path_join(run_dir, "figures");
    if (!fig || nd_mkdirs(fig)) {
        free(fig);
        return -1;
    }
    char tmpbase[PATH_MAX], final[PATH_MAX + 8], tmpf[PATH_MAX + 8], logp[PATH_MAX];
    snprintf(tmpbase, sizeof tmpbase, "%s/%s.tmp.%ld", fig, base, (long)getpid());
    snprintf(logp, sizeof logp, "%s/gnuplot.log", fig);
    char *e = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&e, &elen);
    if (!m) {
        free(fig);
        return nd_fail("out of memory");
    }
    fputs(vars, m);
    gp_quote(m, "outbase", tmpbase);
    fclose(m);
    pid_t pid = fork();
    if (pid < 0) {
        free(fig);
        free(e);
        return nd_fail("cannot start gnuplot: %s", strerror(errno));
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | (first ? O_TRUNC : 0), 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("gnuplot", "gnuplot", "-e", e, script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    free(e);
    int rc = 0;
    static const char *ext[2] = {"png", "svg"};
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            rc = nd_fail("gnuplot not found: install gnuplot (Debian: gnuplot-nox), then run 'dissect plot %s'",
                         run_dir);
        else
            rc = nd_fail("%s: gnuplot failed (status %d); see %s", script, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                         logp);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(tmpf, sizeof tmpf, "%s.%s", tmpbase, ext[i]);
        snprintf(final, sizeof final, "%s/%s.%s", fig, base, ext[i]);
        if (rc == 0 && !file_exists(tmpf))
            rc = nd_fail("%s: gnuplot wrote no %s (see %s)", script, tmpf, logp);
        else if (rc == 0 && rename(tmpf, final))
            rc = nd_fail("%s: cannot rename to %s: %s", tmpf, final, strerror(errno));
        if (rc)
            unlink(tmpf);
    }
    free(fig);
    return rc;
}

/* Title from config.effective.ini ("title = ..." in [output]). */
static char *run_title(const char *run_dir)
{
    char *p = nd_path_join(run_dir, "config.effective.ini");
    char *text = p && file_exists(p) ? nd_read_text(p) : NULL;
    free(p);
    char *title = NULL;
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        if (!strncmp(l, "title = ", 8)) {
            title = strdup(l + 8);
            break;
        }
        l = nl ? nl + 1 : l + strlen(l);
    }
    free(text);
    if (!title) {
        const char *s = strrchr(run_dir, '/');
        title = strdup(s && s[1] ? s + 1 : run_dir);
    }
    return title;
}

int sweep_plot(const char *run_dir)
{
    const char *pd = sweep_plots_dir();
    if (!pd)
        return -1;
    char *sum = nd_path_join(run_dir, "summary.csv");
    char *sw = nd_path_join(run_dir, "sweep.csv");
    if (!sum || !sw || !file_exists(sum) || !file_exists(sw)) {
        int r = nd_fail("%s: no summary.csv / sweep.csv (not a finished sweep run folder)", run_dir);
        free(sum), free(sw);
        return r;
    }
    /* Categories: the "<cat>_detectors_mean" columns of summary.csv. */
    char *text = nd_read_text(sum);
    if (!text) {
        free(sum), free(sw);
        return -1;
    }
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = 0;
    char cats[4096] = "";
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        size_t n = strlen(tok);
        const char *suf = "_detectors_mean";
        if (n > strlen(suf) && !strcmp(tok + n - strlen(suf), suf) && strlen(cats) + n < sizeof cats - 2) {
            if (*cats)
                strcat(cats, " ");
            size_t at = strlen(cats), k = n - strlen(suf);
            memcpy(cats + at, tok, k);
            cats[at + k] = 0;
        }
    }
    free(text);
    char *title = run_title(run_dir);
    char *vars = NULL;
    size_t vlen = 0;
    FILE *m = open_memstream(&vars, &vlen);
    if (!m || !title) {
        free(sum), free(sw), free(title);
        return nd_fail("out of memory");
    }
    gp_quote(m, "summary", sum);
    gp_quote(m, "sweep", sw);
    gp_quote(m, "plottitle", title);
    gp_quote(m, "cats", cats);
    fclose(m);
    char s1[PATH_MAX + 32], s2[PATH_MAX + 32];
    snprintf(s1, sizeof s1, "%s/unique_vs_alpha.gp", pd);
    snprintf(s2, sizeof s2, "%s/category_vs_alpha.gp", pd);
    int rc = run_gnuplot(s1, run_dir, "unique_vs_alpha", vars, 1);
    if (!rc)
        rc = run_gnuplot(s2, run_dir, "category_vs_alpha", vars, 0);
    free(vars);
    free(sum), free(sw), free(title);
    return rc;
}
