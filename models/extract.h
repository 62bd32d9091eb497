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

/* weights: path of the weight file, or NULL with random_seed >= 0 for
 * He-initialised random weights. */
int mdl_extract(const char *model, const char *weights, long random_seed,
                const char *dataset_dir, const char *layer, const char *out_npy, int quiet);

/* Receptive-field geometry of a layer in input pixels. */
int mdl_layer_field(const char *model, const char *layer, int *offset, int *size, int *stride);

#endif
