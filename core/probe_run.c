/* probe_run.c - one point: split, concepts, linear probe, units needed,
 * single units (the dissector on train, scored on test) and binary probe. */
#include "core/err.h"
#include "core/jobs.h"
#include "core/probe_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pr_result_free(pr_result *r)
{
    free(r->label), free(r->category), free(r->train), free(r->linear), free(r->binary);
    free(r->unit), free(r->single), free(r->units_needed), free(r->w), free(r->b);
    free(r->dissect_thr), free(r->unit_label), free(r->unit_iou);
    memset(r, 0, sizeof *r);
}

/* label pixels per split: cnt[set*L + l] */
static void count_truth(const broden *ds, const unsigned char *train, size_t L, int64_t *cnt)
{
    for (size_t i = 0; i < broden_num_images(ds); i++) {
        if (train[i] > 1)
            continue;
        int64_t *c = cnt + (train[i] ? 0 : L);
        int ih, iw, sh, sw;
        broden_image_size(ds, i, &ih, &iw, &sh, &sw);
        const broden_layer *ly;
        const broden_imglabel *il;
        size_t nl, ni;
        broden_image_layers(ds, i, &ly, &nl);
        broden_image_labels(ds, i, &il, &ni);
        for (size_t k = 0; k < nl; k++)
            for (size_t q = 0; q < (size_t)sh * (size_t)sw; q++)
                if (ly[k].map[q] && broden_primary(ds, ly[k].map[q]) == ly[k].category)
                    c[ly[k].map[q]]++;
        for (size_t k = 0; k < ni; k++)
            if (broden_primary(ds, il[k].label) == il[k].category)
                c[il[k].label] += (int64_t)sh * sw;
    }
}

typedef struct {
    uint64_t present;
    size_t i;
} keyed;

static int by_present(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return x->present != y->present ? (x->present < y->present ? -1 : 1) : (x->i > y->i) - (x->i < y->i);
}

/* img[0..n) sorted by (categories with ground truth, index) */
static int sort_by_present(const broden *ds, size_t *img, size_t n)
{
    keyed *k = nd_malloc((n + 1) * sizeof *k);
    if (!k)
        return -1;
    for (size_t j = 0; j < n; j++)
        k[j] = (keyed){broden_present(ds, img[j]), img[j]};
    qsort(k, n, sizeof *k, by_present);
    for (size_t j = 0; j < n; j++)
        img[j] = k[j].i;
    free(k);
    return 0;
}

/* the split and the concepts: labels with pixels in both train and test */
static int setup(const broden *ds, const nd_features *f, const pr_options *o, pr_ctx *x,
                 pr_result *r, int64_t **cnt_out)
{
    memset(x, 0, sizeof *x);
    x->ds = ds, x->o = o, x->K = f->K, x->h = f->h, x->w = f->w, x->hw = f->h * f->w, x->N = f->N;
    x->L = broden_num_labels(ds);
    if (f->N != broden_num_images(ds))
        return nd_fail("probe: %zu images of activations for %zu dataset images", f->N, x->N);
    r->N = f->N, r->K = f->K, r->opt = *o;
    r->train = nd_malloc(f->N + 1);
    int64_t *cnt = nd_calloc(2 * x->L, sizeof *cnt);
    x->concept = nd_malloc(x->L * sizeof *x->concept);
    r->label = nd_malloc(x->L * sizeof *r->label), r->category = nd_malloc(x->L * sizeof *r->category);
    x->img = nd_malloc((f->N + 1) * sizeof *x->img), x->block = nd_malloc((f->N + 1) * sizeof *x->block);
    *cnt_out = cnt;
    if (!r->train || !cnt || !x->concept || !r->label || !r->category || !x->img || !x->block ||
        pr_split(ds, o->train_fraction, o->split_seed, r->train, &r->split_from_index))
        return -1;
    count_truth(ds, r->train, x->L, cnt);
    for (size_t l = 1; l < x->L; l++) {
        x->concept[l] = -1;
        if (cnt[l] > 0 && cnt[x->L + l] > 0 && broden_primary(ds, (int)l) >= 0) {
            x->concept[l] = (int)r->C;
            r->label[r->C] = (int)l, r->category[r->C++] = broden_primary(ds, (int)l);
        }
    }
    x->concept[0] = -1;
    if (!r->C)
        return nd_fail("probe: no concept has label pixels in both train and test images");
    x->C = r->C, x->label = r->label, x->category = r->category;
    for (int set = 1; set >= 0; set--) /* train images first, then test */
        for (size_t i = 0; i < f->N; i++)
            if (r->train[i] == set) {
                x->img[x->ntr + x->nte] = i;
                *(set ? &x->ntr : &x->nte) += 1;
            }
    /* each set by its categories with ground truth (stable): the fit's row
     * blocks then mostly hold images of one kind and score only their concepts */
    if (sort_by_present(ds, x->img, x->ntr) || sort_by_present(ds, x->img + x->ntr, x->nte))
        return -1;
    for (size_t j = 0; j < x->ntr + x->nte; j++)
        x->block[x->img[j]] = (long)j;
    for (size_t i = 0; i < f->N; i++)
        if (r->train[i] > 1)
            x->block[i] = -1;
    r->n_train = x->ntr, r->n_test = x->nte;
    return 0;
}

