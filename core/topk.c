/* topk.c - exact upper quantiles in one streaming pass (see topk.h). */
#include "core/topk.h"
#include "core/err.h"
#include "core/features.h"
#include "core/jobs.h"
#include "core/quantile.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

typedef struct {
    float *v;
    size_t n;
    float floor;
    int has_floor;
} unit_buf;

struct qt_top {
    size_t K, keep, cap;
    float *tmp; /* cap / 16 + 1 floats: compact()'s subsample */
    int floor_given; /* started from guessed floors (qt_top_result checks them) */
    unit_buf *u;
    /* qt_top_add's log of a block of images' kept values (see log_image) */
    float *log, *fl;           /* log: log_cap + 16 floats; fl[K]: the floors the scan uses */
    uint32_t *ends;            /* ends[i * K + k]: where logged image i's map k ends */
    size_t log_cap, log_n, log_images;
    size_t floorless;          /* units without a floor yet (appended directly) */
};

size_t qt_top_keep(uint64_t n, double level)
{
    size_t r0, r1;
    double t;
    qt_ranks((size_t)n, level, &r0, &r1, &t);
    return (size_t)n - r0;
}

qt_top *qt_top_new(size_t K, size_t keep, const float *floor0)
{
    qt_top *t = nd_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->K = K, t->keep = keep, t->floor_given = floor0 != NULL;
    t->u = nd_calloc(K, sizeof *t->u);
    if (!t->u) {
        free(t);
        return NULL;
    }
    for (size_t k = 0; k < K; k++)
        if (floor0)
            t->u[k].floor = floor0[k], t->u[k].has_floor = 1;
    t->floorless = floor0 ? 0 : K;
    return t;
}

void qt_top_free(qt_top *t)
{
    if (!t)
        return;
    for (size_t k = 0; t->u && k < t->K; k++)
        free(t->u[k].v);
    free(t->u);
    free(t->tmp);
    free(t->log), free(t->fl), free(t->ends);
    free(t);
}

float qt_top_floor(const qt_top *t, size_t k)
{
    return t->u[k].has_floor ? t->u[k].floor : -INFINITY;
}

/* Raise the floor and drop the values at or below it, keeping at least
 * keep values.  The new floor is guessed from every 16th buffered value,
 * at the rank where about 1.25 keep values should stay above it; a guess
 * that leaves fewer than keep (rare) is replaced by the exact keep-th
 * largest (quickselect).  Either way every value above the floor is kept
 * and at least keep of them remain, so nothing dropped can be among the
 * keep largest. */
static void compact(unit_buf *b, size_t keep, float *tmp)
{
    if (b->n <= keep)
        return;
    size_t ns = 0;
    for (size_t q = 0; q < b->n; q += 16)
        tmp[ns++] = b->v[q];
    size_t want = keep + keep / 4, above = (size_t)((double)want * (double)ns / (double)b->n) + 1;
    if (above < ns) {
        float f = qt_kth(tmp, ns, ns - above);
        size_t m = 0;
        for (size_t q = 0; q < b->n; q++)
            m += b->v[q] > f;
        if (m >= keep) {
            m = 0;
            for (size_t q = 0; q < b->n; q++) { /* branch-free filter */
                float v = b->v[q];
                b->v[m] = v;
                m += v > f;
            }
            b->n = m;
            if (!b->has_floor || f > b->floor)
                b->floor = f, b->has_floor = 1;
            return;
        }
    }
    size_t cut = b->n - keep;
    qt_kth(b->v, b->n, cut); /* [cut, n) now holds the keep largest, v[cut] their minimum */
    float f = b->v[cut];
    memmove(b->v, b->v + cut, keep * sizeof *b->v);
    b->n = keep;
    if (!b->has_floor || f > b->floor)
        b->floor = f, b->has_floor = 1;
}

/* Where logged image i's map k starts in a log whose maps end at ends[]
 * (K maps per image; qt_top_add's log, below). */
static inline size_t piece_start(const uint32_t *ends, size_t K, size_t i, size_t k)
{
    return i * K + k ? ends[i * K + k - 1] : 0;
}

/* ---- the scan: append the values above a floor ----
 *
 * On the benchmark's data 60-80% of the maps hold a value above their
 * unit's floor, scattered: the baseline's branch per group of 16 values
 * mispredicts often.  The wider paths pack without branches: AVX2 tests
 * the whole map first (one OR of compares) and then moves the values above
 * the floor of each 8 to the front by a permutation looked up from the
 * compare's mask; AVX-512 packs 16 per compare with vcompressps into a
 * register (its memory form is slow on some CPUs), for every map (no
 * pre-test: measured as fast, the pass waits on memory).  Either stores
 * the packed vector whole and advances by the mask's popcount.  A packed
 * store at dst[m] with m <= p (values taken <= values read) ends at or
 * before dst[n - 1], so the buffer needs room for n, as for the scalar
 * loop.  All paths append the same values in the same order. */

