#include "core/npy.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *descr;
    npy_dtype t;
    size_t size;
} dtypes[] = {
    {"<f2", NPY_F16, 2}, {"<f4", NPY_F32, 4}, {"<f8", NPY_F64, 8},
    {"<i4", NPY_I32, 4}, {"<i8", NPY_I64, 8}, {"|u1", NPY_U8, 1},
    {"<u2", NPY_U16, 2},
};

const char *npy_dtype_name(npy_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].t == t)
            return dtypes[i].descr;
    return "?";
}

size_t npy_dtype_size(npy_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].t == t)
            return dtypes[i].size;
    return 0;
}

/* Find the value text of 'key' in the header dict; returns pointer after ':'. */
static const char *hdr_find(const char *h, const char *key)
{
    const char *p = strstr(h, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == '\'' || *p == '"')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_header(npy_t *a, const char *h, const char *path, int allow_fortran)
{
    const char *p = hdr_find(h, "'descr'");
    if (!p)
        return nd_fail("%s: .npy header has no 'descr' field", path);
    char q = *p++;
    if (q != '\'' && q != '"')
        return nd_fail("%s: .npy header field 'descr' is not a string", path);
    char descr[16] = {0};
    size_t k = 0;
    while (*p && *p != q && k < sizeof descr - 1)
        descr[k++] = *p++;
    /* '=' and '|' mean native/irrelevant order; this tool runs little-endian */
    if (descr[0] == '=' || (descr[0] == '|' && descr[1] != 'u'))
        descr[0] = '<';
    if (!strcmp(descr, "<u1"))
        descr[0] = '|';
    int found = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(descr, dtypes[i].descr)) {
            a->dtype = dtypes[i].t;
            a->elsize = dtypes[i].size;
            found = 1;
        }
    if (!found)
        return nd_fail("%s: .npy dtype '%s' not supported (expected <f4, <f2, <f8, <i4, <i8, |u1 or <u2)",
                       path, descr);

    p = hdr_find(h, "'fortran_order'");
    if (!p)
        return nd_fail("%s: .npy header has no 'fortran_order' field", path);
    if (!strncmp(p, "True", 4))
        a->fortran = 1;
    else if (strncmp(p, "False", 5) != 0)
        return nd_fail("%s: .npy header field 'fortran_order' is neither True nor False", path);
    if (a->fortran && !allow_fortran)
        return nd_fail("%s: .npy array is in Fortran order; expected C order", path);

    p = hdr_find(h, "'shape'");
    if (!p || *p != '(')
        return nd_fail("%s: .npy header has no 'shape' tuple", path);
    p++;
    a->ndim = 0;
    a->count = 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9')
            return nd_fail("%s: .npy shape is malformed", path);
        if (a->ndim == NPY_MAXDIM)
            return nd_fail("%s: .npy array has more than %d dimensions", path, NPY_MAXDIM);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || end == p)
            return nd_fail("%s: .npy shape is malformed", path);
        p = end;
        while (*p == 'L')
            p++;
        a->shape[a->ndim++] = (size_t)v;
        if (!nd_mul_ok(a->count, (size_t)v, &a->count))
            return nd_fail_prefix("%s", path);
    }
    return 0;
}

