/* bench_sweep.c - one rotated sweep point of SqueezeNet v1.0 fire9 (512
 * units, 13 x 13) on MSRC-v2 (591 images), as `dissect sweep` runs it:
 * issue 18's goal 6 (under 0.5 s per point).
 *
 * MSRC-v2 is imported and its fire9 activations extracted once, through
 * the CLI, under results/bench-cache/ (the same commands as make demo).
 * Then `dissect sweep` runs one draw at 1 alpha (0.5) and at 4 alphas
 * (0.2, 0.4, 0.6, 0.8); a point costs (t4 - t1) / 3, which leaves out what
 * every sweep pays once (process start, opening the dataset, decoding its
 * label PNGs, mapping the activations) and what every draw pays once (the
 * Schur form of Q, shared by all its alphas).  Best of 3 pairs; the spread (worst /
 * best) says how noisy the machine was.  The limit is the goal itself
 * (0.5 s on 2 quiet cores); the rotation's share of a point is reported
 * against the sgemm peak by bench_rotate.
 */
#include "core/blas.h"
#include "core/afile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "bench_sweep: failed (exit %d): %s\n", rc, cmd);
    return rc;
}

/* CPU seconds (user + system) of the finished child processes so far */
static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* one draw of 1 point (alpha 0.5) or 4 (0.2 .. 0.8) into a fresh folder;
 * wall seconds, and the run's CPU seconds in *cpu */
static double sweep_seconds(const char *bin, const char *cache, int points, double *cpu)
{
    char ini[4200], out[4200], cmd[9000];
    snprintf(ini, sizeof ini, "%s/sweep-%d.ini", cache, points);
    snprintf(out, sizeof out, "%s/sweep-%d", cache, points);
    FILE *f = fopen(ini, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[dataset]\npath = %s/msrc-v2\n[activations]\nnpy = %s/msrc-v2-fire9.npy\n"
            "[dissect]\nprofile = netdissect\nquantile = 0.005\niou_threshold = 0.04\n"
            "[rotation]\nalphas = %s\ndraws = 1\nbase_seed = 1\n[output]\ndir = %s\n",
            cache, cache, points == 1 ? "0.5" : "0.2, 0.4, 0.6, 0.8", out);
    if (fclose(f))
        return -1;
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && '%s' sweep --no-plot '%s' >/dev/null 2>&1", out, bin, ini);
    double t0 = now(), c0 = children_cpu();
    if (run(cmd))
        return -1;
    *cpu = children_cpu() - c0;
    return now() - t0;
}

int main(int argc, char **argv)
{
    (void)argc;
    nd_blas_fix_kernel(argv);
    const char *sh = getenv("ND_SHARED") ? getenv("ND_SHARED") : "../shared";
    const char *bin = getenv("ND_BIN") ? getenv("ND_BIN") : "build/dissect";
    const char *cache = "results/bench-cache";
    char msrc[4096], wts[4096], cmd[20000], p[8200];
    snprintf(msrc, sizeof msrc, "%s/data/msrc-v2", sh);
    snprintf(wts, sizeof wts, "%s/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net", sh);
    if (!exists(msrc) || !exists(wts)) {
        printf("bench_sweep: %s or %s missing; skipped\n", msrc, wts);
        return 0;
    }
    char abscache[4096];
    if (nd_mkdirs(cache) || !realpath(cache, abscache))
        return 1;
    cache = abscache; /* the config's paths are relative to its own folder */
    snprintf(p, sizeof p, "%s/msrc-v2/index.csv", cache);
    if (!exists(p)) {
        snprintf(cmd, sizeof cmd,
                 "'%s' import --images '%s/images' --labels '%s/labels' --classes '%s/classes.csv' --out '%s/msrc-v2'",
                 bin, msrc, msrc, msrc, cache);
        if (run(cmd))
            return 1;
    }
    snprintf(p, sizeof p, "%s/msrc-v2-fire9.json", cache);
    if (!exists(p)) {
        printf("extracting fire9 activations of MSRC-v2 (once) ...\n");
        fflush(stdout);
        snprintf(cmd, sizeof cmd,
                 "'%s' features --model squeezenet --weights '%s' --dataset '%s/msrc-v2' --layer fire9 "
                 "--out '%s/msrc-v2-fire9.npy' >/dev/null",
                 bin, wts, cache, cache);
        if (run(cmd))
            return 1;
    }
    double c1, c4, cpu = 1e30;
    sweep_seconds(bin, cache, 1, &c1); /* warm the page cache */
    double best = 1e30, worst = 0, base = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t1 = sweep_seconds(bin, cache, 1, &c1), t4 = sweep_seconds(bin, cache, 4, &c4);
        if (t1 < 0 || t4 < 0)
            return 1;
        double pt = (t4 - t1) / 3;
        if (pt < best)
            best = pt, base = t1 - pt;
        worst = pt > worst ? pt : worst;
        cpu = (c4 - c1) / 3 < cpu ? (c4 - c1) / 3 : cpu;
    }
    printf("sweep fixed cost (start, open dataset and labels, map activations, one Schur form): %.2f s\n", base);
    printf("goal 6   SqueezeNet fire9 sweep point on MSRC-v2 (alpha 0.5): %.3f s  limit 0.5 s  ratio %.2fx  "
           "(goal <= 1x; spread %.2fx)  %s\n",
           best, best / 0.5, worst / best, best <= 0.5 ? "met" : "NOT met");
    /* CPU time does not grow with other programs' load: on idle cores the
     * wall time cannot be below CPU / cores, nor far above it for this
     * well-parallelised work */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  CPU per point %.3f s on %ld cores: at least %.3f s wall on idle cores (%.2fx the goal)\n", cpu, ncpu,
           cpu / (double)ncpu, cpu / (double)ncpu / 0.5);
    return 0;
}