/* choose thresholds on train, score test, with W in the design's coordinates */
static int score_both(const pr_ctx *x, const pr_design *d, const double *W, const int *it,
                      const double *gr, pr_score *out)
{
    size_t C = x->C;
    double *thr = nd_malloc(C * sizeof *thr), *tr = nd_malloc(C * sizeof *tr), *te = nd_malloc(C * sizeof *te);
    float *S = NULL;
    int rc = -1;
    if (!thr || !tr || !te || pr_scores(x, d, W, 0, &S) || pr_score_maps(x, S, 0, 1, NULL, thr, tr))
        goto done;
    free(S), S = NULL;
    if (pr_scores(x, d, W, 1, &S) || pr_score_maps(x, S, 1, 0, NULL, thr, te))
        goto done;
    for (size_t c = 0; c < C; c++)
        out[c] = (pr_score){tr[c], te[c], thr[c], it ? it[c] : 0, gr ? gr[c] : 0};
    rc = 0;
done:
    free(thr), free(tr), free(te), free(S);
    return rc;
}

/* train IoU of a masked refit (units needed), per concept of open[] (the
 * others get 0 and cost nothing), started from W0 restricted to the mask;
 * the refit is left in W */
static int refit_train_iou(const pr_ctx *x, const pr_design *d, const pr_problem *pb,
                           const unsigned char *mask, const unsigned char *open, const double *W0,
                           double *W, double *iou)
{
    pr_problem q = *pb;
    q.only = open;
    size_t C = x->C, K1 = x->K + 1;
    double *thr = nd_malloc(C * sizeof *thr);
    float *S = NULL;
    int rc = -1;
    if (!thr)
        goto done;
    for (size_t c = 0; c < C; c++)
        for (size_t k = 0; k < K1; k++)
            W[c * K1 + k] = (k == x->K || mask[c * x->K + k]) ? W0[c * K1 + k] : 0;
    if (pr_fit(&q, x->o->l2, x->o->units_iter, x->o->gtol, x->o->ftol, x->o->history, mask, W, NULL, NULL) ||
        pr_scores(x, d, W, 0, &S) || pr_score_maps(x, S, 0, 1, open, thr, iou))
        goto done;
    rc = 0;
done:
    free(thr), free(S);
    return rc;
}

typedef struct {
    double v;
    size_t k;
} ranked;

static int by_v_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->v < y->v ? 1 : x->v > y->v ? -1 : (x->k > y->k) - (x->k < y->k);
}

/* the units of each concept ranked by |w_k| times the unit's train sd */
static int rank_units(const pr_ctx *x, const pr_design *d, const double *W, size_t *order)
{
    size_t K = x->K, K1 = K + 1;
    ranked *rk = nd_malloc(K * sizeof *rk);
    if (!rk)
        return -1;
    for (size_t c = 0; c < x->C; c++) {
        for (size_t k = 0; k < K; k++)
            rk[k] = (ranked){fabs(W[c * K1 + k]) * d->sd[k], k};
        qsort(rk, K, sizeof *rk, by_v_desc);
        for (size_t k = 0; k < K; k++)
            order[c * K + k] = rk[k].k;
    }
    free(rk);
    return 0;
}

