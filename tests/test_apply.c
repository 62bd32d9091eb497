/* test_apply.c - rotating activations (linalg/apply.h) against a naive loop.
 *
 * The reference is the definition r_k(x) = sum_j R[k][j] a_j(x) evaluated
 * per image, unit and position in double from the same float32 R and
 * activations.  sgemm accumulates K products in float32, so its error is
 * about sqrt(K) * 2^-24 times the size of the terms; errors are measured
 * normwise, relative to the largest |value| of the reference (an elementwise
 * relative error is meaningless for outputs that cancel to ~0), and must
 * stay below 1e-5.
 */
#include "core/err.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "tests/testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) /* splitmix64 -> [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* ReLU-like activations: about half exact zeros, the rest in (0, 10) */
static float *random_acts(size_t count)
{
    float *a = malloc(count * sizeof *a);
    for (size_t i = 0; i < count; i++) {
        double u = urand();
        a[i] = u < 0.5 ? 0.0f : (float)(20 * (u - 0.5));
    }
    return a;
}

static void naive(double *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < K; k++)
            for (size_t p = 0; p < hw; p++) {
                double s = 0;
                for (size_t j = 0; j < K; j++)
                    s += (double)Rf[k * K + j] * in[(i * K + j) * hw + p];
                out[(i * K + k) * hw + p] = s;
            }
}

/* max |got - want| / max |want| */
static double rel_err(const float *got, const double *want, size_t count)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= num))
            num = d;
        den = fmax(den, fabs(want[i]));
    }
    return den > 0 ? num / den : num;
}

static double rel_err_f(const float *got, const float *want, size_t count)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= num))
            num = d;
        den = fmax(den, fabs(want[i]));
    }
    return den > 0 ? num / den : num;
}

/* ---- an in-memory feature source ---------------------------------------- */

typedef struct {
    const float *data;
    size_t per;
    int fail_at; /* image index whose fetch fails, or -1 */
} mem_src;

static int mem_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const mem_src *m = ctx;
    if (m->fail_at >= 0 && (size_t)m->fail_at >= i0 && (size_t)m->fail_at < i0 + n)
        return nd_fail("mem.npy: image %d: simulated read error", m->fail_at);
    /* alternate between returning in place and copying, as real sources do */
    if (i0 % 2) {
        memcpy(buf, m->data + i0 * m->per, n * m->per * sizeof *buf);
        *out = buf;
    } else {
        *out = m->data + i0 * m->per;
    }
    return 0;
}

static double *haar_f64(size_t K, unsigned long seed)
{
    double *Q = malloc(K * K * sizeof *Q);
    if (rot_haar(Q, K, seed))
        printf("  rot_haar: %s\n", nd_errmsg());
    return Q;
}

