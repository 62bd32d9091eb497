/* world_color.c - the one place the world names colours.
 *
 * The world's colour labels follow the importer's rule: every final pixel
 * is named by the w2color table (cn_name of datasets/colornames.h), then
 * the name map is shrunk with the nearest rule like every other map.
 *
 * SWITCH: datasets/colornames.{c,h} (the colour-naming module, branch
 * colour12) had not landed on main when this was written.  While it is
 * absent, the fallback below reads the shipped table by the byte formula of
 * ../shared/data/colornames/README.md (data byte R/8 + 32*(G/8) + 1024*(B/8)
 * after the 80-byte header, md5-pinned there).  Once colornames.h is in
 * the tree the first branch is compiled and the fallback is dead code to
 * delete at the merge.
 */
#include "datasets/world.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#if __has_include("datasets/colornames.h")
#include "datasets/colornames.h"

struct world_colors {
    cn_table t;
};

int world_colors_load(world_colors **out, const char *path)
{
    *out = nd_malloc(sizeof **out);
    if (!*out)
        return -1;
    if (cn_load(&(*out)->t, path)) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void world_colors_name(const world_colors *c, const unsigned char *rgb, size_t npix,
                       unsigned char *names)
{
    cn_name_pixels(&c->t, rgb, npix, names);
}

#else /* fallback until datasets/colornames.h lands: delete at the merge */
struct world_colors {
    unsigned char bin[32 * 32 * 32]; /* bin[R/8 + 32*(G/8) + 1024*(B/8)] */
};

int world_colors_load(world_colors **out, const char *path)
{
    enum { HDR = 80, N = 32 * 32 * 32 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot open the colour table", path);
    unsigned char *buf = nd_malloc(HDR + N + 1);
    size_t got = buf ? fread(buf, 1, HDR + N + 1, f) : 0;
    fclose(f);
    int rc = 0;
    if (!buf)
        return -1;
    char hdr[HDR + 1];
    memcpy(hdr, buf, HDR);
    hdr[HDR] = 0;
    if (got != HDR + N || memcmp(hdr, "\x93NUMPY", 6) || !strstr(hdr + 10, "'fortran_order': True") ||
        !strstr(hdr + 10, "(32, 32, 32)") || !strstr(hdr + 10, "|u1"))
        rc = nd_fail("%s: not the w2color table (expected a Fortran-order (32, 32, 32) |u1 .npy "
                     "of %d bytes)", path, HDR + N);
    for (int k = 0; k < N && !rc; k++)
        if (buf[HDR + k] >= WORLD_NCOLORS)
            rc = nd_fail("%s: colour table byte %d = %d, expected a name index 0..10", path, k,
                         buf[HDR + k]);
    if (!rc && !(*out = nd_malloc(sizeof **out)))
        rc = -1;
    if (!rc)
        memcpy((*out)->bin, buf + HDR, N);
    free(buf);
    return rc;
}

void world_colors_name(const world_colors *c, const unsigned char *rgb, size_t npix,
                       unsigned char *names)
{
    for (size_t p = 0; p < npix; p++)
        names[p] = c->bin[(rgb[3 * p] >> 3) + 32 * (rgb[3 * p + 1] >> 3) + 1024 * (rgb[3 * p + 2] >> 3)];
}
#endif

void world_colors_free(world_colors *c) { free(c); }