/* still searching: the grid has not passed, or the bisection bracket is
 * wider than max(1, units_rtol * hi) */
static int open_bracket(const pr_options *o, int stage, size_t lo, size_t hi)
{
    if (stage == 0)
        return !hi;
    double tol = o->units_rtol * (double)hi;
    return (double)(hi - lo) > (tol > 1 ? tol : 1);
}

/* Units needed: the smallest tested n whose refit reaches units_fraction of
 * the full probe's train IoU, on the grid 1, 2, 4, ..., K and then by
 * bisection to max(1, units_rtol * n) (all concepts in step: one masked fit
 * per round).  Grid refits start from the full probe restricted to their
 * units, bisection refits from the refit of the bracket's upper end. */
static int units_needed(const pr_ctx *x, const pr_design *d, const pr_problem *pb, const double *W,
                        const pr_score *full, int *need)
{
    size_t C = x->C, K = x->K, K1 = K + 1;
    size_t *order = nd_malloc(C * K * sizeof *order), *lo = nd_calloc(C, sizeof *lo);
    size_t *hi = nd_calloc(C, sizeof *hi), *n = nd_calloc(C, sizeof *n);
    unsigned char *mask = nd_malloc(C * K), *oc = nd_malloc(C + 1);
    double *iou = nd_malloc(C * sizeof *iou), *Wr = nd_malloc(C * K1 * sizeof *Wr);
    double *Whi = nd_malloc(C * K1 * sizeof *Whi);
    int rc = -1;
    if (!order || !lo || !hi || !n || !mask || !oc || !iou || !Wr || !Whi || rank_units(x, d, W, order))
        goto done;
    memcpy(Whi, W, C * K1 * sizeof *W);
    nd_report(x->o->progress, "units needed", 0, 20);
    for (int stage = 0; stage < 2; stage++) /* 0: grid, 1: bisection */
        for (size_t g = 1;; g *= 2) {
            int open = 0;
            for (size_t c = 0; c < C; c++) {
                oc[c] = (unsigned char)open_bracket(x->o, stage, lo[c], hi[c]);
                if (stage == 0)
                    n[c] = hi[c] ? hi[c] : (g < K ? g : K);
                else
                    n[c] = oc[c] ? (lo[c] + hi[c]) / 2 : hi[c];
                open |= oc[c];
                memset(mask + c * K, 0, K);
                for (size_t k = 0; k < n[c]; k++)
                    mask[c * K + order[c * K + k]] = 1;
            }
            if (!open)
                break;
            /* only the concepts still searching are refitted and scored */
            if (refit_train_iou(x, d, pb, mask, oc, stage ? Whi : W, Wr, iou))
                goto done;
            for (size_t c = 0; c < C; c++) {
                int ok = iou[c] >= x->o->units_fraction * full[c].train_iou;
                if (stage == 0 && oc[c] && (ok || n[c] == K))
                    hi[c] = n[c], lo[c] = n[c] / 2;
                else if (stage == 1 && oc[c])
                    *(ok ? &hi[c] : &lo[c]) = n[c];
                if (oc[c] && (stage == 0 ? hi[c] == n[c] : ok))
                    memcpy(Whi + c * K1, Wr + c * K1, K1 * sizeof *Wr);
            }
            nd_report(x->o->progress, "units needed", stage * 10 + (size_t)log2((double)g) + 1, 20);
        }
    for (size_t c = 0; c < C; c++)
        need[c] = (int)hi[c];
    rc = 0;
done:
    free(order), free(lo), free(hi), free(n), free(mask), free(oc), free(iou), free(Wr), free(Whi);
    return rc;
}

/* Dissection on the train images (thresholds and tally), the best unit per
 * concept by train IoU, scored by a tally of the test images. */