static int open_order(npy_t *a, const char *path, int allow_fortran)
{
    memset(a, 0, sizeof *a);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return nd_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nd_fail("%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len < 10) {
        close(fd);
        return nd_fail("%s: not a .npy file (%zu bytes, shorter than the header)", path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return nd_fail("%s: cannot map: %s", path, strerror(errno));
    a->map = map;
    a->maplen = len;
    const unsigned char *b = map;
    if (memcmp(b, "\x93NUMPY", 6) != 0) {
        nd_fail("%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    size_t hlen, hoff;
    if (b[6] == 1) {
        hlen = b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12) {
            nd_fail("%s: truncated .npy header", path);
            goto fail;
        }
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        nd_fail("%s: unsupported .npy version %d.%d", path, b[6], b[7]);
        goto fail;
    }
    if (hoff + hlen > len) {
        nd_fail("%s: truncated .npy header (needs %zu bytes, file has %zu)", path, hoff + hlen, len);
        goto fail;
    }
    char *h = nd_malloc(hlen + 1);
    if (!h) {
        nd_fail("%s: out of memory", path);
        goto fail;
    }
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    int rc = parse_header(a, h, path, allow_fortran);
    free(h);
    if (rc)
        goto fail;
    size_t need;
    if (!nd_mul_ok(a->count, a->elsize, &need)) {
        nd_fail_prefix("%s", path);
        goto fail;
    }
    /* the data is used in place (typed loads from the mapping), so it must
     * be aligned; NumPy pads the header to 64 (older versions 16) bytes */
    if ((hoff + hlen) % a->elsize) {
        nd_fail("%s: .npy data starts at byte %zu, not a multiple of the %zu-byte element size "
                "(header not padded as NumPy does)", path, hoff + hlen, a->elsize);
        goto fail;
    }
    size_t have = len - hoff - hlen;
    if (have != need) {
        nd_fail("%s: %s .npy of shape %zu elements needs %zu data bytes, file has %zu (%s)", path,
                npy_dtype_name(a->dtype), a->count, need, have,
                have < need ? "truncated" : "trailing bytes");
        goto fail;
    }
    a->data = b + hoff + hlen;
    a->path = strdup(path);
    return 0;
fail:
    munmap(map, len);
    memset(a, 0, sizeof *a);
    return -1;
}

int npy_open(npy_t *a, const char *path) { return open_order(a, path, 0); }

int npy_open_any(npy_t *a, const char *path) { return open_order(a, path, 1); }

size_t npy_offset(const npy_t *a, const size_t *idx)
{
    size_t off = 0;
    if (a->fortran)
        for (int d = a->ndim - 1; d >= 0; d--) {
            ND_ASSERT(idx[d] < a->shape[d]);
            off = off * a->shape[d] + idx[d];
        }
    else
        for (int d = 0; d < a->ndim; d++) {
            ND_ASSERT(idx[d] < a->shape[d]);
            off = off * a->shape[d] + idx[d];
        }
    return off;
}

void npy_close(npy_t *a)
{
    if (a->map)
        munmap(a->map, a->maplen);
    free(a->path);
    memset(a, 0, sizeof *a);
}

float npy_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24); /* zero or subnormal */
        return sign ? -f : f;
    }
    uint32_t bits;
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t npy_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff) /* inf stays inf; NaN stays a quiet NaN */
        return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0));
    int exp = (int)e - 127 + 15; /* half's biased exponent */
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) { /* a half subnormal (or zero): value / 2^-24, rounded */
        if (exp < -10)
            return (uint16_t)sign;
        m |= 0x800000u;
        int shift = 14 - exp;
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    /* round to nearest even; a carry out of the mantissa correctly bumps
     * the exponent (up to 0x7c00 = inf) */
    uint32_t h = ((uint32_t)exp << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

#define CONVERT_LOOP(OUT_T)                                                          \
    switch (a->dtype) {                                                              \
    case NPY_F16: {                                                                  \
        const uint16_t *s = (const uint16_t *)a->data + first;                       \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)npy_half_to_float(s[i]);      \
    } break;                                                                         \
    case NPY_F32: {                                                                  \
        const float *s = (const float *)a->data + first;                             \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    case NPY_F64: {                                                                  \
        const double *s = (const double *)a->data + first;                           \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    case NPY_I32: {                                                                  \
        const int32_t *s = (const int32_t *)a->data + first;                         \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    case NPY_I64: {                                                                  \
        const int64_t *s = (const int64_t *)a->data + first;                         \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    case NPY_U8: {                                                                   \
        const uint8_t *s = (const uint8_t *)a->data + first;                         \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    case NPY_U16: {                                                                  \
        const uint16_t *s = (const uint16_t *)a->data + first;                       \
        for (size_t i = 0; i < n; i++) out[i] = (OUT_T)s[i];                         \
    } break;                                                                         \
    }

void npy_to_f32(const npy_t *a, size_t first, size_t n, float *out)
{
    ND_ASSERT(first + n <= a->count);
    CONVERT_LOOP(float)
}

void npy_to_f64(const npy_t *a, size_t first, size_t n, double *out)
{
    ND_ASSERT(first + n <= a->count);
    CONVERT_LOOP(double)
}

size_t npy_header(char *buf, size_t cap, npy_dtype t, int ndim, const size_t *shape)
{
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     npy_dtype_name(t));
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    ND_ASSERT(padded <= cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t hlen = padded - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', padded - total);
    buf[padded - 1] = '\n';
    return padded;
}

int npy_writer_open(npy_writer *w, const char *path, npy_dtype t, int ndim, const size_t *shape)
{
    memset(w, 0, sizeof *w);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (!nd_mul_ok(count, shape[i], &count))
            return nd_fail_prefix("%s", path);
    if (!nd_mul_ok(count, npy_dtype_size(t), &w->expect))
        return nd_fail_prefix("%s", path);
    char hdr[1024];
    size_t hl = npy_header(hdr, sizeof hdr, t, ndim, shape);
    /* an .npy replaces an earlier .npy, never some other file named by mistake */
    if (afile_check_kind(path, "\x93NUMPY", 6, ".npy file") || afile_open(&w->af, path))
        return -1;
    if (fwrite(hdr, 1, hl, w->af.f) != hl) {
        afile_abort(&w->af);
        return nd_fail("%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

int npy_writer_put(npy_writer *w, const void *data, size_t nbytes)
{
    if (nbytes && fwrite(data, 1, nbytes, w->af.f) != nbytes) {
        int e = errno;
        char *p = strdup(w->af.path ? w->af.path : "?");
        afile_abort(&w->af);
        nd_fail("%s: write failed: %s", p ? p : "?", strerror(e));
        free(p);
        return -1;
    }
    w->written += nbytes;
    return 0;
}

int npy_writer_commit(npy_writer *w)
{
    ND_ASSERT(w->written == w->expect);
    return afile_commit(&w->af);
}

void npy_writer_abort(npy_writer *w) { afile_abort(&w->af); }

int npy_save(const char *path, npy_dtype t, int ndim, const size_t *shape, const void *data)
{
    npy_writer w;
    if (npy_writer_open(&w, path, t, ndim, shape))
        return -1;
    if (npy_writer_put(&w, data, w.expect))
        return -1;
    return npy_writer_commit(&w);
}

int npy_load_f64(const char *path, double **out, size_t *n)
{
    npy_t a;
    if (npy_open(&a, path))
        return -1;
    double *v = nd_malloc(a.count * sizeof *v);
    if (!v) {
        npy_close(&a);
        return -1;
    }
    npy_to_f64(&a, 0, a.count, v);
    *out = v;
    *n = a.count;
    npy_close(&a);
    return 0;
}
