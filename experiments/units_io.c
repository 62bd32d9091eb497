/* units_io.c - the steps of `dissect units` shared with the sweep (see units_io.h). */
#include "experiments/units_io.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/jobs.h"
#include "core/labelstore.h"
#include "core/result.h"
#include "experiments/dist.h"
#include "experiments/cli.h"
#include "models/extract.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int units_parse_field(const char *s, nd_options *o)
{
    int a, b, c, n = 0;
    if (sscanf(s, " %d , %d , %d %n", &a, &b, &c, &n) != 3 || s[n] != 0 || b <= 0 || c <= 0)
        return -1;
    o->field_offset = a, o->field_size = b, o->field_stride = c, o->have_field = 1;
    return 0;
}

int units_field_from_json(const char *features, nd_options *o)
{
    int f[3];
    int r = mdl_read_field(features, f);
    if (r == 1)
        o->field_offset = f[0], o->field_size = f[1], o->field_stride = f[2], o->have_field = 1;
    return r;
}

int units_load_thresholds(const char *path, size_t K, double **out)
{
    size_t n = strlen(path);
    double *v = NULL;
    size_t cnt = 0;
    if (n > 4 && !strcmp(path + n - 4, ".npy")) {
        if (npy_load_f64(path, &v, &cnt))
            return -1;
    } else {
        FILE *f = fopen(path, "r");
        if (!f)
            return nd_fail("%s: cannot open: %s", path, strerror(errno));
        char line[256];
        size_t cap = 0;
        int ln = 0;
        while (fgets(line, sizeof line, f)) {
            ln++;
            char *s = ln == 1 ? (char *)nd_skip_bom(line) : line;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s == '#' || *s == '\n' || *s == 0)
                continue;
            s[strcspn(s, "\r\n")] = 0;
            double x;
            if (csv_double(s, &x)) {
                fclose(f);
                free(v);
                return nd_fail("%s:%d: expected a number, got '%s'", path, ln, s);
            }
            if (cnt == cap) {
                cap = cap ? 2 * cap : 256;
                double *nv = realloc(v, cap * sizeof *v);
                if (!nv) {
                    fclose(f);
                    free(v);
                    return nd_fail("out of memory");
                }
                v = nv;
            }
            v[cnt++] = x;
        }
        fclose(f);
    }
    if (cnt != K) {
        free(v);
        return nd_fail("%s: %zu thresholds, the activations have %zu units", path, cnt, K);
    }
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i])) {
            free(v);
            return nd_fail("%s: threshold of unit %zu is not finite", path, i);
        }
    *out = v;
    return 0;
}

/* The categories some image's labels show (of a shard's images, if ds was
 * opened as one: the others' masks are 0). */
static uint64_t categories_seen(const broden *ds)
{
    broden_truth(ds, 1); /* fills the per-image category masks */
    uint64_t seen = 0;
    for (size_t i = 0; i < broden_num_images(ds); i++)
        seen |= broden_present(ds, i);
    return seen;
}

static void warn_unseen(const broden *ds, uint64_t seen)
{
    for (size_t c = 0; c < broden_num_categories(ds); c++)
        if (!(seen >> c & 1)) {
            cli_progress_done();
            fprintf(stderr, "dissect: warning: %s: no image has a label of category '%s'; its scores are all 0\n",
                    broden_dir(ds), broden_category_name(ds, c));
        }
}

void units_warn_unlabelled(const broden *ds) { warn_unseen(ds, categories_seen(ds)); }

void units_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    cli_progress("dissect: %s %zu/%zu", stage, done, total);
}

/* The activations (mapped) and, if given, the thresholds file - refused
 * first if either is one of the run's outputs (afile_protect_input). */
static int open_inputs(const char *features, const char *thresholds_file, npy_t *a, nd_features *f, double **thr)
{
    *thr = NULL;
    if (afile_protect_input(features) || afile_protect_input(thresholds_file))
        return -1;
    if (npy_open(a, features))
        return -1;
    if (nd_features_from_npy(f, a) || (thresholds_file && units_load_thresholds(thresholds_file, f->K, thr))) {
        npy_close(a);
        return -1;
    }
    return 0;
}

