/* probe_score.c - probe score maps at label resolution: the threshold that
 * maximises train IoU, and IoU at a threshold, under the profile's rules.
 *
 * A pixel counts toward A (the probe's mask in the IoU's union) as the
 * dissector counts a unit's mask pixel: ND in every image with ground truth
 * in the concept's category; NDL only in images where the mask overlaps a
 * label of the category (or the image has an image-level label of it).
 * For NDL that is: pixel value v counts at threshold t iff min(v, m) > t,
 * m the image's largest value on pixels of the category - so one histogram
 * of min(v, m) serves every threshold. */
#include "core/err.h"
#include "core/jobs.h"
#include "core/probe_bins.h"
#include "core/probe_gemm.h"
#include "core/probe_internal.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pr_scores(const pr_ctx *x, const pr_design *d, const double *W, int set, float **Sout)
{
    size_t K = x->K, C = x->C, K1 = K + 1, hw = x->hw;
    size_t r0 = set ? x->ntr * hw : 0, rows = (set ? x->nte : x->ntr) * hw;
    float *S = nd_malloc((rows * C + 1) * sizeof *S);
    if (!S)
        return -1;
    if (d->Xd) {
        double *Wd = nd_malloc(C * K * sizeof *Wd), *Sd = nd_malloc((rows * C + 1) * sizeof *Sd);
        if (!Wd || !Sd) {
            free(Wd), free(Sd), free(S);
            return -1;
        }
        for (size_t c = 0; c < C; c++)
            memcpy(Wd + c * K, W + c * K1, K * sizeof *Wd);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)C, (int)K, 1,
                    d->Xd + r0 * K, (int)K, Wd, (int)K, 0, Sd, (int)C);
        for (size_t i = 0; i < rows; i++)
            for (size_t c = 0; c < C; c++)
                S[i * C + c] = (float)(Sd[i * C + c] + W[c * K1 + K]);
        free(Wd), free(Sd);
    } else {
        float *Wf = nd_malloc(C * K * sizeof *Wf);
        if (!Wf) {
            free(S);
            return -1;
        }
        for (size_t c = 0; c < C; c++)
            for (size_t k = 0; k < K; k++)
                Wf[c * K + k] = (float)W[c * K1 + k];
        pr_rows_sgemm(d->Xf + r0 * K, rows, K, Wf, C, 1, S, x->o->threads);
        for (size_t i = 0; i < rows; i++)
            for (size_t c = 0; c < C; c++)
                S[i * C + c] = (float)((double)S[i * C + c] + W[c * K1 + K]);
        free(Wf);
    }
    *Sout = S;
    return 0;
}

typedef struct {
    const pr_ctx *x;
    const float *S;
    int set, choose;
    const unsigned char *only; /* [C] or NULL */
    const double *lo, *hi; /* [C] histogram ranges (choose) */
    const float *thr;      /* [C] (score) */
    size_t j0, j1;         /* image blocks (within the set) */
    int64_t *hp, *ha;      /* choose: [C][PR_BINS] positives, A pixels; score: [C][3] I, A, G */
    int64_t *lanes;        /* choose, unless score_ref: [C][PR_LANES][PR_BINS] A pixels */
    int rc;
    char err[256];
} score_job;

/* A's level of m under the NDL rule: the largest value on the category's
 * pixels (-FLT_MAX: none), from the list or, for the reference, the mask */
static float cat_max(const float *out, size_t npix, const unsigned char *cat, const pr_list *cl,
                     const uint32_t *px)
{
    float m = -FLT_MAX;
    if (cat) {
        for (size_t q = 0; q < npix; q++)
            if (cat[q] && out[q] > m)
                m = out[q];
    } else if (cl->whole) {
        for (size_t q = 0; q < npix; q++)
            m = out[q] > m ? out[q] : m;
    } else
        for (size_t k = 0; k < cl->n; k++)
            m = out[px[cl->at + k]] > m ? out[px[cl->at + k]] : m;
    return m;
}

/* positives counted at bins (choose) or above th: from the mask pos (the
 * reference) or the list pl */
static void count_pos(const float *out, const int *bins, size_t npix, const unsigned char *pos,
                      const pr_list *pl, const uint32_t *px, int64_t *hp, float th, int64_t *t)
{
    if (pos) {
        for (size_t q = 0; q < npix; q++)
            if (pos[q]) {
                if (hp)
                    hp[bins[q]]++;
                else
                    t[0] += out[q] > th, t[2]++;
            }
        return;
    }
    size_t n = pl->whole ? npix : pl->n;
    for (size_t k = 0; k < n; k++) {
        size_t q = pl->whole ? k : px[pl->at + k];
        if (hp)
            hp[bins[q]]++;
        else
            t[0] += out[q] > th, t[2]++;
    }
}

