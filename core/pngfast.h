/* pngfast.h - the label PNGs Broden datasets hold (8-bit RGB or grey, not
 * interlaced) decoded without libpng, about twice as fast.
 *
 * Only the clean case is decoded: any other colour type or depth, an
 * interlaced image, a damaged chunk (CRC-32), a critical chunk other than
 * IHDR/IDAT before the image data, a zlib stream that is broken or not
 * exactly the image's size, a bad row filter or a label number not in
 * label.csv, and the function returns 0 without an error: the caller then
 * decodes with libpng (nd_label_png_read does), which either decodes the
 * same pixels or reports the error it always did.  The CRC-32s are checked
 * here, and so is the zlib Adler-32 (libdeflate always does): a stream with
 * intact chunks but a wrong Adler-32 goes to libpng, which skips that check
 * (labelpng.c), and decodes the same pixels. */
#ifndef ND_PNGFAST_H
#define ND_PNGFAST_H

#include <stddef.h>
#include <stdint.h>

/* 1 if path was decoded into out[sh*sw] (the arguments of nd_label_png_read),
 * 0 if it must go to libpng (out then holds anything). */
int nd_png_fast_labels(const char *path, int sh, int sw, const unsigned char *known, size_t nknown, uint16_t *out);

#endif
