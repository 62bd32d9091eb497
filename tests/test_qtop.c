/* test_qtop.c - one-pass top-quantile thresholds (core/qtop.h) equal
 * qt_sorted() on all the values, bit for bit, for data with many ties and
 * zeros (post-ReLU-like), several block sizes, 1 and 2 threads, and sizes
 * where the buffer compacts many times or never. */
#include "core/err.h"
#include "core/qtop.h"
#include "core/quantile.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* N images of K units x hw; returns worst |got - want| over units */
static double run_case(size_t N, size_t K, size_t hw, size_t block, int threads, double quant,
                       int *fail)
{
    float *x = malloc(sizeof *x * N * K * hw);
    for (size_t i = 0; i < N * K * hw; i++) {
        double u = urand();
        /* 70% zeros, the rest a few repeated levels and a long tail */
        x[i] = u < 0.7 ? 0.0f : u < 0.8 ? 1.5f : (float)(-log(urand() + 1e-12) * (1 + i % 3));
    }
    qt_top *q = qt_top_new(K, (uint64_t)N * hw, 1.0 - quant);
    for (size_t i0 = 0; i0 < N; i0 += block) {
        size_t n = i0 + block < N ? block : N - i0;
        qt_top_add(q, x + i0 * K * hw, n, hw, threads);
    }
    double *got = malloc(sizeof *got * K), worst = 0;
    *fail = qt_top_result(q, got) != 0;
    float *v = malloc(sizeof *v * N * hw);
    for (size_t k = 0; k < K && !*fail; k++) {
        for (size_t i = 0; i < N; i++)
            memcpy(v + i * hw, x + (i * K + k) * hw, hw * sizeof *v);
        double want = qt_sorted(v, N * hw, 1.0 - quant), e = fabs(got[k] - want);
        if (e > worst || got[k] != want)
            worst = e > worst ? e : worst, *fail |= got[k] != want;
    }
    qt_top_free(q);
    free(x), free(got), free(v);
    return worst;
}

int main(void)
{
    test_group("one-pass top quantile equals the sorted reference exactly");
    struct { size_t N, K, hw, block; int threads; double q; } c[] = {
        {300, 5, 169, 7, 1, 0.005},  /* 50,700 values: compacts (cap 4,096) */
        {300, 5, 169, 32, 2, 0.005}, /* other blocks and threads */
        {40, 3, 3025, 13, 2, 0.005}, /* fire2-like maps */
        {10, 4, 10, 3, 1, 0.005},    /* 100 values: never compacts */
        {50, 2, 100, 9, 2, 0.3},     /* a large quantile: m > cap/2 */
        {1, 1, 1, 1, 1, 0.005},      /* one value */
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        int fail;
        double w = run_case(c[i].N, c[i].K, c[i].hw, c[i].block, c[i].threads, c[i].q, &fail);
        CHECK(!fail, "N %zu K %zu hw %zu block %zu threads %d q %g: worst |diff| %g (%s)", c[i].N,
              c[i].K, c[i].hw, c[i].block, c[i].threads, c[i].q, w, fail ? nd_errmsg() : "ok");
    }

    test_group("wrong counts and non-finite values are errors");
    qt_top *q = qt_top_new(2, 10, 0.995);
    float x[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
    qt_top_add(q, x, 1, 4, 1);
    double out[2];
    CHECK(qt_top_result(q, out) != 0 && strstr(nd_errmsg(), "expected 10"), "short: %s", nd_errmsg());
    qt_top_free(q);
    q = qt_top_new(1, 4, 0.995);
    float y[4] = {1, NAN, 2, 3};
    qt_top_add(q, y, 1, 4, 1);
    CHECK(qt_top_result(q, out) != 0 && strstr(nd_errmsg(), "non-finite"), "NaN: %s", nd_errmsg());
    qt_top_free(q);
    return test_summary();
}
