/* ablate.h - `dissect ablate`: what a network loses when the detectors of
 * a concept are switched off (issue 19), in named steps.
 *
 *   open     the network (SqueezeNet weights or a checkpoint), the dataset,
 *            the layer's activations of every image (one forward pass, or
 *            a features .npy), the intact outputs (the rest run on them)
 *   dissect  the layer, and the layer rotated by Q_d = rot_haar(K, seed + d)
 *            (alpha = 1: the sweep's draw d with base_seed = seed), in
 *            memory, written to dissection/ and dissection-rot-d<d>/
 *   effects  per concept c and k: its top-k units by IoU with c, k random
 *            units (draws), the top-k rotated units of c (their directions
 *            rows of Q_d, models/ablate.h); on images with c and without:
 *            the mean drop of the intact top class's probability and the
 *            fraction of images whose top-1 class changes  -> effects.csv
 *   classes  (with a class category) per class, units ranked on the train
 *            split by the drop in its balanced accuracy (recall + TNR) / 2
 *            when removed alone, the top k removed together on the test
 *            split, against k random units                -> classes.csv
 *   figure   figures/ablate_effect.{png,svg} (plots/ablate_effect.gp) from
 *            figures/effect_vs_k.dat
 */
#ifndef ND_EXP_ABLATE_H
#define ND_EXP_ABLATE_H

#include "core/options.h"

typedef struct {
    const char *weights, *checkpoint, *dataset, *layer, *features, *out;
    const char *concepts; /* comma list of label names, or NULL: the top_concepts best */
    int top_concepts;
    int ks[32], nk;
    int random_draws, rot_draws;
    unsigned long random_seed, rot_seed;
    const char *units;    /* explicit list (result.csv numbers, from 1), or NULL */
    const char *category; /* ablate every detector of this category, or NULL */
    const char *classes;  /* image-level category holding the classes, or NULL */
    const char *train_split, *test_split;
    nd_options o;         /* the dissections' options */
} abl_args;

/* Parse "3,17,200" (units counted from 1) into 0-based channels for a layer
 * of K units: empty, non-numbers, out of range and duplicates are errors
 * naming `what`. */
int abl_parse_units(const char *list, int K, int **units, int *k, const char *what);

/* The whole experiment; 0, or -1 with nd_fail (nothing half-written), or
 * ABL_USAGE when a choice does not fit the network or dataset (a unit list,
 * k, a concept or category name): checked before any work or output. */
#define ABL_USAGE (-2)
int abl_experiment(const abl_args *a);

#endif
