/* dissect.h - Network Dissection of one layer (see docs: dissection-spec.md).
 *
 * Pipeline: per-unit thresholds (exact top quantile, or given) -> per image
 * and unit, upsample the map to label resolution (ND or NDL rule) and
 * threshold it -> tally G, I, A (int64, additive over image shards) ->
 * IoU -> per-category and overall labels -> detector counts.
 *
 *     broden *ds;  broden_open(&ds, "dataset/", NULL);
 *     nd_options o; nd_options_default(&o);  o.profile = ND_PROFILE_LITE;
 *     nd_result r;  nd_dissect(ds, &feats, &o, &r);
 *     nd_write_result(&r, ds, "out/");        // result.csv, summary.json, thresholds.npy
 *     nd_result_free(&r);
 */
#ifndef ND_DISSECT_H
#define ND_DISSECT_H

#include <stddef.h>
#include <stdint.h>

#include "core/broden.h"
#include "core/features.h"

typedef enum {
    ND_PROFILE_NETDISSECT = 0, /* original ND (paper): receptive-field bilinear, ND A rule, eps 1e-20 */
    ND_PROFILE_LITE = 1        /* NetDissect-Lite: image resize bilinear, NDL A rule, eps 1e-10 */
} nd_profile;

typedef struct {
    nd_profile profile;
    double quantile;      /* top quantile, default 0.005 (threshold level 1 - quantile) */
    double iou_threshold; /* detector if score > this; default 0.04 */
    /* receptive-field geometry in input pixels (ND profile only) */
    int field_offset, field_size, field_stride, have_field;
    const double *thresholds; /* optional: K given thresholds (then no quantile is computed) */
    int threads;              /* worker threads; 0 = number of cores. Results do not depend on it. */
    int quiet;                /* drivers: no progress lines (the core never prints) */
    /* optional progress report (stage "thresholds" or "tally"); called from
     * the calling thread only */
    void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
    void *progress_ctx;
} nd_options;

void nd_options_default(nd_options *o);
const char *nd_profile_name(nd_profile p);
int nd_profile_parse(const char *s, nd_profile *p);

/* Raw counts; all int64 and additive over disjoint image shards. */
typedef struct {
    size_t K, L, C;  /* units, label slots (max label number + 1; slot 0 unused), selected categories */
    int64_t *G;      /* [L] label pixels */
    int64_t *I;      /* [K][L] mask & label pixels */
    int64_t *A;      /* [K][C] mask pixels counted toward each category */
    int64_t *M;      /* [K] mask pixels */
} nd_tally;

/* Counts of detectors under both unique-detector conventions. */
typedef struct {
    int detectors;        /* units with score > iou_threshold */
    int unique_percat;    /* headline: sum over c of distinct cat-c best labels with cat-c IoU > thr */
    int unique_toplabel;  /* distinct overall labels among detector units */
    int *cat_detectors;   /* [C] detector units whose best category is c */
    int *cat_unique_percat;   /* [C] distinct cat-c best labels with cat-c IoU > thr */
    int *cat_unique_toplabel; /* [C] distinct labels among detectors whose best category is c */
} nd_counts;

typedef struct {
    size_t K, L, C;
    nd_options opt;
    double *thresholds;  /* [K] thresholds used */
    int thresholds_given;
    nd_tally tally;
    double *iou;         /* [K][L] */
    int *cat_label;      /* [K][C] best label per category */
    double *cat_iou;     /* [K][C] */
    int *unit_cat;       /* [K] best category (index into selected categories) */
    int *unit_label;     /* [K] best label */
    double *unit_score;  /* [K] */
    nd_counts counts;
    double seconds_threshold, seconds_tally;
} nd_result;

/* Full dissection. */
int nd_dissect(const broden *ds, const nd_features *f, const nd_options *o, nd_result *r);

/* Pieces, for tests, shards and benchmarks. */
int nd_thresholds(const nd_features *f, double quantile, int threads, double *out /* [K] */);
/* Which method the last nd_thresholds call of this thread used: 1 = one
 * pass streaming each unit's top candidates (core/topk.h), 3 = the same
 * in two passes (floors guessed from a sample were too high), 2 = two
 * histogram passes (for tests and benchmarks). */
int nd_thresholds_last_method(void);
/* the same by gathering values and quickselect (reference for tests) */
int nd_thresholds_select(const nd_features *f, double quantile, int threads, double *out);
int nd_thresholds_progress(const nd_features *f, double quantile, int threads, double *out,
                           void (*progress)(void *, const char *, size_t, size_t), void *pctx);
int nd_tally_alloc(nd_tally *t, size_t K, size_t L, size_t C);
void nd_tally_free(nd_tally *t);
int nd_tally_add(nd_tally *dst, const nd_tally *src); /* shard merge */
int nd_tally_run(const broden *ds, const nd_features *f, const nd_options *o,
                 const double *thresholds, size_t i0, size_t i1, nd_tally *t);
/* IoU, labels and counts from a tally (fills the rest of r; r->tally set). */
int nd_score(const broden *ds, nd_result *r);

/* Write result.csv, summary.json and thresholds.npy into dir (created if
 * needed), each atomically.  `extra_json` (or NULL) is inserted into the
 * summary as additional top-level members, e.g. "\"alpha\": 0.5, \"seed\": 3". */
int nd_write_result(const nd_result *r, const broden *ds, const char *dir, const char *extra_json);
void nd_result_free(nd_result *r);

#endif