/* Neighbouring pixels of an upsampled map mostly share a level, and one
 * histogram then waits on each increment's store; PR_LANES histograms
 * taking pixels in turn run independently (integer counts, summed into ha
 * at the end: the same totals). */
#define PR_LANES 4
static void count_a_lanes(const float *out, const int *bins, size_t npix, float m, int bm, int64_t *lanes)
{
    size_t q = 0;
    for (; q + PR_LANES <= npix; q += PR_LANES)
        for (int l = 0; l < PR_LANES; l++)
            lanes[(size_t)l * PR_BINS + (size_t)(out[q + l] <= m ? bins[q + l] : bm)]++;
    for (; q < npix; q++)
        lanes[out[q] <= m ? bins[q] : bm]++;
}

static void score_image(score_job *jb, size_t j, const up_plan *pl, float *map, float *out,
                        float *tmp, int *bins, unsigned char *pos, unsigned char *cat)
{
    const pr_ctx *x = jb->x;
    size_t C = x->C, hw = x->hw, i = x->img[(jb->set ? x->ntr : 0) + j];
    size_t npix = (size_t)pl->sh * (size_t)pl->sw;
    uint64_t present = broden_present(x->ds, i);
    int lite = nd_profile_get(x->o->profile)->a_where_hit;
    const pr_truth *tr = x->truth ? &x->truth[jb->set] : NULL;
    const float *S = jb->S + j * hw * C;
    for (size_t c = 0; c < C; c++) {
        if (!((present >> x->category[c]) & 1u) || (jb->only && !jb->only[c]))
            continue;
        for (size_t p = 0; p < hw; p++)
            map[p] = S[p * C + c];
        up_apply(pl, map, out, tmp);
        const pr_list *pp = tr ? &tr->pos[j * C + c] : NULL;
        const pr_list *cl = tr ? &tr->cat[j * tr->ncat + (size_t)x->category[c]] : NULL;
        if (!tr)
            pr_image_truth(x, i, c, npix, pos, cat);
        const unsigned char *pm = tr ? NULL : pos, *cm = tr ? NULL : cat;
        const uint32_t *px = tr ? tr->px : NULL;
        /* ND: every pixel of the image counts */
        float m = lite ? cat_max(out, npix, cm, cl, px) : FLT_MAX;
        int any = !lite || m > -FLT_MAX;
        if (jb->choose) {
            int64_t *hp = jb->hp + c * PR_BINS, *ha = jb->ha + c * PR_BINS;
            double lo = jb->lo[c], hi = jb->hi[c];
            /* a value above m counts toward A at m's level: min(v, m) */
            int bm = m < FLT_MAX ? pr_bin_ref(m, lo, hi) : PR_BINS - 1;
            pr_bins(out, npix, lo, hi, bins);
            count_pos(out, bins, npix, pm, pp, px, hp, 0, NULL);
            if (any && jb->lanes)
                count_a_lanes(out, bins, npix, m, bm, jb->lanes + c * PR_LANES * PR_BINS);
            else if (any)
                for (size_t q = 0; q < npix; q++)
                    ha[out[q] <= m ? bins[q] : bm]++;
        } else {
            int64_t *t = jb->hp + c * 3;
            float th = jb->thr[c];
            count_pos(out, bins, npix, pm, pp, px, NULL, th, t);
            if (any)
                for (size_t q = 0; q < npix; q++) {
                    float v = out[q] < m ? out[q] : m;
                    t[1] += v > th;
                }
        }
    }
}

static void *score_worker(void *arg)
{
    score_job *jb = arg;
    const pr_ctx *x = jb->x;
    up_cache pc = {0};
    float *map = NULL, *out = NULL, *tmp = NULL;
    int *bins = NULL;
    unsigned char *pos = NULL, *cat = NULL;
    size_t cap = 0;
    for (size_t j = jb->j0; j < jb->j1; j++) {
        if (pr_plan_for(x, x->img[(jb->set ? x->ntr : 0) + j], &pc))
            goto fail;
        size_t np = (size_t)pc.sh * (size_t)pc.sw;
        if (np > cap) {
            free(map), free(out), free(tmp), free(bins), free(pos), free(cat);
            map = malloc(x->hw * sizeof *map), out = malloc(np * sizeof *out);
            tmp = malloc(x->h * (size_t)pc.sw * sizeof *tmp), pos = malloc(np), cat = malloc(np);
            bins = malloc(np * sizeof *bins);
            if (!map || !out || !tmp || !bins || !pos || !cat)
                goto fail;
            cap = np;
        }
        score_image(jb, j, &pc.plan, map, out, tmp, bins, pos, cat);
    }
    for (size_t c = 0; jb->lanes && c < x->C; c++)
        for (int l = 0; l < PR_LANES; l++)
            for (size_t b = 0; b < PR_BINS; b++)
                jb->ha[c * PR_BINS + b] += jb->lanes[(c * PR_LANES + (size_t)l) * PR_BINS + b];
    goto done;
fail:
    jb->rc = -1;
    snprintf(jb->err, sizeof jb->err, "%s", nd_errmsg()[0] ? nd_errmsg() : "out of memory");
done:
    up_cache_free(&pc);
    free(map), free(out), free(tmp), free(bins), free(pos), free(cat);
    return NULL;
}

