/* broden.h - a concept dataset in Broden format, read and validated.
 *
 * broden_open() reads index.csv, label.csv, category.csv and c_*.csv, works
 * out each label's primary category, then decodes every label layer PNG of
 * the selected categories (label = R + 256*G) into one compact in-memory
 * store, validating as it goes: a missing or unreadable PNG, a PNG of the
 * wrong size, a label number absent from label.csv, a malformed row - each
 * is one error line naming the file and the row or pixel.  After it returns,
 * nothing in the dataset can fail.
 *
 * Image indices are index.csv row order (0-based), which is the order of
 * the activations.  Rows with no data in any selected category are kept in
 * the numbering but have no layers (broden_image_has_data() == 0).
 */
#ifndef ND_BRODEN_H
#define ND_BRODEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/labeltuples.h"

typedef struct broden broden;

/* categories: comma-separated names to select, or NULL for all of category.csv. */
int broden_open(broden **out, const char *dir, const char *categories);
void broden_free(broden *ds);

/* The same, with a prepared label store (a file, see core/labelstore.h): if
 * `store` exists and matches the dataset it is memory-mapped and no PNG is
 * read; otherwise the PNGs are decoded and the store is (re)written atomically. */
int broden_open_store(broden **out, const char *dir, const char *categories, const char *store);
int broden_store_save(const broden *ds, const char *path);
/* A shard: the whole index is read and checked, but only the label maps of
 * images [i0, i1) (clamped to the index) are decoded or, with a store,
 * checked - the other images keep their sizes and image-level labels but
 * their layers have map = NULL, and broden_truth()/broden_present() cover
 * the shard's images only.  A store is mapped, never built, by a shard
 * (i0 = 0, i1 = SIZE_MAX is broden_open_store). */
int broden_open_shard(broden **out, const char *dir, const char *categories, const char *store, size_t i0,
                      size_t i1);
uint64_t broden_signature(const broden *ds); /* 0 unless opened with a store */
/* The signature a store of this dataset and selection must carry. */
int broden_dataset_signature(const char *dir, const char *categories, uint64_t *sig);

size_t broden_num_images(const broden *ds);     /* rows of index.csv */
size_t broden_num_categories(const broden *ds); /* selected categories */
const char *broden_category_name(const broden *ds, size_t c);
size_t broden_num_labels(const broden *ds);     /* label slots: max label number + 1 */
const char *broden_label_name(const broden *ds, int label); /* "" for unknown / 0 */
/* Primary category of a label as an index into the selected categories, or
 * -1 when its primary category is not selected (or label 0). */
int broden_primary(const broden *ds, int label);
const char *broden_dir(const broden *ds);

/* Label-map size (sh, sw) and image size (ih, iw) of image i. */
void broden_image_size(const broden *ds, size_t i, int *ih, int *iw, int *sh, int *sw);
int broden_image_has_data(const broden *ds, size_t i);
const char *broden_image_name(const broden *ds, size_t i);

/* The label data of image i in the selected categories. */
typedef struct {
    int category;         /* selected-category index of the layer's column */
    const uint16_t *map;  /* sh*sw global label numbers, row-major; 0 = unlabelled */
} broden_layer;
typedef struct {
    int category;         /* selected-category index of the column */
    int label;            /* global label number */
} broden_imglabel;
void broden_image_layers(const broden *ds, size_t i, const broden_layer **layers, size_t *n);
void broden_image_labels(const broden *ds, size_t i, const broden_imglabel **labels, size_t *n);
/* Image i's label tuples (core/labeltuples.h), numbered when the dataset
 * was opened; NULL for fewer than two layers, more than 65,536 pixels, or
 * an image outside a shard. */
const nd_ltuples_image *broden_image_tuples(const broden *ds, size_t i);

/* Ground truth that does not depend on the units, computed once per
 * dataset (on first use, thread-safe): G[l] = label pixels of l over all
 * selected layers, image-level labels adding sh*sw - in two variants, since
 * an image-level label repeated within an image counts once (`once` = 1,
 * ND) or each time (`once` = 0, NDL) - and, per image, the bit mask of
 * selected categories that have ground truth in it (primary categories of
 * its labels; category c is bit c, so at most 64 selected categories). */
const int64_t *broden_truth(const broden *ds, int once);
uint64_t broden_present(const broden *ds, size_t i);
#define BRODEN_MAX_CATEGORIES 64

#endif
