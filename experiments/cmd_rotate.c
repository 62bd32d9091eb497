/* cmd_rotate.c - `dissect rotate`: write Q^alpha for a Haar-random (or
 * given) rotation Q, or rotate a layer's activations by it.
 *
 * The matrix is drawn with rot_haar (seeded) or read with --from and
 * validated (rot_validate), then raised to alpha with rot_power, which
 * gives exactly Q at alpha = 1 and I at alpha = 0 (the sweep's R too).
 * With --features the activations [N, K, h, w] are
 * streamed from the memory-mapped input in blocks of images, rotated with
 * rot_apply (one sgemm per group of ROT_GROUP images, the blocks whole
 * groups, so the values are the sweep's) and streamed to an npy_writer, so the
 * output is complete or absent and memory stays at two blocks.
 */
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "rotate"
#define DEFAULT_TOL 1e-6
#define DEFAULT_BLOCK 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect rotate (--dim K --seed S | --from Q.npy) [--alpha A] --out R.npy\n"
            "       dissect rotate --features F.npy (--seed S | --from Q.npy) [--alpha A] --out G.npy\n"
            "\n"
            "Draw a Haar-random rotation Q in SO(K) and write Q^alpha (float64 [K, K] .npy),\n"
            "or rotate a layer's activations by it: r(x) = Q^alpha a(x) at every position of\n"
            "every image (float32 [N, K, h, w] .npy; float16 input is accepted).\n"
            "\n"
            "  --dim K        size of Q (with --features it is the number of units K)\n"
            "  --seed S       seed of Q, 0..%lu (GSL mt19937 seeded with S + 1; the same\n"
            "                 seed gives the same Q on the same machine)\n"
            "  --from Q.npy   use this K x K matrix instead of drawing one; it must be\n"
            "                 orthogonal (max |Q^T Q - I| <= --tol) with det +1\n"
            "  --tol T        orthogonality tolerance for --from, in (0, %g] (default %g): the one\n"
            "                 limit of the input check and of the power step\n"
            "  --alpha A      power of Q (default 1): 0 = identity, 0.5 = halfway along the\n"
            "                 geodesic from I to Q; principal power via the real Schur form\n"
            "  --features F   activations to rotate, [N, K, h, w] float32 or float16\n"
            "  --block B      images per block when rotating activations (default %d)\n"
            "  --out FILE     output .npy, written atomically\n"
            "  --help         this text\n"
            "\n"
            "A summary (n, seed or source, alpha, orthogonality error, det) goes to stdout.\n"
            "\n"
            "examples:\n"
            "  dissect rotate --dim 256 --seed 1 --alpha 0.5 --out R.npy\n"
            "  dissect rotate --features conv5.npy --seed 1 --alpha 1 --out conv5_rot.npy\n"
            "  dissect rotate --features conv5.npy --from R.npy --alpha 1 --out conv5_rot.npy\n",
            ROT_SEED_MAX, ROT_TOL_MAX, DEFAULT_TOL, DEFAULT_BLOCK);
}

/* Read and validate a user-supplied rotation; *Q is malloc'd. */
static int load_rotation(const char *path, double tol, double **Q, size_t *n)
{
    npy_t a;
    if (npy_open(&a, path))
        return -1;
    int rc = -1;
    if (a.ndim != 2 || a.shape[0] != a.shape[1]) {
        if (a.ndim == 2)
            nd_fail("%s: shape (%zu, %zu), expected a square K x K matrix", path, a.shape[0],
                    a.shape[1]);
        else
            nd_fail("%s: %d-D array, expected a square K x K matrix", path, a.ndim);
        goto out;
    }
    *n = a.shape[0];
    *Q = nd_malloc(a.count * sizeof **Q);
    if (!*Q)
        goto out;
    npy_to_f64(&a, 0, a.count, *Q);
    if (rot_validate(*Q, *n, tol, path)) {
        free(*Q);
        *Q = NULL;
        goto out;
    }
    rc = 0;
out:
    npy_close(&a);
    return rc;
}