/* The obvious loop, the reference of the tests. */
static size_t above_scalar(const float *v, size_t n, float f, float *dst)
{
    size_t m = 0;
    for (size_t p = 0; p < n; p++)
        if (v[p] > f)
            dst[m++] = v[p];
    return m;
}

/* Baseline x86-64: 16 values per test, the hits found by their mask bits. */
static size_t above_sse2(const float *v, size_t n, float f, float *dst)
{
    float *d = dst;
    size_t p = 0;
#if defined(__SSE__)
    __m128 th = _mm_set1_ps(f);
    for (; p + 16 <= n; p += 16) {
        __m128 c0 = _mm_cmpgt_ps(_mm_loadu_ps(v + p), th), c1 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 4), th);
        __m128 c2 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 8), th), c3 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 12), th);
        if (!_mm_movemask_ps(_mm_or_ps(_mm_or_ps(c0, c1), _mm_or_ps(c2, c3))))
            continue;
        unsigned mk = (unsigned)_mm_movemask_ps(c0) | (unsigned)_mm_movemask_ps(c1) << 4 |
                      (unsigned)_mm_movemask_ps(c2) << 8 | (unsigned)_mm_movemask_ps(c3) << 12;
        while (mk) {
            *d++ = v[p + (unsigned)__builtin_ctz(mk)];
            mk &= mk - 1;
        }
    }
#endif
    for (; p < n; p++)
        if (v[p] > f)
            *d++ = v[p];
    return (size_t)(d - dst);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ND_HAVE_AVX2_PATH 1
/* pack8[mask]: the lanes whose mask bit is set, in order (then zeros) */
static unsigned char pack8[256][8];

static void pack8_init(void)
{
    for (unsigned mk = 0; mk < 256; mk++) {
        int k = 0;
        for (int l = 0; l < 8; l++)
            if (mk >> l & 1)
                pack8[mk][k++] = (unsigned char)l;
        for (; k < 8; k++)
            pack8[mk][k] = 0;
    }
}

__attribute__((target("avx2,popcnt"))) static size_t above_avx2(const float *v, size_t n, float f, float *dst)
{
    __m256 th = _mm256_set1_ps(f), any = _mm256_setzero_ps();
    size_t p = 0, m = 0;
    for (; p + 8 <= n; p += 8)
        any = _mm256_or_ps(any, _mm256_cmp_ps(_mm256_loadu_ps(v + p), th, _CMP_GT_OQ));
    int hit = _mm256_movemask_ps(any) != 0;
    for (size_t q = p; q < n; q++)
        hit |= v[q] > f;
    if (!hit)
        return 0;
    for (p = 0; p + 8 <= n; p += 8) {
        __m256 x = _mm256_loadu_ps(v + p);
        unsigned mk = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, th, _CMP_GT_OQ));
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)pack8[mk]));
        _mm256_storeu_ps(dst + m, _mm256_permutevar8x32_ps(x, idx));
        m += (size_t)__builtin_popcount(mk);
    }
    for (; p < n; p++) { /* branch-free: dst[m] is free room (m <= p) */
        float x = v[p];
        dst[m] = x;
        m += x > f;
    }
    return m;
}

/* above_avx2 for the log: one read, every packed vector stored (no
 * pre-test, no branch), and one line prefetched from pf per 16 values;
 * dst needs room for n floats, as above_avx2's. */
__attribute__((target("avx2,popcnt"))) static size_t above_avx2_log(const float *v, size_t n, float f, float *dst,
                                                                  const float *pf)
{
    __m256 th = _mm256_set1_ps(f);
    size_t p = 0, m = 0;
    for (; p + 8 <= n; p += 8) {
        if (!(p & 8))
            __builtin_prefetch(pf + p, 0, 2);
        __m256 x = _mm256_loadu_ps(v + p);
        unsigned mk = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, th, _CMP_GT_OQ));
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)pack8[mk]));
        _mm256_storeu_ps(dst + m, _mm256_permutevar8x32_ps(x, idx));
        m += (size_t)__builtin_popcount(mk);
    }
    for (; p < n; p++) {
        float x = v[p];
        dst[m] = x;
        m += x > f;
    }
    return m;
}

/* move_avx512's moves with unmasked 8-float vectors: the last may write
 * up to 7 floats past the pieces (the unit buffers have room for them)
 * and read up to 7 past the log's end (so has the log). */
