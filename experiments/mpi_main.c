/* mpi_main.c - dissect-mpi: `units` and `sweep` over MPI ranks.
 *
 * The only file of the project that includes mpi.h (the plain `dissect`
 * never links MPI; `make mpi` builds this with mpicc).  It fills the
 * transport table of experiments/dist.h with MPI calls and runs the
 * distributed steps, which are plain C in libnd.a:
 *
 *   mpirun -np R dissect-mpi units  [the options of `dissect units`]
 *   mpirun -np R dissect-mpi sweep  [the options of `dissect sweep`] CONFIG
 *
 * Reductions: histogram counts MPI_UINT32_T and tallies MPI_INT64_T, summed
 * (integers: the sum does not depend on the order, so results are the same
 * bytes as one process).  Dynamic scheduling of sweep points: a shared
 * counter on rank 0 (MPI-3 one-sided MPI_Fetch_and_op), so no rank is
 * reserved as a scheduler.
 *
 * A rank that fails prints its one-line message prefixed with its rank and
 * every rank exits 1; a rank that dies (killed, out of memory) makes mpirun
 * end the job with its own message naming the rank and signal.
 * Testing hook: ND_MPI_TEST_KILL=RANK:STEP makes rank RANK kill itself with
 * SIGKILL at its STEP-th step boundary (tests/cli_mpi.sh).
 */
#include "core/blas.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/dist.h"
#include "experiments/sweep.h"
#include "experiments/units_io.h"

#include <fcntl.h>
#include <gsl/gsl_errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    MPI_Win win;     /* the task counter (a long on rank 0) */
    long *counter;
    int have_win;
    long ticks, kill_at;
    int kill_rank;
    double bytes; /* data this rank contributed to reductions (the benchmark reports it) */
} mpi_ctx;

/* MPI counts are int: reduce long arrays in pieces. */
#define PIECE ((size_t)1 << 26)

static void tick(nd_dist *d)
{
    mpi_ctx *m = d->ctx;
    if (d->rank == m->kill_rank && ++m->ticks == m->kill_at)
        raise(SIGKILL);
}

