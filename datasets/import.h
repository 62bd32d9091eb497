/* import.h - photographs from several sources -> one Broden-format dataset.
 *
 * Sources (at least one of the first two):
 *   - an object set: images/<name>.{jpg,jpeg,png}, labels/<name>.png of the
 *     same size (8- or 16-bit class ids, 0 = unlabelled), classes.csv `id,name`;
 *   - texture sets (datasets/textures.h): DIR/<class>/<photo>, one
 *     image-level `texture` label per photograph, no object labels;
 *   - a colour-name table (datasets/colornames.h): every photograph of every
 *     source gets a pixel-level `color` category, named at full resolution,
 *     labels `<name>-c`.
 * Categories, in category.csv order: object (if an object set), color (if a
 * table), texture (if texture sets).  One label numbering across them:
 * object labels in classes.csv id order, then colours in name order, then
 * texture classes in name order (the sorted union over the sets), each
 * counting only labels that pass the filter.
 *
 * The filter (datasets/labelfilter.h), one rule for every category, at full
 * resolution: a label is kept when it occurs in at least min_images images
 * and its coverage (sum over images of the fraction of pixels it covers) is
 * at least min_coverage; a dropped pixel label becomes 0, a dropped texture
 * leaves the cell empty.  label.csv and c_<cat>.csv record those
 * full-resolution frequency and coverage numbers.
 *
 * Output (dissection-spec section 1.1), built in OUT.tmp.<host>.<pid> and renamed
 * to OUT (which must not exist yet); on any error nothing is left:
 *   images/<name>.jpg          size x size, whole image squashed
 *                              (antialiased bilinear), JPEG quality 95;
 *   images/<name>_<cat>.png    size/2 x size/2 label map, nearest rule,
 *                              RGB with R + 256*G = label number;
 *   index.csv   image,split,ih,iw,sh,sw,<cats>  (split "train"; a texture
 *               cell is the label number; a cell is empty when the image
 *               has no kept label in that category);
 *   label.csv   number,name,category,frequency,coverage,syns;
 *   category.csv name,first,last,count,frequency;
 *   c_<cat>.csv code,number,name,frequency,coverage;
 *   sources.csv image,source,file  (source "object" or "texture", file
 *               relative to the source folder).
 * Rows: the object set in file-name order, then each texture set in class
 * and file-name order (strcmp), so the same inputs give the same bytes.
 * Photograph names (without extension) must be unique over all sources.
 *
 *     imp_opts o = imp_defaults();
 *     o.images_dir = ...; o.labels_dir = ...; o.classes_csv = ...;
 *     o.textures[o.ntextures++] = "dtd/images"; o.colors = "w2color.npy";
 *     o.out_dir = ...;
 *     imp_stats st;
 *     if (imp_run(&o, &st)) return -1;
 */
#ifndef ND_IMPORT_H
#define ND_IMPORT_H

#include <stddef.h>

#include "core/progress.h"
#include "datasets/labelfilter.h"

#define IMP_MAX_TEXTURE_SETS 8

typedef struct {
    const char *images_dir, *labels_dir, *classes_csv; /* object set, or all NULL */
    const char *textures[IMP_MAX_TEXTURE_SETS];        /* texture set folders */
    int ntextures;
    const char *colors;   /* colour-name table (.npy), or NULL */
    const char *out_dir;
    int size;             /* image side, default 227; label maps size/2 */
    const char *category; /* object category name, default "object" */
    lf_rule filter;       /* default 10 images, coverage 0.5 */
    int quality;          /* JPEG quality, default 95 */
    int threads;          /* decoding threads (nd_threads rule); output does not depend on it */
    nd_progress progress; /* stage "import", counted in images */
} imp_opts;

typedef struct {
    size_t images;       /* rows of index.csv */
    size_t labelled;     /* images with at least one kept label */
    int classes;         /* rows of classes.csv */
    int kept;            /* labels written (L), all categories */
    int kept_object, kept_color, kept_texture;
    size_t texture_images;
} imp_stats;

imp_opts imp_defaults(void);
int imp_run(const imp_opts *o, imp_stats *st);

#endif
