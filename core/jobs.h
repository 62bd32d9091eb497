/* jobs.h - the one way this project runs work on threads, and its clock.
 *
 * nd_run_jobs runs fn on nt job records laid out jobsize bytes apart: job 0
 * on the calling thread, the others on worker threads kept from call to
 * call (or new threads, when another call is using the workers: a job may
 * itself run jobs).  A job whose thread cannot be created runs on the
 * calling thread after the others, so a result never depends on how many
 * threads actually started: workers must split their work by job index,
 * never by "who got there first".
 *
 *     typedef struct { const float *x; size_t i0, i1; double sum; } job;
 *     job j[ND_MAX_THREADS];  ... fill j[0..nt) ...
 *     nd_run_jobs(worker, j, sizeof j[0], nt);
 */
#ifndef ND_JOBS_H
#define ND_JOBS_H

#include <stddef.h>

#define ND_MAX_THREADS 64

/* want > 0: want (capped at ND_MAX_THREADS); else the online CPUs, capped. */
int nd_threads(int want);

/* 1 <= nt <= ND_MAX_THREADS. */
void nd_run_jobs(void *(*fn)(void *), void *jobs, size_t jobsize, int nt);

/* Seconds on the monotonic clock (for progress lines and timings only). */
double nd_now(void);
/* CPU seconds of this process so far, all threads (timings only). */
double nd_cpu_now(void);

#endif
