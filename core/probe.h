/* probe.h - concepts as combinations of units: linear probes (Net2Vec,
 * Fong & Vedaldi 2018), the binary probe over the units' dissection masks,
 * the best single unit, and the number of units a probe needs.
 *
 * Everything is chosen on the train images of a split and scored on the
 * test images, at label resolution, under the dissection profile's counting
 * rules (dissection-spec.md 2.3: which mask pixels count toward A).
 *
 * The linear probe of concept c scores a feature pixel x by
 * s(x) = w_c . (a(x) - mu) / sigma + b_c, where mu is the train mean vector
 * and sigma one global scale (the rms of a - mu per unit): both commute with
 * a rotation of the basis, per-unit standardisation would not.  It is fitted
 * on the train rows whitened with their full covariance (M = (Cov + eps I)
 * ^(-1/2), which turns with the basis as Cov does; it makes the problem well
 * conditioned, so L-BFGS needs tens of iterations, not hundreds), with
 * float32 products over fixed blocks of rows summed in double (probe.c).
 * It minimises a class-balanced logistic loss at feature resolution against
 * area-averaged labels (U^T y / U^T 1, U the profile's upsampling), over the
 * pixels of train images with ground truth in c's category, plus
 * l2/2 ||w_c||^2 on the whitened weights (not on b_c).  Each class carries
 * half the weight (Net2Vec's 1 - f / f weighting up to a per-concept factor).
 * All concepts are fitted together: one gemm pair per block of rows and
 * evaluation, a separate L-BFGS (history, step and line search) per concept,
 * from w = 0, the concepts out of step (probe_fit.c).  L-BFGS only forms inner products and
 * linear combinations of gradients, so for activations Q a the iterates are
 * exactly Q w: the probe is rotation-equivariant up to rounding.  The
 * threshold maximises the train IoU at label resolution (the score map
 * upsampled by the profile's rule, over PR_BINS levels between the train
 * scores' extremes; the highest level within 1e-4 relative of the best, so
 * rounding-level near-ties resolve alike in every basis), and the test IoU
 * is scored with it.
 *
 * The binary probe is the same fit over [a_k(x) > T_k] at feature resolution
 * (T_k the unit's dissection threshold from the train images), i.e. the
 * dissection masks before upsampling; the best single unit is the dissector
 * itself (thresholds and tally on train, the unit with the best train IoU
 * scored by a tally of the test images).
 *
 *     pr_options o; pr_options_default(&o);  o.profile = ...; o.field_* = ...;
 *     pr_result r;  pr_run(ds, &features, NULL, &o, &r);  ... pr_result_free(&r);
 */
#ifndef ND_PROBE_H
#define ND_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/broden.h"
#include "core/dissect.h"
#include "core/features.h"
#include "core/progress.h"

#define PR_BINS 4096 /* threshold levels searched per concept */

typedef struct {
    nd_profile profile;
    int field_offset, field_size, field_stride, have_field; /* ND profile */
    double quantile;        /* dissection top quantile (binary probe, single units); 0.005 */
    double train_fraction;  /* when index.csv's split column does not vary; 0.5 */
    unsigned long split_seed; /* 1 */
    double l2;              /* L2 penalty on the whitened w; 1e-2 */
    int max_iter;           /* L-BFGS iterations; 300 */
    double gtol;            /* stop when ||grad|| <= gtol * ||grad at w = 0||; 1e-6 */
    double gtol_binary;     /* the same for the binary probe (no rotation check to meet); 1e-5 */
    double ftol;            /* or when an iteration lowers the loss by <= ftol |f|; 1e-13 */
    int history;            /* L-BFGS pairs; 10 */
    double units_fraction;  /* units needed: reach this share of the full probe's train IoU; 0.9 */
    int units_iter;         /* L-BFGS iterations of each refit (warm start); 3 */
    double units_rtol;      /* bisection stops at a bracket <= max(1, units_rtol * n); 0.05 */
    int binary, single, units; /* which of the extra scores to compute (all 1) */
    int threads;            /* 0 = cores */
    int double_precision;   /* design matrix in double (tests); default float */
    int score_ref;          /* 1: rebuild each image's ground truth in every scoring call and
                               count one histogram (the reference the per-point lists and the
                               histogram lanes are tested against); 0 */
    nd_progress progress;
} pr_options;

void pr_options_default(pr_options *o);

/* The split: train[i] = 1 for train, 0 for test, for images with data (the
 * others are 2).  When index.csv's split column takes more than one value
 * over those images, "train" rows are train and the rest test
 * (*from_index = 1); otherwise a seeded shuffle puts round(fraction * n)
 * images in train. */
int pr_split(const broden *ds, double fraction, unsigned long seed, unsigned char *train,
             int *from_index);

