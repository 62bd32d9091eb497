/* apply.c - rotating activations: r(x) = R a(x) at every spatial position.
 *
 * For one image the activations are a K x hw row-major matrix A (unit k's
 * map is row k), so rotating every spatial position at once is the product
 * R A, with R converted to float32 once (the activations are float32; a
 * double product would only add conversions).  Images are stacked along
 * the row axis ([n][K][hw]), so a block of them is not one matrix: each
 * group of ROT_GROUP images is first copied side by side into one
 * K x (g hw) matrix P and rotated by one product R P.  OpenBLAS packs both
 * operands on every call; one product per image repacked R per image, and
 * on an AVX-512 Xeon ran at 76-78% of the sgemm peak against 82% for the
 * group (bench/bench_rotate.c).
 *
 * Groups are fixed by global image index (images [g G, (g+1) G), the last
 * one shorter), and every value is computed in its group's product
 * whatever block a caller asks for: with some OpenBLAS kernels (Haswell)
 * a product's values depend on how many columns it has, so this is what
 * keeps rotated values independent of the reader, its blocks and threads.
 *
 * rot_features wraps another feature source: get() fetches the groups
 * covering the block from the inner source into a per-thread scratch
 * buffer, rotates them and copies the requested images out ([n][K][hw]);
 * get_units (nd_features_units) hands one group over as R P itself,
 * unit-major, without that copy: the sieve's pass reads it so.
 */
#include "linalg/apply.h"

#include "core/err.h"
#include "core/blas.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* C = R P for nb images of in ([nb][K][hw]) copied side by side into P;
 * P and C hold K * nb * hw floats, C unit-major: map (i, k) at
 * C + (k * nb + i) * hw. */
static void group_product(float *C, const float *in, const float *Rf, size_t nb, size_t K, size_t hw, float *P)
{
    size_t cols = nb * hw, per = K * hw;
    /* row by row of P: its writes run in order while the nb reads stream
     * side by side; 5-8% faster on one core than image by image, and the
     * copy is most of what separates the rotation from the sgemm peak */
    for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < nb; i++)
            memcpy(P + k * cols + i * hw, in + i * per + k * hw, hw * sizeof *P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)cols, (int)K, 1.0f, Rf, (int)K, P,
                (int)cols, 0.0f, C, (int)cols);
}

/* Images first..first+count-1 of a group of nb (unit-major in C) to out,
 * image-major. */
static void unpack(float *out, const float *C, size_t first, size_t count, size_t nb, size_t K, size_t hw)
{
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < K; k++)
            memcpy(out + (i * K + k) * hw, C + (k * nb + first + i) * hw, hw * sizeof *out);
}

/* Per-thread scratch, kept between calls: a fresh multi-megabyte malloc per
 * block costs page faults and zeroing comparable to the sgemm itself.
 * Slot 0 holds the inner source's block, slot 1 a group's P and C.  Freed
 * when the thread exits. */
typedef struct {
    float *p[2];
    size_t cap[2];
} scratch_buf;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v)
{
    scratch_buf *b = v;
    free(b->p[0]), free(b->p[1]);
    free(b);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static float *scratch_get(int slot, size_t floats)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_buf *b = pthread_getspecific(scratch_key);
    if (!b) {
        if (!(b = nd_calloc(1, sizeof *b)))
            return NULL;
        pthread_setspecific(scratch_key, b);
    }
    if (b->cap[slot] < floats) {
        free(b->p[slot]);
        b->p[slot] = nd_malloc(floats * sizeof(float));
        b->cap[slot] = b->p[slot] ? floats : 0;
    }
    return b->p[slot];
}

/* P and C of one group, from this thread's scratch (C = P + K G hw) */
static float *group_scratch(size_t K, size_t hw)
{
    return scratch_get(1, 2 * K * ROT_GROUP * hw);
}

/* in holds span images from a group start; images first..first+n-1 of
 * them rotated to out, image-major, group by group. */
static int rotate_span(float *out, const float *in, const float *Rf, size_t span, size_t first, size_t n, size_t K,
                       size_t hw)
{
    float *P = group_scratch(K, hw), *C = P ? P + K * ROT_GROUP * hw : NULL;
    if (!P)
        return -1;
    size_t per = K * hw, end = first + n;
    for (size_t a = first - first % ROT_GROUP; a < end; a += ROT_GROUP) {
        size_t nb = span - a < ROT_GROUP ? span - a : ROT_GROUP;
        size_t lo = a < first ? first - a : 0, hi = a + nb < end ? nb : end - a;
        group_product(C, in + a * per, Rf, nb, K, hw, P);
        unpack(out + (a + lo - first) * per, C, lo, hi - lo, nb, K, hw);
    }
    return 0;
}

int rot_apply(float *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw)
{
    ND_ASSERT(K > 0 && K <= (size_t)INT32_MAX && hw <= (size_t)INT32_MAX / ROT_GROUP);
    return hw == 0 || n == 0 ? 0 : rotate_span(out, in, Rf, n, 0, n, K, hw);
}

