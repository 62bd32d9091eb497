/* bench_clock.h - what the benchmarks report beside wall time: this
 * process's CPU seconds and how loaded the machine was. */
#ifndef ND_BENCH_CLOCK_H
#define ND_BENCH_CLOCK_H

#include "core/jobs.h"

#include <stdio.h>
#include <sys/resource.h>

/* CPU seconds of this process so far (user + system, all threads). */
static inline double cpu_seconds(void)
{
    return nd_cpu_now();
}

/* Major page faults of this process so far: pages of a mapped file read
 * from disk because the page cache no longer held them. */
static inline long major_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_majflt;
}

/* A warning when two readings of one limit differ by more than 20%: the
 * machine's speed changed while the figure between them was measured
 * (empty when they agree). */
static inline const char *drifted(double a, double b)
{
    double lo = a < b ? a : b, hi = a < b ? b : a;
    return lo > 0 && hi / lo > 1.2 ? "; the readings differ by more than 20%: the machine's speed changed meanwhile"
                                   : "";
}

/* The 1-minute load average: how many others shared the cores. */
static inline double load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

#endif