__attribute__((target("avx2"))) static size_t move_avx2(float *dst, const float *log, const uint32_t *ends, size_t K,
                                                        size_t k, size_t i0, size_t i1)
{
    float *d = dst;
    for (size_t i = i0; i < i1; i++) {
        size_t s = piece_start(ends, K, i, k), e = ends[i * K + k];
        for (size_t q = s; q < e; q += 8)
            _mm256_storeu_ps(d + (q - s), _mm256_loadu_ps(log + q));
        d += e - s;
    }
    return (size_t)(d - dst);
}

/* The last partial group by a masked load and a masked store. */
__attribute__((target("avx512f,popcnt"))) static size_t above_avx512(const float *v, size_t n, float f, float *dst)
{
    __m512 th = _mm512_set1_ps(f);
    size_t p = 0, m = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 x = _mm512_loadu_ps(v + p);
        __mmask16 c = _mm512_cmp_ps_mask(x, th, _CMP_GT_OQ);
        if (c) {
            _mm512_storeu_ps(dst + m, _mm512_maskz_compress_ps(c, x));
            m += (size_t)__builtin_popcount(c);
        }
    }
    __mmask16 tm = (__mmask16)((1u << (n - p)) - 1);
    __m512 xt = _mm512_maskz_loadu_ps(tm, v + p);
    __mmask16 ct = _mm512_mask_cmp_ps_mask(tm, xt, th, _CMP_GT_OQ);
    unsigned k = (unsigned)__builtin_popcount(ct);
    if (k)
        _mm512_mask_storeu_ps(dst + m, (__mmask16)((1u << k) - 1), _mm512_maskz_compress_ps(ct, xt));
    return m + k;
}

/* above_avx512 for the log: every packed vector stored, as the AVX2 path
 * does (the log's tail stays in the L1, so the stores are cheap and no
 * branch mispredicts on the scattered kept values); dst needs room for
 * n + 16 floats. */
__attribute__((target("avx512f,popcnt"))) static size_t above_avx512_log(const float *v, size_t n, float f, float *dst,
                                                                      const float *pf)
{
    __m512 th = _mm512_set1_ps(f);
    size_t p = 0, m = 0;
    for (; p + 16 <= n; p += 16) {
        __builtin_prefetch(pf + p, 0, 2);
        __m512 x = _mm512_loadu_ps(v + p);
        __mmask16 c = _mm512_cmp_ps_mask(x, th, _CMP_GT_OQ);
        _mm512_storeu_ps(dst + m, _mm512_maskz_compress_ps(c, x));
        m += (size_t)__builtin_popcount(c);
    }
    __mmask16 tm = (__mmask16)((1u << (n - p)) - 1);
    __m512 xt = _mm512_maskz_loadu_ps(tm, v + p);
    __mmask16 ct = _mm512_mask_cmp_ps_mask(tm, xt, th, _CMP_GT_OQ);
    _mm512_storeu_ps(dst + m, _mm512_maskz_compress_ps(ct, xt));
    return m + (unsigned)__builtin_popcount(ct);
}

/* Unit k's pieces of logged images [i0, i1) to dst (ends: the log's
 * ends, K units per image), by 16-float moves: a piece holds 2-3 values
 * on average, and a call to memcpy each would cost more than its values.
 * Returns how many. */
__attribute__((target("avx512f"))) static size_t move_avx512(float *dst, const float *log, const uint32_t *ends,
                                                            size_t K, size_t k, size_t i0, size_t i1)
{
    float *d = dst;
    for (size_t i = i0; i < i1; i++) {
        size_t s = piece_start(ends, K, i, k), e = ends[i * K + k];
        for (; s + 16 <= e; s += 16, d += 16)
            _mm512_storeu_ps(d, _mm512_loadu_ps(log + s));
        __mmask16 m = (__mmask16)((1u << (e - s)) - 1);
        _mm512_mask_storeu_ps(d, m, _mm512_maskz_loadu_ps(m, log + s));
        d += e - s;
    }
    return (size_t)(d - dst);
}
#endif


/* ---- the sieve's scan: one read of a map for core/onepass.c ----
 *
 * The sieve needs of each map what the append reads anyway: the map's
 * maximum and the nodes above the floor (the compare masks).  One read
 * instead of three (append, maximum, node mask) where the maps stream from
 * the rotation's output, larger than the caches.  The maximum is
 * nd_map_max's bits: the maximum of finite floats is one value, and its
 * bits are unique unless it is zero (then nd_map_max itself, by position). */

/* The nodes of v[0..n) above f as the bits of mk (none if NULL). */
static void mask_scalar(const float *v, size_t n, float f, uint64_t *mk)
{
    for (size_t q = 0; mk && q < (n + 63) / 64; q++)
        mk[q] = 0;
    for (size_t p = 0; mk && p < n; p++)
        mk[p / 64] |= (uint64_t)(v[p] > f) << (p % 64);
}

