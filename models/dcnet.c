/* dcnet.c - Deep Compression decoder.
 *
 * The whole file is read into memory first and its size checked against
 * the size implied by the header (sum of per-layer sections), so a
 * truncated or extended file is rejected before any decoding, with the
 * expected and found byte counts and the layer where the data runs out.
 * Then each layer's relative positions are accumulated; a position past the
 * dense array means a corrupted file.  Values are codebook lookups, so the
 * decoded weights are exactly the stored floats.  Codebook entry 0 is 0.0
 * and marks gap fillers (a gap longer than 16 positions is bridged by
 * stored zeros with step 15); a stored zero with a smaller step, or a
 * nonzero entry 0, means the file is not what the header says.  So the
 * header's count = nonzero weights + fillers, checked entry by entry.
 */
#include "models/dcnet.h"

#include "core/err.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rd_f32(const unsigned char *p)
{
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static size_t section_bytes(const dcnet_layer *L, size_t nz)
{
    return 256 * 4 + (size_t)L->cout * 4 + nz + (nz ? (nz - 1) / 2 + 1 : 0);
}

/* The whole file in memory. */
static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nd_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        nd_fail("%s: cannot stat: %s", path, strerror(errno));
        return NULL;
    }
    size_t fsize = (size_t)st.st_size;
    unsigned char *buf = nd_malloc(fsize ? fsize : 1);
    size_t got = buf ? fread(buf, 1, fsize, f) : 0;
    fclose(f);
    if (!buf) {
        nd_fail_prefix("%s", path);
        return NULL;
    }
    if (got != fsize) {
        free(buf);
        nd_fail("%s: read %zu of %zu bytes", path, got, fsize);
        return NULL;
    }
    *size = fsize;
    return buf;
}

/* The header's counts must describe exactly the file's length. */
static int check_sizes(const char *path, const unsigned char *buf, size_t fsize, const dcnet_layer *layers, int n)
{
    size_t hdr = (size_t)n * 4;
    if (fsize < hdr)
        return nd_fail("%s: truncated header: expected %zu bytes of layer counts, found %zu", path, hdr, fsize);
    size_t pos = hdr;
    for (int i = 0; i < n; i++) {
        const dcnet_layer *L = &layers[i];
        size_t nz = rd_u32(buf + 4 * i);
        if (nz > L->nweights)
            return nd_fail("%s: layer %s: header says %zu stored weights, more than the "
                           "layer's %zu", path, L->name, nz, L->nweights);
        size_t sec = section_bytes(L, nz);
        if (pos + sec > fsize) {
            size_t total = pos + sec;
            for (int j = i + 1; j < n; j++)
                total += section_bytes(&layers[j], rd_u32(buf + 4 * j));
            return nd_fail("%s: truncated in layer %s (%d of %d): expected %zu bytes in all, "
                           "found %zu", path, L->name, i + 1, n, total, fsize);
        }
        pos += sec;
    }
    if (pos != fsize)
        return nd_fail("%s: %zu extra bytes after the last layer (%s): expected %zu bytes, "
                       "found %zu", path, fsize - pos, layers[n - 1].name, pos, fsize);
    return 0;
}

/* Decode one layer's section (codebook, biases, indices, steps). */
static int decode_layer(const char *path, const unsigned char *cb, size_t nz, dcnet_layer *L)
{
    const unsigned char *bias = cb + 256 * 4;
    const unsigned char *idx = bias + (size_t)L->cout * 4;
    const unsigned char *steps = idx + nz;
    float book[256];
    for (int k = 0; k < 256; k++)
        book[k] = rd_f32(cb + 4 * k);
    if (book[0] != 0.0f)
        return nd_fail("%s: layer %s: codebook entry 0 is %g, expected 0 (the format "
                       "reserves it for gap fillers)", path, L->name, book[0]);
    for (int k = 0; k < L->cout; k++)
        L->bias[k] = rd_f32(bias + 4 * k);
    memset(L->wt, 0, sizeof(float) * L->nweights);
    size_t p = 0, nonzero = 0; /* p = position + 1 of the next weight's predecessor */
    for (size_t j = 0; j < nz; j++) {
        unsigned s = (steps[j / 2] >> ((j & 1) * 4)) & 0xF;
        p += s + 1;
        if (p > L->nweights)
            return nd_fail("%s: layer %s: stored weight %zu lands at position %zu, past "
                           "the layer's %zu weights", path, L->name, j, p - 1, L->nweights);
        float v = book[idx[j]];
        /* a stored zero exists only to bridge a gap longer than 16
         * positions, so it must carry the largest step */
        if (v == 0.0f && s != 15)
            return nd_fail("%s: layer %s: stored weight %zu is zero but not a gap filler "
                           "(step %u, expected 15)", path, L->name, j, s);
        L->wt[p - 1] = v;
        nonzero += v != 0.0f;
    }
    L->stored = nz;
    L->nonzero = nonzero;
    return 0;
}

int dcnet_read(const char *path, dcnet_layer *layers, int n)
{
    size_t fsize;
    unsigned char *buf = read_all(path, &fsize);
    if (!buf)
        return -1;
    int rc = check_sizes(path, buf, fsize, layers, n);
    size_t pos = (size_t)n * 4;
    for (int i = 0; i < n && !rc; i++) {
        size_t nz = rd_u32(buf + 4 * i);
        rc = decode_layer(path, buf + pos, nz, &layers[i]);
        pos += section_bytes(&layers[i], nz);
    }
    free(buf);
    return rc;
}
