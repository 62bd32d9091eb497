/* report.h - a static, browsable site of what each unit sees.
 *
 *     rpt_options o = {.top = 12};
 *     rpt_report("results/fire9", &o, "results/fire9/report");   // or rpt_sweep_report(run_dir, ...)
 *
 * The site works from file:// with nothing fetched from the network:
 *   index.html      dataset, layer, profile, thresholds rule, detectors and
 *                   unique detectors per category (both conventions), a bar
 *                   chart, and the table of all units (sortable, filterable)
 *   unit.html       one unit (unit.html#u=12) or all of them, drawn by its
 *                   inline script from data.js
 *   data.js         the units and their top images (a script, not JSON, so
 *                   file:// pages can load it)
 *   sprites/uNNNN.png  one strip per unit: its top-k images by maximum
 *                   activation, outside of the mask darkened, mask edge
 *                   drawn; below each, the ground truth of the unit's label
 * The output is built in OUT.tmp.<host>.<pid> and renamed to OUT at the end
 * (an existing report at OUT is replaced only then), so OUT is always a
 * whole report or absent.  index.html#selftest and unit.html#selftest run
 * in-page checks (for tests/cli_report.sh in headless Chromium).
 */
#ifndef ND_REPORT_H
#define ND_REPORT_H

#include "core/progress.h"

typedef struct {
    int top;              /* images per unit (default 12) */
    int threads;          /* 0 = all cores; the output does not depend on it */
    const char *dataset;  /* NULL, or replaces summary.json's dataset path */
    const char *features; /* NULL, or replaces summary.json's features path */
    int top_units;        /* sweep reports: detectors compared before/after (default 12) */
    nd_progress progress;
    double seconds;       /* out: wall time of the last report */
} rpt_options;

/* A report of one result folder (`dissect units` output or a sweep point). */
int rpt_report(const char *result_dir, rpt_options *o, const char *out);

/* A report of a sweep run folder: its figures, the reports of the unrotated
 * point and of alpha = 1 draw 0, and the top detectors of the unrotated
 * layer beside the same coordinate after the full rotation. */
int rpt_sweep_report(const char *run_dir, rpt_options *o, const char *out);

#endif
