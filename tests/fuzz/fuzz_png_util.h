/* fuzz_png_util.h - a tiny label PNG writer for the targets that need valid
 * label images beside fuzzed CSVs (label = R + 256*G, as Broden stores it). */
#ifndef ND_FUZZ_PNG_UTIL_H
#define ND_FUZZ_PNG_UTIL_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static __attribute__((unused)) void fz_write_label_png(const char *path, int w, int h, const uint16_t *lab)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!f || !png || !info || setjmp(png_jmpbuf(png)))
        abort();
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char row[3 * 64];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint16_t v = lab[y * w + x];
            row[3 * x] = (unsigned char)(v & 0xff);
            row[3 * x + 1] = (unsigned char)(v >> 8);
            row[3 * x + 2] = 0;
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

#endif