static float *to_f32(const double *R, size_t KK)
{
    float *f = malloc(KK * sizeof *f);
    for (size_t k = 0; k < KK; k++)
        f[k] = (float)R[k];
    return f;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_vs_naive(size_t N, size_t K, size_t h, size_t w)
{
    char name[128];
    snprintf(name, sizeof name, "rot_apply vs naive: N=%zu K=%zu %zux%zu (N*h*w = %zu)", N, K, h, w,
             N * h * w);
    test_group(name);
    size_t hw = h * w, count = N * K * hw;
    float *a = random_acts(count), *r = malloc(count * sizeof *r);
    double *want = malloc(count * sizeof *want);
    double *R = haar_f64(K, 100 + K);
    float *Rf = to_f32(R, K * K);
    rot_apply(r, a, Rf, N, K, hw);
    naive(want, a, Rf, N, K, hw);
    double e = rel_err(r, want, count);
    printf("  max |sgemm - naive| / max |naive| = %.2e\n", e);
    CHECK(e < 1e-5, "within 1e-5 relative (%.2e)", e);
    free(a), free(r), free(want), free(R), free(Rf);
}

/* rot_features: every image's rotated values bit-identical whatever the
 * blocks a caller asks for (the thresholds and the tally use different
 * ones, and thread counts change which thread asks). */
static void test_block_independence(void)
{
    const size_t N = 29, K = 40, h = 3, w = 5, per = K * h * w, count = N * per;
    test_group("rot_features: bit-identical for every block size and offset");
    float *a = random_acts(count), *ref = malloc(count * sizeof *ref), *buf = malloc(count * sizeof *buf);
    double *R = haar_f64(K, 12);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f;
    CHECK(rot_features(&f, &in, R) == 0, "rot_features: %s", nd_errmsg());
    const float *x;
    int ok = f.get(f.ctx, 0, N, buf, &x) == 0;
    memcpy(ref, x, count * sizeof *ref);
    size_t mismatched = 0;
    for (size_t bs = 1; bs <= 17; bs++)
        for (size_t start = 0; start < 3; start++)
            for (size_t i0 = start; i0 < N; i0 += bs) {
                size_t nb = i0 + bs <= N ? bs : N - i0;
                ok &= f.get(f.ctx, i0, nb, buf, &x) == 0;
                mismatched += memcmp(x, ref + i0 * per, nb * per * sizeof *x) != 0;
            }
    CHECK(ok && mismatched == 0, "blocks of 1..17 at offsets 0..2: %zu differ", mismatched);
    rot_features_free(&f);
    free(a), free(ref), free(buf), free(R);
}

/* The groups: get_units hands each group (or its first n images) over
 * unit-major with get()'s values; rot_apply on whole groups gives them too
 * (dissect rotate); other sources have no units function, and a block
 * that is not the start of a group is refused. */
static void test_units(void)
{
    const size_t N = 29, K = 40, h = 3, w = 5, hw = h * w, per = K * hw, count = N * per;
    test_group("rot_features: groups unit-major (get_units) and rot_apply, bit-identical to get()");
    float *a = random_acts(count), *ref = malloc(count * sizeof *ref), *buf = malloc(count * sizeof *buf);
    double *R = haar_f64(K, 21);
    float *Rf = to_f32(R, K * K);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f;
    size_t g = 0;
    CHECK(nd_features_units(&in, &g) == NULL, "a plain source has no units function");
    CHECK(rot_features(&f, &in, R) == 0, "rot_features: %s", nd_errmsg());
    nd_units_fn units = nd_features_units(&f, &g);
    CHECK(units != NULL && g == ROT_GROUP, "a rotated source has one, groups of %zu", g);
    const float *x;
    int ok = f.get(f.ctx, 0, N, buf, &x) == 0;
    memcpy(ref, x, count * sizeof *ref);
    size_t differ = 0, tried = 0;
    for (size_t i0 = 0; units && i0 < N; i0 += g)
        for (size_t n = 1; n <= g && i0 + n <= N; n++, tried++) {
            ok &= units(f.ctx, i0, n, buf, &x) == 0;
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < K; k++)
                    differ += memcmp(x + (k * n + i) * hw, ref + (i0 + i) * per + k * hw, hw * sizeof *x) != 0;
        }
    CHECK(ok && differ == 0, "%zu blocks at every group start (the last group of %zu images): %zu maps differ", tried,
          N % ROT_GROUP, differ);
    int refused = units && units(f.ctx, 3, 2, buf, &x) == -1 && strstr(nd_errmsg(), "group") &&
                  units(f.ctx, 24, 6, buf, &x) == -1;
    CHECK(refused, "a block off a group start, or past its group's end, is refused: %s", nd_errmsg());
    ok = rot_apply(buf, a, Rf, 16, K, hw) == 0 && rot_apply(buf + 16 * per, a + 16 * per, Rf, N - 16, K, hw) == 0;
    CHECK(ok && memcmp(buf, ref, count * sizeof *buf) == 0, "rot_apply on whole groups gives the same values");
    rot_features_free(&f);
    free(a), free(ref), free(buf), free(R), free(Rf);
}

/* nd_features_memory: a rotated source read once into memory gives the
 * same bits as streaming it; a budget too small leaves it alone. */
static void test_memory_copy(void)
{
    const size_t N = 21, K = 24, h = 3, w = 4, per = K * h * w, count = N * per;
    test_group("nd_features_memory: a rotated source held in memory, bit-identical");
    float *a = random_acts(count), *buf = malloc(count * sizeof *buf);
    double *R = haar_f64(K, 4);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f, mf;
    CHECK(rot_features(&f, &in, R) == 0, "rot_features: %s", nd_errmsg());
    CHECK(nd_features_memory(&mf, &f, count * sizeof(float) - 1, 2) == 0, "one byte short of the budget: not held");
    CHECK(nd_features_memory(&mf, &f, count * sizeof(float), 2) == 1, "held: %s", nd_errmsg());
    const float *x, *y;
    int same = f.get(f.ctx, 0, N, buf, &x) == 0 && mf.get(mf.ctx, 3, N - 3, NULL, &y) == 0 &&
               memcmp(x + 3 * per, y, (N - 3) * per * sizeof *x) == 0;
    CHECK(same && mf.N == N && mf.K == K && mf.h == h && mf.w == w, "same shape and values as streaming");
    nd_features_memory_free(&mf);
    m.fail_at = 9;
    CHECK(nd_features_memory(&mf, &f, count * sizeof(float), 2) == -1 && strstr(nd_errmsg(), "image 9"),
          "a failing inner source is reported: %s", nd_errmsg());
    rot_features_free(&f);
    free(a), free(buf), free(R);
}