typedef struct {
    double train_iou, test_iou, threshold;
    int iters;          /* linear / binary probe: L-BFGS iterations */
    double grad_rel;    /* final ||grad|| / ||grad at 0|| */
} pr_score;

typedef struct {
    size_t K, C, N;
    int *label;          /* [C] global label numbers of the concepts */
    int *category;       /* [C] selected-category index */
    unsigned char *train; /* [N] split (see pr_split) */
    int split_from_index;
    size_t n_train, n_test;
    pr_options opt;
    pr_score *linear;    /* [C] */
    pr_score *binary;    /* [C] (if opt.binary) */
    int *unit;           /* [C] best single unit by train IoU (0-based) */
    pr_score *single;    /* [C] */
    int *units_needed;   /* [C] (-1 when not computed) */
    double *w;           /* [C][K] linear probe in raw activation coordinates: s = w . a + b */
    double *b;           /* [C] */
    double *dissect_thr; /* [K] train dissection thresholds */
    int *unit_label;     /* [K] each unit's best train label (dissection, all categories) */
    double *unit_iou;    /* [K] its train IoU */
    double seconds_linear, seconds_binary, seconds_single, seconds_units, seconds_total;
} pr_result;

/* R (or NULL): a K x K rotation applied to the activations first (one sgemm
 * over the probes' rows), so the probes, the dissection thresholds and the
 * single units all see the same rotated values R a(x). */
int pr_run(const broden *ds, const nd_features *f, const double *R, const pr_options *o,
           pr_result *r);
void pr_result_free(pr_result *r);

/* ---- the fit, exposed for tests and the benchmark ---------------------- */

/* A fitting problem: P feature pixels x K units (row-major, float or double),
 * targets T [P][C] in [0, 1], and per pixel the mask of categories with
 * ground truth in its image (concept c counts the pixel when bit
 * category[c] is set). */
typedef struct {
    size_t P, K, C;
    const float *Xf;
    const double *Xd;       /* exactly one of Xf, Xd */
    const float *T;
    const uint64_t *present; /* [P] */
    const int *category;     /* [C] */
    double *wpos, *wneg;     /* [C] per-pixel weights (pr_problem_weights) */
    int threads;             /* for the per-pixel loss (results do not depend on it) */
    const unsigned char *only; /* [C] the concepts pr_fit fits (NULL: all; the others' W stay) */
} pr_problem;

/* wpos, wneg (allocated here, freed by the caller): half the loss on each class. */
int pr_problem_weights(pr_problem *p);

/* Loss per concept f[C] and gradient G[C][K+1] (bias last) at W[C][K+1]. */
int pr_eval(const pr_problem *p, double l2, const double *W, double *f, double *G);

/* The same for the concepts with active[c] set (NULL: all); the others'
 * f and G entries are 0 and cost nothing. */
int pr_eval_active(const pr_problem *p, double l2, const double *W, const unsigned char *active,
                   double *f, double *G);

/* pr_eval calls so far in this process (for the benchmark; not thread-safe). */
size_t pr_eval_calls(void);
/* and their gemms' GFLOP (blocks count their own concepts; up to 64
 * concepts), wall seconds and CPU seconds (the process's, so other threads
 * running meanwhile count too; the probes run none) */
void pr_eval_stats(size_t *calls, double *gflop, double *seconds, double *cpu);

/* L-BFGS from the given W (w = 0 for the equivariant probe); a concept stops
 * when ||g|| <= gtol ||g0|| or an Armijo step lowers its loss by <= ftol |f|
 * (steps are also taken on the approximate Wolfe conditions, slopes only,
 * where float rounding hides the loss's decrease).  mask (or NULL):
 * [C][K], 1 = the unit may carry weight (others stay at their start value).
 * iters[c], grad_rel[c] (may be NULL) report each concept's run. */
int pr_fit(const pr_problem *p, double l2, int max_iter, double gtol, double ftol, int history,
           const unsigned char *mask, double *W, int *iters, double *grad_rel);

#endif

/* ---- results --------------------------------------------------------- */

/* Per-category means over the concepts of each selected category:
 * out[c*5 + 0..4] = single-unit, binary-probe, linear-probe test IoU, units
 * needed, concept count (NaN for a category without concepts). */
void pr_category_means(const pr_result *r, const broden *ds, double *out);

/* Write dir/probes.csv (one row per concept), dir/probe_summary.json (split,
 * settings, per-category means, timings; `extra_json` inserted as members)
 * and dir/probe_weights.npy ([C][K+1] float64: w then b, raw coordinates),
 * each atomically. */
int pr_write(const pr_result *r, const broden *ds, const char *dir, const char *extra_json);
