/* fuzz_png_util.h - a tiny label PNG writer for the targets that need valid
 * label images beside fuzzed CSVs (label = R + 256*G, as Broden stores it). */
#ifndef ND_FUZZ_PNG_UTIL_H
#define ND_FUZZ_PNG_UTIL_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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

/* A valid two-category, three-label (1, 2, 5), two-image dataset (4x4 maps) in
 * dir (which must exist): fuzz_store's fixed dataset, and the dataset
 * gen_seeds.c builds the store seed from. */
static __attribute__((unused)) void fz_make_dataset(const char *dir)
{
    static const char *files[][2] = {
        {"index.csv", "image,split,ih,iw,sh,sw,a,b\nx1.jpg,train,8,8,4,4,p1.png,2\nx2.jpg,val,8,8,4,4,,p2.png;5\n"},
        {"label.csv", "number,name\n0,-\n1,red\n2,sky\n5,dog\n"}, /* 3 and 4 unknown */
        {"category.csv", "name\na\nb\n"},
        {"c_a.csv", "number,coverage\n1,0.5\n"},
        {"c_b.csv", "number,coverage\n2,0.5\n5,0.2\n"},
    };
    char p[1024];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(p, "wb");
        if (!f || fputs(files[i][1], f) < 0 || fclose(f))
            abort();
    }
    snprintf(p, sizeof p, "%s/images", dir);
    mkdir(p, 0755);
    uint16_t l1[16] = {0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    uint16_t l2[16] = {2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 0, 0, 5, 5, 0, 0};
    snprintf(p, sizeof p, "%s/images/p1.png", dir);
    fz_write_label_png(p, 4, 4, l1);
    snprintf(p, sizeof p, "%s/images/p2.png", dir);
    fz_write_label_png(p, 4, 4, l2);
}

#endif