static int single_units(const pr_ctx *x, const float *raw, const int64_t *cnt, pr_result *r)
{
    const pr_options *o = x->o;
    size_t K = x->K, L = x->L, C = x->C;
    nd_options no;
    nd_options_default(&no);
    no.profile = o->profile, no.threads = o->threads, no.quantile = o->quantile;
    no.field_offset = o->field_offset, no.field_size = o->field_size;
    no.field_stride = o->field_stride, no.have_field = o->have_field;
    nd_features ftr = {0}, fset = {0};
    nd_tally t[2];
    memset(t, 0, sizeof t);
    int rc = -1;
    double eps = nd_profile_eps(o->profile);
    if (pr_raw_features(x, raw, 0, 1, &ftr) ||
        nd_thresholds(&ftr, o->quantile, o->threads, r->dissect_thr))
        goto done;
    for (int set = 0; set < 2; set++) {
        free(fset.ctx), fset.ctx = NULL;
        if (nd_tally_alloc(&t[set], K, L, broden_num_categories(x->ds)) ||
            pr_raw_features(x, raw, set, 0, &fset) ||
            nd_tally_run(x->ds, &fset, &no, r->dissect_thr, 0, x->N, &t[set]))
            goto done;
    }
    /* IoU with the split's own G (the tally's G covers every image) */
#define SPLIT_IOU(s, u, l) ((double)t[s].I[(u) * L + (l)] / \
    ((double)(t[s].A[(u) * t[s].C + (size_t)broden_primary(x->ds, (int)(l))] + cnt[(s) * L + (l)] - \
              t[s].I[(u) * L + (l)]) + eps))
    for (size_t u = 0; u < K; u++) {
        r->unit_label[u] = 0, r->unit_iou[u] = 0;
        for (size_t l = 1; l < L; l++)
            if (broden_primary(x->ds, (int)l) >= 0 && cnt[l] > 0 && SPLIT_IOU(0, u, l) > r->unit_iou[u])
                r->unit_iou[u] = SPLIT_IOU(0, u, l), r->unit_label[u] = (int)l;
    }
    for (size_t c = 0; c < C; c++) {
        size_t l = (size_t)x->label[c], best = 0;
        for (size_t u = 1; u < K; u++)
            if (SPLIT_IOU(0, u, l) > SPLIT_IOU(0, best, l))
                best = u;
        r->unit[c] = (int)best;
        r->single[c] = (pr_score){SPLIT_IOU(0, best, l), SPLIT_IOU(1, best, l), r->dissect_thr[best], 0, 0};
    }
#undef SPLIT_IOU
    rc = 0;
done:
    free(ftr.ctx), free(fset.ctx);
    nd_tally_free(&t[0]), nd_tally_free(&t[1]);
    return rc;
}

/* w in unit coordinates (of the scaled design) from whitened ones: x_w = x M
 * with M symmetric, so w = M w_w; the bias is unchanged */
static void unwhiten(const pr_ctx *x, const double *M, const double *Ww, double *Ws)
{
    size_t K = x->K, K1 = K + 1;
    for (size_t c = 0; c < x->C; c++) {
        for (size_t k = 0; k < K; k++) {
            double v = 0;
            for (size_t j = 0; j < K; j++)
                v += M[k * K + j] * Ww[c * K1 + j];
            Ws[c * K1 + k] = v;
        }
        Ws[c * K1 + K] = Ww[c * K1 + K];
    }
}

/* Fit and score one kind of probe (thr NULL: linear; else binary over the
 * masks [a_k > thr_k]) on the whitened design; the linear one also reports
 * its weights in raw coordinates and, on the unwhitened design (masks are
 * on units), units needed. */
