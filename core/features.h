/* features.h - a source of activations [N, K, h, w] (float32, C order, N in
 * dataset index order), read in blocks of whole images.
 *
 * The dissector never assumes the activations sit in one array: a source
 * can be a memory-mapped .npy (float32 returned in place, float16 converted),
 * or a transform of another source (linalg's rotation r(x) = R a(x) is one),
 * so rotated activations stream into the dissector without being written.
 *
 *     nd_features f;
 *     if (nd_features_from_npy(&f, &npy)) ...
 *     float *buf = malloc(n * f.K * f.h * f.w * sizeof(float));
 *     const float *x;
 *     f.get(f.ctx, i0, n, buf, &x);   // x = images i0..i0+n-1 (may point into buf or not)
 */
#ifndef ND_FEATURES_H
#define ND_FEATURES_H

#include <stddef.h>

#include "core/npy.h"

typedef struct nd_features {
    size_t N, K, h, w;
    /* Make images [i0, i0+n) available as float32 [n, K, h, w] at *out.
     * buf has room for n*K*h*w floats; the source may fill it or point *out
     * elsewhere (e.g. into a mapping).  Returns 0, or -1 with nd_fail().
     * Must be safe to call from several threads with distinct bufs. */
    int (*get)(void *ctx, size_t i0, size_t n, float *buf, const float **out);
    void *ctx;
} nd_features;

/* Sources that can also hand over a group of images unit-major: units(ctx,
 * i0, n, buf, &x) with i0 a multiple of *group and n <= *group (and <=
 * N - i0) gives map (i, k) of images i0..i0+n-1 at x + (k * n + i) * h * w,
 * the same values get() gives, without get()'s copy into image-major
 * order.  A source type registers its get() once
 * (nd_features_set_units); nd_features_units(f, &group) is its units
 * function, or NULL for every other source. */
typedef int (*nd_units_fn)(void *ctx, size_t i0, size_t n, float *buf, const float **out);
void nd_features_set_units(int (*get)(void *, size_t, size_t, float *, const float **), nd_units_fn units,
                           size_t group);
nd_units_fn nd_features_units(const nd_features *f, size_t *group);

/* A 4-D float32 or float16 .npy; the npy_t must outlive the source. */
int nd_features_from_npy(nd_features *f, const npy_t *a);

/* One pass over `in` on `threads` workers (0 = all cores) into memory, and
 * a source over that copy in *out - for a source that is expensive to
 * produce and read more than once (a rotation is read by the thresholds
 * and again by the tally: materialised, it is computed once).  Returns 1
 * done, 0 if the copy would exceed budget bytes (*out untouched), -1 on
 * error.  Free with nd_features_memory_free. */
int nd_features_memory(nd_features *out, const nd_features *in, size_t budget, int threads);
/* The same for images [i0, i1) only (a shard): the copy holds n = i1 - i0
 * images (the budget applies to them) and the source over it keeps `in`'s
 * N and global image indices; asking it for images outside [i0, i1) is an
 * error.  The copy reads `in` in 8-image chunks aligned to global indices. */
int nd_features_memory_range(nd_features *out, const nd_features *in, size_t i0, size_t i1, size_t budget,
                             int threads);
/* The same, calling hook(ctx, tid, x, i0, n) on job tid (0 <= tid <
 * threads) with each chunk as soon as it is in the copy (x: images
 * [i0, i0+n)) - to read the values while they are in cache (the
 * thresholds' candidates, core/onepass.c).  A hook's -1 (with nd_fail)
 * fails the copy. */
typedef int (*nd_copy_hook)(void *ctx, int tid, const float *x, size_t i0, size_t n);
int nd_features_memory_hook(nd_features *out, const nd_features *in, size_t i0, size_t i1, size_t budget,
                            int threads, nd_copy_hook hook, void *hook_ctx);
void nd_features_memory_free(nd_features *f);
/* nd_features_memory_free keeps the last buffer for the next call of about
 * the same size (one rotated point after another); this frees it. */
void nd_features_memory_release(void);

/* Check every value is finite; error names the file, image, unit and value. */
int nd_features_check_finite(const nd_features *f, const char *name);
/* The same for images [i0, i1) only (a shard). */
int nd_features_check_finite_range(const nd_features *f, const char *name, size_t i0, size_t i1);

/* The largest of v[0..n) (n >= 1, finite), the first of equal ones as a
 * scan with `>` keeps it (only a zero maximum can differ: -0 or +0). */
float nd_map_max(const float *v, size_t n);

/* Shard `rank` of `nranks` of N images: a contiguous range [*i0, *i1) whose
 * ends are multiples of `align` (or N), so that a shard reads the same
 * image blocks as one process does (rounding of block-wise sources; the
 * threshold passes read blocks of 16).  Shards are as equal as the alignment
 * allows; some may be empty when N is small. */
void nd_image_shard(size_t N, int rank, int nranks, size_t align, size_t *i0, size_t *i1);

/* Job tid of nt: run fn on blocks tid, tid + nt, ... of ND_FEATURES_BLOCK
 * images, read through f into a private buffer (x = images i0 .. i0+n-1),
 * until fn returns nonzero.
 * Returns 0, or -1 with the message in err (a worker thread's own buffer). */
#define ND_FEATURES_BLOCK 16
int nd_features_blocks(const nd_features *f, int tid, int nt, int (*fn)(void *ctx, const float *x, size_t i0, size_t n),
                       void *ctx, char *err, size_t errlen);
/* nd_features_blocks with fn told each block's layout: for a source with a
 * units function (nd_features_units) whose group g divides
 * ND_FEATURES_BLOCK, a block as its whole groups one after another, each
 * unit-major, and fn's g is the group; a block ending in a shorter group
 * (the source's last), and every block of other sources, image-major
 * through get(), g = 0.  The same blocks and values either way. */
int nd_features_blocks_grouped(const nd_features *f, int tid, int nt,
                               int (*fn)(void *ctx, const float *x, size_t i0, size_t n, size_t g), void *ctx,
                               char *err, size_t errlen);
/* The same over images [first, end) only (a shard): the blocks stay
 * aligned to global image indices (block b is images [b*B, (b+1)*B)
 * clipped to the range), so a shard reads one process's blocks. */
int nd_features_blocks_range(const nd_features *f, size_t first, size_t end, int tid, int nt,
                             int (*fn)(void *ctx, const float *x, size_t i0, size_t n), void *ctx, char *err,
                             size_t errlen);

#endif
