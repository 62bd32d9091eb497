/* probe_internal.h - shared pieces of core/probe*.c (not a public API). */
#ifndef ND_PROBE_INTERNAL_H
#define ND_PROBE_INTERNAL_H

#include "core/probe.h"
#include "core/upsample.h"

/* The images of a split, train first, and the layout of their rows: image
 * img[j] owns rows [j*hw, (j+1)*hw) of every [rows][K] matrix here. */
typedef struct {
    const broden *ds;
    const pr_options *o;
    size_t K, C, h, w, hw, N;
    const int *label, *category; /* [C] */
    int *concept;                /* [L] concept index of a label, or -1 */
    size_t L;
    size_t ntr, nte, *img;       /* [ntr + nte] dataset image indices */
    long *block;                 /* [N] position in img[], or -1 */
    const struct pr_truth *truth; /* [2] train, test ground truth (NULL: the reference path) */
} pr_ctx;

/* Pixels at label resolution: all of the image (whole), or the n indices
 * px[at .. at + n) of the set's pr_truth. */
typedef struct {
    size_t at, n;
    int whole;
} pr_list;
/* The ground truth of one set's images j (in split order): pos[j*C + c]
 * the positives of concept c, cat[j*ncat + g] (NDL) the pixels with any
 * label of category g; entries of categories without ground truth in the
 * image are empty. */
typedef struct pr_truth {
    pr_list *pos, *cat;
    size_t ncat, npx;
    uint32_t *px;
} pr_truth;
int pr_truth_build(const pr_ctx *x, int set, pr_truth *t);
void pr_truth_free(pr_truth *t);
/* The reference: concept c's positives in image i (pos[npix]) and (NDL) the
 * pixels with any label of its category (cat[npix]); returns bit 0 = an
 * image-level label of c, bit 1 = one of its category. */
int pr_image_truth(const pr_ctx *x, size_t i, size_t c, size_t npix, unsigned char *pos, unsigned char *cat);

/* Raw activations (rotated by R when given) as [rows][K] float. */
int pr_raw(const pr_ctx *x, const nd_features *f, const double *R, float **raw);
/* A design from raw rows: (a - mu) / sigma, or with thr given the binary
 * masks [a_k > thr_k] centred and scaled the same way; mu and sigma from the
 * train rows.  sd[K] (may be NULL): each column's train sd after scaling. */
typedef struct {
    float *Xf;
    double *Xd;
    double *mu, sigma, *sd;
    double *white; /* [K][K] (pr_whiten): rows x -> x M, M = (Cov + eps I)^(-1/2) */
} pr_design;
int pr_design_build(const pr_ctx *x, const float *raw, const double *thr, int dbl, pr_design *d);
/* The design whitened with the full train covariance (eps = PR_WHITEN_EPS
 * times its mean eigenvalue): M commutes with rotations as Cov does, and
 * the logistic loss is well conditioned, so L-BFGS converges in tens of
 * iterations instead of hundreds.  out holds the train rows only, in double
 * (the fit's gemms accumulate in double); it shares nothing with in. */
#define PR_WHITEN_EPS 1e-3
int pr_whiten(const pr_ctx *x, const pr_design *in, pr_design *out);
void pr_design_free(pr_design *d);
/* Area-averaged targets [ntr*hw][C] and each train row's present mask. */
int pr_targets(const pr_ctx *x, float **T, uint64_t **present);
/* A feature source [N][K][h][w] over raw rows: images outside the chosen
 * set (0 = train, 1 = test) read as -FLT_MAX (no dissection mask); with
 * compact = 1 it holds only the train images, in split order (for
 * thresholds).  Free with free(f->ctx). */
int pr_raw_features(const pr_ctx *x, const float *raw, int set, int compact, nd_features *f);

/* Label-resolution scoring of score maps S [rows][C] (float, rows of the
 * images of set 0 = train or 1 = test): with choose = 1 the threshold that
 * maximises IoU (thr, iou out), else IoU at the given thr.  only (or NULL):
 * [C] the concepts to score (the others get thr, iou 0). */
int pr_score_maps(const pr_ctx *x, const float *S, int set, int choose, const unsigned char *only,
                  double *thr, double *iou);
/* S [rows of set][C] = X W^T + b (W [C][K+1] in design coordinates). */
int pr_scores(const pr_ctx *x, const pr_design *d, const double *W, int set, float **S);

/* The profile's up_plan for image i (cached by size; caller-owned cache). */
int pr_plan_for(const pr_ctx *x, size_t i, up_cache *pc);

#endif
