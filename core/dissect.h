/* dissect.h - Network Dissection of one layer (method: docs/method.md).
 *
 * Pipeline: per-unit thresholds (exact top quantile, or given;
 * core/thresholds.h) -> per image and unit, upsample the map to label
 * resolution under the profile's rule and threshold it -> tally G, I, A
 * (core/tally.h) -> IoU -> per-category and overall labels -> detector
 * counts (core/score.h).
 *
 *     broden *ds;  broden_open(&ds, "dataset/", NULL);
 *     nd_options o; nd_options_default(&o);  o.profile = ND_PROFILE_LITE;
 *     nd_result r;  nd_dissect(ds, &feats, &o, &r);
 *     nd_write_result(&r, ds, "out/", NULL);  // core/result.h
 *     nd_result_free(&r);
 */
#ifndef ND_DISSECT_H
#define ND_DISSECT_H

#include <stddef.h>
#include <stdint.h>

#include "core/broden.h"
#include "core/features.h"
#include "core/options.h"
#include "core/score.h"
#include "core/tally.h"
#include "core/thresholds.h"

typedef struct {
    size_t K, L, C;
    nd_options opt;
    double *thresholds;  /* [K] thresholds used */
    int thresholds_given;
    nd_thr_method threshold_method; /* the method that computed them; ND_THR_AUTO if given */
    nd_tally tally;
    double *iou;         /* [K][L] */
    int *cat_label;      /* [K][C] best label per category */
    double *cat_iou;     /* [K][C] */
    int *unit_cat;       /* [K] best category (index into selected categories) */
    int *unit_label;     /* [K] best label */
    double *unit_score;  /* [K] */
    nd_counts counts;
    size_t N;            /* images */
    float *maxact;       /* [N][K] per-image maxima from the tally (nd_dissect) */
    const char *features; /* set by the caller (not owned): the activations' path, recorded in
                           * summary.json (made absolute) so a report can find them */
    double seconds_threshold, seconds_tally;
} nd_result;

/* Full dissection. */
int nd_dissect(const broden *ds, const nd_features *f, const nd_options *o, nd_result *r);

/* IoU, labels and counts from a tally (fills the rest of r; r->tally and
 * r->opt set). */
int nd_score(const broden *ds, nd_result *r);

void nd_result_free(nd_result *r);

#endif