typedef struct {
    nd_features in; /* the inner source (its ctx is borrowed) */
    float *Rf;      /* K x K, row-major, float32 */
    int saved_threads; /* OpenBLAS thread count to restore */
} rot_ctx;

/* The inner source's images [g0, ge) (whole groups) in this thread's
 * scratch slot 0 (or wherever the inner source points). */
static int inner_groups(const rot_ctx *c, size_t g0, size_t ge, const float **x)
{
    const nd_features *in = &c->in;
    size_t per = in->K * in->h * in->w, count;
    if (!nd_mul_ok(ge - g0, per, &count) || !nd_mul_ok(count, sizeof(float), &count))
        return nd_fail("rot_features: a block of %zu images is too large", ge - g0);
    float *scratch = scratch_get(0, (ge - g0) * per);
    if (!scratch)
        return -1;
    return in->get(in->ctx, g0, ge - g0, scratch, x);
}

static int rot_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const rot_ctx *c = ctx;
    size_t K = c->in.K, hw = c->in.h * c->in.w, N = c->in.N;
    if (n == 0 || hw == 0) {
        *out = buf;
        return 0;
    }
    size_t g0 = i0 - i0 % ROT_GROUP, ge = (i0 + n + ROT_GROUP - 1) / ROT_GROUP * ROT_GROUP;
    ge = ge < N ? ge : N;
    const float *x = NULL;
    if (inner_groups(c, g0, ge, &x) || rotate_span(buf, x, c->Rf, ge - g0, i0 - g0, n, K, hw))
        return -1;
    *out = buf;
    return 0;
}

/* One group, unit-major (nd_features_units): images i0..i0+n-1 of the
 * group starting at i0, map (i, k) at buf + (k * n + i) * hw. */
static int rot_get_units(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const rot_ctx *c = ctx;
    size_t K = c->in.K, hw = c->in.h * c->in.w, N = c->in.N;
    size_t nb = N - i0 < ROT_GROUP ? N - i0 : ROT_GROUP;
    if (i0 % ROT_GROUP || n == 0 || n > nb)
        return nd_fail("rot_features: images %zu..%zu are not the start of one group of %d", i0, i0 + n - 1,
                       ROT_GROUP);
    const float *x = NULL;
    float *P = group_scratch(K, hw);
    if (!P || inner_groups(c, i0, i0 + nb, &x))
        return -1;
    float *C = n == nb ? buf : P + K * ROT_GROUP * hw;
    group_product(C, x, c->Rf, nb, K, hw, P);
    for (size_t k = 0; n < nb && k < K; k++) /* the first n images of a fuller group */
        memcpy(buf + k * n * hw, C + k * nb * hw, n * hw * sizeof *buf);
    *out = buf;
    return 0;
}

static pthread_once_t units_once = PTHREAD_ONCE_INIT;
static void units_register(void) { nd_features_set_units(rot_get, rot_get_units, ROT_GROUP); }

int rot_features(nd_features *out, const nd_features *in, const double *R)
{
    memset(out, 0, sizeof *out);
    size_t KK;
    if (in->K == 0 || in->K > (size_t)INT32_MAX || !nd_mul_ok(in->K, in->K, &KK))
        return nd_fail("rot_features: %zu units, expected 1..%d", in->K, INT32_MAX);
    size_t group_bytes; /* a group's P and C (group_scratch) */
    if (in->h * in->w > (size_t)INT32_MAX / ROT_GROUP ||
        !nd_mul_ok(in->K * in->h * in->w, 2 * ROT_GROUP * sizeof(float), &group_bytes))
        return nd_fail("rot_features: %zu x %zu maps are too large for sgemm", in->h, in->w);
    rot_ctx *c = nd_malloc(sizeof *c);
    if (!c)
        return -1;
    c->Rf = nd_malloc(KK * sizeof *c->Rf);
    if (!c->Rf) {
        free(c);
        return -1;
    }
    for (size_t k = 0; k < KK; k++)
        c->Rf[k] = (float)R[k];
    c->in = *in;
    /* The consumers of a feature source (the dissector's passes) split
     * images over their own threads; each image's sgemm then runs on one
     * OpenBLAS thread, so 2 cores do not carry 4 threads, and every rotated
     * value is computed the same way whatever the thread counts. */
    c->saved_threads = nd_blas_serial_begin();
    pthread_once(&units_once, units_register);
    out->N = in->N, out->K = in->K, out->h = in->h, out->w = in->w;
    out->get = rot_get;
    out->ctx = c;
    return 0;
}

void rot_features_free(nd_features *f)
{
    if (!f || !f->ctx)
        return;
    ND_ASSERT(f->get == rot_get); /* only sources made by rot_features */
    rot_ctx *c = f->ctx;
    nd_blas_serial_end(c->saved_threads);
    free(c->Rf);
    free(c);
    memset(f, 0, sizeof *f);
}
