/* image.c - JPEG (libjpeg) and PNG (libpng) decoding and encoding, and the
 * two resizers the data pipeline needs.
 *
 * Both libraries report errors by longjmp.  Each setjmp lives in a small
 * function whose state sits in a struct allocated before the jump point, so
 * nothing the error path frees is a clobberable local; the library message
 * is turned into one nd_fail() line naming the file.
 *
 * The bilinear resizer follows the usual "antialiased bilinear" definition
 * (as in PIL's BILINEAR): output pixel x samples around the source
 * coordinate (x + 0.5) * scale with a triangle kernel of half-width
 * max(scale, 1), so shrinking averages every covered source pixel instead of
 * aliasing; weights are normalised, which also handles the borders.  Weights
 * are computed once per output column/row.  Accumulation is in double; the
 * intermediate image is float.  The u8 variant rounds the intermediate too,
 * as 8-bit libraries do, so images resized here match them closely.
 */
#include "models/image.h"

#include "core/afile.h"
#include "core/err.h"
#include "core/labelpng.h"

#include <errno.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void img_free(img_u8 *im)
{
    if (!im)
        return;
    free(im->px);
    im->px = NULL;
    im->w = im->h = im->c = 0;
}

/* ---------- JPEG ---------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr cinfo)
{
    jpg_err *e = (jpg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Corrupt-data warnings would silently give a grey image; treat them as errors. */
static void jpg_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpg_error_exit(cinfo);
}

/* A header can claim any size (JPEG up to 65500 x 65500, PNG up to libpng's
 * 1e6 x 1e6): the pixel buffer is allocated from it before any pixel data is
 * read, so a few hundred corrupt bytes could ask for gigabytes.  Photographs
 * and label maps here are far below this limit (64 megapixels). */
#define IMG_MAX_PIXELS ((size_t)1 << 26)

typedef struct {
    struct jpeg_decompress_struct d;
    jpg_err err;
    unsigned char *px;
    FILE *f;
} jpg_read_state;

static int jpg_decode(jpg_read_state *s, img_u8 *out, const char *path)
{
    s->d.err = jpeg_std_error(&s->err.pub);
    s->err.pub.error_exit = jpg_error_exit;
    s->err.pub.emit_message = jpg_emit_message;
    if (setjmp(s->err.jb)) {
        jpeg_destroy_decompress(&s->d);
        free(s->px);
        s->px = NULL;
        return nd_fail("%s: bad JPEG: %s", path, s->err.msg);
    }
    jpeg_create_decompress(&s->d);
    jpeg_stdio_src(&s->d, s->f);
    jpeg_read_header(&s->d, TRUE);
    s->d.out_color_space = JCS_RGB; /* greyscale and YCbCr both come out RGB */
    jpeg_start_decompress(&s->d);
    int w = (int)s->d.output_width, h = (int)s->d.output_height;
    if (s->d.output_components != 3) {
        jpeg_destroy_decompress(&s->d);
        return nd_fail("%s: JPEG with %d output components, expected 3", path,
                       s->d.output_components);
    }
    if ((size_t)w * (size_t)h > IMG_MAX_PIXELS) {
        jpeg_destroy_decompress(&s->d);
        return nd_fail("%s: JPEG header says %d x %d pixels, more than the %zu-megapixel limit "
                       "(corrupt file?)", path, w, h, IMG_MAX_PIXELS >> 20);
    }
    s->px = nd_malloc((size_t)w * h * 3);
    if (!s->px) {
        jpeg_destroy_decompress(&s->d);
        return nd_fail_prefix("%s", path);
    }
    while (s->d.output_scanline < s->d.output_height) {
        JSAMPROW row = s->px + (size_t)s->d.output_scanline * w * 3;
        jpeg_read_scanlines(&s->d, &row, 1);
    }
    jpeg_finish_decompress(&s->d);
    jpeg_destroy_decompress(&s->d);
    out->w = w;
    out->h = h;
    out->c = 3;
    out->px = s->px;
    s->px = NULL;
    return 0;
}

/* ---------- PNG ---------- */

/* libpng error handling: nd_png_errbox and its callbacks (core/labelpng.h) */

typedef struct {
    png_structp p;
    png_infop info;
    nd_png_errbox err;
    unsigned char *raw;  /* decoded rows */
    png_bytep *rows;
    FILE *f;
    int w, h, channels, depth, ctype;
} png_read_state;

/* Decode into raw rows.  mode 0: 8-bit RGB; mode 1: values as stored
 * (bit depth <8 unpacked, palette not expanded) for label maps. */