static int check_shape(const nd_features *f, const char *features, const broden *ds, const char *dataset)
{
    if (f->N != broden_num_images(ds))
        return nd_fail("%s: %zu images, but %s/index.csv has %zu rows (shape must match the dataset)", features,
                       f->N, dataset, broden_num_images(ds));
    return 0;
}

static void report_done(const nd_result *r, const nd_options *o)
{
    cli_progress_done();
    fprintf(stderr,
            "dissect: %zu units, %s profile: %d detectors (score > %g), unique detectors "
            "%d per-category, %d top-label  [thresholds %.2f s, tally %.2f s]\n",
            r->K, nd_profile_name(o->profile), r->counts.detectors, o->iou_threshold, r->counts.unique_percat,
            r->counts.unique_toplabel, r->seconds_threshold, r->seconds_tally);
}

int units_run(const char *dataset, const char *label_store, const char *features,
              const char *categories, const char *thresholds_file, const nd_options *o_in,
              const char *out, const char *extra_json, nd_result *res)
{
    nd_options o = *o_in;
    npy_t a;
    broden *ds = NULL;
    double *thr = NULL;
    nd_features f;
    nd_result r;
    int rc = -1;
    memset(&r, 0, sizeof r);
    /* an unusable output folder should fail now, not after the work */
    if (out && nd_mkdirs(out))
        return -1;
    if (open_inputs(features, thresholds_file, &a, &f, &thr))
        return -1;
    o.thresholds = thr;
    cli_progress("dissect: reading dataset %s", dataset);
    if (broden_open_store(&ds, dataset, categories, label_store))
        goto out;
    if (check_shape(&f, features, ds, dataset))
        goto out;
    if (nd_features_check_finite(&f, features))
        goto out;
    if (!o.progress.fn)
        o.progress = (nd_progress){units_progress, NULL};
    if (nd_dissect(ds, &f, &o, &r))
        goto out;
    r.features = features;
    units_warn_unlabelled(ds);
    if (out && nd_write_result(&r, ds, out, extra_json))
        goto out;
    report_done(&r, &o);
    rc = 0;
out:
    if (res && rc == 0)
        *res = r;
    else
        nd_result_free(&r);
    free(thr);
    broden_free(ds);
    npy_close(&a);
    return rc;
}

/* ---- over several ranks (experiments/dist.h) ---- */

/* Rank 0 makes sure the label store exists and matches (building it from
 * every PNG once if not); the shards then only map it. */
static int store_ready(const units_args *u, const nd_dist *d)
{
    if (!u->label_store || d->rank != 0)
        return 0;
    uint64_t sig;
    nd_lstore st = {0};
    if (broden_dataset_signature(u->dataset, u->categories, &sig))
        return -1;
    if (nd_lstore_map(&st, u->label_store, sig) == 1) {
        nd_lstore_close(&st);
        return 0;
    }
    broden *ds;
    if (broden_open_store(&ds, u->dataset, u->categories, u->label_store))
        return -1;
    broden_free(ds);
    return 0;
}

/* Histogram counts v[0..n) summed over the ranks, sending only the blocks
 * of HIST_BLOCK bins that hold a count on some rank: the histograms are
 * 65,536 bins per unit (and two per unit in pass 2) but a unit's values
 * occupy few of them, so this sends a flag per block plus the occupied
 * blocks instead of every bin.  Integer sums: the same counts either way. */
