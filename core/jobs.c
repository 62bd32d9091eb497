/* jobs.c - threads and the monotonic clock (see jobs.h). */
#include "core/jobs.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

/* Jobs 1..nt-1 on fresh threads, job 0 here (the way without the pool). */
static void run_fresh(void *(*fn)(void *), void *jobs, size_t jobsize, int nt)
{
    pthread_t th[ND_MAX_THREADS];
    int started[ND_MAX_THREADS] = {0};
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

/* ---- the pool ----
 *
 * Starting a thread per job costs 25 us on a busy 2-core VM and 60-85 us
 * once the other vCPU has idled for a millisecond, with outliers near 1 ms
 * (2026-12-03, EPYC host); a thresholds call at 400 images runs 4-5
 * batches of jobs in about 5 ms.  So the workers are started once and
 * kept.  After a job a worker spins for up to SPIN_NS, since the next
 * batch usually follows within microseconds and a spinning vCPU does not
 * have to be woken, then sleeps on its condition variable; the caller
 * waits for a job's end the same way.  One caller at a time uses the pool:
 * a batch started while it is busy (from inside a job, or from another
 * thread) runs on fresh threads as before. */
enum { SPIN_NS = 200000 };

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t post_cv, done_cv;
    atomic_uint posted, finished; /* batches handed to this worker, and ended */
    int sleeping, waiting;        /* (under mu) the worker waits for a batch; the caller for its end */
    void *(*fn)(void *);
    void *arg;
} worker;

static worker pool[ND_MAX_THREADS - 1];
static int pool_n; /* workers running (under pool_mu) */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins while *x == v, for at most SPIN_NS (yielding now and then, so
 * that a spinner does not hold a core another thread needs); 1 if *x
 * changed. */
static int spin_while(atomic_uint *x, unsigned v)
{
    double t0 = nd_now();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(x, memory_order_acquire) != v)
            return 1;
        cpu_relax();
        if (i % 256 == 0) {
            if (nd_now() - t0 > SPIN_NS * 1e-9)
                return 0;
            sched_yield();
        }
    }
}

/* Waits while *x == v: spins, then sleeps on cv (*flag set meanwhile). */
static void wait_while(worker *w, atomic_uint *x, unsigned v, pthread_cond_t *cv, int *flag)
{
    if (spin_while(x, v))
        return;
    pthread_mutex_lock(&w->mu);
    *flag = 1;
    while (atomic_load_explicit(x, memory_order_acquire) == v)
        pthread_cond_wait(cv, &w->mu);
    *flag = 0;
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (unsigned seen = 0;; seen++) {
        wait_while(w, &w->posted, seen, &w->post_cv, &w->sleeping);
        w->fn(w->arg);
        pthread_mutex_lock(&w->mu);
        atomic_store_explicit(&w->finished, seen + 1, memory_order_release);
        if (w->waiting)
            pthread_cond_signal(&w->done_cv);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* A child of fork() has none of the workers (it only runs until exec). */
static void pool_forget(void)
{
    pool_n = 0;
    pthread_mutex_init(&pool_mu, NULL);
}

static void pool_register(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

/* At least n workers if they can be started; how many there are. */
static int pool_grow(int n)
{
    pthread_once(&pool_once, pool_register);
    for (; pool_n < n; pool_n++) {
        worker *w = &pool[pool_n];
        *w = (worker){0};
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->post_cv, NULL);
        pthread_cond_init(&w->done_cv, NULL);
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&th, &at, worker_main, w) == 0;
        pthread_attr_destroy(&at);
        if (!ok)
            break;
    }
    return pool_n;
}

static void post(worker *w, void *(*fn)(void *), void *arg)
{
    w->fn = fn, w->arg = arg;
    pthread_mutex_lock(&w->mu);
    atomic_store_explicit(&w->posted, atomic_load_explicit(&w->posted, memory_order_relaxed) + 1,
                          memory_order_release);
    if (w->sleeping)
        pthread_cond_signal(&w->post_cv);
    pthread_mutex_unlock(&w->mu);
}

void nd_run_jobs(void *(*fn)(void *), void *jobs, size_t jobsize, int nt)
{
    ND_ASSERT(nt >= 1 && nt <= ND_MAX_THREADS);
    if (nt == 1) {
        fn(jobs);
        return;
    }
    if (pthread_mutex_trylock(&pool_mu) != 0) {
        run_fresh(fn, jobs, jobsize, nt);
        return;
    }
    int have = pool_grow(nt - 1);
    for (int t = 1; t < nt && t <= have; t++)
        post(&pool[t - 1], fn, (char *)jobs + (size_t)t * jobsize);
    fn(jobs);
    for (int t = 1; t < nt; t++) {
        worker *w = &pool[t - 1];
        if (t <= have)
            wait_while(w, &w->finished, atomic_load_explicit(&w->posted, memory_order_relaxed) - 1, &w->done_cv,
                       &w->waiting);
        else
            fn((char *)jobs + (size_t)t * jobsize);
    }
    pthread_mutex_unlock(&pool_mu);
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
