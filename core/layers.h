/* layers.h - dissect several layers of one network from activations that
 * are produced on the fly (a forward pass), never stored.
 *
 * A source makes a block of images' activations for every layer at once.
 * nd_dissect_layers() asks for every image twice: pass 1 feeds the exact
 * one-pass exact thresholds (core/topk.h, the rule of ND_THR_STREAM), pass 2 the tally (nd_tally_run on the
 * block, additive over blocks), then each layer is scored (nd_score).  The
 * results are those nd_dissect() gives on the same activations written to
 * files - same thresholds, same counts - so the layers experiment needs no
 * activation files (conv1 of SqueezeNet on 1,791 images is 8.5 GB).
 *
 *     nd_layer_source s = {.N = N, .nl = 9, .K = {...}, .h = {...}, .w = {...},
 *                          .block = 32, .run = my_forward, .ctx = net};
 *     nd_options o[9];  ... per layer: profile, field ...
 *     nd_result r[9];
 *     if (nd_dissect_layers(ds, &s, o, r, progress)) ...
 */
#ifndef ND_LAYERS_H
#define ND_LAYERS_H

#include "core/dissect.h"
#include "core/progress.h"

#define ND_MAX_LAYERS 32

typedef struct {
    size_t N;  /* images, index.csv order */
    int nl;    /* layers */
    size_t K[ND_MAX_LAYERS], h[ND_MAX_LAYERS], w[ND_MAX_LAYERS];
    size_t block; /* images per run() call */
    /* Images [i0, i0 + n), n <= block: out[l] receives [n][K][h][w] floats
     * of layer l.  Returns 0, or -1 with nd_fail(). */
    int (*run)(void *ctx, size_t i0, size_t n, float *const *out);
    void *ctx;
} nd_layer_source;

/* o[l]: each layer's options (profile, quantile, field, threads; o[l].thresholds
 * must be NULL).  r[l] filled as nd_dissect() fills it.  Progress stages
 * "thresholds" and "tally", counted in images. */
int nd_dissect_layers(const broden *ds, const nd_layer_source *s, const nd_options *o,
                      nd_result *r, nd_progress p);

#endif
