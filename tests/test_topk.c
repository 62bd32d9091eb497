/* test_topk.c - the one-pass candidate stream (core/topk.h) against
 * sorting (qt_sorted), bit for bit: data in random, ascending (every value
 * a new candidate: the most compactions) and descending order, heavy ties
 * (post-ReLU zeros, a few distinct values), values split over 1, 2 and 3
 * parts (threads) in different ways, with and without guessed floors, and
 * a guess that is too high (must be reported, never a wrong answer; per
 * unit by qt_top_result_units).  Kinds 4 and 5 are negative values and a
 * range too wide for the selection's histogram (its fallback).  The scan's
 * SSE2, AVX2 and AVX-512 paths (qt_above_impl, also the log's) against the scalar loop;
 * the sieve's scan (qt_scan_map_impl: values, maximum, node mask) likewise, and
 * qt_top_add_unit_scan against qt_top_add. */
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
                       : kind == 3 ? (v < 0.9 ? 0.0f : (float)(int)(v * 50) / 10.0f)
                       : kind == 4 ? (float)(-1 - v * (1 + (double)u))
                                   : (float)((v - 0.5) * 6e38);
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
        lo[u] = INFINITY;
    CHECK(stream(x, n, K, hw, level, 2, 8, lo, got) == 1, "a guessed floor above every value is reported");
    /* per unit: a too-high guess for the odd units only names those */
    for (size_t u = 0; u < K; u++)
        lo[u] = u % 2 ? INFINITY : -INFINITY;
    size_t keep = qt_top_keep((uint64_t)n * hw, level);
    qt_top *pt[2] = {qt_top_new(K, keep, lo), qt_top_new(K, keep, lo)};
    for (size_t i = 0; i < n; i++)
        qt_top_add(pt[i % 2], x + i * K * hw, 1, hw);
    unsigned char *missed = calloc(K, 1);
    long nm = qt_top_result_units(pt, 2, (uint64_t)n * hw, level, got, missed);
    int wrong = 0;
    for (size_t u = 0; u < K; u++)
        wrong += missed[u] != (u % 2) || (!missed[u] && memcmp(&got[u], &want[u], sizeof *got));
    CHECK(nm == (long)(K / 2) && wrong == 0, "per-unit misses: %ld of %zu units named, %d wrong", nm, K, wrong);
    qt_top_free(pt[0]), qt_top_free(pt[1]);
    free(x), free(want), free(got), free(lo), free(missed);
}

/* qt_above_impl's paths against the scalar loop: sizes around the vector
 * widths, negative values, values equal to the floor, and no write past
 * dst[n - 1] (a sentinel there). */
static void check_above(void)
{
    test_group("the scan's vector paths = the scalar loop");
    static const size_t sizes[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 100, 169, 200};
    float v[256], want[257], got[256 + 17];
    int bad = 0, ran[6] = {0};
    size_t worst = 0;
    for (int rep = 0; rep < 200; rep++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            double share = urand(); /* the fraction above the floor varies */
            float f = (float)(urand() * 4 - 2);
            for (size_t p = 0; p < n; p++) {
                double r = urand();
                v[p] = r < 0.2 ? f : r < 0.3 ? -f : r < 0.3 + share * 0.7 ? f + (float)(urand() * 3) : f - (float)(urand() * 3);
            }
            size_t m0 = qt_above_impl(0, v, n, f, want);
            for (int impl = 1; impl < 6; impl++) {
                size_t room = impl == 4 ? n + 16 : n; /* the AVX-512 log stores whole vectors */
                got[room] = 12345.0f;
                size_t m = qt_above_impl(impl, v, n, f, got);
                if (m == (size_t)-1)
                    continue; /* the CPU lacks it */
                ran[impl] = 1;
                size_t diff = m > m0 ? m - m0 : m0 - m;
                for (size_t q = 0; q < m && q < m0; q++)
                    diff += memcmp(&got[q], &want[q], sizeof *got) != 0;
                diff += got[room] != 12345.0f;
                worst = diff > worst ? diff : worst;
                bad += diff != 0;
            }
        }
    printf("  paths run: sse2 %d avx2 %d avx512 %d avx512 (log) %d avx2 (log) %d; worst difference %zu values\n",
           ran[1], ran[2], ran[3], ran[4], ran[5], worst);
    CHECK(bad == 0 && ran[1], "every path appends the scalar loop's values (%d cases differ)", bad);
}

/* qt_scan_map_impl's paths against the obvious loops: the same appended
 * values, maximum (its bits: maps of zeros of either sign, all negative)
 * and node mask, with the mask or without it, no write past dst[n - 1] or
 * the mask's last word; sizes around the vector widths and the 64-node
 * words; no floor (-INFINITY: every value). */