/* The obvious loops, the reference of the tests. */
static size_t scan_scalar(const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk)
{
    float mx = v[0];
    for (size_t p = 1; p < n; p++)
        mx = v[p] > mx ? v[p] : mx;
    *max = mx;
    mask_scalar(v, n, f, mk);
    return above_scalar(v, n, f, dst);
}

#if defined(ND_HAVE_AVX2_PATH)
/* 64 nodes at a time: their compares (one mask word) and maximum from the
 * one read of them, then, if any is above the floor, above_avx2's packing
 * of those 64 again (in L1 now) by the word's bytes; the nodes past the
 * last whole 8 by the scalar loop. */
__attribute__((target("avx2,popcnt"))) static size_t scan_avx2(const float *v, size_t n, float f, float *dst,
                                                                  float *max, uint64_t *mk)
{
    __m256 th = _mm256_set1_ps(f), mx = _mm256_set1_ps(-INFINITY);
    float top = -INFINITY;
    size_t m = 0;
    for (size_t p0 = 0; p0 < n; p0 += 64) {
        size_t end = p0 + 64 < n ? p0 + 64 : n, p = p0;
        uint64_t word = 0;
        for (; p + 8 <= end; p += 8) {
            __m256 x = _mm256_loadu_ps(v + p);
            word |= (uint64_t)(unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, th, _CMP_GT_OQ)) << (p - p0);
            mx = _mm256_max_ps(mx, x);
        }
        for (size_t q = p; q < end; q++) {
            word |= (uint64_t)(v[q] > f) << (q - p0);
            top = v[q] > top ? v[q] : top;
        }
        if (mk)
            mk[p0 / 64] = word;
        if (!word)
            continue;
        for (p = p0; p + 8 <= end; p += 8) {
            unsigned b = (unsigned)(word >> (p - p0)) & 255;
            __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)pack8[b]));
            _mm256_storeu_ps(dst + m, _mm256_permutevar8x32_ps(_mm256_loadu_ps(v + p), idx));
            m += (size_t)__builtin_popcount(b);
        }
        for (; p < end; p++) { /* branch-free: dst[m] is free room (m <= p) */
            float x = v[p];
            dst[m] = x;
            m += x > f;
        }
    }
    float t[8];
    _mm256_storeu_ps(t, mx);
    for (int l = 0; l < 8; l++)
        top = t[l] > top ? t[l] : top;
    *max = top != 0 ? top : nd_map_max(v, n);
    return m;
}

/* above_avx512 with a running maximum and the compare masks gathered by
 * 64-node words. */
__attribute__((target("avx512f,popcnt"))) static size_t scan_avx512(const float *v, size_t n, float f, float *dst,
                                                                    float *max, uint64_t *mk)
{
    __m512 th = _mm512_set1_ps(f), mx = _mm512_set1_ps(-INFINITY);
    size_t p = 0, m = 0;
    uint64_t word = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 x = _mm512_loadu_ps(v + p);
        __mmask16 c = _mm512_cmp_ps_mask(x, th, _CMP_GT_OQ);
        _mm512_storeu_ps(dst + m, _mm512_maskz_compress_ps(c, x));
        m += (size_t)__builtin_popcount(c);
        mx = _mm512_max_ps(mx, x);
        word |= (uint64_t)c << (p % 64);
        if (p % 64 == 48) {
            if (mk)
                mk[p / 64] = word;
            word = 0;
        }
    }
    __mmask16 tm = (__mmask16)((1u << (n - p)) - 1);
    __m512 xt = _mm512_maskz_loadu_ps(tm, v + p);
    __mmask16 ct = _mm512_mask_cmp_ps_mask(tm, xt, th, _CMP_GT_OQ);
    unsigned k = (unsigned)__builtin_popcount(ct);
    _mm512_mask_storeu_ps(dst + m, (__mmask16)((1u << k) - 1), _mm512_maskz_compress_ps(ct, xt));
    word |= (uint64_t)ct << (p % 64);
    if (mk && (p % 64 || p < n)) /* the last word, unless the loop stored it */
        mk[p / 64] = word;
    float top = _mm512_reduce_max_ps(_mm512_mask_max_ps(mx, tm, mx, xt));
    *max = top != 0 ? top : nd_map_max(v, n);
    return m + k;
}
#endif

