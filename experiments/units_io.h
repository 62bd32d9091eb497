/* units_io.h - the steps of `dissect units` shared with the sweep:
 * open a dataset and activations, validate them, dissect, write results. */
#ifndef ND_UNITS_IO_H
#define ND_UNITS_IO_H

#include "core/dissect.h"

struct nd_dist;

/* "OFFSET,SIZE,STRIDE" into o->field_*; 0 ok, -1 malformed. */
int units_parse_field(const char *s, nd_options *o);
/* Look for the "field": [o, s, t] member of the .json beside features
 * (F.npy -> F.json). 1 found, 0 no such file/member, -1 malformed file. */
int units_field_from_json(const char *features, nd_options *o);
/* Per-unit thresholds from a .npy or a text file (one number per line). */
int units_load_thresholds(const char *path, size_t K, double **out);

/* The whole of `dissect units`: reads, validates, dissects, writes out/.
 * If res is not NULL the result is returned there (caller frees). */
int units_run(const char *dataset, const char *label_store, const char *features,
              const char *categories, const char *thresholds_file, const nd_options *o,
              const char *out, const char *extra_json, nd_result *res);

/* The inputs and options of one `dissect units` (cmd_units_parse). */
typedef struct units_args {
    const char *dataset, *features, *out, *thresholds, *categories, *label_store;
    nd_options o;
} units_args;

/* `dissect units` over the ranks of d (experiments/dist.h): each rank reads
 * only its shard of the images (nd_image_shard) - its range of the mapped
 * activations and its images' label maps; the threshold histograms and the
 * tally are summed over the ranks; rank 0 scores and writes out/, the same
 * bytes as units_run.  With a label store, rank 0 first builds it if it is
 * missing or stale (decoding every PNG once); the shards then map it. */
int units_run_dist(const units_args *a, struct nd_dist *d);

/* The collective core of units_run_dist, shared with the sweep's sharded
 * points: this rank's images [i0, i1) of f (a shard from nd_image_shard
 * with ND_THR_BLOCK alignment) through both histogram passes, counts summed
 * over the ranks (exact thresholds into r->thresholds, unless
 * given_thresholds), then the tally, summed as int64 into rank 0's r, and
 * the per-image maxima gathered (r->maxact [N][K]).  ds may be the whole
 * dataset or a shard holding at least [i0, i1).  Rank 0 then calls nd_score.
 * r is zeroed first; free it with nd_result_free on every rank. */
int units_dissect_shard(const broden *ds, const nd_features *f, const nd_options *o, const double *given_thresholds,
                        size_t i0, size_t i1, struct nd_dist *d, nd_result *r);
/* units_warn_unlabelled for a dataset opened as shards (collective): a
 * category is seen if some rank's images show it; rank 0 warns. */
int units_warn_unlabelled_dist(const broden *ds, struct nd_dist *d);

/* Progress callback printing a line on stderr (ctx unused). */
void units_progress(void *ctx, const char *stage, size_t done, size_t total);

/* One warning line on stderr per selected category that no image labels
 * (its scores are all 0, which reads like a finding); the dataset's ground
 * truth is computed if it was not yet.  Called once per run. */
void units_warn_unlabelled(const broden *ds);

#endif