static void test_source(void)
{
    const size_t N = 11, K = 37, h = 5, w = 7, hw = h * w, per = K * hw, count = N * per;
    test_group("rot_features: blocks of any size, any offset");
    float *a = random_acts(count);
    double *want = malloc(count * sizeof *want);
    double *R = haar_f64(K, 5);
    float *Rf = to_f32(R, K * K);
    naive(want, a, Rf, N, K, hw);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f;
    CHECK(rot_features(&f, &in, R) == 0, "rot_features: %s", nd_errmsg());
    CHECK(f.N == N && f.K == K && f.h == h && f.w == w, "shape carried over");
    float *buf = malloc(count * sizeof *buf), *got = malloc(count * sizeof *got);
    double worst = 0;
    int ok = 1;
    /* blocks of 1, 2, 3 and 4 images: 11 is a multiple of none but 1 */
    for (size_t bs = 1; bs <= 4; bs++)
        for (size_t i0 = 0; i0 < N; i0 += bs) {
            size_t nb = i0 + bs <= N ? bs : N - i0;
            const float *x = NULL;
            ok &= f.get(f.ctx, i0, nb, buf, &x) == 0;
            if (x)
                memcpy(got + i0 * per, x, nb * per * sizeof *got);
            if (i0 + nb == N)
                worst = fmax(worst, rel_err(got, want, count));
        }
    printf("  worst relative error over block sizes 1..4: %.2e\n", worst);
    CHECK(ok, "every get() succeeded");
    CHECK(worst < 1e-5, "blocks agree with the naive loop within 1e-5 (%.2e)", worst);

    test_group("rot_features: errors of the inner source pass through");
    m.fail_at = 6;
    const float *x;
    CHECK(f.get(f.ctx, 4, 4, buf, &x) == -1 && strstr(nd_errmsg(), "mem.npy: image 6"),
          "inner failure reported: %s", nd_errmsg());
    rot_features_free(&f);
    CHECK(f.ctx == NULL && f.get == NULL, "freed source is cleared");
    free(a), free(want), free(R), free(Rf), free(buf), free(got);
}

static void test_roundtrip(void)
{
    /* AlexNet conv5 geometry, a few images */
    const size_t N = 6, K = 256, h = 13, w = 13, hw = h * w, count = N * K * hw;
    test_group("rotate by Q, then by Q^T: N=6 K=256 13x13");
    float *a = random_acts(count), *r = malloc(count * sizeof *r), *back = malloc(count * sizeof *back);
    double *Q = haar_f64(K, 77), *QT = malloc(K * K * sizeof *QT), *Q1 = malloc(K * K * sizeof *Q1);
    /* Q^1 from the Schur path, as the sweep uses it */
    CHECK(rot_power(Q1, Q, K, 1.0) == 0, "Q^1: %s", nd_errmsg());
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++)
            QT[i * K + j] = Q[j * K + i];
    /* chain two sources: Q^T (Q^1 a) */
    mem_src m = {a, K * hw, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f1, f2;
    CHECK(rot_features(&f1, &in, Q1) == 0 && rot_features(&f2, &f1, QT) == 0, "sources");
    const float *x;
    CHECK(f2.get(f2.ctx, 0, N, back, &x) == 0, "get");
    double e = rel_err_f(x, a, count);
    /* and the rotated activations really differ from the input */
    CHECK(f1.get(f1.ctx, 0, N, r, &x) == 0, "get");
    double moved = rel_err_f(x, a, count);
    printf("  max |Q^T Q a - a| / max |a| = %.2e (Q a vs a: %.2f)\n", e, moved);
    CHECK(e < 1e-5, "restored within 1e-5 relative (%.2e)", e);
    CHECK(moved > 0.1, "the rotation changed the activations");
    rot_features_free(&f2);
    rot_features_free(&f1);
    free(a), free(r), free(back), free(Q), free(QT), free(Q1);
}

