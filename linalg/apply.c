/* apply.c - rotating activations: r(x) = R a(x) at every spatial position.
 *
 * For one image the activations are a K x hw row-major matrix A (unit k's
 * map is row k), so rotating every spatial position at once is the single
 * product R A: one sgemm per image, with R converted to float32 once (the
 * activations are float32; a double product would only add conversions).
 * A block of images is not one larger sgemm because images are stacked
 * along the row axis ([n][K][hw]), not the column axis; per-image calls on
 * K x K times K x hw (256 x 256 x 169 for AlexNet conv5) are already large
 * enough for OpenBLAS to run near its peak (see bench/bench_rotate.c).
 *
 * rot_features wraps another feature source: get() fetches the block from
 * the inner source into a scratch buffer allocated per call (so concurrent
 * calls with distinct bufs stay independent, as features.h requires) and
 * writes R times it into the caller's buf.
 */
#include "linalg/apply.h"

#include "core/err.h"
#include "core/blas.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

void rot_apply(float *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw)
{
    ND_ASSERT(K > 0 && K <= (size_t)INT32_MAX && hw <= (size_t)INT32_MAX);
    if (hw == 0)
        return;
    size_t per = K * hw;
    for (size_t i = 0; i < n; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)hw, (int)K, 1.0f, Rf,
                    (int)K, in + i * per, (int)hw, 0.0f, out + i * per, (int)hw);
}

typedef struct {
    nd_features in; /* the inner source (its ctx is borrowed) */
    float *Rf;      /* K x K, row-major, float32 */
    int saved_threads; /* OpenBLAS thread count to restore */
} rot_ctx;

/* Per-thread scratch for the inner source's block, kept between calls: a
 * fresh multi-megabyte malloc per block costs page faults and zeroing
 * comparable to the sgemm itself.  Freed when the thread exits. */
typedef struct {
    float *p;
    size_t cap;
} scratch_buf;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v)
{
    scratch_buf *b = v;
    free(b->p);
    free(b);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static float *scratch_get(size_t bytes)
{
    pthread_once(&scratch_once, scratch_init);
    scratch_buf *b = pthread_getspecific(scratch_key);
    if (!b) {
        if (!(b = nd_calloc(1, sizeof *b)))
            return NULL;
        pthread_setspecific(scratch_key, b);
    }
    if (b->cap < bytes) {
        free(b->p);
        b->p = nd_malloc(bytes);
        b->cap = b->p ? bytes : 0;
    }
    return b->p;
}

static int rot_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const rot_ctx *c = ctx;
    const nd_features *in = &c->in;
    size_t per = in->K * in->h * in->w, count;
    if (!nd_mul_ok(n, per, &count) || !nd_mul_ok(count, sizeof(float), &count))
        return -1;
    float *scratch = scratch_get(count ? count : 1);
    if (!scratch)
        return nd_fail("out of memory (%zu bytes)", count);
    const float *x = NULL;
    if (in->get(in->ctx, i0, n, scratch, &x))
        return -1;
    rot_apply(buf, x, c->Rf, n, in->K, in->h * in->w);
    *out = buf;
    return 0;
}

int rot_features(nd_features *out, const nd_features *in, const double *R)
{
    memset(out, 0, sizeof *out);
    size_t KK;
    if (in->K == 0 || in->K > (size_t)INT32_MAX || !nd_mul_ok(in->K, in->K, &KK))
        return nd_fail("rot_features: %zu units, expected 1..%d", in->K, INT32_MAX);
    if (in->h * in->w > (size_t)INT32_MAX)
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
