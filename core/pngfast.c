/* pngfast.c - the common label PNG decoded without libpng: see pngfast.h.
 *
 * libpng inflates a row (about 340 bytes) per call, which keeps zlib off its
 * fast loop, and its Debian build undoes the row filters a byte at a time;
 * here the whole zlib stream is inflated in one call into one buffer (by
 * libdeflate, made for whole buffers: 28-30 against 35-40 us per 113 x 113
 * label PNG with zlib's inflate, 2026-12-03, EPYC host) and the filters are
 * plain loops the compiler vectorises. */
#include "core/pngfast.h"
#include "core/labelpng.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zlib.h>

/* Label PNGs are a few kB; anything much larger is left to libpng. */
#define MAX_FILE ((size_t)64 << 20)

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The whole file, malloc'd; NULL if it cannot be read (libpng then says why). */
static unsigned char *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    unsigned char *b = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size <= MAX_FILE)
        b = malloc((size_t)st.st_size);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (b && got != (size_t)st.st_size) {
        free(b);
        return NULL;
    }
    *n = got;
    return b;
}

/* The chunk at b[p]: its length and type, its CRC checked (every chunk up to
 * the image data, as libpng checks the critical ones and would warn about an
 * ancillary one).  0 if it is intact and inside the file. */
static int chunk_at(const unsigned char *b, size_t n, size_t p, uint32_t *len, const unsigned char **type)
{
    if (n < 12 || p > n - 12)
        return -1;
    *len = be32(b + p);
    if (*len > 0x7fffffffu || *len > n - 12 - p)
        return -1;
    *type = b + p + 4;
    for (int k = 0; k < 4; k++)
        if (!((*type)[k] >= 'A' && (*type)[k] <= 'Z') && !((*type)[k] >= 'a' && (*type)[k] <= 'z'))
            return -1; /* libpng refuses the file */
    uLong crc = crc32(0L, b + p + 4, (uInt)*len + 4);
    return crc == be32(b + p + 8 + *len) ? 0 : -1;
}

/* The header's fields: only 8-bit grey or RGB, not interlaced, of the
 * expected size; 1 or 3 channels, or 0 for anything else. */
static int header_channels(const unsigned char *d, uint32_t len, int sh, int sw)
{
    if (len != 13 || be32(d) != (uint32_t)sw || be32(d + 4) != (uint32_t)sh || d[8] != 8 || d[10] || d[11] || d[12])
        return 0;
    return d[9] == 0 ? 1 : d[9] == 2 ? 3 : 0;
}

/* The IDAT chunks' data moved together in place (each chunk's data only
 * moves down over bytes already read); its length, or 0 if the chunks are
 * damaged, out of order or absent. */
static size_t gather_idat(unsigned char *b, size_t n, int sh, int sw, int *ch, unsigned char **z)
{
    uint32_t len;
    const unsigned char *type;
    size_t p = 8, zlen = 0;
    if (n < 8 || memcmp(b, "\211PNG\r\n\032\n", 8) || chunk_at(b, n, p, &len, &type) || memcmp(type, "IHDR", 4) ||
        !(*ch = header_channels(b + p + 8, len, sh, sw)))
        return 0;
    p += 12 + len;
    int in_idat = 0;
    while (chunk_at(b, n, p, &len, &type) == 0) {
        int idat = memcmp(type, "IDAT", 4) == 0;
        if (in_idat && !idat)
            break; /* the image data is complete; libpng reads no further */
        if (!idat && !(type[0] & 0x20))
            return 0; /* a critical chunk (PLTE, IEND before IDAT, unknown) */
        if (idat) {
            if (!in_idat)
                *z = b + p + 8;
            memmove(*z + zlen, b + p + 8, len);
            zlen += len, in_idat = 1;
        }
        p += 12 + len;
    }
    return in_idat ? zlen : 0;
}

/* The zlib stream into out[want], exactly: no more, no less, no trailing
 * data.  libdeflate also checks the Adler-32; a stream that fails it goes
 * to libpng, which does not (labelpng.c). */
static int inflate_all(const unsigned char *z, size_t zlen, unsigned char *out, size_t want)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor(); /* ~10 KB, no set-up work */
    if (!d)
        return -1;
    size_t used = 0, got = 0;
    enum libdeflate_result r = libdeflate_zlib_decompress_ex(d, z, zlen, out, want, &used, &got);
    libdeflate_free_decompressor(d);
    return r == LIBDEFLATE_SUCCESS && got == want && used == zlen ? 0 : -1;
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Sub, Average and Paeth need the byte bpp to the left, just written: read
 * back from memory it costs a store-to-load forwarding per byte, so the
 * left pixel is carried in registers instead (bpp is a constant where this
 * is inlined, the loops over k unrolled). */
