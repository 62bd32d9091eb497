/* bench_tally.c - the tally pass alone (issue 18 goal 4: the tally is most
 * of every dissection), on bench_broden's synthetic data.
 *
 * Opens a dataset bench_broden generated (features.npy beside it), computes
 * the exact thresholds once, then runs nd_tally_run over the first N images
 * several times and prints each run's wall and CPU seconds, the load, and a
 * checksum of I, A and M (equal checksums before and after a change of the
 * tally: the same counts).  G is not timed (it comes from the dataset's
 * cache) and not in the checksum.  Without the dataset it says so and
 * succeeds (`make bench` runs every bench; bench_broden generates the data).
 *
 * usage: bench_tally [--dir DATASET] [--images N] [--reps R] [--threads T] [--store FILE] [--profile P]
 *   default DATASET results/bench-cache/broden-synth-v2-6000, N all, R 3,
 *   store FILE default /tmp/bench_tally-<basename>.store (built once, reused)
 */
#include "core/blas.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/tally.h"
#include "core/thresholds.h"
#include "bench/bench_clock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* FNV-1a over the counts: one number to compare between builds. */
static uint64_t checksum(const nd_tally *t)
{
    uint64_t h = 1469598103934665603ull;
    const int64_t *arr[3] = {t->I, t->A, t->M};
    size_t len[3] = {t->K * t->L, t->K * t->C, t->K};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < len[a]; i++)
            h = (h ^ (uint64_t)arr[a][i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    const char *dir = "results/bench-cache/broden-synth-v2-6000", *store = NULL;
    size_t n = 0;
    int reps = 3, threads = 0;
    nd_profile prof = ND_PROFILE_NETDISSECT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--images") && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--store") && i + 1 < argc)
            store = argv[++i];
        else if (!strcmp(argv[i], "--profile") && i + 1 < argc && nd_profile_parse(argv[i + 1], &prof) == 0)
            i++;
        else {
            fprintf(stderr, "usage: bench_tally [--dir DATASET] [--images N] [--reps R] [--threads T] [--store FILE] "
                            "[--profile P]\n");
            return 2;
        }
    }
    char feat[4200], st[4300];
    snprintf(feat, sizeof feat, "%s/features.npy", dir);
    if (access(feat, R_OK)) {
        printf("bench_tally: no %s (bench_broden generates it); skipped\n", feat);
        return 0;
    }
    if (!store) {
        const char *b = strrchr(dir, '/');
        snprintf(st, sizeof st, "/tmp/bench_tally-%s.store", b ? b + 1 : dir);
        store = st;
    }
    broden *ds;
    npy_t a;
    nd_features f;
    double t0 = now();
    if (broden_open_store(&ds, dir, NULL, store) || npy_open(&a, feat) || nd_features_from_npy(&f, &a)) {
        fprintf(stderr, "bench_tally: %s\n", nd_errmsg());
        return 1;
    }
    if (n == 0 || n > f.N)
        n = f.N;
    f.N = n; /* the first n images: G below is the whole dataset's (not compared) */
    printf("dataset %s: %zu images of %zu units %zux%zu (opened in %.1f s), %s profile\n", dir, n, f.K, f.h, f.w,
           now() - t0, nd_profile_name(prof));
    nd_options o;
    nd_options_default(&o);
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16, o.threads = threads;
    o.profile = prof;
    double *thr = malloc(f.K * sizeof *thr);
    t0 = now();
    if (!thr || nd_thresholds_by(&f, 0.005, threads, ND_THR_AUTO, (nd_progress){0}, thr, NULL)) {
        fprintf(stderr, "bench_tally: %s\n", nd_errmsg());
        return 1;
    }
    printf("thresholds (also warms the mapped activations): %.3f s\n", now() - t0);
    double best = 1e30, cbest = 0;
    for (int r = 0; r < reps; r++) {
        nd_tally t;
        if (nd_tally_alloc(&t, f.K, broden_num_labels(ds), broden_num_categories(ds)))
            return 1;
        double l = load1(), c0 = cpu_seconds();
        t0 = now();
        if (nd_tally_run(ds, &f, &o, thr, 0, n, &t)) {
            fprintf(stderr, "bench_tally: %s\n", nd_errmsg());
            return 1;
        }
        double dt = now() - t0, dc = cpu_seconds() - c0;
        if (dt < best)
            best = dt, cbest = dc;
        printf("tally run %d: %7.3f s wall, %7.3f s CPU, load %.1f, checksum %016llx\n", r + 1, dt, dc, l,
               (unsigned long long)checksum(&t));
        nd_tally_free(&t);
    }
    printf("tally best of %d: %.3f s wall (CPU %.3f s), %.0f images/s\n", reps, best, cbest, (double)n / best);
    free(thr);
    npy_close(&a);
    broden_free(ds);
    return 0;
}
