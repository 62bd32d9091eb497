/* labelpng.h - decoding Broden label-layer PNGs, and the libpng error
 * handling every PNG reader and writer of the project shares.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message into an nd_png_errbox and longjmps to the setjmp
 * of the caller that owns the box.  Warnings are dropped (a warning does not
 * change decoded pixels).
 *
 *     nd_png_errbox e;
 *     png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e,
 *                                            nd_png_error_fn, nd_png_warning_fn);
 *     if (setjmp(e.jb)) { ... clean up; return nd_fail("%s: %s", path, e.msg); }
 */
#ifndef ND_LABELPNG_H
#define ND_LABELPNG_H

#include <png.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    jmp_buf jb;
    char msg[256];
} nd_png_errbox;

/* libpng error callback: the error pointer must be an nd_png_errbox. */
void nd_png_error_fn(png_structp p, png_const_charp msg);
/* libpng warning callback: ignores the warning. */
void nd_png_warning_fn(png_structp p, png_const_charp msg);

/* Decode the label PNG at path into out[sh*sw], row-major: label = R + 256*G
 * for a colour PNG, the grey value for a grey one (palette expanded, alpha
 * dropped).  The PNG must be 8-bit and exactly sw x sh, and every non-zero
 * label v must have known[v] != 0 (v < nknown).  `where` names the index.csv
 * row and column for the error line. */
int nd_label_png_read(const char *path, const char *where, int sh, int sw, const unsigned char *known,
                      size_t nknown, uint16_t *out);
/* The same through libpng only: the reference the common PNGs' own decoder
 * (core/pngfast.h, tried first by nd_label_png_read) is tested against. */
int nd_label_png_read_libpng(const char *path, const char *where, int sh, int sw, const unsigned char *known,
                             size_t nknown, uint16_t *out);
/* One decoded row of w pixels (ch bytes each; label = byte 0 + 256 * byte 1
 * when ch >= 3, else byte 0) into o[w], each label number changing along
 * the row checked against known[]: -1, or the first pixel whose number is
 * not known (o[x] holds it). */
long nd_label_row(const unsigned char *r, size_t w, int ch, const unsigned char *known, size_t nknown, uint16_t *o);

#endif
