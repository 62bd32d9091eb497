/* test_labelpng.c - the label PNGs' own decoder (core/pngfast.h) against
 * libpng (nd_label_png_read_libpng): PNGs written by libpng in every row
 * filter, compression level, several IDAT chunks, extra chunks, grey and RGB,
 * odd widths, decode to the same labels; the kinds it leaves to libpng
 * (alpha, palette, interlaced, 16-bit) are left; damaged files - a flipped
 * byte with or without its CRC repaired, truncations - give what libpng gives
 * (the same labels or the same error).  And nd_label_row (the shuffled RGB
 * conversion) against a per-pixel loop. */
#include "core/err.h"
#include "core/labelpng.h"
#include "core/pngfast.h"
#include "tests/testutil.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NKNOWN 65536
static unsigned char known[NKNOWN];

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* How one test PNG is written. */
typedef struct {
    int w, h, color, depth, interlace, filters, level, zbuf; /* zbuf: IDAT size (0 = libpng's) */
    int text;                                                /* a tEXt chunk before the image data */
} png_spec;

/* Labels in regions (runs along rows, repeated down), all known unless
 * bad > 0 (one unknown label then). */
static void make_labels(unsigned *seed, int w, int h, int grey, int bad, unsigned *lab)
{
    unsigned cur = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (y > 0 && rnd(seed) % 4)
                cur = lab[(size_t)(y - 1) * w + x];
            else if (rnd(seed) % 5 == 0)
            {
                cur = rnd(seed) % 3 == 0 ? 0 : 1 + rnd(seed) % (grey ? 253 : 1200);
                cur += cur == 254; /* unknown */
            }
            lab[(size_t)y * w + x] = cur;
        }
    if (bad)
        lab[(size_t)(rnd(seed) % (unsigned)h) * w + rnd(seed) % (unsigned)w] = grey ? 254 : 4000;
}

static int write_png(const char *path, const png_spec *s, const unsigned *lab)
{
    FILE *f = fopen(path, "wb");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    int ch = s->color == PNG_COLOR_TYPE_RGB ? 3 : s->color == PNG_COLOR_TYPE_RGBA ? 4
             : s->color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1, bytes = s->depth == 16 ? 2 : 1;
    unsigned char *row = malloc((size_t)s->w * ch * bytes);
    if (!f || !info || !row || setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        free(row);
        if (f)
            fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_filter(p, 0, s->filters);
    png_set_compression_level(p, s->level);
    if (s->zbuf)
        png_set_compression_buffer_size(p, (size_t)s->zbuf);
    if (s->color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < 256; i++)
            pal[i].red = (png_byte)i, pal[i].green = 0, pal[i].blue = (png_byte)(255 - i);
        png_set_PLTE(p, info, pal, 256);
    }
    if (s->text) {
        png_text t = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "label map"};
        png_set_text(p, info, &t, 1);
    }
    png_write_info(p, info);
    int passes = png_set_interlace_handling(p);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < s->h; y++) {
            for (int x = 0; x < s->w; x++) {
                unsigned v = lab[(size_t)y * s->w + x];
                unsigned char px[4] = {(unsigned char)(v % 256), (unsigned char)(v / 256), 7, 255};
                if (ch == 1 || ch == 2)
                    px[0] = (unsigned char)v, px[1] = 255;
                for (int c = 0; c < ch; c++)
                    for (int b = 0; b < bytes; b++)
                        row[((size_t)x * ch + c) * bytes + b] = b ? 0 : px[c];
            }
            png_write_row(p, row);
        }
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    free(row);
    return fclose(f) ? -1 : 0;
}

/* nd_label_png_read (fast path first) against libpng alone: the same
 * return, the same labels or the same error.  Returns the fast path's. */
static int same_as_libpng(const char *path, int sh, int sw, const char *what)
{
    size_t n = (size_t)sh * sw;
    uint16_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), *c = calloc(n, sizeof *c);
    char ea[512] = "", eb[512] = "";
    int fast = nd_png_fast_labels(path, sh, sw, known, NKNOWN, c);
    int ra = nd_label_png_read(path, "here", sh, sw, known, NKNOWN, a);
    if (ra)
        snprintf(ea, sizeof ea, "%s", nd_errmsg());
    int rb = nd_label_png_read_libpng(path, "here", sh, sw, known, NKNOWN, b);
    if (rb)
        snprintf(eb, sizeof eb, "%s", nd_errmsg());
    CHECK(ra == rb && (ra ? strcmp(ea, eb) == 0 : memcmp(a, b, n * sizeof *a) == 0),
          "%s: decoded as libpng does (rc %d / %d; '%s' / '%s')", what, ra, rb, ea, eb);
    CHECK(!fast || (rb == 0 && memcmp(c, b, n * sizeof *c) == 0), "%s: the fast path's labels are libpng's", what);
    free(a), free(b), free(c);
    return fast;
}