static int sum_u32(nd_dist *d, uint32_t *v, size_t n)
{
    tick(d);
    ((mpi_ctx *)d->ctx)->bytes += (double)n * sizeof *v;
    for (size_t a = 0; a < n; a += PIECE) {
        int c = (int)(n - a < PIECE ? n - a : PIECE);
        if (MPI_Allreduce(MPI_IN_PLACE, v + a, c, MPI_UINT32_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return nd_fail("MPI_Allreduce of %zu histogram counts failed", n);
    }
    return 0;
}

static int sum_i64(nd_dist *d, int64_t *v, size_t n)
{
    tick(d);
    ((mpi_ctx *)d->ctx)->bytes += (double)n * sizeof *v;
    for (size_t a = 0; a < n; a += PIECE) {
        int c = (int)(n - a < PIECE ? n - a : PIECE);
        void *send = d->rank == 0 ? MPI_IN_PLACE : (void *)(v + a);
        if (MPI_Reduce(send, v + a, c, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return nd_fail("MPI_Reduce of %zu tally counts failed", n);
    }
    return 0;
}

static int all_ok(nd_dist *d, int ok)
{
    tick(d);
    int all = 0;
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return nd_fail("MPI_Allreduce of the step status failed");
    if (all)
        return 0;
    if (ok)
        nd_fail("%s", ND_DIST_OTHER_FAILED);
    return -1;
}

static int next_task(nd_dist *d, long *task)
{
    tick(d);
    mpi_ctx *m = d->ctx;
    long one = 1;
    if (MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, m->win) != MPI_SUCCESS ||
        MPI_Fetch_and_op(&one, task, MPI_LONG, 0, 0, MPI_SUM, m->win) != MPI_SUCCESS ||
        MPI_Win_unlock(0, m->win) != MPI_SUCCESS)
        return nd_fail("MPI_Fetch_and_op on the task counter failed");
    return 0;
}

static int dist_open(nd_dist *d, mpi_ctx *m)
{
    memset(m, 0, sizeof *m);
    m->kill_rank = -1;
    const char *k = getenv("ND_MPI_TEST_KILL");
    if (k && sscanf(k, "%d:%ld", &m->kill_rank, &m->kill_at) != 2)
        m->kill_rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->sum_u32 = sum_u32, d->sum_i64 = sum_i64, d->all_ok = all_ok, d->next_task = next_task;
    d->ctx = m;
    MPI_Aint sz = d->rank == 0 ? (MPI_Aint)sizeof(long) : 0;
    if (MPI_Win_allocate(sz, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &m->counter, &m->win) != MPI_SUCCESS)
        return nd_fail("MPI_Win_allocate of the task counter failed");
    m->have_win = 1;
    if (d->rank == 0)
        *m->counter = 0;
    MPI_Barrier(MPI_COMM_WORLD); /* the counter is zero before anyone takes a task */
    return 0;
}

/* Parse on every rank (they all need the options), but let only rank 0
 * print help or a usage error: the other ranks' stdout and stderr go to
 * /dev/null meanwhile. */
static int parse_quietly(int (*parse)(int, char **, void *), int argc, char **argv, void *out, const nd_dist *d)
{
    int saved[2] = {-1, -1}, null = -1;
    if (d->rank != 0 && (null = open("/dev/null", O_WRONLY)) >= 0) {
        fflush(stdout), fflush(stderr);
        for (int k = 0; k < 2; k++)
            saved[k] = dup(k + 1), dup2(null, k + 1);
    }
    int st = parse(argc, argv, out);
    if (null >= 0) {
        fflush(stdout), fflush(stderr);
        for (int k = 0; k < 2; k++)
            if (saved[k] >= 0)
                dup2(saved[k], k + 1), close(saved[k]);
        close(null);
    }
    return st;
}

static int parse_units(int argc, char **argv, void *a) { return cmd_units_parse(argc, argv, a); }

static int run_units(int argc, char **argv, nd_dist *d)
{
    units_args a;
    int st = parse_quietly(parse_units, argc, argv, &a, d);
    if (st >= 0)
        return st;
    double t0 = nd_now();
    if (units_run_dist(&a, d))
        return ND_EXIT_FAIL;
    if (d->rank == 0)
        fprintf(stderr, "dissect-mpi units: done in %.1f s on %d ranks (%.2f MB per rank into reductions)\n",
                nd_now() - t0, d->size, ((mpi_ctx *)d->ctx)->bytes / 1e6);
    return ND_EXIT_OK;
}

static int parse_sweep(int argc, char **argv, void *a) { return cmd_sweep_parse(argc, argv, a); }

static int run_sweep(int argc, char **argv, nd_dist *d)
{
    sweep_args a;
    int st = parse_quietly(parse_sweep, argc, argv, &a, d);
    if (st >= 0)
        return st;
    a.o.dist = d;
    int rc = sweep_run(&a.c, &a.o);
    config_free(&a.c);
    return rc ? ND_EXIT_FAIL : ND_EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mpirun -np R dissect-mpi COMMAND [options]\n\n"
               "Network Dissection over MPI ranks, with the same result files as 'dissect':\n"
               "  units   one layer: images split into contiguous shards, one per rank; threshold\n"
               "          histograms and tallies summed over the ranks; rank 0 writes the result\n"
               "          (options: 'dissect units --help')\n"
               "  sweep   the rotation experiment: points handed to ranks as they finish one;\n"
               "          rank 0 writes the tables and figures (options: 'dissect sweep --help')\n\n"
               "As root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.\n"
               "See docs/cluster.md.  exit status: 0 ok, 1 failure, 2 usage error\n");
}

static int dispatch(int argc, char **argv, nd_dist *d)
{
    if (argc < 2) {
        if (d->rank == 0)
            usage(stderr);
        return ND_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (d->rank == 0)
            usage(stdout);
        return ND_EXIT_OK;
    }
    if (!strcmp(argv[1], "units"))
        return run_units(argc - 1, argv + 1, d);
    if (!strcmp(argv[1], "sweep"))
        return run_sweep(argc - 1, argv + 1, d);
    if (d->rank == 0)
        fprintf(stderr, "dissect-mpi: unknown command '%s' (try 'dissect-mpi --help')\n", argv[1]);
    return ND_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "dissect-mpi: MPI_Init failed\n");
        return ND_EXIT_FAIL;
    }
    gsl_set_error_handler_off();
    afile_install_signal_handlers();
    signal(SIGXFSZ, SIG_IGN);
    nd_dist d;
    mpi_ctx m;
    int rc = dist_open(&d, &m) ? ND_EXIT_FAIL : dispatch(argc, argv, &d);
    if (rc == ND_EXIT_FAIL && strcmp(nd_errmsg(), ND_DIST_OTHER_FAILED)) {
        cli_progress_done();
        fprintf(stderr, "dissect-mpi: rank %d: %s\n", d.rank, nd_errmsg());
    }
    if (m.have_win)
        MPI_Win_free(&m.win);
    MPI_Finalize();
    return rc;
}
