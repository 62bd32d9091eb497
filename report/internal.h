/* internal.h - the pieces of `dissect report` (report.h), exposed for tests.
 *
 * The report never re-dissects: it reads a result folder (summary.json,
 * result.csv, thresholds.npy, and maxact.npy when the tally wrote it), opens
 * the dataset and the activations the result names, and for each unit draws
 * its top images with the mask the dissector used: the same upsampling plan
 * (core/upsample.h) and the same float32 threshold comparison, so a drawn
 * mask is the dissection's mask pixel for pixel.
 */
#ifndef ND_REPORT_INTERNAL_H
#define ND_REPORT_INTERNAL_H

#include <stddef.h>

#include "core/broden.h"
#include "core/dissect.h"
#include "core/features.h"
#include "core/npy.h"

/* A result folder as the report reads it (units 0-based; the pages show
 * result.csv's 1-based numbers). */
typedef struct {
    char *dir;
    char *dataset, *features; /* from summary.json, or the caller's overrides */
    nd_options opt;           /* profile, field, quantile, iou threshold */
    int thresholds_given;
    size_t K, C, images;
    double *thr;              /* [K] thresholds.npy */
    char **cat_name;          /* [C] categories of the summary, in order */
    int *cat_det, *cat_upc, *cat_utl; /* [C] detectors, unique per-category, unique top-label */
    int detectors, unique_percat, unique_toplabel;
    double alpha;             /* 0 and seed -1 for an unrotated result */
    long seed;
    char **unit_label, **unit_cat; /* [K] names from result.csv */
    double *unit_score;       /* [K] */
} rpt_result;

/* dataset / features: NULL, or paths that replace summary.json's. */
int rpt_result_read(rpt_result *r, const char *dir, const char *dataset, const char *features);
void rpt_result_free(rpt_result *r);

/* The data behind a result: the dataset (the summary's categories) and the
 * activations, rotated by Q^alpha (Q = rot_haar(K, seed)) for a sweep point
 * exactly as the sweep rotated them.  Every mismatch with the result (image
 * count, units, categories, a label the dataset lacks) is one error line. */
typedef struct {
    broden *ds;
    npy_t npy;
    int have_npy, rotated;
    nd_features raw, f; /* f: what the result dissected (raw or R raw) */
    int *label;         /* [K] global label number of each unit's label (0: none) */
} rpt_data;
int rpt_data_open(rpt_data *d, const rpt_result *r);
void rpt_data_close(rpt_data *d);

/* Per-image maxima m[i*K + u] = max over positions of unit u's map in image
 * i: one pass over the activations (the slow obvious way, and the fallback
 * when a result has no maxact.npy). */
int rpt_maxact_pass(const nd_features *f, int threads, float *m);
/* maxact.npy (N x K float32) into m; its shape must be N x K. */
int rpt_maxact_load(const char *path, size_t N, size_t K, float *m);

/* The k images with the largest m[i*K + u], best first; ties go to the
 * lower image index (a total order, so the choice is reproducible). */
void rpt_topk(const float *m, size_t N, size_t K, size_t u, size_t k, size_t *out);

/* Drawing.  A unit's sprite has two rows of k cells of cw x ch pixels with
 * RPT_GAP white pixels between cells and rows; image j's cell starts at
 * x = j * (cw + RPT_GAP).  Row 0: the image at label resolution (times an
 * integer scale, nearest), darkened by rpt_dark() outside the unit's mask
 * and the mask's edge (mask pixels with a 4-neighbour outside it) drawn in
 * RPT_EDGE.  Row 1: the ground truth of the unit's label (RPT_GT_IN on
 * RPT_GT_OUT) with the same mask edge, so mask and truth can be compared. */
#define RPT_GAP 2
static const unsigned char RPT_EDGE[3] = {255, 230, 0};
static const unsigned char RPT_GT_IN[3] = {80, 170, 255};
static const unsigned char RPT_GT_OUT[3] = {48, 48, 48};
static inline unsigned char rpt_dark(unsigned char v) { return (unsigned char)(v * 3 / 10); }

/* Integer scale for label maps of at most sh x sw: nearest, up to ~96 px. */
int rpt_scale(int sh, int sw);

/* The unit's mask at label resolution: mask[y*sw + x] = 1 where the
 * upsampled map is > float32(thr), through the tally's own plan
 * (nd_tally_plan); iw is the image width (the ND rule's reduction). */
int rpt_unit_mask(const nd_options *o, const nd_features *f, const float *map, double thr, int iw, int sh,
                  int sw, unsigned char *mask);
/* Ground truth of label l in image i at label resolution (image-level
 * labels cover the whole image); returns its pixel count. */
size_t rpt_truth(const broden *ds, size_t i, int label, unsigned char *gt);

/* Draw one cell pair into a sprite of width W (3 bytes per pixel): thumb is
 * sw*s x sh*s RGB, mask and gt sh x sw. */
void rpt_draw_cells(unsigned char *sprite, int W, int x0, int y1, const unsigned char *thumb, int sh, int sw,
                    int s, const unsigned char *mask, const unsigned char *gt);

/* One unit's top images, as drawn (for the pages and for tests). */
typedef struct {
    size_t img;       /* image index */
    float maxact;
    double iou;       /* of mask and truth in this image; -1 when both are empty */
    size_t mask_px, gt_px;
} rpt_cell;

/* The output folder (report.c): build a report of result_dir into an
 * existing folder; make OUT.tmp.<host>.<pid>, let build() fill it and
 * rename it to out (an existing report is replaced, anything else refused). */
#include "report/report.h"
int rpt_build(const char *result_dir, const rpt_options *o, const char *dir);
int rpt_in_tmp(const char *out, int (*build)(void *ctx, const char *dir), void *ctx);
#define RPT_MARKER ".dissect-report"
/* zlib level of the sprites: level 1 is several times faster than the
 * default 6 for photographs, for files about 10-20% larger */
#define RPT_PNG_LEVEL 1

#endif