typedef size_t (*above_fn)(const float *, size_t, float, float *);
static above_fn above_best = above_sse2;
/* the log's scan: above_fn, also prefetching pf[0..n) */
typedef size_t (*log_fn)(const float *, size_t, float, float *, const float *);
static size_t above_log_plain(const float *v, size_t n, float f, float *dst, const float *pf)
{
    for (size_t p = 0; p < n; p += 16)
        __builtin_prefetch(pf + p, 0, 2);
    return above_best(v, n, f, dst);
}
static log_fn above_log = above_log_plain;
static size_t move_plain(float *dst, const float *log, const uint32_t *ends, size_t K, size_t k, size_t i0, size_t i1)
{
    float *d = dst;
    for (size_t i = i0; i < i1; i++) {
        size_t s = piece_start(ends, K, i, k), e = ends[i * K + k];
        memcpy(d, log + s, (e - s) * sizeof *d);
        d += e - s;
    }
    return (size_t)(d - dst);
}
static size_t (*move_best)(float *, const float *, const uint32_t *, size_t, size_t, size_t, size_t) = move_plain;
static int have_avx2, have_avx512;
typedef size_t (*scan_fn)(const float *, size_t, float, float *, float *, uint64_t *);
static size_t scan_generic(const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk);
static scan_fn scan_best = scan_generic;
static pthread_once_t above_once = PTHREAD_ONCE_INIT;

static void above_choose(void)
{
#ifdef ND_HAVE_AVX2_PATH
    pack8_init();
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    have_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
    above_best = have_avx512 ? above_avx512 : have_avx2 ? above_avx2 : above_sse2;
    above_log = have_avx512 ? above_avx512_log : have_avx2 ? above_avx2_log : above_log_plain;
    move_best = have_avx512 ? move_avx512 : have_avx2 ? move_avx2 : move_plain;
    scan_best = have_avx512 ? scan_avx512 : have_avx2 ? scan_avx2 : scan_generic;
#endif
}

/* Without AVX2: the fastest append, then the mask and the maximum. */
static size_t scan_generic(const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk)
{
    mask_scalar(v, n, f, mk);
    *max = nd_map_max(v, n);
    return above_best(v, n, f, dst);
}

size_t qt_scan_map(const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk)
{
    pthread_once(&above_once, above_choose);
    return scan_best(v, n, f, dst, max, mk);
}

size_t qt_scan_map_impl(int impl, const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk)
{
    pthread_once(&above_once, above_choose);
    if (impl == 0)
        return scan_scalar(v, n, f, dst, max, mk);
    if (impl == 1)
        return scan_generic(v, n, f, dst, max, mk);
#ifdef ND_HAVE_AVX2_PATH
    if (impl == 2 && have_avx2)
        return scan_avx2(v, n, f, dst, max, mk);
    if (impl == 3 && have_avx512)
        return scan_avx512(v, n, f, dst, max, mk);
#endif
    return (size_t)-1;
}

size_t qt_above(const float *v, size_t n, float f, float *dst)
{
    pthread_once(&above_once, above_choose);
    return above_best(v, n, f, dst);
}

size_t qt_above_impl(int impl, const float *v, size_t n, float f, float *dst)
{
    pthread_once(&above_once, above_choose);
    if (impl == 0)
        return above_scalar(v, n, f, dst);
    if (impl == 1)
        return above_sse2(v, n, f, dst);
#ifdef ND_HAVE_AVX2_PATH
    if (impl == 2 && have_avx2)
        return above_avx2(v, n, f, dst);
    if (impl == 3 && have_avx512)
        return above_avx512(v, n, f, dst);
    if (impl == 4 && have_avx512)
        return above_avx512_log(v, n, f, dst, v);
    if (impl == 5 && have_avx2)
        return above_avx2_log(v, n, f, dst, v);
#endif
    return (size_t)-1;
}

/* Room in b for one more map of hw values (raising the floor if need be). */
static int make_room(qt_top *t, unit_buf *b, size_t hw)
{
    if (!b->v && !(b->v = nd_malloc((t->cap + 8) * sizeof *b->v))) /* (+8: move_avx2's last store) */
        return -1;
    if (b->n + hw > t->cap)
        compact(b, t->keep, t->tmp);
    return 0;
}

/* Append the values of v[0..hw) above the floor (all of them before there is one). */
static int add_map(qt_top *t, unit_buf *b, const float *v, size_t hw, above_fn above)
{
    if (make_room(t, b, hw))
        return -1;
    if (!b->has_floor) {
        memcpy(b->v + b->n, v, hw * sizeof *v);
        b->n += hw;
        return 0;
    }
    b->n += above(v, hw, b->floor, b->v + b->n);
    return 0;
}

/* The buffers' size, fixed by the first map size seen. */
static int ensure_cap(qt_top *t, size_t hw)
{
    if (t->cap == 0) {
        t->cap = 2 * t->keep + 2 * hw; /* room for one more map after a compaction (<= 1.25 keep + 1 left) */
        if (!(t->tmp = nd_malloc((t->cap / 16 + 2) * sizeof *t->tmp)))
            return -1;
    }
    return 0;
}

