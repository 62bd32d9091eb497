#include "core/quantile.h"
#include "core/err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double qt_lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static void swapf(float *a, float *b)
{
    float t = *a;
    *a = *b;
    *b = t;
}

/* After return v[k] is the k-th smallest; smaller values before it. */
static void select_k(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* search range [lo, hi) */
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ n;
    while (hi - lo > 1) {
        /* a fixed-seed pseudo-random pivot: deterministic, and no bad
         * orderings for sorted or constant inputs */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        float pv = v[lo + rng % (hi - lo)];
        /* Dutch-flag partition: [lo,lt) < pv, [lt,gt) == pv, [gt,hi) > pv */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < pv)
                swapf(&v[lt++], &v[i++]);
            else if (v[i] > pv)
                swapf(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

double qt_select(float *v, size_t n, double p)
{
    ND_ASSERT(n >= 1 && p >= 0 && p <= 1);
    double pos = p * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    double t = pos - (double)i;
    select_k(v, n, i);
    double a = v[i];
    if (i + 1 >= n)
        return a;
    float b = v[i + 1];
    for (size_t j = i + 2; j < n; j++)
        if (v[j] < b)
            b = v[j];
    return qt_lerp(a, b, t);
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

double qt_sorted(const float *v, size_t n, double p)
{
    float *s = malloc(n * sizeof *s);
    ND_ASSERT(s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_float);
    double pos = p * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    double r = i + 1 < n ? qt_lerp(s[i], s[i + 1], pos - (double)i) : s[i];
    free(s);
    return r;
}