#define HIST_BLOCK 256
static int sum_histograms(nd_dist *d, uint32_t *v, size_t n)
{
    size_t nb = (n + HIST_BLOCK - 1) / HIST_BLOCK, used = 0;
    uint32_t *flag = nd_calloc(nb ? nb : 1, sizeof *flag);
    int ok = flag != NULL, rc = d->all_ok(d, ok);
    for (size_t b = 0; b < nb && !rc; b++)
        for (size_t i = b * HIST_BLOCK; i < n && i < (b + 1) * HIST_BLOCK && !flag[b]; i++)
            flag[b] = v[i] != 0;
    if (!rc)
        rc = d->sum_u32(d, flag, nb);
    for (size_t b = 0; b < nb && !rc; b++)
        used += flag[b] != 0;
    uint32_t *pack = rc ? NULL : nd_calloc(used * HIST_BLOCK + 1, sizeof *pack);
    if (!rc)
        rc = d->all_ok(d, pack != NULL);
    size_t k = 0;
    for (size_t b = 0; b < nb && !rc; b++)
        if (flag[b])
            for (size_t i = b * HIST_BLOCK; i < (b + 1) * HIST_BLOCK; i++, k++)
                pack[k] = i < n ? v[i] : 0;
    if (!rc)
        rc = d->sum_u32(d, pack, used * HIST_BLOCK);
    k = 0;
    for (size_t b = 0; b < nb && !rc; b++)
        if (flag[b])
            for (size_t i = b * HIST_BLOCK; i < (b + 1) * HIST_BLOCK; i++, k++)
                if (i < n)
                    v[i] = pack[k];
    free(flag), free(pack);
    return rc;
}

/* Exact thresholds: both histogram passes over this rank's images, the
 * counts summed over the ranks before each pass ends. */
static int dist_thresholds(const nd_features *f, const nd_options *o, size_t i0, size_t i1, nd_dist *d,
                           double *out)
{
    if (!(o->quantile > 0 && o->quantile < 1))
        return d->all_ok(d, nd_fail("quantile %g must be in (0, 1)", o->quantile) == 0);
    qt_stream *q = qt_stream_new(f->K, (uint64_t)f->N * f->h * f->w, 1.0 - o->quantile);
    int rc = d->all_ok(d, q != NULL);
    for (int pass = 1; pass <= 2 && !rc; pass++) {
        size_t n;
        rc = d->all_ok(d, nd_thresholds_pass(f, q, pass, i0, i1, o->threads) == 0);
        if (!rc) {
            uint32_t *counts = qt_stream_counts(q, pass, &n);
            rc = sum_histograms(d, counts, n);
        }
        if (!rc)
            rc = d->all_ok(d, qt_stream_end_pass(q, pass) == 0);
        if (!rc)
            nd_report(o->progress, "thresholds", (size_t)pass * f->K / 2, f->K);
    }
    if (!rc)
        qt_stream_result(q, out);
    qt_stream_free(q);
    return rc;
}

/* The tally of this rank's images, summed into rank 0's; r->maxact
 * ([N][K], zero outside the shard) gathered on every rank. */
static int dist_tally(const broden *ds, const nd_features *f, const nd_options *o, size_t i0, size_t i1,
                      nd_dist *d, nd_result *r)
{
    nd_tally *t = &r->tally;
    nd_options to = *o;
    r->N = f->N;
    size_t nmax = f->N * f->K;
    int rc = d->all_ok(d, (to.maxact = r->maxact = nd_calloc(nmax ? nmax : 1, sizeof *r->maxact)) &&
                              nd_tally_alloc(t, f->K, broden_num_labels(ds), broden_num_categories(ds)) == 0);
    if (!rc)
        rc = d->all_ok(d, nd_tally_run(ds, f, &to, r->thresholds, i0, i1, t) == 0);
    /* the maxima as bit patterns: each row is nonzero on one rank only, so
     * the integer sum is that rank's floats, bit for bit (-0.0 included) */
    if (!rc)
        rc = d->sum_u32(d, (uint32_t *)(void *)r->maxact, nmax);
    if (!rc)
        rc = d->sum_i64(d, t->G, t->L);
    if (!rc)
        rc = d->sum_i64(d, t->I, t->K * t->L);
    if (!rc)
        rc = d->sum_i64(d, t->A, t->K * t->C);
    if (!rc)
        rc = d->sum_i64(d, t->M, t->K);
    return rc;
}