/* ---- qt_top_add: the log ----
 *
 * Appending each map's kept values to its unit's buffer writes to 256
 * buffers' tails, which the stream of maps keeps evicting from the L1:
 * each append's store misses and competes with the stream's own misses
 * (and, made conditional to skip maps with nothing kept, the branch
 * mispredicts: 60% of maps keep 2-3 of their 169 values, scattered).  The
 * scan instead appends every kept value to one log and stores every
 * packed vector; after a block of images (qt_top_add's call) the log's
 * pieces are moved to the units, unit by unit.  Measured in the pass over
 * 6,000 images (2026-12-03, Xeon host): scan and move 51 ms against 58 ms.
 * The log's scan also prefetches (to the L2) LOG_AHEAD bytes ahead, one
 * line per vector loaded: with the compares, popcounts and stores between
 * the loads the hardware prefetcher alone falls behind (whole calls at
 * 6,000 images 51-52 ms against 55-61 ms without; a burst of a map's 11
 * prefetches before its scan was slower, 54-56 ms: a plain read of the
 * mapped file takes 41 ms).  Units without a floor yet take the direct
 * appends: with no floor a map's values are all kept. */
enum { LOG_AHEAD = 6144 };

static int log_init(qt_top *t, size_t hw)
{
    if (t->log)
        return 0;
    t->log_cap = 2 * t->K * hw;
    t->log = nd_malloc((t->log_cap + 16) * sizeof *t->log);
    t->fl = nd_malloc(t->K * sizeof *t->fl);
    t->ends = nd_malloc(ND_FEATURES_BLOCK * t->K * sizeof *t->ends);
    if (!t->log || !t->fl || !t->ends)
        return -1;
    for (size_t k = 0; k < t->K; k++)
        t->fl[k] = t->u[k].floor;
    return 0;
}

/* Unit k's pieces of the log to its buffer, in image order: in one go if
 * they fit after at most one compaction, else image by image (a piece is
 * at most a map, the room make_room makes). */
static int log_flush_unit(qt_top *t, size_t k, size_t hw)
{
    unit_buf *b = &t->u[k];
    size_t K = t->K, ni = t->log_images, len = 0;
    for (size_t i = 0; i < ni; i++)
        len += t->ends[i * K + k] - piece_start(t->ends, K, i, k);
    if (len == 0)
        return 0;
    if ((!b->v || b->n + len > t->cap) && make_room(t, b, hw))
        return -1;
    if (b->n + len <= t->cap)
        b->n += move_best(b->v + b->n, t->log, t->ends, K, k, 0, ni);
    else
        for (size_t i = 0; i < ni; i++) {
            if (make_room(t, b, hw))
                return -1;
            b->n += move_best(b->v + b->n, t->log, t->ends, K, k, i, i + 1);
        }
    t->fl[k] = b->floor;
    return 0;
}

static int log_flush(qt_top *t, size_t hw)
{
    for (size_t k = 0; k < t->K; k++)
        if (log_flush_unit(t, k, hw))
            return -1;
    t->log_n = 0, t->log_images = 0;
    return 0;
}

/* Image img's kept values to the log; end: the end of qt_top_add's block
 * (the prefetch stays inside it). */
static void log_image(qt_top *t, const float *img, const float *end, size_t hw)
{
    size_t K = t->K, m = t->log_n, ahead = LOG_AHEAD / sizeof *img;
    uint32_t *ends = t->ends + t->log_images * K;
    for (size_t k = 0; k < K; k++) {
        const float *v = img + k * hw;
        const float *pf = (size_t)(end - v) > ahead + hw ? v + ahead : v; /* (within the block) */
        m += above_log(v, hw, t->fl[k], t->log + m, pf);
        ends[k] = (uint32_t)m;
    }
    t->log_n = m, t->log_images++;
}

/* The direct appends of one image's maps. */
static int add_image(qt_top *t, const float *img, size_t hw)
{
    for (size_t k = 0; k < t->K; k++) {
        unit_buf *b = &t->u[k];
        int had = b->has_floor;
        if (add_map(t, b, img + k * hw, hw, above_best))
            return -1;
        t->floorless -= !had && b->has_floor;
    }
    return 0;
}

int qt_top_add(qt_top *t, const float *x, size_t n, size_t hw)
{
    if (ensure_cap(t, hw))
        return -1;
    pthread_once(&above_once, above_choose);
    size_t per = t->K * hw;
    for (size_t i = 0; i < n; i++) {
        if (t->floorless || per > ((size_t)1 << 30)) { /* (the log's ends are 32-bit) */
            if (add_image(t, x + i * per, hw))
                return -1;
            continue;
        }
        if (log_init(t, hw))
            return -1;
        if ((t->log_n + per > t->log_cap || t->log_images == ND_FEATURES_BLOCK) && log_flush(t, hw))
            return -1;
        log_image(t, x + i * per, x + n * per, hw);
    }
    return t->log_images ? log_flush(t, hw) : 0;
}

