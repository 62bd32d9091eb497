/* data.h - training images from a Broden-format dataset, and batches.
 *
 * An image's class is its label in one image-level category (a column of
 * index.csv such as `scene`; the first label when there are several);
 * images without one are skipped.  Classes are the distinct label numbers
 * of that column over the whole index.csv, in increasing order, so every
 * split shares one numbering.  Images are decoded once, squash-resized to
 * size x size and kept in memory as 8-bit RGB.
 *
 * Batches: network input NET_TRAINED_PIXEL (models/net.h: (v - 128) / 64,
 * planes R, G, B); a crop
 * of crop x crop, at a random offset and mirrored with probability 1/2 when
 * augmenting (both drawn from the given GSL generator, image by image),
 * else the centre crop.
 */
#ifndef ND_TRAIN_DATA_H
#define ND_TRAIN_DATA_H

#include "core/progress.h"
#include "models/net.h"

#include <gsl/gsl_rng.h>

typedef struct {
    int n, size;
    unsigned char *px; /* n x size x size x 3 */
    int *label;        /* class of each image */
    int classes;
    long *class_label; /* class -> label number in the category */
} tr_data;

/* split: index.csv's split value to take ("" or NULL: every row). */
int tr_data_load(tr_data *d, const char *dir, const char *category, const char *split, int size,
                 nd_progress prog);
void tr_data_free(tr_data *d);

/* Fill x [n][3][crop][crop] and labels for images idx[0..n). */
void tr_make_batch(const tr_data *d, const int *idx, int n, int crop, int augment, gsl_rng *r,
                   float *x, int *labels);

/* Accuracy of net in evaluation mode (net_forward, centre crops, single-
 * threaded BLAS so it is the same on any machine); NAN on failure. */
double tr_accuracy(const net_t *net, const tr_data *d, int crop);

#endif
