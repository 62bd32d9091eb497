/* bench_world.c - how fast the synthetic world renders, in memory and
 * written to disk, measured separately.
 *
 * In memory: N images of 64 x 64 rendered with world_render (labels and
 * colour names included) on 1 thread and on every core through
 * nd_run_jobs, against the goal of 1,000 images/s on 2 cores.  Written:
 * world_write of a smaller world to a folder on disk (PNG encoding, per-file
 * fsync and the counts included) and, when /dev/shm exists, to memory-backed
 * storage, which separates encoding from the disk.
 *
 * usage: bench_world [--images N] [--write N] [--dir DIR]
 */
#include "core/blas.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "datasets/world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const world_opts *o;
    const cn_table *wc;
    size_t n, t, nt;
    world_canvas *cv;
    unsigned sum; /* keeps the work observable */
} job;

static void *render_job(void *arg)
{
    job *j = arg;
    for (size_t i = j->t; i < j->n; i += j->nt) {
        world_render(j->o, j->wc, i, j->cv);
        j->sum += j->cv->rgb[i % 64] + j->cv->map[WORLD_PART][i % 64];
    }
    return NULL;
}

static double render_rate(const world_opts *o, const cn_table *wc, size_t n, int nt)
{
    job jobs[ND_MAX_THREADS];
    for (int t = 0; t < nt; t++)
        jobs[t] = (job){o, wc, n, (size_t)t, (size_t)nt, world_canvas_new(o->size), 0};
    double t0 = nd_now();
    nd_run_jobs(render_job, jobs, sizeof jobs[0], nt);
    double dt = nd_now() - t0;
    for (int t = 0; t < nt; t++)
        world_canvas_free(jobs[t].cv);
    return n / dt;
}

static void write_rate(const char *base, const char *colors, size_t n)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/bench-world.%ld", base, (long)getpid());
    world_write_opts w = world_write_defaults();
    w.images = n, w.out_dir = dir, w.colors = colors, w.samples = 0;
    world_stats st;
    if (world_write(&w, &st)) {
        printf("write to %s: failed: %s\n", base, nd_errmsg());
        return;
    }
    printf("written to %-12s %zu images of 64x64 (5 PNGs each, counts, CSVs): %.2f s, %.0f images/s "
           "(rendering alone %.0f images/s per thread)\n",
           base, n, st.seconds, n / st.seconds, n / st.render_seconds);
    afile_remove_dir(dir);
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    size_t n = 8000, nw = 1000;
    const char *dir = "results";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--images"))
            n = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--write"))
            nw = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
    }
    const char *sh = getenv("ND_SHARED");
    char colors[4200];
    snprintf(colors, sizeof colors, "%s/data/colornames/w2color.npy", sh && *sh ? sh : "../shared");
    static cn_table table;
    const cn_table *wc = &table;
    if (cn_load(&table, colors)) {
        fprintf(stderr, "bench_world: %s\n", nd_errmsg());
        return 1;
    }
    world_opts o = world_defaults();
    int nt = nd_threads(0);
    render_rate(&o, wc, 200, nt); /* warm-up */
    double r1 = render_rate(&o, wc, n / 2, 1), rn = render_rate(&o, wc, n, nt);
    printf("in memory, 64x64: %.0f images/s on 1 thread, %.0f images/s on %d threads "
           "(goal 1,000 on 2 cores: %.2fx the goal; %.2fx scaling)\n",
           r1, rn, nt, rn / 1000, rn / r1);
    nd_mkdirs(dir);
    write_rate(dir, colors, nw);
    if (access("/dev/shm", W_OK) == 0)
        write_rate("/dev/shm", colors, nw);
    return 0;
}
