/* probe_bins.c - threshold levels of the probes' scores.  Scoring bins
 * ~3e8 values per pass, and one value at a time the conversions' latency
 * was half of its time. */
#include "core/probe_bins.h"
#include "core/probe.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int pr_bin_ref(double v, double lo, double hi)
{
    double b = hi > lo ? (v - lo) / (hi - lo) * PR_BINS : 0;
    return b < 0 ? 0 : b >= PR_BINS ? PR_BINS - 1 : (int)b;
}

/* (v - lo) * inv lies within a few ulps (~1e-12 here) of the reference's
 * quotient, so the two floor alike unless the product is that close to an
 * integer: there (and out of range, NaN included) the reference decides. */
static inline int bin_one(float v, double lo, double hi, double inv)
{
    double t = ((double)v - lo) * inv;
    if (!(t >= 0 && t < PR_BINS))
        return pr_bin_ref(v, lo, hi);
    double f = t - (double)(int)t;
    return f > 1e-9 && f < 1 - 1e-9 ? (int)t : pr_bin_ref(v, lo, hi);
}

void pr_bins(const float *v, size_t n, double lo, double hi, int *b)
{
    double inv = hi > lo ? PR_BINS / (hi - lo) : 0;
    size_t q = 0;
#if defined(__SSE2__)
    /* bin_one's operations in two lanes (truncation as (int), exact back
     * to double); a lane that bin_one would hand to the reference is redone */
    __m128d vlo = _mm_set1_pd(lo), vinv = _mm_set1_pd(inv), zero = _mm_setzero_pd();
    __m128d top = _mm_set1_pd(PR_BINS), e0 = _mm_set1_pd(1e-9), e1 = _mm_set1_pd(1 - 1e-9);
    for (; q + 2 <= n; q += 2) {
        __m128d x = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)(v + q))));
        __m128d t = _mm_mul_pd(_mm_sub_pd(x, vlo), vinv);
        __m128d in = _mm_and_pd(_mm_cmpge_pd(t, zero), _mm_cmplt_pd(t, top));
        __m128d tc = _mm_and_pd(t, in); /* out of range: 0, so the conversion stays defined */
        __m128i i = _mm_cvttpd_epi32(tc);
        __m128d f = _mm_sub_pd(tc, _mm_cvtepi32_pd(i));
        __m128d ok = _mm_and_pd(in, _mm_and_pd(_mm_cmpgt_pd(f, e0), _mm_cmplt_pd(f, e1)));
        _mm_storel_epi64((__m128i *)(void *)(b + q), i);
        int mk = _mm_movemask_pd(ok);
        if (mk != 3) {
            if (!(mk & 1))
                b[q] = pr_bin_ref(v[q], lo, hi);
            if (!(mk & 2))
                b[q + 1] = pr_bin_ref(v[q + 1], lo, hi);
        }
    }
#endif
    for (; q < n; q++)
        b[q] = bin_one(v[q], lo, hi, inv);
}
