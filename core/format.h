/* format.h - the format versions of the files dissect writes: the one place
 * they are defined.
 *
 * Every summary-like output carries "format": "<kind>" and
 * "format_version": N (ND_FORMAT_KEY); `dissect compare` refuses to compare
 * two files or folders whose versions differ (a file written before
 * versioning has none, which differs from every version).  Bump a kind's
 * number when a file of that kind changes meaning or layout (a column or
 * member renamed, removed or redefined), never for an added member; say so
 * in the commit and regenerate tests/golden/.  CSV tables carry the version
 * of the JSON summary beside them.
 */
#ifndef ND_FORMAT_H
#define ND_FORMAT_H

#define ND_FORMAT_KEY "format_version"

/* A result folder (dissect units, a sweep point, a layer of a layers run):
 * summary.json, result.csv, thresholds.npy, maxact.npy. */
#define ND_FORMAT_RESULT 1
/* A sweep run folder: sweep.json, sweep.csv, summary.csv. */
#define ND_FORMAT_SWEEP 1
/* A layers run folder: layers.json, layers.csv, <net>/counts.csv, layers_plot.csv. */
#define ND_FORMAT_LAYERS 1
/* A report's data.js (dissect report). */
#define ND_FORMAT_REPORT 1
/* The geometry .json beside extracted activations (dissect features). */
#define ND_FORMAT_GEOMETRY 1
/* probe_summary.json (core/probe_io.c; 2: float fit in blocks, units needed
 * to a 5% bracket).  The synthetic world's world.json carries its own
 * "format": 1 (compare reads a numeric "format" as the version) and training
 * checkpoints their magic lines ("... network 1"). */
#define ND_FORMAT_PROBES 2
/* The training-conditions experiment's folder: training.json, conditions.csv,
 * summary.csv, iterations.csv (experiments/training_json.c). */
#define ND_FORMAT_TRAINING 1

#include "core/afile.h"
#include "core/json.h"

#include <stdio.h>

/* The opening of a JSON summary: "{", then the members "program": "dissect",
 * "format": kind and "format_version": version, each line ending with ",". */
void nd_format_begin(FILE *f, const char *kind, int version);

/* dir/file opened as an atomic output (core/afile.h) with that opening
 * written; 0, or -1 with the error recorded. */
int nd_format_open(afile *a, const char *dir, const char *file, const char *kind, int version);

/* Readers of a summary (dissect report) accept the versions they know: 0 when
 * j's "format_version" is absent (written before versions) or at most
 * `known`; -1 with one line naming the file, both versions and the remedy
 * when it is newer (a layout this build cannot read). */
int nd_format_check(const nd_json *j, int known);

#endif
