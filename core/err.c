#include "core/err.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

static _Thread_local char err_buf[1024];

int nd_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int nd_fail_prefix(const char *fmt, ...)
{
    char prefix[512], old[sizeof err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof err_buf - 3)
        n = sizeof err_buf - 3;
    memcpy(err_buf, prefix, n);
    memcpy(err_buf + n, ": ", 2);
    size_t rest = sizeof err_buf - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(err_buf + n + 2, old, m);
    err_buf[n + 2 + m] = 0;
    return -1;
}

const char *nd_errmsg(void) { return err_buf; }
void nd_clear_error(void) { err_buf[0] = 0; }

void *nd_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        nd_fail("out of memory (%zu bytes)", n);
    return p;
}

void *nd_malloc_large(size_t n)
{
    size_t huge = (size_t)2 << 20;
    if (n < 2 * huge)
        return nd_malloc(n);
    void *p = NULL;
    if (posix_memalign(&p, huge, n) != 0) {
        nd_fail("out of memory (%zu bytes)", n);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, n / huge * huge, MADV_HUGEPAGE); /* advice only: without it, 4 KB pages */
#endif
    return p;
}

void *nd_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        nd_fail("out of memory (%zu x %zu bytes)", count, size);
    return p;
}

int nd_mul_ok(size_t a, size_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b) {
        nd_fail("size overflow (%zu x %zu)", a, b);
        return 0;
    }
    *out = a * b;
    return 1;
}