/* The threshold from the histograms: IoU at level e_j counts bins >= j.  Of
 * the levels whose train IoU is within PR_TIE (relative) of the best, the
 * highest: one pixel moves IoU by ~1e-5, so near-ties at that scale are
 * rounding, and a rotated basis must resolve them the same way (a plain
 * argmax once jumped between two levels 0.11 apart at equal IoU). */
#define PR_TIE 1e-4
static void choose_thresholds(const pr_ctx *x, const int64_t *hp, const int64_t *ha,
                              const double *lo, const double *hi, double *thr, double *iou)
{
    double eps = nd_profile_eps(x->o->profile), v[PR_BINS];
    for (size_t c = 0; c < x->C; c++) {
        int64_t G = 0, In = 0, A = 0;
        for (int b = 0; b < PR_BINS; b++)
            G += hp[c * PR_BINS + b];
        double best = 0;
        for (int b = PR_BINS - 1; b >= 0; b--) {
            In += hp[c * PR_BINS + b], A += ha[c * PR_BINS + b];
            double u = (double)In / ((double)(A + G - In) + eps);
            v[b] = u;
            best = u > best ? u : best;
        }
        int bj = PR_BINS - 1;
        while (bj > 0 && v[bj] < best * (1 - PR_TIE))
            bj--;
        thr[c] = lo[c] + (hi[c] - lo[c]) * bj / PR_BINS;
        iou[c] = v[bj];
    }
}

int pr_score_maps(const pr_ctx *x, const float *S, int set, int choose, const unsigned char *only,
                  double *thr, double *iou)
{
    size_t C = x->C, nimg = set ? x->nte : x->ntr, rows = nimg * x->hw;
    int nt = nd_threads(x->o->threads), rc = 0;
    if ((size_t)nt > nimg)
        nt = nimg ? (int)nimg : 1;
    size_t per = choose ? C * PR_BINS : C * 3;
    score_job jobs[ND_MAX_THREADS];
    double *lo = nd_malloc(C * sizeof *lo), *hi = nd_malloc(C * sizeof *hi);
    float *thf = nd_malloc(C * sizeof *thf);
    int64_t *hist = nd_calloc((size_t)nt * per * 2, sizeof *hist), *lanes = NULL;
    size_t nl = choose && !x->o->score_ref ? C * PR_LANES * PR_BINS : 0;
    if (nl)
        lanes = nd_calloc((size_t)nt * nl, sizeof *lanes);
    if (!lo || !hi || !thf || !hist || (nl && !lanes)) {
        free(lo), free(hi), free(thf), free(hist), free(lanes);
        return -1;
    }
    for (size_t c = 0; c < C; c++) { /* upsampled values lie within the map's extremes */
        lo[c] = DBL_MAX, hi[c] = -DBL_MAX;
        for (size_t r = 0; r < rows; r++) {
            double v = S[r * C + c];
            lo[c] = v < lo[c] ? v : lo[c], hi[c] = v > hi[c] ? v : hi[c];
        }
        thf[c] = (float)(choose ? 0 : thr[c]);
    }
    for (int k = 0; k < nt; k++)
        jobs[k] = (score_job){x, S, set, choose, only, lo, hi, thf, nimg * (size_t)k / (size_t)nt,
                              nimg * (size_t)(k + 1) / (size_t)nt, hist + (size_t)k * per * 2,
                              hist + (size_t)k * per * 2 + per, lanes ? lanes + (size_t)k * nl : NULL, 0, ""};
    nd_run_jobs(score_worker, jobs, sizeof jobs[0], nt);
    for (int k = 0; k < nt; k++)
        if (jobs[k].rc && !rc)
            rc = nd_fail("%s", jobs[k].err);
    for (int k = 1; k < nt && !rc; k++) /* integer counts: the order does not matter */
        for (size_t q = 0; q < per * 2; q++)
            hist[q] += hist[(size_t)k * per * 2 + q];
    if (!rc && choose)
        choose_thresholds(x, hist, hist + per, lo, hi, thr, iou);
    for (size_t c = 0; c < C && !rc && only; c++)
        if (!only[c])
            thr[c] = 0, iou[c] = 0;
    double eps = nd_profile_eps(x->o->profile);
    if (!rc && !choose)
        for (size_t c = 0; c < C; c++) {
            double In = (double)hist[c * 3], A = (double)hist[c * 3 + 1], G = (double)hist[c * 3 + 2];
            iou[c] = In / (A + G - In + eps);
        }
    free(lo), free(hi), free(thf), free(hist), free(lanes);
    return rc;
}
