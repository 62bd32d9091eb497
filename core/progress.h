/* progress.h - the one progress-report type of the library.
 *
 * Long library calls (thresholds, tally, feature extraction, import, label
 * decoding, training) take an nd_progress by value and call it from the
 * calling thread only: stage is a short constant word ("thresholds",
 * "tally", "features", ...), done <= total counts the stage's own units
 * (units, images, iterations).  The library never prints; drivers turn
 * these calls into a progress line.  A zero nd_progress reports nothing.
 */
#ifndef ND_PROGRESS_H
#define ND_PROGRESS_H

#include <stddef.h>

typedef void (*nd_progress_fn)(void *ctx, const char *stage, size_t done, size_t total);

typedef struct {
    nd_progress_fn fn;
    void *ctx;
} nd_progress;

static inline void nd_report(nd_progress p, const char *stage, size_t done, size_t total)
{
    if (p.fn)
        p.fn(p.ctx, stage, done, total);
}

#endif
