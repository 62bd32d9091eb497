/* score.c - IoU, best labels and detector counts (rules: score.h,
 * docs/method.md). */
#include "core/score.h"
#include "core/dissect.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static int count_distinct(int *v, int n)
{
    /* small n; insertion-sort then count */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            int t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    int d = 0;
    for (int i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    return d;
}

void nd_counts_free(nd_counts *c)
{
    free(c->cat_detectors), free(c->cat_unique_percat), free(c->cat_unique_toplabel);
    memset(c, 0, sizeof *c);
}

int nd_count_detectors(size_t K, size_t C, const int *cat_label, const double *cat_iou, const int *unit_cat,
                       const int *unit_label, const double *unit_score, double thr, nd_counts *cn)
{
    memset(cn, 0, sizeof *cn);
    cn->cat_detectors = nd_calloc(C ? C : 1, sizeof(int));
    cn->cat_unique_percat = nd_calloc(C ? C : 1, sizeof(int));
    cn->cat_unique_toplabel = nd_calloc(C ? C : 1, sizeof(int));
    int *tmp = nd_calloc(K + 1, sizeof *tmp);
    if (!cn->cat_detectors || !cn->cat_unique_percat || !cn->cat_unique_toplabel || !tmp) {
        free(tmp);
        nd_counts_free(cn);
        return -1;
    }
    for (size_t c = 0; c < C; c++) {
        int n = 0, nd = 0;
        for (size_t u = 0; u < K; u++)
            if (cat_iou[u * C + c] > thr)
                tmp[n++] = cat_label[u * C + c];
        cn->cat_unique_percat[c] = count_distinct(tmp, n);
        cn->unique_percat += cn->cat_unique_percat[c];
        for (size_t u = 0; u < K; u++)
            if (unit_score[u] > thr && unit_cat[u] == (int)c)
                tmp[nd++] = unit_label[u];
        cn->cat_detectors[c] = nd;
        cn->detectors += nd;
        cn->cat_unique_toplabel[c] = count_distinct(tmp, nd);
        cn->unique_toplabel += cn->cat_unique_toplabel[c];
    }
    free(tmp);
    return 0;
}

int nd_best_category(const double *cat_iou, size_t C, double *score)
{
    int bc = 0;
    double bs = -1;
    for (size_t c = 0; c < C; c++)
        if (cat_iou[c] >= bs) /* >=: ties go to the later category */
            bs = cat_iou[c], bc = (int)c;
    *score = bs;
    return bc;
}

/* IoU of unit u against every label, and its best label per category. */
static void score_unit(const broden *ds, const nd_tally *t, double eps, size_t u, nd_result *r)
{
    size_t L = t->L, C = t->C;
    for (size_t c = 0; c < C; c++)
        r->cat_label[u * C + c] = 0, r->cat_iou[u * C + c] = -1;
    for (size_t l = 1; l < L; l++) {
        int c = broden_primary(ds, (int)l);
        if (c < 0)
            continue;
        int64_t I = t->I[u * L + l], A = t->A[u * C + (size_t)c], G = t->G[l];
        double iou = (double)I / ((double)(A + G - I) + eps);
        r->iou[u * L + l] = iou;
        /* strict >: ties keep the lowest label number */
        if (iou > r->cat_iou[u * C + (size_t)c])
            r->cat_iou[u * C + (size_t)c] = iou, r->cat_label[u * C + (size_t)c] = (int)l;
    }
    /* a category with no overlap at all has no best label, as in both
     * references (rather than the lowest-numbered label at IoU 0) */
    for (size_t c = 0; c < C; c++)
        if (r->cat_iou[u * C + c] <= 0)
            r->cat_iou[u * C + c] = 0, r->cat_label[u * C + c] = 0;
    int bc = nd_best_category(r->cat_iou + u * C, C, &r->unit_score[u]);
    r->unit_cat[u] = bc;
    r->unit_label[u] = r->cat_label[u * C + (size_t)bc];
}

int nd_score(const broden *ds, nd_result *r)
{
    size_t K = r->tally.K, L = r->tally.L, C = r->tally.C;
    double eps = nd_profile_eps(r->opt.profile);
    r->K = K, r->L = L, r->C = C;
    r->iou = nd_calloc(K * L, sizeof *r->iou);
    r->cat_label = nd_calloc(K * C, sizeof *r->cat_label);
    r->cat_iou = nd_calloc(K * C, sizeof *r->cat_iou);
    r->unit_cat = nd_calloc(K, sizeof *r->unit_cat);
    r->unit_label = nd_calloc(K, sizeof *r->unit_label);
    r->unit_score = nd_calloc(K, sizeof *r->unit_score);
    if (!r->iou || !r->cat_label || !r->cat_iou || !r->unit_cat || !r->unit_label || !r->unit_score)
        return -1;
    for (size_t u = 0; u < K; u++)
        score_unit(ds, &r->tally, eps, u, r);
    return nd_count_detectors(K, C, r->cat_label, r->cat_iou, r->unit_cat, r->unit_label, r->unit_score,
                              r->opt.iou_threshold, &r->counts);
}
