/* bench_readbw.h - the machine's read bandwidth, as the benchmarks' limit
 * for passes over activations: 1 GiB of ordinary (4 KB-page) memory read
 * by 2 threads, OR-reduced with the widest vector loads the CPU has, best
 * of 3.  A scalar reduction does not measure memory: on a 2026-12-03 host
 * (Xeon, AVX-512) four double accumulators read 12.4 GB/s, 128-bit loads
 * 21 GB/s, 512-bit loads 27 GB/s; the reduction's arithmetic, not the
 * memory, was the limit.  Huge pages read faster still (33-35 GB/s there),
 * but mapped activation files are read through 4 KB pages. */
#ifndef ND_BENCH_READBW_H
#define ND_BENCH_READBW_H

#include "core/jobs.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p;
    size_t n; /* bytes, a multiple of 512 */
    int width; /* bytes per load: 16, 32 or 64 */
    uint32_t sink;
} readbw_job;

static uint32_t readbw_sse2(const unsigned char *p, size_t n)
{
    __m128i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm_setzero_si128();
    for (size_t i = 0; i < n; i += 8 * 16)
        for (int k = 0; k < 8; k++)
            a[k] = _mm_or_si128(a[k], _mm_load_si128((const __m128i *)(const void *)(p + i) + k));
    for (int k = 1; k < 8; k++)
        a[0] = _mm_or_si128(a[0], a[k]);
    return (uint32_t)_mm_cvtsi128_si32(a[0]);
}

__attribute__((target("avx2"))) static uint32_t readbw_avx2(const unsigned char *p, size_t n)
{
    __m256i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i += 8 * 32)
        for (int k = 0; k < 8; k++)
            a[k] = _mm256_or_si256(a[k], _mm256_load_si256((const __m256i *)(const void *)(p + i) + k));
    for (int k = 1; k < 8; k++)
        a[0] = _mm256_or_si256(a[0], a[k]);
    return (uint32_t)_mm256_extract_epi32(a[0], 0);
}

__attribute__((target("avx512f"))) static uint32_t readbw_avx512(const unsigned char *p, size_t n)
{
    __m512i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 8 * 64)
        for (int k = 0; k < 8; k++)
            a[k] = _mm512_or_si512(a[k], _mm512_load_si512((const void *)(p + i + 64 * (size_t)k)));
    for (int k = 1; k < 8; k++)
        a[0] = _mm512_or_si512(a[0], a[k]);
    return (uint32_t)_mm512_reduce_or_epi32(a[0]);
}

static void *readbw_worker(void *arg)
{
    readbw_job *j = arg;
    j->sink = j->width == 64 ? readbw_avx512(j->p, j->n)
            : j->width == 32 ? readbw_avx2(j->p, j->n)
                             : readbw_sse2(j->p, j->n);
    return NULL;
}

/* Best GB/s over 3 reads of buf (n bytes) at one load width, 2 threads. */
static double readbw_width(const unsigned char *buf, size_t n, int width)
{
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        readbw_job j[2] = {{buf, n / 2, width, 0}, {buf + n / 2, n / 2, width, 0}};
        pthread_t t;
        double t0 = nd_now();
        if (pthread_create(&t, NULL, readbw_worker, &j[1]))
            return 0;
        readbw_worker(&j[0]);
        pthread_join(t, NULL);
        double gbs = (double)n / (nd_now() - t0) / 1e9;
        if (gbs > best)
            best = gbs;
    }
    return best;
}

/* The read bandwidth in GB/s, the best over the load widths this CPU has;
 * *width gets the width that reached it (bytes per load). */
static double read_bandwidth_gbs(int *width)
{
    size_t n = (size_t)1 << 30;
    unsigned char *buf = aligned_alloc(64, n);
    if (!buf)
        return 0;
    memset(buf, 1, n);
    int widths[3] = {16, 32, 64};
    int have[3] = {1, __builtin_cpu_supports("avx2"), __builtin_cpu_supports("avx512f")};
    double best = 0;
    *width = 16;
    for (int w = 0; w < 3; w++) {
        double g = have[w] ? readbw_width(buf, n, widths[w]) : 0;
        if (g > best)
            best = g, *width = widths[w];
    }
    free(buf);
    return best;
}

#endif
