/* dist.h - what a run over several processes needs from its transport.
 *
 * The steps of a distributed run (experiments/units_io.c: one layer over
 * image shards; the sweep: points handed out one by one) are written against
 * this small table, so that they are plain C, built into libnd.a and testable
 * without MPI; experiments/mpi_main.c - the only file that includes mpi.h -
 * fills it with MPI calls.  Every function is collective (all ranks call it,
 * in the same order) except next_point.  Each returns 0, or -1 with
 * nd_fail() when the transport fails.
 */
#ifndef ND_DIST_H
#define ND_DIST_H

#include <stddef.h>
#include <stdint.h>

/* The message of a rank that stops because another rank failed: such a
 * rank exits 1 without printing it (the failing rank prints its own). */
#define ND_DIST_OTHER_FAILED "another rank failed"

typedef struct nd_dist {
    int rank, size;
    /* v[0..n) summed elementwise over the ranks, the sum on every rank */
    int (*sum_u32)(struct nd_dist *d, uint32_t *v, size_t n);
    /* v[0..n) summed elementwise over the ranks into rank 0's v */
    int (*sum_i64)(struct nd_dist *d, int64_t *v, size_t n);
    /* bytes[0..n) of rank 0 copied to every rank */
    int (*bcast)(struct nd_dist *d, void *bytes, size_t n);
    /* A step boundary: every rank passes whether its step succeeded; returns
     * 0 if all did, else -1 (nd_fail(ND_DIST_OTHER_FAILED) on the ranks that
     * had succeeded, their own message kept on the others). */
    int (*all_ok)(struct nd_dist *d, int ok);
    /* Dynamic scheduling: the next task index of 0, 1, 2, ... not yet taken
     * by any rank (not collective; a shared counter). */
    int (*next_task)(struct nd_dist *d, long *task);
    void *ctx;
} nd_dist;

#endif
