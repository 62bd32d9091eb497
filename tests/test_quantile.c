/* test_quantile.c - exact quantiles (core/quantile.h): hand cases, the
 * quickselect against the sorting reference, and the two-pass streaming
 * histograms against it.  Equalities are exact (==): every method picks the
 * same order statistics and interpolates them by the same formula. */
#include "core/err.h"
#include "core/quantile.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_quantile(void)
{
    test_group("quantile");
    float a[] = {3, 1, 2, 5, 4};
    CHECK(qt_select(a, 5, 0.5) == 3.0, "median of 5");
    float b[] = {1, 2, 3, 4};
    CHECK(qt_select(b, 4, 0.5) == 2.5, "median of 4 interpolates");
    float c[] = {0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(qt_select(c, 8, 0.995) == 0.0, "all-zero unit has threshold 0");
    float d[] = {7};
    CHECK(qt_select(d, 1, 0.995) == 7.0, "single value");
    float e[] = {0, 0, 0, 1, 1, 1, 2, 2};
    /* pos = 0.995 * 7 = 6.965: between v[6] = 2 and v[7] = 2 */
    CHECK(qt_select(e, 8, 0.995) == 2.0, "ties at the top");
    /* n = 100 < 1/0.005: pos = 98.505, between the two largest */
    float f[100], g[1000];
    for (int i = 0; i < 100; i++)
        f[i] = (float)((i * 37) % 100);
    double want = 98 + 0.505 * (99 - 98);
    double got = qt_select(f, 100, 0.995);
    /* the order statistics 98 and 99 are exact; t = 0.995 * 99 - 98 carries
     * the rounding of one double product (an ulp of 98.5, 1.4e-14), so the
     * result may differ from the decimal 98.505 by about that: 1e-12 bounds it */
    CHECK(fabs(got - want) < 1e-12, "n=100 below 1/q: got %.15g want %.15g", got, want);
    /* n = 1000 > 1/q: pos = 994.005 */
    for (int i = 0; i < 1000; i++)
        g[i] = (float)((i * 7919) % 1000);
    want = 994 + 0.005 * 1;
    got = qt_select(g, 1000, 0.995);
    /* pos = 0.995 * 999 is not exact in binary, so t carries a rounding
     * error of about 1e-13 relative to 994; 1e-9 bounds it with room */
    CHECK(fabs(got - want) < 1e-9, "n=1000 above 1/q: got %.15g want %.15g", got, want);
    /* fast selection against the sorting reference on random data with many ties */
    unsigned s = 12345;
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(trial * 97 % 5000);
        float *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
        if (!v || !w) {
            CHECK(0, "out of memory");
            free(v), free(w);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            v[i] = (s >> 16) % 4 == 0 ? 0.0f : (float)((s >> 8) % 1000) / 7.0f;
        }
        memcpy(w, v, n * sizeof *v);
        double p = (trial % 10) / 10.0 + 0.05;
        if (qt_sorted(w, n, p) != qt_select(v, n, p) || qt_sorted(w, n, 0.995) != qt_select(w, n, 0.995))
            bad++;
        free(v), free(w);
    }
    CHECK(bad == 0, "quickselect equals full sort on 200 random arrays (%d differ)", bad);

    /* two-pass streaming quantiles (3 units, negative values, ties, two
     * parts merged as two threads would) against the sorting reference */
    bad = 0;
    for (int trial = 0; trial < 20; trial++) {
        size_t K = 3, n = 7 + (size_t)trial * 13, hw = 5;
        float *x = malloc(n * K * hw * sizeof *x), *col = malloc(n * hw * sizeof *col);
        if (!x || !col) {
            CHECK(0, "out of memory");
            free(x), free(col);
            return;
        }
        for (size_t i = 0; i < n * K * hw; i++) {
            s = s * 1103515245u + 12345u;
            x[i] = (s >> 16) % 5 == 0 ? 0.0f : ((float)((s >> 6) % 20001) - 10000.0f) / 333.0f;
        }
        double lev = trial % 2 ? 0.995 : 0.3, got[3];
        qt_stream *q = qt_stream_new(K, n * hw, lev);
        int okq = q != NULL;
        for (int pass = 1; pass <= 2 && okq; pass++) {
            qt_part *a = qt_part_new(q, pass), *b = qt_part_new(q, pass);
            if (!a || !b) {
                okq = 0;
                break;
            }
            qt_part_add(q, a, pass, x, n / 2, hw);
            qt_part_add(q, b, pass, x + n / 2 * K * hw, n - n / 2, hw);
            qt_part_merge(q, a, pass);
            qt_part_merge(q, b, pass);
            okq = qt_stream_end_pass(q, pass) == 0;
        }
        if (!okq) {
            CHECK(0, "streaming quantiles: %s", nd_errmsg());
            qt_stream_free(q);
            free(x), free(col);
            return;
        }
        qt_stream_result(q, got);
        qt_stream_free(q);
        for (size_t u = 0; u < K; u++) {
            for (size_t i = 0; i < n; i++)
                memcpy(col + i * hw, x + (i * K + u) * hw, hw * sizeof *col);
            if (got[u] != qt_sorted(col, n * hw, lev))
                bad++;
        }
        free(x), free(col);
    }
    CHECK(bad == 0, "streaming two-pass quantiles equal the sorted reference (%d of 60 differ)", bad);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* qt_kth's two partitions (branch-free below 4,096 values, 3-way above):
 * the k-th value of the sort, no larger value before it, no smaller after. */
static void test_kth(void)
{
    test_group("qt_kth against sorting, across the branch-free partition's limit");
    unsigned s = 777;
    int bad = 0, trials = 0;
    size_t sizes[] = {1, 2, 3, 17, 1000, 4095, 4096, 4097, 9000, 20000};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (int ties = 0; ties < 3; ties++) {
            size_t n = sizes[z];
            float *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
            for (size_t i = 0; i < n; i++) {
                s = s * 1103515245u + 12345u;
                unsigned r = s >> 8;
                v[i] = ties == 0 ? (float)r : ties == 1 ? (float)(r % 5) : (r % 3 ? 0.0f : (float)(r % 1000) / 7.0f);
            }
            memcpy(w, v, n * sizeof *v);
            qsort(w, n, sizeof *w, cmp_float);
            size_t ks[] = {0, n / 2, n - 1, n - n / 200 - 1};
            for (int q = 0; q < 4; q++) {
                size_t k = ks[q];
                float *c = malloc(n * sizeof *c);
                memcpy(c, v, n * sizeof *v);
                float got = qt_kth(c, n, k);
                int ok = got == w[k] && c[k] == got;
                for (size_t i = 0; i < n && ok; i++)
                    ok = i < k ? c[i] <= got : c[i] >= got;
                bad += !ok, trials++;
                free(c);
            }
            free(v), free(w);
        }
    CHECK(bad == 0, "k-th value and partition equal the sort's in %d of %d cases", trials - bad, trials);
}

/* qt_minmax against the obvious loop, every length 0..40 (the vector body
 * and its tail), folded into running values and from +-INFINITY. */
static void test_minmax(void)
{
    float v[40];
    int bad = 0;
    srand(7);
    for (int n = 0; n <= 40; n++)
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < n; i++)
                v[i] = (float)(rand() % 2001 - 1000) / 7.0f;
            float lo = INFINITY, hi = -INFINITY, wlo = lo, whi = hi;
            if (rep % 2)
                lo = wlo = 3.0f, hi = whi = 3.0f; /* a running pair */
            for (int i = 0; i < n; i++)
                wlo = v[i] < wlo ? v[i] : wlo, whi = v[i] > whi ? v[i] : whi;
            qt_minmax(v, (size_t)n, &lo, &hi);
            bad += lo != wlo || hi != whi;
        }
    CHECK(bad == 0, "qt_minmax equals the obvious loop on 820 arrays of 0-40 values (%d differ)", bad);
}

int main(void)
{
    test_minmax();
    test_quantile();
    test_kth();
    return test_summary();
}
