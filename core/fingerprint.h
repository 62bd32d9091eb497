/* fingerprint.h - has an input file changed?  Size and a content hash.
 *
 * A resumed run must notice that an input was replaced (the same shape, other
 * numbers), and must not mind that it was copied or moved (new path, new
 * modification time): the content hash decides, the path and the time do not.
 * Files up to ND_FP_FULL bytes are hashed whole (about 0.1 s per 200 MB);
 * larger ones through ND_FP_BLOCKS evenly spaced 1 MiB blocks, always
 * including the first (the .npy header) and the last, plus the size.
 */
#ifndef ND_FINGERPRINT_H
#define ND_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#define ND_FP_FULL ((uint64_t)1 << 30)
#define ND_FP_BLOCKS 256

typedef struct {
    uint64_t size, hash;
    int sampled; /* 1: hashed through blocks, not whole */
} nd_fingerprint;

/* 0, or -1 with one nd_fail line naming the file. */
int nd_fingerprint_file(const char *path, nd_fingerprint *fp);
/* "size 123 hash 0123456789abcdef" (+ " sampled") */
void nd_fingerprint_str(const nd_fingerprint *fp, char *buf, size_t cap);
/* The 64-bit content hash of a buffer, continuing from h (start with 0). */
uint64_t nd_hash_bytes(uint64_t h, const void *p, size_t n);

#endif
