/* test_topk.c - the one-pass candidate stream (core/topk.h) against
 * sorting (qt_sorted), bit for bit: data in random, ascending (every value
 * a new candidate: the most compactions) and descending order, heavy ties
 * (post-ReLU zeros, a few distinct values), values split over 1, 2 and 3
 * parts (threads) in different ways, with and without guessed floors, and
 * a guess that is too high (must be reported, never a wrong answer). */
#include "core/quantile.h"
#include "core/topk.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t st = 12345;
static double urand(void)
{
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(st >> 11) * 0x1.0p-53;
}

/* n images of K units x hw values; kind 0 random, 1 ascending, 2
 * descending, 3 ties (most zero, the rest from 5 values) */
static float *make(size_t n, size_t K, size_t hw, int kind)
{
    float *x = malloc(n * K * hw * sizeof *x);
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < K; u++)
            for (size_t p = 0; p < hw; p++) {
                size_t o = (i * K + u) * hw + p, r = i * hw + p;
                double v = urand();
                x[o] = kind == 0   ? (float)(v < 0.6 ? 0 : v * (1 + (double)u))
                       : kind == 1 ? (float)r + (float)u
                       : kind == 2 ? (float)(n * hw - r)
                                   : (v < 0.9 ? 0.0f : (float)(int)(v * 50) / 10.0f);
            }
    return x;
}

/* the threshold of unit u by sorting its values */
static double sorted_ref(const float *x, size_t n, size_t K, size_t hw, size_t u, double level)
{
    float *col = malloc(n * hw * sizeof *col);
    for (size_t i = 0; i < n; i++)
        memcpy(col + i * hw, x + (i * K + u) * hw, hw * sizeof *col);
    double r = qt_sorted(col, n * hw, level);
    free(col);
    return r;
}

/* Streams images into nparts parts (image i to part (i / chunk) % nparts)
 * and returns qt_top_result's code; out[K]. */
static int stream(const float *x, size_t n, size_t K, size_t hw, double level, int nparts, size_t chunk,
                  const float *floor0, double *out)
{
    size_t keep = qt_top_keep((uint64_t)n * hw, level);
    qt_top *parts[3];
    for (int p = 0; p < nparts; p++)
        parts[p] = qt_top_new(K, keep, floor0);
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        qt_top_add(parts[(i / chunk) % (size_t)nparts], x + i * K * hw, m, hw);
    }
    int rc = qt_top_result(parts, nparts, (uint64_t)n * hw, level, out);
    for (int p = 0; p < nparts; p++)
        qt_top_free(parts[p]);
    return rc;
}

static void check_case(size_t n, size_t K, size_t hw, int kind, double level)
{
    char name[160];
    snprintf(name, sizeof name, "candidate stream = sorting: n=%zu K=%zu hw=%zu kind %d level %.4f", n, K, hw, kind,
             level);
    test_group(name);
    float *x = make(n, K, hw, kind);
    double *want = malloc(K * sizeof *want), *got = malloc(K * sizeof *got);
    for (size_t u = 0; u < K; u++)
        want[u] = sorted_ref(x, n, K, hw, u, level);
    static const int parts[4] = {1, 2, 3, 2};
    static const size_t chunks[4] = {1, 16, 5, 1};
    int bad = 0;
    for (int c = 0; c < 4; c++) {
        int rc = stream(x, n, K, hw, level, parts[c], chunks[c], NULL, got);
        bad += rc != 0 || memcmp(got, want, K * sizeof *got) != 0;
    }
    CHECK(bad == 0, "1, 2 and 3 parts, chunks of 1, 5 and 16: all equal to sorting (%d differ)", bad);
    /* safe guesses (the minimum of each unit) change nothing */
    float *lo = malloc(K * sizeof *lo);
    for (size_t u = 0; u < K; u++) {
        lo[u] = INFINITY;
        for (size_t i = 0; i < n * hw; i++)
            lo[u] = fminf(lo[u], x[(i / hw * K + u) * hw + i % hw]);
        lo[u] -= 1;
    }
    CHECK(stream(x, n, K, hw, level, 2, 8, lo, got) == 0 && memcmp(got, want, K * sizeof *got) == 0,
          "with low guessed floors: equal to sorting");
    /* a floor above the maximum must be reported as a miss */
    for (size_t u = 0; u < K; u++)
        lo[u] = 1e30f;
    CHECK(stream(x, n, K, hw, level, 2, 8, lo, got) == 1, "a guessed floor above every value is reported");
    free(x), free(want), free(got), free(lo);
}

int main(void)
{
    for (int kind = 0; kind < 4; kind++)
        check_case(300, 5, 13, kind, 0.995);
    check_case(1, 3, 1, 0, 0.995);    /* a single value per unit */
    check_case(40, 4, 7, 0, 0.5);     /* a median: keep = half the values */
    check_case(2000, 2, 9, 0, 0.999); /* many compactions */
    check_case(50, 3, 20, 3, 1.0);    /* the maximum */
    return test_summary();
}