static int png_decode(png_read_state *s, const char *path, int mode)
{
    s->p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s->err, nd_png_error_fn, nd_png_warning_fn);
    if (!s->p)
        return nd_fail("%s: cannot initialise libpng", path);
    s->info = png_create_info_struct(s->p);
    if (!s->info) {
        png_destroy_read_struct(&s->p, NULL, NULL);
        return nd_fail("%s: cannot initialise libpng", path);
    }
    if (setjmp(s->err.jb)) {
        png_destroy_read_struct(&s->p, &s->info, NULL);
        free(s->raw);
        free(s->rows);
        s->raw = NULL;
        s->rows = NULL;
        return nd_fail("%s: bad PNG: %s", path, s->err.msg);
    }
    png_init_io(s->p, s->f);
    png_read_info(s->p, s->info);
    s->w = (int)png_get_image_width(s->p, s->info);
    s->h = (int)png_get_image_height(s->p, s->info);
    s->ctype = png_get_color_type(s->p, s->info);
    s->depth = png_get_bit_depth(s->p, s->info);
    if ((size_t)s->w * (size_t)s->h > IMG_MAX_PIXELS)
        png_error(s->p, "header says more than 64 megapixels (corrupt file?)");
    if (mode == 0) {
        if (s->ctype == PNG_COLOR_TYPE_PALETTE)
            png_set_palette_to_rgb(s->p);
        if (s->ctype == PNG_COLOR_TYPE_GRAY && s->depth < 8)
            png_set_expand_gray_1_2_4_to_8(s->p);
        if (s->depth == 16)
            png_set_strip_16(s->p);
        if (s->ctype == PNG_COLOR_TYPE_GRAY || s->ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
            png_set_gray_to_rgb(s->p);
        png_set_strip_alpha(s->p);
    } else {
        if (s->depth < 8)
            png_set_packing(s->p);
    }
    png_read_update_info(s->p, s->info);
    s->channels = png_get_channels(s->p, s->info);
    s->depth = png_get_bit_depth(s->p, s->info);
    size_t rowbytes = png_get_rowbytes(s->p, s->info);
    s->raw = malloc(rowbytes * (size_t)s->h);
    s->rows = malloc(sizeof(png_bytep) * (size_t)s->h);
    if (!s->raw || !s->rows)
        png_error(s->p, "out of memory");
    for (int y = 0; y < s->h; y++)
        s->rows[y] = s->raw + (size_t)y * rowbytes;
    png_read_image(s->p, s->rows);
    png_read_end(s->p, NULL);
    png_destroy_read_struct(&s->p, &s->info, NULL);
    free(s->rows);
    s->rows = NULL;
    return 0;
}

static FILE *open_image(const char *path, unsigned char magic[8])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nd_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    memset(magic, 0, 8);
    size_t got = fread(magic, 1, 8, f);
    rewind(f);
    if (got < 8) {
        fclose(f);
        nd_fail("%s: too short to be an image (%zu bytes)", path, got);
        return NULL;
    }
    return f;
}

static int is_png(const unsigned char *m) { return png_sig_cmp(m, 0, 8) == 0; }
static int is_jpeg(const unsigned char *m) { return m[0] == 0xFF && m[1] == 0xD8; }

int img_load_rgb(img_u8 *out, const char *path)
{
    memset(out, 0, sizeof *out);
    unsigned char magic[8];
    FILE *f = open_image(path, magic);
    if (!f)
        return -1;
    int rc;
    if (is_jpeg(magic)) {
        jpg_read_state *s = nd_calloc(1, sizeof *s);
        if (!s) {
            fclose(f);
            return -1;
        }
        s->f = f;
        rc = jpg_decode(s, out, path);
        free(s);
    } else if (is_png(magic)) {
        png_read_state *s = nd_calloc(1, sizeof *s);
        if (!s) {
            fclose(f);
            return -1;
        }
        s->f = f;
        rc = png_decode(s, path, 0);
        if (rc == 0) {
            ND_ASSERT(s->channels == 3 && s->depth == 8);
            out->w = s->w;
            out->h = s->h;
            out->c = 3;
            out->px = s->raw;
        }
        free(s);
    } else {
        rc = nd_fail("%s: not a JPEG or PNG file (unknown magic bytes)", path);
    }
    fclose(f);
    return rc;
}

