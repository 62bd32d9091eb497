/* labelpng.c - label-layer PNG decoding and the shared libpng error handling. */
#include "core/labelpng.h"
#include "core/err.h"
#include "core/pngfast.h"

#include <errno.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nd_png_error_fn(png_structp p, png_const_charp msg)
{
    nd_png_errbox *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

void nd_png_warning_fn(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg;
}

/* Everything the error path must release, in one place. */
typedef struct {
    FILE *f;
    png_structp png;
    png_infop info;
    unsigned char *row, *img;
    unsigned char **rows;
} png_state;

static void release(png_state *s)
{
    png_destroy_read_struct(&s->png, &s->info, NULL);
    free(s->row);
    free(s->img);
    free(s->rows);
    fclose(s->f);
}

/* One label number checked: 0 (unlabelled) or a label of label.csv. */
static int unknown(unsigned v, const unsigned char *known, size_t nknown)
{
    return v && (v >= nknown || !known[v]);
}

/* R + 256 * G of 8 RGB pixels at a time: two overlapping 16-byte loads
 * cover 24 bytes, and one byte shuffle of each puts R and G side by side
 * (a stride-3 loop the compiler leaves scalar, at a sixth of the decoding
 * time).  The pixels left over go through the plain loop. */
__attribute__((target("ssse3"))) static size_t rgb_labels_ssse3(const unsigned char *r, size_t w, uint16_t *o)
{
    const __m128i lo = _mm_setr_epi8(0, 1, 3, 4, 6, 7, 9, 10, 12, 13, -1, -1, -1, -1, -1, -1);
    const __m128i hi = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 7, 8, 10, 11, 13, 14);
    size_t x = 0;
    for (; x + 8 <= w; x += 8) {
        __m128i a = _mm_loadu_si128((const __m128i *)(r + 3 * x));
        __m128i b = _mm_loadu_si128((const __m128i *)(r + 3 * x + 8));
        _mm_storeu_si128((__m128i *)(o + x), _mm_or_si128(_mm_shuffle_epi8(a, lo), _mm_shuffle_epi8(b, hi)));
    }
    return x;
}

