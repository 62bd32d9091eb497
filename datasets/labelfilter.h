/* labelfilter.h - Broden's label filter, one rule for every category.
 *
 * A label is kept when it occurs in at least min_images images and its
 * coverage - the sum over images of the fraction of the image's pixels it
 * covers, counted at full resolution - is at least min_coverage (Broden:
 * 10 and 0.5).  An image-level label (texture, scene) covers its whole
 * image: fraction 1.  label.csv records both numbers.
 *
 *     lf_count c = {0};
 *     for each image: lf_add(&c, pixels_of_label, pixels_of_image);
 *     if (lf_keep(&c, &rule)) ...
 */
#ifndef ND_LABELFILTER_H
#define ND_LABELFILTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int min_images;      /* frequency option; default 10 (`--min-images`) */
    double min_coverage; /* default 0.5 (`--min-coverage`) */
} lf_rule;

typedef struct {
    size_t frequency; /* images in which the label occurs */
    double coverage;  /* sum of per-image fractions, in image order */
} lf_count;

lf_rule lf_defaults(void);

/* One image: the label covers `pixels` of its `total` pixels (0 = absent). */
void lf_add(lf_count *c, uint64_t pixels, uint64_t total);

/* 1 when the label passes both thresholds. */
int lf_keep(const lf_count *c, const lf_rule *r);

#endif