int img_load_labels(uint16_t **out, int *w, int *h, const char *path)
{
    *out = NULL;
    unsigned char magic[8];
    FILE *f = open_image(path, magic);
    if (!f)
        return -1;
    if (!is_png(magic)) {
        fclose(f);
        return nd_fail("%s: label map is not a PNG file", path);
    }
    png_read_state *s = nd_calloc(1, sizeof *s);
    if (!s) {
        fclose(f);
        return -1;
    }
    s->f = f;
    int rc = png_decode(s, path, 1);
    fclose(f);
    if (rc) {
        free(s);
        return -1;
    }
    uint16_t *lab = nd_malloc(sizeof *lab * (size_t)s->w * s->h);
    if (!lab) {
        free(s->raw);
        free(s);
        return -1;
    }
    int gray = s->ctype == PNG_COLOR_TYPE_GRAY || s->ctype == PNG_COLOR_TYPE_GRAY_ALPHA ||
               s->ctype == PNG_COLOR_TYPE_PALETTE;
    int bpc = s->depth == 16 ? 2 : 1;
    if (!gray && bpc == 2) {
        free(lab);
        free(s->raw);
        free(s);
        return nd_fail("%s: 16-bit RGB label map, expected 8-bit RGB (R + 256*G) or greyscale",
                       path);
    }
    size_t stride = (size_t)s->channels * bpc;
    for (size_t i = 0; i < (size_t)s->w * s->h; i++) {
        const unsigned char *p = s->raw + i * stride;
        if (gray)
            lab[i] = bpc == 2 ? (uint16_t)(p[0] << 8 | p[1]) : p[0];
        else
            lab[i] = (uint16_t)(p[0] + 256 * p[1]);
    }
    *w = s->w;
    *h = s->h;
    *out = lab;
    free(s->raw);
    free(s);
    return 0;
}

/* ---------- resizing ---------- */

/* Filter taps of one axis: for output o, taps first[o] .. first[o]+n[o]-1
 * with weights wt[o*maxn + t]. */
typedef struct {
    int *first, *n, maxn;
    double *wt;
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->n);
    free(t->wt);
}

static int taps_make(taps *t, int in, int out)
{
    double scale = (double)in / out;
    double fs = scale > 1.0 ? scale : 1.0; /* stretch the kernel only when shrinking */
    double support = fs;                   /* triangle half-width 1 in output units */
    t->maxn = (int)ceil(support) * 2 + 1;
    t->first = nd_malloc(sizeof(int) * out);
    t->n = nd_malloc(sizeof(int) * out);
    t->wt = nd_malloc(sizeof(double) * out * t->maxn);
    if (!t->first || !t->n || !t->wt) {
        taps_free(t);
        return -1;
    }
    for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale;
        int lo = (int)floor(centre - support + 0.5);
        int hi = (int)floor(centre + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        double *w = t->wt + (size_t)o * t->maxn, sum = 0;
        int n = 0;
        for (int i = lo; i < hi && n < t->maxn; i++, n++) {
            double d = fabs((i + 0.5 - centre) / fs);
            w[n] = d < 1.0 ? 1.0 - d : 0.0;
            sum += w[n];
        }
        ND_ASSERT(n > 0 && sum > 0);
        for (int k = 0; k < n; k++)
            w[k] /= sum;
        t->first[o] = lo;
        t->n[o] = n;
    }
    return 0;
}

static float round_u8(double v)
{
    v = floor(v + 0.5);
    return (float)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* quant: round the intermediate and the result to 0..255 integers. */
static int resize_impl(float *dst, int dw, int dh, const float *src, int sw, int sh, int c,
                       int quant)
{
    taps tx = {0}, ty = {0};
    float *mid = nd_malloc(sizeof(float) * (size_t)dw * sh * c);
    if (!mid || taps_make(&tx, sw, dw) || taps_make(&ty, sh, dh)) {
        free(mid);
        taps_free(&tx);
        taps_free(&ty);
        return -1;
    }
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++) {
            const double *w = tx.wt + (size_t)x * tx.maxn;
            for (int k = 0; k < c; k++) {
                double acc = 0;
                for (int t = 0; t < tx.n[x]; t++)
                    acc += w[t] * src[((size_t)y * sw + tx.first[x] + t) * c + k];
                mid[((size_t)y * dw + x) * c + k] = quant ? round_u8(acc) : (float)acc;
            }
        }
    for (int y = 0; y < dh; y++) {
        const double *w = ty.wt + (size_t)y * ty.maxn;
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < c; k++) {
                double acc = 0;
                for (int t = 0; t < ty.n[y]; t++)
                    acc += w[t] * mid[((size_t)(ty.first[y] + t) * dw + x) * c + k];
                dst[((size_t)y * dw + x) * c + k] = quant ? round_u8(acc) : (float)acc;
            }
    }
    free(mid);
    taps_free(&tx);
    taps_free(&ty);
    return 0;
}

int img_resize_f32(float *dst, int dw, int dh, const float *src, int sw, int sh, int c)
{
    return resize_impl(dst, dw, dh, src, sw, sh, c, 0);
}

