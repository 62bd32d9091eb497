/* labelruns.c - label pixels counted by runs (see labelruns.h). */
#include "core/labelruns.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The first p >= from with map[p] != v, or n. */
static size_t run_end(const uint16_t *map, size_t from, size_t n, uint16_t v)
{
    size_t p = from;
#if defined(__SSE2__)
    __m128i c = _mm_set1_epi16((short)v);
    for (; p + 8 <= n; p += 8) {
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(map + p)), c));
        if (eq != 0xFFFFu)
            return p + (size_t)__builtin_ctz(~eq) / 2;
    }
#endif
    while (p < n && map[p] == v)
        p++;
    return p;
}

long nd_label_runs(const uint16_t *map, size_t n, int64_t *cnt, const uint64_t *catbit, const unsigned char *known,
                   uint64_t *pres)
{
    uint64_t pr = 0;
    size_t p = 0;
    while (p < n) {
        uint16_t v = map[p];
        if (known && !known[v]) {
            *pres |= pr;
            return (long)v;
        }
        size_t e = run_end(map, p + 1, n, v);
        cnt[v] += (int64_t)(e - p);
        pr |= catbit[v];
        p = e;
    }
    *pres |= pr;
    return -1;
}