#define INLINE static inline __attribute__((always_inline))
INLINE void unfilter_sub(unsigned char *restrict r, size_t n, size_t bpp)
{
    unsigned char a[4] = {0, 0, 0, 0};
    for (size_t i = 0; i + bpp <= n; i += bpp)
#pragma GCC unroll 4
        for (size_t k = 0; k < bpp; k++)
            r[i + k] = a[k] = (unsigned char)(r[i + k] + a[k]);
}

INLINE void unfilter_avg(unsigned char *restrict r, const unsigned char *restrict p, size_t n, size_t bpp)
{
    unsigned char a[4] = {0, 0, 0, 0};
    for (size_t i = 0; i + bpp <= n; i += bpp)
#pragma GCC unroll 4
        for (size_t k = 0; k < bpp; k++)
            r[i + k] = a[k] = (unsigned char)(r[i + k] + ((a[k] + p[i + k]) >> 1));
}

INLINE void unfilter_paeth(unsigned char *restrict r, const unsigned char *restrict p, size_t n, size_t bpp)
{
    unsigned char a[4] = {0, 0, 0, 0}, c[4] = {0, 0, 0, 0};
    for (size_t i = 0; i + bpp <= n; i += bpp)
#pragma GCC unroll 4
        for (size_t k = 0; k < bpp; k++) {
            unsigned char b = p[i + k];
            r[i + k] = a[k] = (unsigned char)(r[i + k] + paeth(a[k], b, c[k]));
            c[k] = b;
        }
}

/* Undo row r's filter (bytes r[0..n), n a multiple of bpp) given the row
 * above, p (all zeros for the first row).  -1 for an unknown filter. */
INLINE int unfilter_bpp(int filter, unsigned char *restrict r, const unsigned char *restrict p, size_t n, size_t bpp)
{
    switch (filter) {
    case 0: return 0;
    case 1: unfilter_sub(r, n, bpp); return 0;
    case 2:
        for (size_t i = 0; i < n; i++)
            r[i] = (unsigned char)(r[i] + p[i]);
        return 0;
    case 3: unfilter_avg(r, p, n, bpp); return 0;
    case 4: unfilter_paeth(r, p, n, bpp); return 0;
    default: return -1;
    }
}

static int unfilter(int filter, unsigned char *restrict r, const unsigned char *restrict p, size_t n, size_t bpp)
{
    return bpp == 3 ? unfilter_bpp(filter, r, p, n, 3) : unfilter_bpp(filter, r, p, n, 1);
}

/* Rows unfiltered in place and converted; -1 at a bad filter or label. */
static int rows_to_labels(unsigned char *raw, int sh, int sw, int ch, const unsigned char *known, size_t nknown,
                          uint16_t *out)
{
    size_t n = (size_t)sw * (size_t)ch;
    unsigned char *zero = calloc(n ? n : 1, 1);
    const unsigned char *above = zero;
    int rc = zero ? 0 : -1;
    for (int y = 0; y < sh && rc == 0; y++) {
        unsigned char *r = raw + (size_t)y * (n + 1);
        rc = unfilter(r[0], r + 1, above, n, (size_t)ch);
        if (rc == 0 && nd_label_row(r + 1, (size_t)sw, ch, known, nknown, out + (size_t)y * (size_t)sw) >= 0)
            rc = -1;
        above = r + 1;
    }
    free(zero);
    return rc;
}

int nd_png_fast_labels(const char *path, int sh, int sw, const unsigned char *known, size_t nknown, uint16_t *out)
{
    if (sh <= 0 || sw <= 0)
        return 0;
    size_t n = 0;
    unsigned char *b = slurp(path, &n), *z = NULL;
    int ch = 0;
    size_t zlen = b ? gather_idat(b, n, sh, sw, &ch, &z) : 0;
    size_t want = (size_t)sh * ((size_t)sw * (size_t)ch + 1);
    unsigned char *raw = zlen ? malloc(want) : NULL;
    int ok = raw && inflate_all(z, zlen, raw, want) == 0 && rows_to_labels(raw, sh, sw, ch, known, nknown, out) == 0;
    free(raw);
    free(b);
    return ok;
}