static void test_kinds(void)
{
    test_group("label PNGs of every filter, level, chunking: the same labels as libpng");
    unsigned seed = 12345;
    const int sizes[][2] = {{113, 113}, {1, 1}, {7, 3}, {8, 2}, {9, 5}, {15, 4}, {16, 16}, {17, 9}, {33, 2}};
    const int filters[] = {PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVG, PNG_FILTER_PAETH,
                           PNG_ALL_FILTERS};
    char path[4200];
    snprintf(path, sizeof path, "%s/t.png", test_tmpdir());
    int fast = 0, total = 0, left = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t fi = 0; fi < sizeof filters / sizeof *filters; fi++)
            for (int grey = 0; grey < 2; grey++) {
                int w = sizes[si][0], h = sizes[si][1];
                unsigned *lab = malloc(sizeof *lab * (size_t)w * h);
                make_labels(&seed, w, h, grey, 0, lab);
                png_spec s = {w, h, grey ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE,
                              filters[fi], (int)(si + fi) % 10, (si + fi) % 3 == 0 ? 64 : 0, (int)fi % 2};
                char what[128];
                snprintf(what, sizeof what, "%dx%d %s filters %#x level %d", w, h, grey ? "grey" : "RGB",
                         filters[fi], s.level);
                if (write_png(path, &s, lab) == 0) {
                    fast += same_as_libpng(path, h, w, what), total++;
                    /* the labels written, too (libpng's read is the reference above) */
                    uint16_t *o = calloc((size_t)w * h, sizeof *o);
                    int ok = nd_label_png_read(path, "here", h, w, known, NKNOWN, o) == 0;
                    for (int i = 0; ok && i < w * h; i++)
                        ok = o[i] == lab[i];
                    CHECK(ok, "%s: the labels written", what);
                    free(o);
                }
                free(lab);
            }
    CHECK(fast == total, "every plain 8-bit grey / RGB PNG on the fast path (%d of %d)", fast, total);
    /* the kinds left to libpng: decoded by it, the same as before */
    const png_spec other[] = {{20, 6, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, PNG_ALL_FILTERS, 6, 0, 0},
                              {20, 6, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0},
                              {20, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0},
                              {20, 6, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0},
                              {20, 6, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0}};
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        unsigned lab[120];
        make_labels(&seed, 20, 6, other[k].color != PNG_COLOR_TYPE_RGB, 0, lab);
        char what[64];
        snprintf(what, sizeof what, "colour type %d depth %d interlace %d", other[k].color, other[k].depth,
                 other[k].interlace);
        if (write_png(path, &other[k], lab) == 0)
            left += !same_as_libpng(path, 6, 20, what);
    }
    CHECK(left == (int)(sizeof other / sizeof *other), "alpha, palette, interlaced, 16-bit left to libpng");
    /* an unknown label: left to libpng, which names the pixel */
    unsigned lab[113 * 113];
    make_labels(&seed, 113, 113, 0, 1, lab);
    png_spec s = {113, 113, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0};
    if (write_png(path, &s, lab) == 0) {
        CHECK(!same_as_libpng(path, 113, 113, "unknown label"), "an unknown label is left to libpng");
        uint16_t o[113 * 113];
        CHECK(nd_label_png_read(path, "here", 113, 113, known, NKNOWN, o) && strstr(nd_errmsg(), "4000"),
              "the error names the label: %s", nd_errmsg());
    }
    /* a wrong size: left to libpng, which gives both sizes */
    make_labels(&seed, 113, 113, 0, 0, lab);
    if (write_png(path, &s, lab) == 0)
        CHECK(!same_as_libpng(path, 112, 113, "wrong size"), "a wrong size is left to libpng");
}

/* The CRC-32 of the chunk holding byte `at` recomputed (so that only zlib
 * or the filters can notice the damage). */
