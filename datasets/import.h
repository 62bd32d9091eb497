/* import.h - turn a folder of photographs + a folder of label maps + a
 * classes.csv into a Broden-format concept dataset (one category).
 *
 * Input: images/<name>.{jpg,jpeg,png}; labels/<name>.png of the same size,
 * 8- or 16-bit class ids (0 = unlabelled); classes.csv `id,name`.
 * Output (the Broden layout, docs/method.md), built in OUT.tmp.<pid> and renamed
 * to OUT (which must not exist yet):
 *   images/<name>.jpg            size x size, whole image squashed
 *                                (antialiased bilinear), JPEG quality 95;
 *   images/<name>_<cat>.png      size/2 x size/2 label map, nearest class,
 *                                RGB with R + 256*G = label number;
 *   index.csv   image,split,ih,iw,sh,sw,<cat>  (split "train"; the <cat>
 *               cell is empty for an image with no kept label pixel);
 *   label.csv   number,name,category,frequency,coverage,syns;
 *   category.csv name,first,last,count,frequency;
 *   c_<cat>.csv code,number,name,frequency,coverage.
 * Classes present in at least min_images images (counted on the output
 * label maps) are numbered 1..L in classes.csv id order; the others become
 * 0.  frequency = images containing the label; coverage = the sum over
 * images of the fraction of the label map the label covers (image
 * equivalents, Broden's convention: coverage / frequency is the mean
 * fraction in images that have the label).  Images are processed in file
 * name order (strcmp), so the same input gives the same bytes.
 *
 *     imp_opts o = imp_defaults();
 *     o.images_dir = ...; o.labels_dir = ...; o.classes_csv = ...; o.out_dir = ...;
 *     imp_stats st;
 *     if (imp_run(&o, &st)) return -1;
 */
#ifndef ND_IMPORT_H
#define ND_IMPORT_H

#include "core/progress.h"

#include <stddef.h>

typedef struct {
    const char *images_dir, *labels_dir, *classes_csv, *out_dir;
    int size;             /* image side, default 227; label maps size/2 */
    const char *category; /* default "object" */
    int min_images;       /* default 10 */
    int quality;          /* JPEG quality, default 95 */
    nd_progress progress; /* stages "label maps" then "images", counted in images */
} imp_opts;

typedef struct {
    size_t images;       /* rows of index.csv */
    size_t labelled;     /* images with at least one kept label pixel */
    int classes;         /* rows of classes.csv */
    int kept;            /* labels written (L) */
} imp_stats;

imp_opts imp_defaults(void);
int imp_run(const imp_opts *o, imp_stats *st);

#endif
