/* bench_features.c - throughput of feature extraction: SqueezeNet v1.0 up
 * to fire9 on MSRC-v2 photographs (decode, squash-resize to 227, forward),
 * images spread over all CPUs.  Prints images/s and GFLOP/s (2 flops per
 * multiply-add of the convolutions), and the projected time for all 591. */
#include "core/blas.h"
#include "core/err.h"
#include "models/extract.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    (void)argc;
    nd_blas_fix_kernel(argv);
    const char *sh = getenv("ND_SHARED") ? getenv("ND_SHARED") : "../shared";
    char dir[4096], wts[4096];
    snprintf(dir, sizeof dir, "%s/data/msrc-v2/images", sh);
    snprintf(wts, sizeof wts, "%s/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net", sh);
    enum { N = 64 };
    char *names[1024];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && n < 1024 && (e = readdir(d)))
        if (strstr(e->d_name, ".jpg"))
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    if (n < N) {
        fprintf(stderr, "bench_features: %s: found %d images, need %d\n", dir, n, N);
        return 1;
    }
    qsort(names, n, sizeof *names, cmp);
    char *paths[N];
    for (int i = 0; i < N; i++) {
        paths[i] = malloc(strlen(dir) + strlen(names[i]) + 2);
        sprintf(paths[i], "%s/%s", dir, names[i]);
    }
    mdl_runner *r;
    if (mdl_runner_open(&r, "squeezenet", wts, -1, "fire9")) {
        fprintf(stderr, "bench_features: %s\n", nd_errmsg());
        return 1;
    }
    int c, h, w;
    mdl_runner_shape(r, &c, &h, &w);
    float *out = malloc(sizeof(float) * (size_t)N * c * h * w);
    double flops = 2 * mdl_runner_macs(r);
    printf("squeezenet fire9 [%d,%d,%d], %.3f GFLOP per image, %ld CPUs\n", c, h, w, flops / 1e9,
           sysconf(_SC_NPROCESSORS_ONLN));
    /* warm-up (page faults, OpenBLAS buffers) */
    if (mdl_runner_run(r, (const char *const *)paths, 4, out)) {
        fprintf(stderr, "bench_features: %s\n", nd_errmsg());
        return 1;
    }
    int batches[] = {8, 32, 64};
    for (int b = 0; b < 3; b++) {
        double t0 = now();
        for (int i = 0; i < N; i += batches[b])
            if (mdl_runner_run(r, (const char *const *)paths + i, batches[b], out)) {
                fprintf(stderr, "bench_features: %s\n", nd_errmsg());
                return 1;
            }
        double t = now() - t0;
        printf("batch %2d: %d images in %.2f s: %.1f images/s, %.1f GFLOP/s; 591 images ~ %.1f s\n",
               batches[b], N, t, N / t, N * flops / t / 1e9, 591 * t / N);
    }
    mdl_runner_close(r);
    free(out);
    for (int i = 0; i < N; i++)
        free(paths[i]);
    for (int i = 0; i < n; i++)
        free(names[i]);
    return 0;
}