static int probe(const pr_ctx *x, const float *raw, const double *thr, pr_score *out, pr_result *r)
{
    size_t C = x->C, K = x->K, K1 = K + 1;
    pr_design d = {0}, dw = {0};
    pr_problem pb = {0};
    float *T = NULL;
    uint64_t *present = NULL;
    double *W = nd_calloc(C * K1, sizeof *W), *Ws = nd_calloc(C * K1, sizeof *Ws), *gr = NULL;
    int rc = -1, *it = NULL;
    if (!W || !Ws || pr_design_build(x, raw, thr, x->o->double_precision, &d) ||
        pr_whiten(x, &d, &dw) || pr_targets(x, &T, &present))
        goto done;
    pb = (pr_problem){x->ntr * x->hw, K, C, dw.Xf, dw.Xd, T, present, x->category, NULL, NULL, x->o->threads, NULL};
    it = nd_malloc(C * sizeof *it), gr = nd_malloc(C * sizeof *gr);
    if (!it || !gr || pr_problem_weights(&pb) ||
        pr_fit(&pb, x->o->l2, x->o->max_iter, thr ? x->o->gtol_binary : x->o->gtol, x->o->ftol, x->o->history,
               NULL, W, it, gr))
        goto done;
    /* scores from the unwhitened design (test rows were never whitened) */
    unwhiten(x, dw.white, W, Ws);
    pr_design_free(&dw);
    if (score_both(x, &d, Ws, it, gr, out))
        goto done;
    if (!thr) {
        for (size_t c = 0; c < C; c++) { /* s = w.(a - mu)/sigma + b = (w/sigma).a + b' */
            double b = Ws[c * K1 + K];
            for (size_t k = 0; k < K; k++) {
                r->w[c * K + k] = Ws[c * K1 + k] / d.sigma;
                b -= Ws[c * K1 + k] * d.mu[k] / d.sigma;
            }
            r->b[c] = b;
        }
        double t0 = nd_now();
        pb.Xf = d.Xf, pb.Xd = d.Xd;
        if (x->o->units && units_needed(x, &d, &pb, Ws, out, r->units_needed))
            goto done;
        r->seconds_units = nd_now() - t0;
    }
    rc = 0;
done:
    pr_design_free(&d), pr_design_free(&dw);
    free(W), free(Ws), free(T), free(present), free(pb.wpos), free(pb.wneg), free(it), free(gr);
    return rc;
}

static int alloc_result(pr_result *r, size_t C, size_t K)
{
    r->linear = nd_calloc(C, sizeof *r->linear), r->binary = nd_calloc(C, sizeof *r->binary);
    r->single = nd_calloc(C, sizeof *r->single), r->unit = nd_calloc(C, sizeof *r->unit);
    r->units_needed = nd_malloc(C * sizeof *r->units_needed);
    r->w = nd_calloc(C * K, sizeof *r->w), r->b = nd_calloc(C, sizeof *r->b);
    r->dissect_thr = nd_calloc(K, sizeof *r->dissect_thr);
    r->unit_label = nd_calloc(K, sizeof *r->unit_label), r->unit_iou = nd_calloc(K, sizeof *r->unit_iou);
    if (!r->linear || !r->binary || !r->single || !r->unit || !r->units_needed || !r->w || !r->b ||
        !r->dissect_thr || !r->unit_label || !r->unit_iou)
        return -1;
    for (size_t c = 0; c < C; c++)
        r->units_needed[c] = -1;
    return 0;
}

int pr_run(const broden *ds, const nd_features *f, const double *R, const pr_options *o,
           pr_result *r)
{
    double t0 = nd_now(), t;
    pr_ctx x;
    pr_truth truth[2] = {{0}, {0}};
    int64_t *cnt = NULL;
    float *raw = NULL;
    memset(r, 0, sizeof *r);
    if (nd_profile_get(o->profile)->upsample_field && !o->have_field)
        return nd_fail("probe: the %s profile needs the layer's receptive field", nd_profile_name(o->profile));
    int rc = setup(ds, f, o, &x, r, &cnt) || alloc_result(r, r->C, r->K) || pr_raw(&x, f, R, &raw);
    /* every scoring call of the point reads the ground truth from these */
    rc = rc || (!o->score_ref && (pr_truth_build(&x, 0, &truth[0]) || pr_truth_build(&x, 1, &truth[1])));
    x.truth = rc || o->score_ref ? NULL : truth;
    t = nd_now();
    rc = rc || probe(&x, raw, NULL, r->linear, r);
    r->seconds_linear = nd_now() - t - r->seconds_units;
    nd_report(o->progress, "probes", 1, 3);
    t = nd_now();
    /* the single units' dissection also gives the binary probe's thresholds */
    rc = rc || ((o->single || o->binary) && single_units(&x, raw, cnt, r));
    r->seconds_single = nd_now() - t;
    nd_report(o->progress, "probes", 2, 3);
    t = nd_now();
    rc = rc || (o->binary && probe(&x, raw, r->dissect_thr, r->binary, r));
    r->seconds_binary = nd_now() - t;
    nd_report(o->progress, "probes", 3, 3);
    free(raw), free(cnt), free(x.concept), free(x.img), free(x.block);
    pr_truth_free(&truth[0]), pr_truth_free(&truth[1]);
    r->seconds_total = nd_now() - t0;
    if (rc)
        pr_result_free(r);
    return rc ? -1 : 0;
}
