/* sweep.h - the rotation experiment (paper section 3.2) driven by a config.
 *
 * Run folder layout (<out> = [output] dir):
 *   config.effective.ini       the configuration of the latest run (see config.h)
 *   resume.key                 what every point depends on: the inputs' content
 *                              fingerprints (core/fingerprint.h) and the settings
 *                              that change results; a run whose key differs is
 *                              refused, one with more alphas or draws resumes
 *   points/a<alpha>_d<draw>/   one dissection: result.csv, summary.json,
 *                              thresholds.npy (nd_write_result) and point.csv,
 *                              written last: the point's row of sweep.csv.
 *                              A point is complete iff point.csv exists.
 *   sweep.csv                  one row per point (alpha, draw, seed, counts)
 *   summary.csv                per alpha: n, mean, sd, min, max over draws
 *   figures/                   unique_vs_alpha and category_vs_alpha, .png and .svg
 *                              (experiments/figures.h)
 *   sweep.log                  one line per point and run: computed / skipped
 *
 * The alpha = 0 point is dissected once, from the activations themselves
 * (no rotation applied: the same call as `dissect units`); its row has draw 0
 * and seed -1.  Each other point uses R = Q_d^alpha, Q_d = rot_haar(K,
 * base_seed + d).  Every file is written atomically, so a run killed at any
 * moment and started again skips the complete points and ends with the
 * same files as an uninterrupted run.
 */
#ifndef ND_SWEEP_H
#define ND_SWEEP_H

#include "experiments/config.h"

struct nd_dist;
typedef struct {
    int threads; /* dissector threads, 0 = all cores (results do not depend on it) */
    int verbose; /* also the dissector's and feature extraction's progress lines */
    int no_plot; /* skip the figures */
    /* NULL: one process.  Else the ranks of a distributed run
     * (experiments/dist.h, dissect-mpi): rank 0 locks and cleans the folder,
     * computes missing activations, writes config.effective.ini and decides
     * which points are finished (its decision is sent to every rank); every
     * rank takes the next unfinished point as it finishes one (a shared
     * counter) and writes that point's folder; the points' counts reach
     * rank 0 through the transport, and it writes the tables and figures -
     * the same files as one process (sweep.log aside: it is a log). */
    struct nd_dist *dist;
    /* With a dist: which points all ranks compute together, each rank
     * rotating and reading only its image shard (the path of
     * `dissect-mpi units`).  AUTO shards a point whose memory whole on one
     * rank - the activations it reads, plus their float32 rotated copy for
     * a rotated point - exceeds rank_memory bytes; ALWAYS shards every point,
     * NEVER none.  Sharded points run first, in point order, on every rank;
     * the others are then handed out as above.  Results do not depend on it. */
    enum { SWEEP_SHARD_AUTO, SWEEP_SHARD_ALWAYS, SWEEP_SHARD_NEVER } shard_points;
    double rank_memory; /* bytes; AUTO shards nothing when 0 */
} sweep_opts;

/* The config and options of one `dissect sweep` (cmd_sweep_parse in
 * cmd_sweep.c: -1 to go on, with a->c loaded (config_free it); else the exit
 * status to return - --help, --check or a usage/config error, printed).
 * Shared with the MPI driver, which takes the same options. */
typedef struct {
    config c;
    sweep_opts o;
} sweep_args;
int cmd_sweep_parse(int argc, char **argv, sweep_args *a);

/* Check every input without writing anything: the dataset (categories,
 * index.csv), the activations' header against index.csv (unless the run
 * computes them), the receptive field.  c may be updated (field resolved).
 * 0 or -1 with one nd_fail line.  sweep_run and `sweep --check` call it. */
int sweep_check_inputs(config *c);

/* Run (or resume) the sweep; c may be updated (field resolved). 0 or -1
 * (with a dist: on every rank, collectively). */
int sweep_run(config *c, const sweep_opts *o);

#endif
