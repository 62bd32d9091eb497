/* result.h - writing a dissection to a folder. */
#ifndef ND_RESULT_H
#define ND_RESULT_H

#include "core/broden.h"
#include "core/dissect.h"

/* Write result.csv (one row per unit, in the references' column layout),
 * summary.json, thresholds.npy and (when r->maxact is set) maxact.npy,
 * N x K float32, into dir (created if needed), each
 * atomically, all three written before any replaces the previous result.
 * `extra_json` (or NULL) is inserted into the summary as additional
 * top-level members, e.g. "\"alpha\": 0.5, \"seed\": 3". */
int nd_write_result(const nd_result *r, const broden *ds, const char *dir, const char *extra_json);

#endif
