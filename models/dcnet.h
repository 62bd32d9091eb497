/* dcnet.h - reader of Deep Compression weight files (Han et al., ICLR 2016),
 * as published for SqueezeNet (compressed_SqueezeNet.net).
 *
 * File layout (little-endian), for n convolution layers in network order:
 *   n x uint32            stored-weight count nz of each layer;
 *   per layer: 256 x float32 codebook (entry 0 is 0.0), cout x float32
 *   biases, nz x uint8 codebook indices, (nz-1)/2+1 bytes of 4-bit position
 *   steps (low nibble first).  Stored weight j sits at flat position
 *   sum_{t<=j}(step_t + 1) - 1 of the dense [cout][cin][kh][kw] array.
 *
 *     dcnet_layer L[26] = {{"conv1", 96, 96*3*7*7, wt, bias}, ...};
 *     if (dcnet_read("compressed_SqueezeNet.net", L, 26)) return -1;
 */
#ifndef ND_DCNET_H
#define ND_DCNET_H

#include <stddef.h>

typedef struct {
    const char *name; /* for messages */
    int cout;         /* number of biases */
    size_t nweights;  /* dense weight count cout*cin*kh*kw */
    float *wt, *bias; /* filled: nweights and cout floats */
    /* out: stored entries (the header's count) and nonzero decoded weights;
     * stored - nonzero = gap fillers (Deep Compression bridges gaps longer
     * than 16 positions with stored zeros of step 15) */
    size_t stored, nonzero;
} dcnet_layer;

/* Decode every layer.  Errors name the file and the layer: a file shorter
 * than the header announces (expected vs found bytes), trailing bytes after
 * the last layer, a position past the end of a layer's weights, a stored
 * count larger than the layer, a nonzero codebook entry 0, a stored zero
 * that is not a gap filler. */
int dcnet_read(const char *path, dcnet_layer *layers, int n);

#endif