/* Stream F through R (K x K, double) into the output file. */
static int rotate_features(const npy_t *F, const char *fpath, const double *R, size_t K,
                           size_t block, const char *out)
{
    size_t N = F->shape[0], hw = F->shape[2] * F->shape[3], per = K * hw;
    float *Rf = nd_malloc(K * K * sizeof *Rf);
    float *inbuf = NULL, *outbuf = NULL;
    if (!Rf)
        return -1;
    for (size_t k = 0; k < K * K; k++)
        Rf[k] = (float)R[k];
    block = (block + ROT_GROUP - 1) / ROT_GROUP * ROT_GROUP; /* whole groups */
    if (block > N)
        block = N ? N : 1;
    size_t bytes;
    if (!nd_mul_ok(block, per, &bytes) || !nd_mul_ok(bytes, sizeof(float), &bytes))
        goto fail_early;
    outbuf = nd_malloc(bytes);
    if (F->dtype != NPY_F32)
        inbuf = nd_malloc(bytes);
    if (!outbuf || (F->dtype != NPY_F32 && !inbuf))
        goto fail_early;

    npy_writer w;
    if (npy_writer_open(&w, out, NPY_F32, 4, F->shape))
        goto fail_early;
    double t0 = nd_now(), last = t0;
    for (size_t i0 = 0; i0 < N; i0 += block) {
        size_t nb = N - i0 < block ? N - i0 : block;
        const float *x;
        if (F->dtype == NPY_F32) {
            x = (const float *)F->data + i0 * per; /* in place, from the mapping */
        } else {
            npy_to_f32(F, i0 * per, nb * per, inbuf);
            x = inbuf;
        }
        if (rot_apply(outbuf, x, Rf, nb, K, hw) || npy_writer_put(&w, outbuf, nb * per * sizeof *outbuf))
            goto fail;
        if (afile_interrupted()) {
            nd_fail("%s: interrupted", out);
            goto fail;
        }
        double now = nd_now();
        if (now - last >= 1.0 || i0 + nb == N) {
            cli_progress("rotate: %zu/%zu images of %s (%.1f s)", i0 + nb, N, fpath, now - t0);
            last = now;
        }
    }
    cli_progress_done();
    free(Rf), free(inbuf), free(outbuf);
    return npy_writer_commit(&w);
fail:
    npy_writer_abort(&w);
fail_early:
    free(Rf), free(inbuf), free(outbuf);
    return -1;
}

typedef struct {
    long dim, seed, block;
    double alpha, tol;
    const char *from, *features, *out;
} rotate_args;

