/* colornames.c - the w2color lookup (see colornames.h). */
#include "datasets/colornames.h"

#include "core/err.h"
#include "core/npy.h"
#include "models/image.h"

#include <stdlib.h>
#include <string.h>

const char *const cn_names[CN_NAMES] = {"black", "blue",   "brown", "grey",  "green", "orange",
                                        "pink",  "purple", "red",   "white", "yellow"};

int cn_load(cn_table *t, const char *path)
{
    npy_t a;
    if (npy_open_any(&a, path))
        return -1;
    int rc = 0;
    if (a.dtype != NPY_U8)
        rc = nd_fail("%s: colour table dtype %s, expected |u1 (name indices 0..10)", path,
                     npy_dtype_name(a.dtype));
    else if (a.ndim != 3 || a.shape[0] != 32 || a.shape[1] != 32 || a.shape[2] != 32)
        rc = nd_fail("%s: colour table shape has %d dimensions (%zu, ...), expected (32, 32, 32): "
                     "one bin per 8 levels of R, G and B",
                     path, a.ndim, a.ndim ? a.shape[0] : 0);
    const unsigned char *v = a.data;
    for (size_t r = 0; r < 32 && !rc; r++)
        for (size_t g = 0; g < 32 && !rc; g++)
            for (size_t b = 0; b < 32 && !rc; b++) {
                size_t idx[3] = {r, g, b};
                unsigned char x = v[npy_offset(&a, idx)];
                if (x >= CN_NAMES)
                    rc = nd_fail("%s: colour table[%zu, %zu, %zu] = %d, expected a name index 0..10",
                                 path, r, g, b, x);
                t->bin[r + 32 * g + 1024 * b] = x;
            }
    npy_close(&a);
    return rc;
}

void cn_name_pixels(const cn_table *t, const unsigned char *rgb, size_t npix, unsigned char *names)
{
    for (size_t p = 0; p < npix; p++)
        names[p] = (unsigned char)cn_name(t, rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
}

int cn_label_map(const cn_table *t, const unsigned char *rgb, int w, int h, uint16_t *map, int dw,
                 int dh, uint64_t count[CN_NAMES])
{
    size_t n = (size_t)w * h;
    uint16_t *full = nd_malloc(n * sizeof *full);
    if (!full)
        return -1;
    for (size_t p = 0; p < n; p++) {
        int k = cn_name(t, rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
        count[k]++;
        full[p] = (uint16_t)(k + 1);
    }
    img_resize_labels(map, dw, dh, full, w, h);
    free(full);
    return 0;
}
