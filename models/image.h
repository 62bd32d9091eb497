/* image.h - photographs and label maps in and out: JPEG/PNG decoding,
 * antialiased bilinear resizing, nearest-class resizing, JPEG/PNG writing.
 *
 * Pixels are 8-bit, interleaved (row-major, channel fastest).  Label maps
 * are uint16 class numbers, row-major.  Every error names the file.
 *
 *     img_u8 im;
 *     if (img_load_rgb(&im, "a.jpg")) return -1;        // im.w, im.h, im.c == 3
 *     unsigned char *sq = nd_malloc(227 * 227 * 3);
 *     img_resize_u8(sq, 227, 227, im.px, im.w, im.h, 3);
 *     img_free(&im);
 */
#ifndef ND_IMAGE_H
#define ND_IMAGE_H

#include <stdint.h>

typedef struct {
    int w, h, c;       /* c == 3 after img_load_rgb */
    unsigned char *px; /* h * w * c bytes */
} img_u8;

/* Decode a JPEG or PNG (chosen by the file's magic bytes, not its name) into
 * 8-bit RGB; greyscale is replicated, alpha dropped, 16-bit reduced. */
int img_load_rgb(img_u8 *out, const char *path);
void img_free(img_u8 *im);

/* Decode a PNG label map into class numbers: 8- or 16-bit greyscale (the
 * value), palette (the index), or RGB/RGBA (R + 256*G, Broden's encoding).
 * *out is malloc'd, w*h values. */
int img_load_labels(uint16_t **out, int *w, int *h, const char *path);

/* Bilinear resize with antialiasing, as common image libraries do: a
 * triangle filter whose support is stretched by the shrink factor, so that
 * every source pixel contributes when shrinking; half-pixel centres; weights
 * normalised to 1 (edges renormalised).  Separable: horizontal pass first in
 * float, vertical pass second.  Channels interleaved (c of them).
 * img_resize_u8 rounds to nearest and clamps to 0..255.  Returns 0 or -1
 * (out of memory). */
int img_resize_f32(float *dst, int dw, int dh, const float *src, int sw, int sh, int c);
int img_resize_u8(unsigned char *dst, int dw, int dh, const unsigned char *src, int sw,
                  int sh, int c);

/* Nearest-neighbour resize of a label map: destination pixel (x, y) takes
 * source pixel (floor((x + 0.5) * sw / dw), floor((y + 0.5) * sh / dh)),
 * i.e. the source pixel under the destination pixel's centre.  Never mixes
 * class numbers. */
void img_resize_labels(uint16_t *dst, int dw, int dh, const uint16_t *src, int sw, int sh);

/* Atomic writers (core/afile.h).  JPEG: baseline, 4:2:0, given quality;
 * PNG: 8-bit RGB without time stamps.  Same input, same bytes. */
int img_save_jpeg(const char *path, const unsigned char *rgb, int w, int h, int quality);
int img_save_png_rgb(const char *path, const unsigned char *rgb, int w, int h);
/* PNG into an open stream (name for errors), for writers that make a whole
 * folder atomic themselves.  level -1: libpng's defaults (zlib 6, adaptive
 * filters, as img_save_png_rgb); 0..9: that zlib level with the Sub filter
 * alone - at level 1 about three times faster for photographs (the
 * report's sprites), files about 10% larger. */
#include <stdio.h>
int img_write_png_rgb(FILE *f, const char *name, const unsigned char *rgb, int w, int h, int level);

#endif