/* Options into a; -1 to go on, else the exit status (help, usage error). */
static int parse_args(int argc, char **argv, rotate_args *a)
{
    static const struct option opts[] = {
        {"dim", required_argument, 0, 'd'},   {"seed", required_argument, 0, 's'},
        {"from", required_argument, 0, 'f'},  {"tol", required_argument, 0, 't'},
        {"alpha", required_argument, 0, 'a'}, {"features", required_argument, 0, 'F'},
        {"block", required_argument, 0, 'b'}, {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    *a = (rotate_args){.seed = -1, .block = DEFAULT_BLOCK, .alpha = 1.0, .tol = DEFAULT_TOL};
    int c;
    opterr = 0; /* one line per usage error: ours */
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (cli_long(optarg, &a->dim) || a->dim < 2 || a->dim > ROT_DIM_MAX)
                return cli_usage_error(CMD, "--dim '%s': expected an integer in 2..%d", optarg,
                                       ROT_DIM_MAX);
            break;
        case 's':
            if (cli_seed(optarg, &a->seed))
                return cli_usage_error(CMD, "--seed '%s': expected a seed in " CLI_SEED_RANGE, optarg);
            break;
        case 'f':
            a->from = optarg;
            break;
        case 't':
            if (cli_double(optarg, &a->tol) || !(a->tol > 0 && a->tol <= ROT_TOL_MAX))
                return cli_usage_error(CMD, "--tol '%s': expected a number in (0, %g]", optarg, ROT_TOL_MAX);
            break;
        case 'a':
            if (cli_double(optarg, &a->alpha))
                return cli_usage_error(CMD, "--alpha '%s': expected a number", optarg);
            break;
        case 'F':
            a->features = optarg;
            break;
        case 'b':
            if (cli_long(optarg, &a->block) || a->block < 1)
                return cli_usage_error(CMD, "--block '%s': expected a positive integer", optarg);
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'h':
            usage(stdout);
            return ND_EXIT_OK;
        case ':':
            return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->out)
        return cli_usage_error(CMD, "--out is required");
    if (a->from && a->seed >= 0)
        return cli_usage_error(CMD, "--seed and --from exclude each other");
    if (!a->from && a->seed < 0)
        return cli_usage_error(CMD, "give --seed S (draw Q) or --from Q.npy (use a given Q)");
    if (!a->from && !a->features && !a->dim)
        return cli_usage_error(CMD, "--dim is required to draw Q (or use --features)");
    return -1;
}

/* The activations to rotate: they fix K (*n). */
static int check_features(const npy_t *F, const rotate_args *a, size_t *n)
{
    if (F->ndim != 4 || (F->dtype != NPY_F32 && F->dtype != NPY_F16))
        return nd_fail("%s: %d-D %s array, expected float32 or float16 activations [N, K, h, w]",
                       a->features, F->ndim, npy_dtype_name(F->dtype));
    if (a->dim && F->shape[1] != (size_t)a->dim)
        return nd_fail("%s: %zu units, but --dim is %ld", a->features, F->shape[1], a->dim);
    *n = F->shape[1];
    if (*n < 2 || *n > ROT_DIM_MAX)
        return nd_fail("%s: %zu units, expected 2..%d to rotate", a->features, *n, ROT_DIM_MAX);
    return 0;
}

/* Q: read (--from, checked against K) or drawn (--seed). */
static int get_q(const rotate_args *a, double **Q, size_t *n)
{
    if (!a->from) {
        *Q = nd_malloc(*n * *n * sizeof **Q);
        return !*Q || rot_haar(*Q, *n, (unsigned long)a->seed) ? -1 : 0;
    }
    size_t nq = 0;
    if (load_rotation(a->from, a->tol, Q, &nq))
        return -1;
    if (a->features && nq != *n)
        return nd_fail("%s: %zu x %zu matrix, but %s has %zu units", a->from, nq, nq,
                       a->features, *n);
    if (a->dim && nq != *n)
        return nd_fail("%s: %zu x %zu matrix, but --dim is %zu", a->from, nq, nq, *n);
    *n = nq;
    return 0;
}

int cmd_rotate(int argc, char **argv)
{
    rotate_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = ND_EXIT_FAIL;
    npy_t F;
    int have_F = 0;
    double *Q = NULL, *R = NULL;
    size_t n = (size_t)a.dim;
    if (afile_protect_input(a.features) || afile_protect_input(a.from))
        goto done;
    if (a.features) {
        if (npy_open(&F, a.features))
            goto done;
        have_F = 1;
        if (check_features(&F, &a, &n))
            goto done;
    }
    if (get_q(&a, &Q, &n))
        goto done;
    R = nd_malloc(n * n * sizeof *R);
    /* exactly I at 0 and Q at 1; a --from Q is held to its one --tol */
    if (!R || (a.from ? rot_power_tol(R, Q, n, a.alpha, a.tol, a.from) : rot_power(R, Q, n, a.alpha)))
        goto done;
    double orth = rot_orth_error(R, n), det = rot_det(R, n);

    double t0 = nd_now();
    if (a.features) {
        if (rotate_features(&F, a.features, R, n, (size_t)a.block, a.out))
            goto done;
    } else {
        size_t shape[2] = {n, n};
        if (npy_save(a.out, NPY_F64, 2, shape, R))
            goto done;
    }
    if (a.from)
        printf("rotate: n=%zu from=%s", n, a.from);
    else
        printf("rotate: n=%zu seed=%ld", n, a.seed);
    printf(" alpha=%.17g orth_error=%.3g det=%.15f", a.alpha, orth, det);
    if (a.features) {
        double secs = nd_now() - t0, flop = 2.0 * n * n * F.shape[0] * F.shape[2] * F.shape[3];
        printf(" features=%s N=%zu h=%zu w=%zu time=%.2fs gflops=%.1f", a.features, F.shape[0],
               F.shape[2], F.shape[3], secs, secs > 0 ? flop / secs * 1e-9 : 0.0);
    }
    printf(" -> %s\n", a.out);
    rc = ND_EXIT_OK;
done:
    free(Q);
    free(R);
    if (have_F)
        npy_close(&F);
    return rc == ND_EXIT_OK ? rc : cli_fail();
}
