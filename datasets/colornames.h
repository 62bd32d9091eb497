/* colornames.h - Broden's colour names: each sRGB pixel named by the
 * w2color table (van de Weijer et al. 2009, as NetDissect shipped it).
 *
 * The table is a (32, 32, 32) uint8 array of name indices 0..10; the name
 * of pixel (R, G, B) is table[R/8, G/8, B/8].  The shipped file is in
 * Fortran order, so that element sits at data byte R/8 + 32*(G/8) +
 * 1024*(B/8); cn_load() reads it through the .npy reader's order support
 * (a C-order copy of the same table gives the same names) and keeps it as
 * that flat lookup.  Broden named every pixel of the full-resolution
 * photograph, then shrank the name map with the nearest rule to label
 * resolution; cn_label_map() does both.  Label values are Broden's: name
 * index + 1 (0 = none, which a named map never contains).
 *
 *     cn_table t;
 *     if (cn_load(&t, "../shared/data/colornames/w2color.npy")) return -1;
 *     int red = cn_name(&t, 255, 0, 0);          // 8, cn_names[8] = "red"
 */
#ifndef ND_COLORNAMES_H
#define ND_COLORNAMES_H

#include <stdint.h>
#include <stddef.h>

#define CN_NAMES 11

/* Alphabetical, as the table's values: 0 black ... 10 yellow. */
extern const char *const cn_names[CN_NAMES];

typedef struct {
    unsigned char bin[32 * 32 * 32]; /* bin[R/8 + 32*(G/8) + 1024*(B/8)] */
} cn_table;

/* Read and validate: dtype u1, shape (32, 32, 32), every value 0..10. */
int cn_load(cn_table *t, const char *path);

static inline int cn_name(const cn_table *t, int r, int g, int b)
{
    return t->bin[(r >> 3) + 32 * (g >> 3) + 1024 * (b >> 3)];
}

/* names[p] = cn_name of pixel p of interleaved RGB (npix pixels). */
void cn_name_pixels(const cn_table *t, const unsigned char *rgb, size_t npix, unsigned char *names);

/* Name every pixel of a w x h photograph, count the names at full
 * resolution (count[k] += pixels named k), and shrink the map of labels
 * (name + 1) to dw x dh with the nearest rule of img_resize_labels().
 * Returns 0, or -1 when out of memory (error recorded). */
int cn_label_map(const cn_table *t, const unsigned char *rgb, int w, int h, uint16_t *map, int dw,
                 int dh, uint64_t count[CN_NAMES]);

#endif