static int have_ssse3(void)
{
    static int v = -1; /* racing threads store the same value */
    if (__atomic_load_n(&v, __ATOMIC_RELAXED) < 0)
        __atomic_store_n(&v, __builtin_cpu_supports("ssse3") ? 1 : 0, __ATOMIC_RELAXED);
    return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

long nd_label_row(const unsigned char *r, size_t w, int ch, const unsigned char *known, size_t nknown, uint16_t *o)
{
    /* constant strides, so that the loops vectorise */
    if (ch == 3)
        for (size_t x = have_ssse3() ? rgb_labels_ssse3(r, w, o) : 0; x < w; x++)
            o[x] = (uint16_t)(r[3 * x] | r[3 * x + 1] << 8);
    else if (ch == 1)
        for (size_t x = 0; x < w; x++)
            o[x] = r[x];
    else
        for (size_t x = 0; x < w; x++)
            o[x] = (uint16_t)(ch >= 3 ? r[x * (size_t)ch] | r[x * (size_t)ch + 1] << 8 : r[x * (size_t)ch]);
    /* labels come in regions: a number is looked up only where it differs
     * from its left neighbour; blocks of 16 pixels with no change, most of
     * them, are passed over with one vector test */
    if (w == 0)
        return -1;
    if (unknown(o[0], known, nknown))
        return 0;
    enum { B = 16 };
    size_t x = 1;
    for (; x + B <= w; x += B) {
        unsigned diff = 0;
        for (size_t k = 0; k < B; k++)
            diff |= (unsigned)(o[x + k] ^ o[x + k - 1]);
        if (diff)
            for (size_t k = x; k < x + B; k++)
                if (o[k] != o[k - 1] && unknown(o[k], known, nknown))
                    return (long)k;
    }
    for (; x < w; x++)
        if (o[x] != o[x - 1] && unknown(o[x], known, nknown))
            return (long)x;
    return -1;
}

/* Rows in label numbers, checked against the known labels. */
static int convert_rows(png_state *s, const char *path, const char *where, png_uint_32 w, png_uint_32 h,
                        int ch, const unsigned char *known, size_t nknown, uint16_t *out)
{
    for (png_uint_32 y = 0; y < h; y++) {
        unsigned char *r = s->row;
        if (s->img)
            r = s->rows[y];
        else
            png_read_row(s->png, r, NULL);
        uint16_t *o = out + (size_t)y * w;
        long x = nd_label_row(r, w, ch, known, nknown, o);
        if (x >= 0)
            return nd_fail("%s: pixel (x=%u, y=%u) has label number %u, which is not in label.csv (%s)", path,
                           (unsigned)x, (unsigned)y, (unsigned)o[x], where);
    }
    return 0;
}

/* The pixel part, after setjmp: header checks, transforms, rows. */
static int decode(png_state *s, const char *path, const char *where, int sh, int sw, const unsigned char *known,
                  size_t nknown, uint16_t *out)
{
    png_structp png = s->png;
    png_infop info = s->info;
    png_init_io(png, s->f);
    png_set_sig_bytes(png, 8);
    /* The zlib stream's Adler-32 re-checks bytes the IDAT chunks' CRC-32s
     * (still checked) already cover, at a tenth of the decoding time. */
#ifdef PNG_IGNORE_ADLER32
    png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ct = png_get_color_type(png, info);
    if ((int)w != sw || (int)h != sh)
        return nd_fail("%s: label image is %ux%u, index.csv says sw x sh = %dx%d (%s)", path, (unsigned)w,
                       (unsigned)h, sw, sh, where);
    if (depth == 16)
        return nd_fail("%s: 16-bit PNG; Broden label images are 8-bit RGB (R + 256*G) (%s)", path, where);
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (ct & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    if (!(s->row = nd_malloc((size_t)w * (size_t)ch)))
        return nd_fail_prefix("%s", path);
    /* interlaced images need the whole image; read row pointers then */
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE) {
        s->img = nd_malloc((size_t)w * (size_t)h * (size_t)ch);
        s->rows = s->img ? nd_malloc(sizeof *s->rows * h) : NULL;
        if (!s->img || !s->rows)
            return nd_fail_prefix("%s", path);
        for (png_uint_32 y = 0; y < h; y++)
            s->rows[y] = s->img + (size_t)y * w * (size_t)ch;
        png_read_image(png, s->rows);
    }
    return convert_rows(s, path, where, w, h, ch, known, nknown, out);
}

int nd_label_png_read(const char *path, const char *where, int sh, int sw, const unsigned char *known,
                      size_t nknown, uint16_t *out)
{
    if (nd_png_fast_labels(path, sh, sw, known, nknown, out))
        return 0;
    return nd_label_png_read_libpng(path, where, sh, sw, known, nknown, out);
}

int nd_label_png_read_libpng(const char *path, const char *where, int sh, int sw, const unsigned char *known,
                             size_t nknown, uint16_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot open label image (%s): %s", path, where, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return nd_fail("%s: not a PNG file (%s)", path, where);
    }
    /* the state lives on the heap, allocated before setjmp, so that what the
     * error path frees is never a clobbered local */
    png_state *s = nd_calloc(1, sizeof *s);
    nd_png_errbox *e = nd_calloc(1, sizeof *e);
    if (!s || !e) {
        free(s), free(e);
        fclose(f);
        return nd_fail_prefix("%s", path);
    }
    s->f = f;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, e, nd_png_error_fn, nd_png_warning_fn);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    int rc;
    if (!s->png || !s->info)
        rc = nd_fail("%s: out of memory", path);
    else if (setjmp(e->jb))
        rc = nd_fail("%s: broken PNG (%s): %s", path, where, e->msg);
    else
        rc = decode(s, path, where, sh, sw, known, nknown, out);
    release(s);
    free(s), free(e);
    return rc;
}