int qt_top_add_unit(qt_top *t, size_t k, const float *v, size_t hw)
{
    if (ensure_cap(t, hw))
        return -1;
    pthread_once(&above_once, above_choose);
    return add_map(t, &t->u[k], v, hw, above_best);
}

int qt_top_add_unit_scan(qt_top *t, size_t k, const float *v, size_t hw, qt_scan *s, uint64_t *mk)
{
    unit_buf *b = &t->u[k];
    if (ensure_cap(t, hw) || make_room(t, b, hw))
        return -1;
    pthread_once(&above_once, above_choose);
    /* no floor yet: every (finite) value is above -INFINITY, as add_map's copy */
    s->floor = b->has_floor ? b->floor : -INFINITY;
    s->above = scan_best(v, hw, s->floor, b->v + b->n, &s->max, mk);
    b->n += s->above;
    return 0;
}

/* The keep-th largest (*a) and the (keep - 1)-th largest (*b; = *a when
 * keep is 1) of v[0..n), keep <= n; reorders v.  A 4,096-bin histogram
 * over [min, max] finds the bin holding the keep-th largest (the bin of a
 * value is monotonic in the value: float subtraction, multiplication by a
 * positive scale and truncation never reverse an order, so every value in
 * a higher bin is >= every value in a lower one); only that bin's values
 * are selected from.  Three passes instead of a selection over all n.
 * 0 done, -1 if the range does not suit a histogram (caller selects). */
enum { TOP_BINS = 4096 };

static int top2_hist(float *v, size_t n, size_t keep, float *a, float *b)
{
    float lo = v[0], hi = v[0];
    qt_minmax(v, n, &lo, &hi);
    if (!(hi > lo))
        return *a = *b = lo, 0;
    int nbins = 64;
    while (nbins < TOP_BINS && (size_t)nbins * 4 <= n)
        nbins *= 2;
    double range = (double)hi - (double)lo;
    float scale = (float)((nbins - 0.01) / range);
    if (!(range < 1e38) || !(scale < 1e38f) || !((double)scale * range < nbins))
        return -1;
    uint32_t cnt[TOP_BINS];
    memset(cnt, 0, (size_t)nbins * sizeof *cnt);
    size_t q = 0;
#if defined(__SSE2__)
    __m128 vlo = _mm_set1_ps(lo), vsc = _mm_set1_ps(scale), vtop = _mm_set1_ps((float)(nbins - 1));
    for (; q + 4 <= n; q += 4) {
        uint32_t ix[4];
        _mm_storeu_si128((__m128i *)ix,
                         _mm_cvttps_epi32(_mm_min_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(v + q), vlo), vsc), vtop)));
        cnt[ix[0]]++, cnt[ix[1]]++, cnt[ix[2]]++, cnt[ix[3]]++;
    }
#endif
    float top = (float)(nbins - 1);
    for (; q < n; q++) {
        float x = (v[q] - lo) * scale;
        cnt[(unsigned)(int)(x < top ? x : top)]++;
    }
    size_t above = 0;
    int bin = nbins - 1;
    while (above + cnt[bin] < keep)
        above += cnt[bin--];
    /* the bin's values to the front (in place: m <= q), and the smallest value above the bin */
    size_t m = 0;
    float up = INFINITY;
    q = 0;
#if defined(__SSE2__)
    /* 4 at a time: most groups hold no value of the bin */
    __m128i vbin = _mm_set1_epi32(bin);
    __m128 vup = _mm_set1_ps(INFINITY);
    for (; q + 4 <= n; q += 4) {
        __m128 y = _mm_loadu_ps(v + q);
        __m128i k = _mm_cvttps_epi32(_mm_min_ps(_mm_mul_ps(_mm_sub_ps(y, vlo), vsc), vtop));
        __m128 gt = _mm_castsi128_ps(_mm_cmpgt_epi32(k, vbin));
        vup = _mm_min_ps(vup, _mm_or_ps(_mm_and_ps(gt, y), _mm_andnot_ps(gt, _mm_set1_ps(INFINITY))));
        unsigned eq = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k, vbin)));
        while (eq) {
            v[m++] = v[q + (unsigned)__builtin_ctz(eq)];
            eq &= eq - 1;
        }
    }
    float tu[4];
    _mm_storeu_ps(tu, vup);
    for (int k = 0; k < 4; k++)
        up = tu[k] < up ? tu[k] : up;
