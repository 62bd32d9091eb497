/* fingerprint.c - input fingerprints (see fingerprint.h). */
#include "core/fingerprint.h"
#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 64-bit words through a multiply-rotate mix (as in MurmurHash's inner
 * loop): not cryptographic, only a change detector, and fast enough to hash
 * whole activation files on every resume. */
static uint64_t mix(uint64_t h, uint64_t w)
{
    w *= 0x87c37b91114253d5ull;
    w = (w << 31) | (w >> 33);
    w *= 0x4cf5ad432745937full;
    h ^= w;
    h = (h << 27) | (h >> 37);
    return h * 5 + 0x52dce729;
}

uint64_t nd_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = mix(h, w);
    }
    uint64_t w = 0;
    for (size_t k = 0; i + k < n; k++)
        w |= (uint64_t)b[i + k] << (8 * k);
    return mix(h, w ^ (uint64_t)n << 56); /* the length tells "ab" from "ab\0" */
}

#define BLOCK ((size_t)1 << 20)

int nd_fingerprint_file(const char *path, nd_fingerprint *fp)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot read: %s", path, strerror(errno));
    struct stat st;
    char *buf = malloc(BLOCK);
    int rc = -1;
    if (!buf || fstat(fileno(f), &st) != 0) {
        nd_fail("%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
        goto done;
    }
    memset(fp, 0, sizeof *fp);
    fp->size = (uint64_t)st.st_size;
    fp->sampled = fp->size > ND_FP_FULL;
    uint64_t h = nd_hash_bytes(0, &fp->size, sizeof fp->size);
    uint64_t nblocks = fp->sampled ? ND_FP_BLOCKS : (fp->size + BLOCK - 1) / BLOCK;
    for (uint64_t b = 0; b < nblocks; b++) {
        /* sampled: block b starts at b/(n-1) of the way to the last block */
        uint64_t at = fp->sampled ? (fp->size - BLOCK) / (ND_FP_BLOCKS - 1) * b : b * BLOCK;
        if (fp->sampled && b == nblocks - 1)
            at = fp->size - BLOCK;
        size_t want = fp->size - at < BLOCK ? (size_t)(fp->size - at) : BLOCK;
        if (fseeko(f, (off_t)at, SEEK_SET) != 0 || fread(buf, 1, want, f) != want) {
            nd_fail("%s: read error at byte %llu", path, (unsigned long long)at);
            goto done;
        }
        h = nd_hash_bytes(h, buf, want);
    }
    fp->hash = h;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

void nd_fingerprint_str(const nd_fingerprint *fp, char *buf, size_t cap)
{
    snprintf(buf, cap, "size %llu hash %016llx%s", (unsigned long long)fp->size, (unsigned long long)fp->hash,
             fp->sampled ? " sampled" : "");
}
