/* training.h - the training-conditions experiment (paper section 3.4) on
 * the synthetic world: `dissect training CONFIG`.
 *
 * Conditions, each trained from the one baseline train config (a
 * `dissect train` INI) by changing single keys:
 *   base-s<S>   the baseline with seed S (one per [experiment] seeds)
 *   nodropout   the first seed, dropout off
 *   batchnorm   the first seed, batch normalisation on
 *   random      the first seed's He initialisation, never trained (lr 0,
 *               one iteration: the parameters do not move)
 * Steps, in this order, each resumable on its own:
 *   world       <out>/world (training, with a val split) and <out>/probe
 *               (another seed: the held-out images every network is
 *               dissected on), rendered by datasets/world.h
 *   train       <out>/configs/<cond>.ini, <out>/runs/<cond>/ (dissect train:
 *               snapshots, snapshots.csv); the first seed's run also saves the
 *               log-spaced [experiment] snapshots (no extra training)
 *   dissect     <out>/dissect/<cond>/<layer>/ every layer from one forward
 *               pass (experiments/layers.h), counts.csv last
 *   iterations  <out>/iterations/snap-<N>/ the last conv layer of every
 *               snapshot of the first seed's run
 *   sweep       <out>/sweep/ the rotation sweep (and [probes]) of the trained
 *               baseline through `checkpoint =` (experiments/sweep.h)
 *   tables      training.json, conditions.csv, summary.csv, table.md, iterations.csv,
 *               figures/training_unique and training_iterations
 * A step's folder holds step.key, the text of everything it depends on
 * (settings and the keys of the steps it reads), written before the work;
 * a finished step (its last file present) with the same key is skipped, one
 * with another key is refused (remove the folder to redo it), so a stopped
 * run started again recomputes nothing that is done.
 */
#ifndef ND_TRAINING_EXP_H
#define ND_TRAINING_EXP_H

#include "core/dissect.h"

#define TRAINING_MAX_SEEDS 8

typedef struct {
    char *path;         /* the experiment config as given */
    char *train_config; /* the baseline train config (absolute) */
    char *out_dir;      /* absolute */
    long seeds[TRAINING_MAX_SEEDS];
    int nseeds;
    char *layers;       /* comma list of layers dissected per condition */
    char *last_layer;   /* the last conv layer: iterations curve and sweep */
    long iterations;    /* > 0: replaces the train config's [schedule] iterations */
    char *snapshots;    /* log-spaced snapshot iterations of the first seed's run */
    /* [world] */
    long images, probe_images, size, val_every;
    unsigned long world_seed, probe_seed;
    double noise, light, clutter, rotate, cue;
    char *colors;       /* w2color.npy */
    /* [dissect] */
    nd_profile profile;
    double quantile, iou_threshold;
    int batch;          /* images per forward call */
    /* [sweep] */
    char *alphas;       /* NULL: no sweep */
    char *probe_alphas; /* NULL: probes at every alpha */
    long draws;
    int probes;
    /* command line */
    int threads, quiet, no_plot;
} training_spec;

/* Read the strict INI (sections [experiment] [world] [dissect] [sweep]);
 * on error -1 and one line "FILE:LINE: [section] key: what is wrong". */
int training_load(training_spec *s, const char *path);
void training_free(training_spec *s);

int training_run(const training_spec *s);

/* ---------- shared between training.c and training_tables.c ---------- */

typedef struct {
    char name[32];
    long seed;
    int dropout, batchnorm, random;
} training_cond;

/* The conditions of s in table order; returns their number (<= 12). */
int training_conditions(const training_spec *s, training_cond *c);

/* training.json (experiments/training_json.c): the run's settings and the
 * tables' format version. */
int training_write_json(const training_spec *s, const training_cond *c, int nc);

/* The tables and figures from the finished steps' files. */
int training_tables(const training_spec *s);

#endif
