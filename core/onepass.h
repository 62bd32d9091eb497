/* onepass.h - dissecting a source that is expensive to read (a rotation
 * costs an sgemm per image) with a single read of it.
 *
 * nd_dissect reads its source twice (thresholds, then tally).
 * nd_dissect_once reads it once and gives the same result, bit for bit:
 *   held    the whole copy fits `budget` bytes: copied into memory
 *           (nd_features_memory_hook), the stream method's candidates
 *           taken from each chunk as it is copied (core/topk.h: the exact
 *           thresholds), then the tally reads the copy;
 *   sieved  otherwise one pass feeds the stream method's candidates
 *           (core/topk.h: the exact thresholds) and sieves the maps at the
 *           same time: a map whose maximum is above its unit's current
 *           candidate floor is kept, and of every other map only the
 *           maximum.  A floor never exceeds the final threshold, so a map
 *           that was not kept has no value above the threshold: the tally
 *           makes no mask of it and needs only its maximum (maxact).  Of a
 *           kept map only the nodes the tally's mask can read are kept
 *           (those within the upsampling's reach of its nodes above the
 *           floor, core/onepass.c), or the whole map when that is not
 *           smaller; in memory up to what `budget` leaves after the
 *           candidates and the maxima, the rest in a temporary file (page
 *           cache).  The tally then reads a source
 *           that rebuilds the kept maps (the same maximum, threshold test
 *           and mask) and gives each other map as a constant map of its
 *           maximum.  Memory: the candidates, N x K maxima, two bits per
 *           map and the kept maps up to the budget.
 *   streamed  given thresholds (one tally pass is one read anyway), or
 *           candidates over 1 GiB: nd_dissect on the source; a threshold
 *           method other than the stream: nd_dissect on a copy when it
 *           fits (held), else on the source.
 *
 * The temporary files (one per thread) are made in tmpdir (NULL: $TMPDIR,
 * else /tmp), named with the host and process, and unlinked as soon as
 * they are open: nothing is left behind, whatever happens to the process.
 * They stay open for the next sieve (overwriting cached pages is cheaper
 * than filling new ones) until nd_once_release or the process's exit.
 */
#ifndef ND_ONEPASS_H
#define ND_ONEPASS_H

#include <stddef.h>
#include <stdint.h>

#include "core/broden.h"
#include "core/dissect.h"
#include "core/features.h"
#include "core/options.h"

typedef enum { ND_ONCE_STREAMED = 0, ND_ONCE_HELD = 1, ND_ONCE_SIEVED = 2 } nd_once_how;

typedef struct {
    nd_once_how how;
    uint64_t maps, kept; /* sieved: maps seen, maps kept */
    uint64_t whole;      /* sieved: kept maps stored whole (the others as their nodes near the large values) */
    uint64_t held;       /* sieved: bytes of kept maps held in memory */
    uint64_t spilled;    /* sieved: bytes written to the temporary file */
    int reach;           /* sieved: nodes kept around those above the floor (-1: whole maps only) */
    int passes;          /* sieved: 1, or 2 when a floor guessed from a sample was too high */
    double seconds_pass; /* sieved: the pass (thresholds and sieve), the sample included */
    double seconds_guess; /* sieved: the sample for the floors */
} nd_once_stats;

/* The sweep's budget for holding a rotated point in memory (MSRC-v2 at
 * fire9: 204 MB fits; Broden at conv5, 11 GB, is sieved: its candidates
 * and maxima take 284 MB of it and 228 MB of its ~1 GB of kept maps the
 * rest; the others go to the file). */
#define ND_ONCE_BUDGET ((size_t)512 << 20)

/* nd_dissect(ds, f, o, r) reading f once (above); stats may be NULL. */
int nd_dissect_once(const broden *ds, const nd_features *f, const nd_options *o, size_t budget, const char *tmpdir,
                    nd_result *r, nd_once_stats *stats);

/* The sieved path whatever the budget (tests, benchmarks); kept maps in
 * memory up to `budget` bytes, the rest in the temporary files. */
int nd_dissect_sieved(const broden *ds, const nd_features *f, const nd_options *o, size_t budget, const char *tmpdir,
                      nd_result *r, nd_once_stats *stats);

/* Close the spare temporary files of the last sieve (their disk space and
 * page cache are freed). */
void nd_once_release(void);

/* The sieve's floors are guessed from `sample` images (0: the default,
 * up to 1,024 and a 16th of N), each at the value with `tail` x quantile of
 * the sample's values above it (0: the default, 3 + 512 / sample).  For tests and
 * benchmarks; not thread-safe. */
void nd_sieve_guess(size_t sample, double tail);
/* nd_sieve_sparse(0): keep every kept map whole (as for plans of a large
 * reach); 1, the default: as their nodes near the large values when that
 * is smaller.  For tests and benchmarks; not thread-safe. */
void nd_sieve_sparse(int on);

#endif