#endif
    for (; q < n; q++) {
        float y = v[q], x = (y - lo) * scale;
        int k = (int)(x < top ? x : top);
        v[m] = y;
        m += k == bin;
        up = k > bin && y < up ? y : up;
    }
    size_t r = keep - above; /* 1 <= r <= m: the r-th largest of the bin */
    size_t i0 = m - r;
    *a = qt_kth(v, m, i0);
    if (r == 1) {
        *b = keep > 1 ? up : *a;
        return 0;
    }
    float mb = v[i0 + 1];
    for (size_t q = i0 + 2; q < m; q++)
        mb = v[q] < mb ? v[q] : mb;
    *b = mb;
    return 0;
}

float qt_kth_largest(float *v, size_t n, size_t k)
{
    float a, b;
    return top2_hist(v, n, k, &a, &b) ? qt_kth(v, n, n - k) : a;
}

/* The final selection, one job per thread over units tid, tid + nt, ...
 * (after a pass the calling thread would otherwise do it alone). */
typedef struct {
    qt_top *const *parts;
    int nparts, tid, nt;
    size_t r0, r1;
    double t;
    double *out;
    float *all, *tmp; /* the union of one unit's candidates; compact()'s subsample */
    unsigned char *missed_units; /* NULL: stop at the first miss */
    size_t missed;
} result_job;

static void *result_worker(void *arg)
{
    result_job *j = arg;
    size_t K = j->parts[0]->K, keep = j->parts[0]->keep;
    for (size_t k = (size_t)j->tid; k < K && !(j->missed && !j->missed_units); k += (size_t)j->nt) {
        /* values below the highest floor are not among the keep largest:
         * that part alone holds keep values at or above it */
        float hi_floor = -INFINITY;
        for (int p = 0; p < j->nparts; p++) {
            const unit_buf *b = &j->parts[p]->u[k];
            if (b->has_floor && b->n >= keep && b->floor > hi_floor)
                hi_floor = b->floor;
        }
        unit_buf u = {j->all, 0, 0, 0};
        float below = nextafterf(hi_floor, -INFINITY); /* v > below: v >= hi_floor */
        for (int p = 0; p < j->nparts; p++) {
            const unit_buf *b = &j->parts[p]->u[k];
            u.n += above_best(b->v, b->n, below, u.v + u.n);
        }
        /* with guessed floors, fewer than keep values above them means a
         * guess was too high: the caller reads this unit again without */
        if (u.n < keep) {
            j->missed++;
            if (j->missed_units)
                j->missed_units[k] = 1;
            continue;
        }
        float a, b;
        if (top2_hist(u.v, u.n, keep, &a, &b)) {
            compact(&u, keep, j->tmp); /* about 1.25 keep left: a cheaper selection */
            size_t i0 = u.n - keep;
            a = qt_kth(u.v, u.n, i0), b = a;
            if (keep > 1) {
                b = u.v[i0 + 1];
                for (size_t q = i0 + 2; q < u.n; q++)
                    if (u.v[q] < b)
                        b = u.v[q];
            }
        }
        if (j->r1 == j->r0)
            b = a;
        j->out[k] = qt_lerp(a, b, j->t);
    }
    return NULL;
}

long qt_top_result_units(qt_top *const *parts, int nparts, uint64_t n, double level, double *out,
                         unsigned char *missed)
{
    size_t keep = parts[0]->keep, r0, r1, cap = 0;
    double tt;
    qt_ranks((size_t)n, level, &r0, &r1, &tt);
    for (int p = 0; p < nparts; p++)
        cap += parts[p]->cap > keep ? parts[p]->cap : keep;
    pthread_once(&above_once, above_choose);
    result_job jobs[ND_MAX_THREADS];
    int nt = nparts < ND_MAX_THREADS ? nparts : ND_MAX_THREADS, made = 0, rc = 0;
    for (; made < nt; made++) {
        jobs[made] = (result_job){parts, nparts, made, nt, r0, r1, tt, out, NULL, NULL, missed, 0};
        jobs[made].all = nd_malloc((cap ? cap : 1) * sizeof(float));
        jobs[made].tmp = nd_malloc((cap / 16 + 2) * sizeof(float));
        if (!jobs[made].all || !jobs[made].tmp) {
            free(jobs[made].all), free(jobs[made].tmp);
            rc = -1;
            break;
        }
    }
    if (!rc)
        nd_run_jobs(result_worker, jobs, sizeof *jobs, nt);
    long nmiss = 0;
    for (int t = 0; t < made; t++) {
        nmiss += (long)jobs[t].missed;
        free(jobs[t].all), free(jobs[t].tmp);
    }
    return rc ? -1 : nmiss;
}

int qt_top_result(qt_top *const *parts, int nparts, uint64_t n, double level, double *out)
{
    long r = qt_top_result_units(parts, nparts, n, level, out, NULL);
    return r < 0 ? -1 : r > 0;
}