/* features.h requires get() to be callable from several threads */
typedef struct {
    nd_features *f;
    size_t i0, n;
    float *buf;
    const float *x;
    int rc;
} job;

static void *run_job(void *p)
{
    job *j = p;
    j->rc = j->f->get(j->f->ctx, j->i0, j->n, j->buf, &j->x);
    return NULL;
}

static void test_threads(void)
{
    const size_t N = 8, K = 64, h = 6, w = 6, per = K * h * w, count = N * per;
    test_group("rot_features: concurrent get() with distinct buffers");
    float *a = random_acts(count);
    double *want = malloc(count * sizeof *want), *R = haar_f64(K, 9);
    float *Rf = to_f32(R, K * K);
    naive(want, a, Rf, N, K, h * w);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f;
    CHECK(rot_features(&f, &in, R) == 0, "source");
    float *got = malloc(count * sizeof *got);
    job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){&f, (size_t)i * 2, 2, malloc(2 * per * sizeof(float)), NULL, -1};
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    }
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok &= jobs[i].rc == 0;
        if (jobs[i].rc == 0)
            memcpy(got + jobs[i].i0 * per, jobs[i].x, 2 * per * sizeof *got);
        free(jobs[i].buf);
    }
    double e = rel_err(got, want, count);
    printf("  relative error %.2e\n", e);
    CHECK(ok && e < 1e-5, "four threads, same result as the naive loop (%.2e)", e);
    rot_features_free(&f);
    free(a), free(want), free(R), free(Rf), free(got);
}

/* nd_features_memory_range: a shard of a rotated source held in memory
 * (a sharded sweep point) gives the bits of streaming those images, keeps
 * global indices and refuses images outside it; the budget is the shard's. */
static void test_memory_shard(void)
{
    const size_t N = 37, K = 24, h = 3, w = 4, per = K * h * w, count = N * per, i0 = 16, i1 = 32;
    test_group("nd_features_memory_range: a shard of a rotated source, bit-identical");
    float *a = random_acts(count), *buf = malloc(count * sizeof *buf);
    double *R = haar_f64(K, 5);
    mem_src m = {a, per, -1};
    nd_features in = {N, K, h, w, mem_get, &m}, f, mf;
    CHECK(rot_features(&f, &in, R) == 0, "rot_features: %s", nd_errmsg());
    size_t shard_bytes = (i1 - i0) * per * sizeof(float);
    CHECK(nd_features_memory_range(&mf, &f, i0, i1, shard_bytes - 1, 2) == 0, "one byte short: not held");
    CHECK(nd_features_memory_range(&mf, &f, i0, i1, shard_bytes, 2) == 1, "held: %s", nd_errmsg());
    const float *x, *y;
    size_t differ = 0;
    int ok = f.get(f.ctx, 0, N, buf, &x) == 0;
    for (size_t i = i0; i < i1 && ok; i++) /* one image at a time, as a tally chunk would not */
        ok = mf.get(mf.ctx, i, 1, NULL, &y) == 0, differ += memcmp(x + i * per, y, per * sizeof *y) != 0;
    CHECK(ok && differ == 0 && mf.N == N, "images %zu..%zu as streamed, N kept (%zu differ)", i0, i1 - 1, differ);
    CHECK(mf.get(mf.ctx, i1 - 1, 2, NULL, &y) == -1 && strstr(nd_errmsg(), "[16, 32)"),
          "an image outside the shard is refused: %s", nd_errmsg());
    nd_features_memory_free(&mf);
    CHECK(nd_features_memory_range(&mf, &f, 8, 8, 0, 2) == 1, "an empty shard is held (nothing to copy)");
    nd_features_memory_free(&mf);
    rot_features_free(&f);
    free(a), free(buf), free(R);
}

int main(void)
{
    test_vs_naive(7, 13, 5, 3);    /* N*h*w = 105 */
    test_vs_naive(3, 256, 13, 13); /* AlexNet conv5 maps */
    test_vs_naive(5, 2, 1, 1);     /* 1x1 maps, tiny K */
    test_vs_naive(2, 97, 7, 11);   /* odd sizes throughout */
    test_block_independence();
    test_units();
    test_memory_copy();
    test_memory_shard();
    test_source();
    test_roundtrip();
    test_threads();
    return test_summary();
}
