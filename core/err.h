/* err.h - error reporting for library code.
 *
 * Library functions (core/, linalg/, models/) never exit and never print.
 * On failure they record one line through nd_fail() and return -1; the
 * command driver prints that line and chooses the exit status.  The line
 * names the file and the field or row when the failure concerns an input.
 *
 * Broken invariants (our bugs, not the user's input) use ND_ASSERT, which
 * is always on and aborts so a debugger stops at the spot.
 */
#ifndef ND_ERR_H
#define ND_ERR_H

#include <stdio.h>
#include <stdlib.h>

/* Exit statuses of the dissect binary. */
enum { ND_EXIT_OK = 0, ND_EXIT_FAIL = 1, ND_EXIT_USAGE = 2 };

/* Record a printf-style message; always returns -1 so callers can write
 * `return nd_fail("%s: ...", path);`.  Thread-local. */
int nd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message with "prefix: " (to add context upward). */
int nd_fail_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last recorded message ("" if none). */
const char *nd_errmsg(void);
void nd_clear_error(void);

#define ND_ASSERT(x)                                                          \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "%s:%d: ND_ASSERT(%s) failed\n", __FILE__,        \
                    __LINE__, #x);                                            \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* malloc/calloc that record "out of memory (N bytes)" on failure. */
void *nd_malloc(size_t n);
void *nd_calloc(size_t count, size_t size);
/* nd_malloc for a large buffer filled soon after: from 4 MB on, aligned to
 * 2 MB and advised to the kernel as huge pages (MADV_HUGEPAGE), so that
 * its first touch costs a page fault per 2 MB instead of per 4 KB (a fault
 * took 3-4 us on the 2-core VMs: 56,000 of them for 2,000 images' label
 * maps were a fifth of `dissect units`).  Free with free(). */
void *nd_malloc_large(size_t n);
/* count * size with overflow check; returns 0 and records an error on overflow */
int nd_mul_ok(size_t a, size_t b, size_t *out);

#endif
