/* layers.h - the layers experiment (paper section 3.3): every layer of one
 * network dissected, with its trained weights and with random weights.
 *
 * Each network ("trained", "random") runs as one unit of work: the images
 * go through the network twice (core/layers.h: thresholds, then tally) and
 * every layer is dissected from the forward pass, no activation file.
 * Run folder:
 *   <out>/<net>/<layer>/       result.csv, summary.json, thresholds.npy
 *   <out>/<net>/counts.csv     layer,units,category,detectors,unique_percat,
 *                              unique_toplabel (category "all" = totals);
 *                              written last: the network is complete iff it
 *                              exists, so a stopped run resumes by skipping
 *                              complete networks
 *   <out>/layers.csv           net + the rows above, both networks
 *   <out>/layers.json          format version (core/format.h), inputs,
 *                              settings, each network's per-layer totals
 *   <out>/figures/layers_unique.{png,svg}    unique detectors per category
 *                              for each layer (per-category convention)
 *   <out>/figures/layers_fraction.{png,svg}  fraction of units that are
 *                              detectors, per category, by layer
 */
#ifndef ND_LAYERS_EXP_H
#define ND_LAYERS_EXP_H

#include "core/dissect.h"

typedef struct {
    const char *dataset, *categories; /* categories NULL = all */
    const char *model, *weights;      /* the trained network (weights NULL = no trained run) */
    long random_seed;                 /* the random baseline's seed, -1 = none */
    const char *layers;               /* "all" or a comma list */
    nd_profile profile;
    double quantile, iou_threshold;
    const char *out_dir;
    const char *title;                /* figures */
    int threads, batch, quiet, no_plot;
} layers_spec;

int layers_run(const layers_spec *s);

/* The pieces, for other experiments (the training conditions): every
 * output of an opened runner dissected from two forward passes over ds's
 * images (paths from layers_image_paths), under s's profile, quantile,
 * threshold, threads and batch; <netdir>/<layer>/ results, then `counts`
 * (counts.csv's columns, written last).  `net` names the network in
 * summary.json and the progress line. */
struct mdl_runner;
int layers_dissect(const layers_spec *s, const broden *ds, char **paths, struct mdl_runner *r,
                   const char *net, const char *netdir, const char *counts);
/* DIR/images/<image> of every index.csv row, in row order. */
int layers_image_paths(const broden *ds, char ***out);
void layers_free_paths(char **p, size_t n);

/* Redraw the figures of a finished run folder. */
int layers_draw(const char *out_dir, const char *title);

#endif
