/* jobs.c - threads and the monotonic clock (see jobs.h). */
#include "core/jobs.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

int nd_threads(int want)
{
    if (want > 0)
        return want > ND_MAX_THREADS ? ND_MAX_THREADS : want;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > ND_MAX_THREADS ? ND_MAX_THREADS : n) : 1;
}

void nd_run_jobs(void *(*fn)(void *), void *jobs, size_t jobsize, int nt)
{
    pthread_t th[ND_MAX_THREADS];
    int started[ND_MAX_THREADS] = {0};
    ND_ASSERT(nt >= 1 && nt <= ND_MAX_THREADS);
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, fn, (char *)jobs + (size_t)t * jobsize) == 0;
    fn(jobs);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn((char *)jobs + (size_t)t * jobsize);
    }
}

double nd_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double nd_cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