static void repair_crc(unsigned char *b, size_t n, size_t at)
{
    for (size_t p = 8; p + 12 <= n;) {
        size_t len = (size_t)b[p] << 24 | (size_t)b[p + 1] << 16 | (size_t)b[p + 2] << 8 | b[p + 3];
        if (len > n - 12 - p)
            return;
        if (at >= p && at < p + 12 + len) {
            uLong c = crc32(0L, b + p + 4, (uInt)len + 4);
            for (int k = 0; k < 4; k++)
                b[p + 8 + len + k] = (unsigned char)(c >> (24 - 8 * k));
            return;
        }
        p += 12 + len;
    }
}

static void test_damage(void)
{
    test_group("damaged label PNGs: what libpng gives (labels or error)");
    unsigned seed = 777, lab[40 * 30];
    make_labels(&seed, 40, 30, 0, 0, lab);
    char path[4200], dpath[4300];
    snprintf(path, sizeof path, "%s/d.png", test_tmpdir());
    snprintf(dpath, sizeof dpath, "%s/dd.png", test_tmpdir());
    /* several IDAT chunks and a tEXt chunk, or one IDAT */
    const png_spec spec[2] = {{40, 30, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 9, 100, 1},
                              {40, 30, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, PNG_ALL_FILTERS, 6, 0, 0}};
    int fast = 0, cases = 0;
    for (int k = 0; k < 2; k++) {
        size_t n;
        unsigned char *orig = write_png(path, &spec[k], lab) == 0 ? test_slurp(path, &n) : NULL;
        CHECK(orig != NULL, "write the PNG to damage");
        if (!orig)
            return;
        unsigned char *b = malloc(n);
        for (int t = 0; t < 1500; t++) {
            memcpy(b, orig, n);
            size_t at = 8 + rnd(&seed) % (unsigned)(n - 8), len = n;
            int kind = t % 3;
            if (kind == 2)
                len = at; /* truncated */
            else {
                b[at] ^= (unsigned char)(1u << (rnd(&seed) % 8));
                if (kind == 1)
                    repair_crc(b, n, at);
            }
            FILE *f = fopen(dpath, "wb");
            int ok = f && fwrite(b, 1, len, f) == len;
            if (f && fclose(f))
                ok = 0;
            if (!ok)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s at byte %zu",
                     kind == 2 ? "truncated" : kind ? "flipped, CRC repaired" : "flipped", at);
            fast += same_as_libpng(dpath, 30, 40, what), cases++;
        }
        free(b), free(orig);
    }
    printf("  %d damaged files, %d of them decoded by the fast path\n", cases, fast);
}

/* nd_label_row against the plain rule, pixel by pixel. */
static long plain_row(const unsigned char *r, size_t w, int ch, uint16_t *o)
{
    unsigned prev = 0;
    for (size_t x = 0; x < w; x++) {
        unsigned v = ch >= 3 ? r[x * ch] + 256u * r[x * ch + 1] : r[x * ch];
        o[x] = (uint16_t)v;
        if (v != prev) {
            if (v && !known[v])
                return (long)x;
            prev = v;
        }
    }
    return -1;
}

static void test_rows(void)
{
    test_group("nd_label_row against the per-pixel rule");
    unsigned seed = 99;
    long bad = 0, tried = 0;
    unsigned char r[4 * 80];
    uint16_t a[80], b[80];
    for (int t = 0; t < 20000; t++) {
        size_t w = rnd(&seed) % 80;
        int ch = (int[]){1, 2, 3, 4}[rnd(&seed) % 4];
        unsigned cur = 0;
        for (size_t x = 0; x < w; x++) {
            if (rnd(&seed) % 6 == 0)
                cur = rnd(&seed) % 4 == 0 ? 0 : rnd(&seed) % 20 == 0 ? 4000 + rnd(&seed) % 100 : 1 + rnd(&seed) % 1200;
            for (int c = 0; c < ch; c++)
                r[x * ch + c] = (unsigned char)(rnd(&seed) & 255);
            r[x * ch] = (unsigned char)(ch >= 3 ? cur % 256 : cur % 256);
            if (ch >= 3)
                r[x * ch + 1] = (unsigned char)(cur / 256);
        }
        long xa = nd_label_row(r, w, ch, known, NKNOWN, a), xb = plain_row(r, w, ch, b);
        size_t upto = xb < 0 ? w : (size_t)xb + 1;
        bad += xa != xb || memcmp(a, b, upto * sizeof *a) != 0;
        tried++;
    }
    CHECK(bad == 0, "%ld of %ld rows differ (labels or first unknown pixel)", bad, tried);
}

int main(void)
{
    for (int l = 1; l < 1300; l++)
        known[l] = 1;
    known[254] = 0;
    test_kinds();
    test_damage();
    test_rows();
    return test_summary();
}