static void check_scan(void)
{
    test_group("the sieve's scan (values, maximum, node mask) = the obvious loops");
    static const size_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 48, 63, 64, 65, 100, 127, 128, 129, 169, 200, 4096};
    enum { MAXN = 4096, W = MAXN / 64 + 1 };
    static float v[MAXN], want[MAXN + 1], got[MAXN + 1];
    uint64_t mk0[W], mk[W];
    int bad = 0, ran[4] = {0};
    for (int rep = 0; rep < 300; rep++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si], nw = (n + 63) / 64;
            if (n == MAXN && rep % 10)
                continue;
            int kind = rep % 6; /* 3: zeros of both signs; 4: no floor; 5: all negative */
            double share = urand();
            float f = kind == 4 ? -INFINITY : kind == 3 ? 0.0f : (float)(urand() * 4 - 2);
            for (size_t p = 0; p < n; p++) {
                double r = urand();
                float g = kind == 4 ? 0.5f : f;
                v[p] = kind == 3   ? (r < 0.5 ? 0.0f : -0.0f)
                       : kind == 5 ? (float)(-1 - urand())
                       : r < 0.2   ? g
                       : r < 0.3   ? -g
                       : r < 0.3 + share * 0.7 ? g + (float)(urand() * 3) : g - (float)(urand() * 3);
            }
            if (kind == 3 && rep % 12 == 3 && n > 2)
                v[n / 2] = 1.5f; /* one nonzero value among the zeros */
            float mx0, mx;
            size_t m0 = qt_scan_map_impl(0, v, n, f, want, &mx0, mk0);
            for (int impl = 1; impl < 4; impl++)
                for (int with = 0; with < 2; with++) {
                    got[n] = 12345.0f, mk[nw] = 77;
                    size_t m = qt_scan_map_impl(impl, v, n, f, got, &mx, with ? mk : NULL);
                    if (m == (size_t)-1)
                        continue; /* the CPU lacks it */
                    ran[impl] = 1;
                    int diff = m != m0 || memcmp(got, want, m0 * sizeof *got) || got[n] != 12345.0f ||
                               memcmp(&mx, &mx0, sizeof mx) || mk[nw] != 77 ||
                               (with && memcmp(mk, mk0, nw * sizeof *mk));
                    bad += diff;
                }
        }
    printf("  paths run: generic %d avx2 %d avx512 %d\n", ran[1], ran[2], ran[3]);
    CHECK(bad == 0 && ran[1], "every path gives the obvious loops' values, maximum and mask (%d cases differ)", bad);
}

/* qt_top_add_unit_scan feeds a qt_top as qt_top_add does (the same
 * thresholds, bit for bit), and says the floor it sieved with: the one
 * qt_top_floor reports after the add, unless the add raised it. */
static void check_add_scan(void)
{
    test_group("qt_top_add_unit_scan: qt_top_add's thresholds, and its floor");
    size_t n = 400, K = 4, hw = 169;
    double level = 0.995;
    float *x = make(n, K, hw, 0);
    size_t keep = qt_top_keep((uint64_t)n * hw, level);
    qt_top *a = qt_top_new(K, keep, NULL), *b = qt_top_new(K, keep, NULL);
    double ra[4], rb[4];
    uint64_t mk[3];
    int bad_floor = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= qt_top_add(a, x + i * K * hw, 1, hw);
        for (size_t u = 0; u < K; u++) {
            qt_scan sc;
            float before = qt_top_floor(b, u);
            rc |= qt_top_add_unit_scan(b, u, x + (i * K + u) * hw, hw, &sc, mk);
            float after = qt_top_floor(b, u);
            bad_floor += sc.floor < before || sc.floor > after;
        }
    }
    CHECK(rc == 0 && qt_top_result(&a, 1, (uint64_t)n * hw, level, ra) == 0 &&
              qt_top_result(&b, 1, (uint64_t)n * hw, level, rb) == 0 && !memcmp(ra, rb, sizeof ra),
          "the same thresholds");
    CHECK(bad_floor == 0, "the floor used is one the unit had (%d maps not)", bad_floor);
    qt_top_free(a), qt_top_free(b);
    free(x);
}

/* qt_kth_largest = qt_kth's value at rank n - k, for every kind of data
 * (ties, negative values, a range too wide for the histogram) and k from
 * 1 to n. */
static void check_kth_largest(void)
{
    test_group("qt_kth_largest = quickselect");
    int bad = 0, cases = 0;
    for (int kind = 0; kind < 6; kind++)
        for (size_t n = 1; n <= 5000; n = n * 3 + 1) {
            float *x = make(1, 1, n, kind), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            size_t ks[] = {1, 2, n / 100 + 1, n / 7 + 1, n / 2 + 1, n};
            for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
                size_t k = ks[q] > n ? n : ks[q];
                memcpy(a, x, n * sizeof *a), memcpy(b, x, n * sizeof *b);
                float want = qt_kth(a, n, n - k), got = qt_kth_largest(b, n, k);
                bad += want != got, cases++;
            }
            free(x), free(a), free(b);
        }
    CHECK(bad == 0, "the same value in %d cases (%d differ)", cases, bad);
}

int main(void)
{
    for (int kind = 0; kind < 4; kind++)
        check_case(300, 5, 13, kind, 0.995);
    check_case(1, 3, 1, 0, 0.995);    /* a single value per unit */
    check_case(40, 4, 7, 0, 0.5);     /* a median: keep = half the values */
    check_case(2000, 2, 9, 0, 0.999); /* many compactions */
    check_case(50, 3, 20, 3, 1.0);    /* the maximum */
    check_case(300, 4, 13, 4, 0.995); /* negative values */
    check_case(300, 4, 13, 5, 0.995); /* a range wider than the selection's histogram takes */
    check_case(3000, 2, 169, 0, 0.995); /* the benchmark's map size */
    check_above();
    check_scan();
    check_add_scan();
    check_kth_largest();
    return test_summary();
}
