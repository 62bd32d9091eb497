/* extract.h - activations of a network layer over a Broden-format dataset.
 *
 * Runs the model over the dataset's images in index.csv order (BGR, mean
 * subtracted) and writes the layer's post-ReLU activations [N, K, h, w]
 * float32 to out_npy (atomically), plus the layer's receptive-field geometry
 * beside it as <out_npy without .npy>.json:
 *   {"model": "squeezenet", "layer": "fire9", "field": [offset, size, stride],
 *    "input": 227, "images": N, "weights": "<file>" | "random-he seed S"}
 */
#ifndef ND_EXTRACT_H
#define ND_EXTRACT_H

#include "core/progress.h"
#include "models/net.h"

#include <stddef.h>

#define MDL_BATCH 32 /* default images per forward call */

/* weights: path of the weight file, or NULL with random_seed >= 0 for
 * He-initialised random weights.  batch: images per forward call (memory
 * is one output block of that many images, work is spread over the CPUs
 * within a call); results do not depend on batch or CPU count.  progress
 * is called after each batch (stage "features", counted in images). */
int mdl_extract(const char *model, const char *weights, long random_seed,
                const char *dataset_dir, const char *layer, const char *out_npy, int batch,
                nd_progress progress);

/* Several layers in one pass over the images (layers: a comma list or
 * "all"), one progress line: with one layer and `out` ending in .npy it is
 * that file; otherwise `out` is a folder receiving <layer>.npy and
 * <layer>.json per layer.  float16: write IEEE half (npy <f2, rounded to
 * nearest) instead of float32, half the disk (conv1 of SqueezeNet on 1,791
 * images: 4.4 GB instead of 8.7). */
int mdl_extract_layers(const char *model, const char *weights, long random_seed,
                       const char *dataset_dir, const char *layers, const char *out, int float16,
                       int batch, nd_progress progress);

/* The same for a network built elsewhere (a trained checkpoint, read by
 * train/ckpt.h; borrowed, not freed): each image squash-resized to the
 * network's input size, planes R, G, B as NET_TRAINED_PIXEL (models/net.h).
 * The JSON says "model": "checkpoint", "weights": source. */
int mdl_extract_net(net_t *net, const char *source, const char *dataset_dir,
                    const char *layer, const char *out_npy, int batch, nd_progress progress);

/* Image paths DIR/images/<image> of index.csv in row order (allocated;
 * free each and the array). */
int mdl_dataset_images(const char *dir, char ***paths, size_t *n);

/* Receptive-field geometry of a layer in input pixels. */
int mdl_layer_field(const char *model, const char *layer, int *offset, int *size, int *stride);

/* The geometry JSON beside activations: "<npy without .npy>.json"
 * (allocated; NULL and an nd_fail when out of memory). */
char *mdl_geometry_path(const char *npy);
/* Its "field": [offset, size, stride] (the one reader of what
 * mdl_extract writes): 1 read into field[0..2], 0 no such file or no field
 * member, -1 malformed (size or stride < 1 included; nd_fail names it). */
int mdl_read_field(const char *npy, int field[3]);

/* A loaded network that turns image files into one layer's activations:
 * decode (JPEG/PNG), squash-resize to the input size, BGR minus mean,
 * forward; images of a call are spread over the CPUs (one thread each,
 * single-threaded BLAS inside).  Output per image: c x h x w floats.
 * Layers: conv1 pool1 fire2..fire9 pool4 pool8 conv_final pool10 (the
 * 1000 logits), and inner layers such as fire9/conv3x3_2. */
typedef struct mdl_runner mdl_runner;
/* layer: one name, a comma list ("conv1,fire5,fire9") or "all" (the
 * model's dissection layers): one forward pass gives all of them. */
#define MDL_MAX_OUTPUTS 32
int mdl_runner_open(mdl_runner **out, const char *model, const char *weights,
                    long random_seed, const char *layer);
/* A runner over a network built elsewhere (a trained checkpoint; borrowed,
 * not freed), with its input convention (see mdl_extract_net: squash-resized,
 * NET_TRAINED_PIXEL); layers: one name or a comma list of the network's layer names. */
int mdl_runner_open_net(mdl_runner **out, net_t *net, const char *source, const char *layers);
/* The runner's network (for running parts of it, models/ablate.h). */
const net_t *mdl_runner_net(const mdl_runner *r);
void mdl_runner_shape(const mdl_runner *r, int *c, int *h, int *w); /* output 0 */
int mdl_runner_outputs(const mdl_runner *r);
/* Output k's shape per image; returns its layer name. */
const char *mdl_runner_output(const mdl_runner *r, int k, int *c, int *h, int *w);
void mdl_runner_field(const mdl_runner *r, int k, int *offset, int *size, int *stride);
/* out[k]: n images of output k, [n][c][h][w] floats.  mdl_runner_run is
 * the one-output case. */
int mdl_runner_run_layers(mdl_runner *r, const char *const *paths, int n, float *const *out);
/* Multiply-adds of one image up to the layer (for GFLOP/s figures). */
double mdl_runner_macs(const mdl_runner *r);
int mdl_runner_run(mdl_runner *r, const char *const *paths, int n, float *out);
void mdl_runner_close(mdl_runner *r);

#endif