int units_warn_unlabelled_dist(const broden *ds, nd_dist *d)
{
    uint64_t seen = categories_seen(ds);
    uint32_t n[BRODEN_MAX_CATEGORIES] = {0};
    size_t C = broden_num_categories(ds);
    for (size_t c = 0; c < C; c++)
        n[c] = (uint32_t)(seen >> c & 1);
    if (d->sum_u32(d, n, C))
        return -1;
    seen = 0;
    for (size_t c = 0; c < C; c++)
        seen |= (uint64_t)(n[c] != 0) << c;
    if (d->rank == 0)
        warn_unseen(ds, seen);
    return 0;
}

/* Rank 0: score the summed tally and write the result folder. */
static int dist_finish(const units_args *u, const broden *ds, const nd_options *o, nd_result *r)
{
    if (nd_score(ds, r) || nd_write_result(r, ds, u->out, NULL))
        return -1;
    report_done(r, o);
    return 0;
}

int units_dissect_shard(const broden *ds, const nd_features *f, const nd_options *o, const double *given_thresholds,
                        size_t i0, size_t i1, nd_dist *d, nd_result *r)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    r->opt.thresholds = NULL;
    r->K = f->K;
    int rc = d->all_ok(d, (r->thresholds = nd_malloc(f->K * sizeof *r->thresholds)) != NULL);
    double t0 = nd_now();
    if (!rc && given_thresholds) {
        memcpy(r->thresholds, given_thresholds, f->K * sizeof *given_thresholds);
        r->thresholds_given = 1;
    } else if (!rc) {
        rc = dist_thresholds(f, o, i0, i1, d, r->thresholds);
        r->threshold_method = ND_THR_HISTOGRAM;
    }
    double t1 = nd_now();
    if (!rc)
        rc = dist_tally(ds, f, o, i0, i1, d, r);
    r->seconds_threshold = t1 - t0, r->seconds_tally = nd_now() - t1;
    return rc;
}

int units_run_dist(const units_args *u, nd_dist *d)
{
    nd_options o = u->o;
    npy_t a;
    nd_features f;
    broden *ds = NULL;
    double *thr = NULL;
    nd_result r;
    memset(&r, 0, sizeof r);
    if (d->all_ok(d, d->rank != 0 || nd_mkdirs(u->out) == 0))
        return -1;
    int opened = open_inputs(u->features, u->thresholds, &a, &f, &thr) == 0;
    if (d->all_ok(d, opened)) {
        if (opened)
            npy_close(&a);
        free(thr);
        return -1;
    }
    size_t i0, i1;
    /* shard ends on the threshold passes' blocks (also whole 8-image tally chunks) */
    nd_image_shard(f.N, d->rank, d->size, ND_THR_BLOCK, &i0, &i1);
    if (!o.progress.fn && d->rank == 0)
        o.progress = (nd_progress){units_progress, NULL};
    if (d->rank == 0)
        cli_progress("dissect: reading dataset %s", u->dataset);
    int rc = d->all_ok(d, store_ready(u, d) == 0);
    if (!rc)
        rc = d->all_ok(d, broden_open_shard(&ds, u->dataset, u->categories, u->label_store, i0, i1) == 0 &&
                              check_shape(&f, u->features, ds, u->dataset) == 0 &&
                              nd_features_check_finite_range(&f, u->features, i0, i1) == 0);
    if (!rc)
        rc = units_dissect_shard(ds, &f, &o, thr, i0, i1, d, &r);
    r.features = u->features;
    if (!rc)
        rc = units_warn_unlabelled_dist(ds, d);
    if (!rc)
        rc = d->all_ok(d, d->rank != 0 || dist_finish(u, ds, &o, &r) == 0);
    nd_result_free(&r);
    free(thr);
    broden_free(ds);
    npy_close(&a);
    return rc;
}
