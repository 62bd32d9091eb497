/* test_jobs.c - nd_run_jobs: every job runs once, on its own record, on
 * kept workers and on fresh threads alike.
 *
 * The workers are kept from batch to batch (core/jobs.c): they spin for a
 * while after a job and then sleep, so the batches here come back to back
 * (the workers still spinning), after pauses longer than the spin (the
 * workers asleep), with job 0 much faster than the others (the caller
 * waiting, then sleeping), nested (a job running jobs: the workers are
 * busy, so fresh threads) and from several threads at once (one of them
 * has the workers, the others fresh threads).
 */
#include "core/jobs.h"
#include "tests/testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    int index, runs, nested_ok;
    long sum;
    unsigned delay_us; /* the job's own work, spun */
    int nest;          /* > 0: run that many jobs from inside this one */
} rec;

static void spin_us(unsigned us)
{
    double t0 = nd_now();
    while ((nd_now() - t0) * 1e6 < us)
        ;
}

static void *leaf(void *arg)
{
    rec *r = arg;
    r->runs++;
    r->sum += r->index;
    return NULL;
}

static void *job(void *arg)
{
    rec *r = arg;
    spin_us(r->delay_us);
    r->runs++;
    r->sum += r->index;
    if (r->nest > 0) {
        rec in[8];
        for (int t = 0; t < r->nest; t++)
            in[t] = (rec){.index = 100 * r->index + t};
        nd_run_jobs(leaf, in, sizeof in[0], r->nest);
        r->nested_ok = 1;
        for (int t = 0; t < r->nest; t++)
            r->nested_ok &= in[t].runs == 1 && in[t].sum == 100 * r->index + t;
    }
    return NULL;
}

/* One batch of nt jobs; 1 if each ran once on its own record. */
static int batch(int nt, unsigned delay0, unsigned delay, int nest)
{
    rec r[ND_MAX_THREADS];
    for (int t = 0; t < nt; t++)
        r[t] = (rec){.index = t, .delay_us = t ? delay : delay0, .nest = nest};
    nd_run_jobs(job, r, sizeof r[0], nt);
    int ok = 1;
    for (int t = 0; t < nt; t++)
        ok &= r[t].runs == 1 && r[t].sum == t && (!nest || r[t].nested_ok);
    return ok;
}

static void pause_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static void check_batches(void)
{
    test_group("each job once, on its own record");
    int bad = 0, n = 0;
    for (int rep = 0; rep < 300; rep++)
        for (int nt = 1; nt <= 8; nt++, n++)
            bad += !batch(nt, 0, 0, 0);
    CHECK(bad == 0, "back-to-back batches of 1-8 jobs: %d of %d wrong", bad, n);
    bad = 0, n = 0;
    for (int rep = 0; rep < 20; rep++, n++) {
        pause_us(1500); /* longer than the workers' spin: they sleep */
        bad += !batch(2 + rep % 4, 0, 50, 0);
    }
    CHECK(bad == 0, "batches after the workers went to sleep: %d of %d wrong", bad, n);
    bad = 0, n = 0;
    for (int rep = 0; rep < 10; rep++, n++)
        bad += !batch(3, 0, 1000, 0); /* the caller waits longer than it spins */
    CHECK(bad == 0, "a caller that waits past its spin: %d of %d wrong", bad, n);
    bad = 0, n = 0;
    for (int rep = 0; rep < 50; rep++, n++)
        bad += !batch(2 + rep % 3, 0, 0, 1 + rep % 4);
    CHECK(bad == 0, "jobs that run jobs themselves: %d of %d wrong", bad, n);
    CHECK(batch(ND_MAX_THREADS, 0, 0, 0), "a batch of ND_MAX_THREADS (%d) jobs", ND_MAX_THREADS);
}

static void *caller(void *arg)
{
    int *bad = arg;
    for (int rep = 0; rep < 200; rep++)
        *bad += !batch(1 + rep % 4, 0, rep % 7 == 0 ? 30 : 0, 0);
    return NULL;
}

static void check_concurrent(void)
{
    test_group("several threads running batches at once");
    enum { T = 4 };
    pthread_t th[T];
    int bad[T] = {0}, started = 0, total = 0;
    for (int t = 0; t < T; t++)
        started += pthread_create(&th[t], NULL, caller, &bad[t]) == 0;
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < started; t++)
        total += bad[t];
    CHECK(started == T && total == 0, "%d callers x 200 batches: %d wrong", started, total);
}

int main(void)
{
    check_batches();
    check_concurrent();
    return test_summary();
}