int img_resize_u8(unsigned char *dst, int dw, int dh, const unsigned char *src, int sw, int sh,
                  int c)
{
    size_t ns = (size_t)sw * sh * c, nd = (size_t)dw * dh * c;
    float *fs = nd_malloc(sizeof(float) * ns), *fd = nd_malloc(sizeof(float) * nd);
    if (!fs || !fd) {
        free(fs);
        free(fd);
        return -1;
    }
    for (size_t i = 0; i < ns; i++)
        fs[i] = src[i];
    int rc = resize_impl(fd, dw, dh, fs, sw, sh, c, 1);
    if (rc == 0)
        for (size_t i = 0; i < nd; i++)
            dst[i] = (unsigned char)fd[i];
    free(fs);
    free(fd);
    return rc;
}

void img_resize_labels(uint16_t *dst, int dw, int dh, const uint16_t *src, int sw, int sh)
{
    for (int y = 0; y < dh; y++) {
        /* integer form of floor((y + 0.5) * sh / dh), exact */
        int sy = (int)(((long)2 * y + 1) * sh / (2L * dh));
        for (int x = 0; x < dw; x++) {
            int sx = (int)(((long)2 * x + 1) * sw / (2L * dw));
            dst[(size_t)y * dw + x] = src[(size_t)sy * sw + sx];
        }
    }
}

/* ---------- writing ---------- */

typedef struct {
    struct jpeg_compress_struct c;
    jpg_err err;
    afile af;
    int opened;
} jpg_write_state;

static int jpg_encode(jpg_write_state *s, const char *path, const unsigned char *rgb, int w,
                      int h, int quality)
{
    s->c.err = jpeg_std_error(&s->err.pub);
    s->err.pub.error_exit = jpg_error_exit;
    if (setjmp(s->err.jb)) {
        jpeg_destroy_compress(&s->c);
        afile_abort(&s->af);
        return nd_fail("%s: JPEG encoding failed: %s", path, s->err.msg);
    }
    jpeg_create_compress(&s->c);
    jpeg_stdio_dest(&s->c, s->af.f);
    s->c.image_width = (JDIMENSION)w;
    s->c.image_height = (JDIMENSION)h;
    s->c.input_components = 3;
    s->c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&s->c);
    jpeg_set_quality(&s->c, quality, TRUE);
    jpeg_start_compress(&s->c, TRUE);
    while (s->c.next_scanline < s->c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)s->c.next_scanline * w * 3);
        jpeg_write_scanlines(&s->c, &row, 1);
    }
    jpeg_finish_compress(&s->c);
    jpeg_destroy_compress(&s->c);
    return afile_commit(&s->af);
}

int img_save_jpeg(const char *path, const unsigned char *rgb, int w, int h, int quality)
{
    jpg_write_state *s = nd_calloc(1, sizeof *s);
    if (!s)
        return -1;
    if (afile_open(&s->af, path)) {
        free(s);
        return -1;
    }
    int rc = jpg_encode(s, path, rgb, w, h, quality);
    free(s);
    return rc;
}

typedef struct {
    png_structp p;
    png_infop info;
    nd_png_errbox err;
    png_bytep *rows;
} png_write_state;

static int png_encode(png_write_state *s, FILE *f, const char *path, const unsigned char *rgb, int w,
                      int h, int level)
{
    s->p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s->err, nd_png_error_fn, nd_png_warning_fn);
    s->info = s->p ? png_create_info_struct(s->p) : NULL;
    s->rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!s->p || !s->info || !s->rows) {
        png_destroy_write_struct(&s->p, &s->info);
        free(s->rows);
        return nd_fail("%s: cannot initialise libpng", path);
    }
    if (setjmp(s->err.jb)) {
        png_destroy_write_struct(&s->p, &s->info);
        free(s->rows);
        return nd_fail("%s: PNG encoding failed: %s", path, s->err.msg);
    }
    png_init_io(s->p, f);
    if (level >= 0)
        png_set_compression_level(s->p, level), png_set_filter(s->p, 0, PNG_FILTER_SUB);
    png_set_IHDR(s->p, s->info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s->p, s->info);
    for (int y = 0; y < h; y++)
        s->rows[y] = (png_bytep)(rgb + (size_t)y * w * 3);
    png_write_image(s->p, s->rows);
    png_write_end(s->p, NULL);
    png_destroy_write_struct(&s->p, &s->info);
    free(s->rows);
    return 0;
}

int img_write_png_rgb(FILE *f, const char *name, const unsigned char *rgb, int w, int h, int level)
{
    png_write_state *s = nd_calloc(1, sizeof *s);
    if (!s)
        return -1;
    int rc = png_encode(s, f, name, rgb, w, h, level);
    free(s);
    return rc;
}

int img_save_png_rgb(const char *path, const unsigned char *rgb, int w, int h)
{
    afile af;
    if (afile_open(&af, path))
        return -1;
    if (img_write_png_rgb(af.f, path, rgb, w, h, -1)) {
        afile_abort(&af);
        return -1;
    }
    return afile_commit(&af);
}
