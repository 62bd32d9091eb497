/* bench_clock.h - what the benchmarks report beside wall time: this
 * process's CPU seconds and how loaded the machine was. */
#ifndef ND_BENCH_CLOCK_H
#define ND_BENCH_CLOCK_H

#include <stdio.h>
#include <sys/resource.h>

/* CPU seconds of this process so far (user + system, all threads). */
static inline double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
           1e-6 * (double)u.ru_stime.tv_usec;
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
