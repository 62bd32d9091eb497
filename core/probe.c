/* probe.c - the split, the class-balanced logistic loss and its L-BFGS fit
 * (see probe.h for the method and why every step is rotation-equivariant). */
#include "core/probe.h"
#include "core/blas.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/softplusf.h"

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pr_options_default(pr_options *o)
{
    memset(o, 0, sizeof *o);
    o->profile = ND_PROFILE_NETDISSECT;
    o->quantile = 0.005;
    o->train_fraction = 0.5;
    o->split_seed = 1;
    o->l2 = 1e-2;
    o->max_iter = 300;
    /* the rotation check's stated tolerance: at 1e-6 the float32 fit meets
     * ||w' - Q w|| <= 1e-4 ||w|| with a margin (1.7e-5 on the demo's fire9) */
    o->gtol = 1e-6;
    o->gtol_binary = 1e-5; /* its score is not compared across bases: the former default */
    o->ftol = 1e-13;
    o->history = 10;
    o->units_fraction = 0.9;
    o->units_iter = 3;
    o->units_rtol = 0.05;
    o->binary = o->single = o->units = 1;
}

/* index.csv's split column, when it has more than one value over the images
 * with data: 1 and train[] filled, 0 when it does not vary, -1 on error. */
static int split_from_index(const broden *ds, unsigned char *train)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.csv", broden_dir(ds));
    csv_file c;
    if (csv_open(&c, path))
        return -1;
    int col = csv_col(&c, "split"), varies = 0, rc;
    char first[64] = "";
    size_t i = 0, N = broden_num_images(ds);
    while (col >= 0 && i < N && (rc = csv_next(&c)) > 0) {
        const char *s = col < c.nf ? c.f[col] : "";
        if (broden_image_has_data(ds, i)) {
            if (!first[0])
                snprintf(first, sizeof first, "%s", s);
            else if (strcmp(first, s))
                varies = 1;
            train[i] = !strcmp(s, "train");
        }
        i++;
    }
    csv_close(&c);
    return varies;
}

int pr_split(const broden *ds, double fraction, unsigned long seed, unsigned char *train,
             int *from_index)
{
    size_t N = broden_num_images(ds), n = 0;
    if (!(fraction > 0 && fraction < 1))
        return nd_fail("probe split: train fraction %g is not in (0, 1)", fraction);
    for (size_t i = 0; i < N; i++)
        train[i] = 2;
    int v = split_from_index(ds, train);
    if (v < 0)
        return -1;
    *from_index = v;
    if (v) {
        for (size_t i = 0; i < N; i++)
            if (!broden_image_has_data(ds, i))
                train[i] = 2;
        return 0;
    }
    size_t *idx = nd_malloc((N + 1) * sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < N; i++)
        if (broden_image_has_data(ds, i))
            idx[n++] = i;
    /* a seeded shuffle of the images with data; the first share is train */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
        free(idx);
        return nd_fail("out of memory");
    }
    gsl_rng_set(r, seed + 1);
    for (size_t j = n; j > 1; j--) { /* Fisher-Yates */
        size_t k = (size_t)gsl_rng_uniform_int(r, (unsigned long)j), tmp = idx[j - 1];
        idx[j - 1] = idx[k], idx[k] = tmp;
    }
    gsl_rng_free(r);
    size_t nt = (size_t)llround(fraction * (double)n);
    for (size_t j = 0; j < n; j++)
        train[idx[j]] = j < nt;
    free(idx);
    if (nt == 0 || nt == n)
        return nd_fail("probe split: %zu images with data leave an empty train or test set", n);
    return 0;
}

#define INCLUDED(p, i, c) (((p)->present[i] >> (p)->category[c]) & 1u)

int pr_problem_weights(pr_problem *p)
{
    size_t C = p->C;
    p->wpos = nd_calloc(C, sizeof *p->wpos);
    p->wneg = nd_calloc(C, sizeof *p->wneg);
    if (!p->wpos || !p->wneg)
        return -1;
    for (size_t c = 0; c < C; c++) {
        double pos = 0, neg = 0;
        for (size_t i = 0; i < p->P; i++)
            if (INCLUDED(p, i, c)) {
                double t = p->T[i * C + c];
                pos += t, neg += 1 - t;
            }
        /* each class carries half the loss; an empty class carries none */
        p->wpos[c] = pos > 0 ? 0.5 / pos : 0;
        p->wneg[c] = neg > 0 ? 0.5 / neg : 0;
    }
    return 0;
}

/* The evaluation runs over fixed blocks of PR_BLOCK rows (a block's
 * products in float when the design is float, each block's loss and
 * gradient kept apart and summed in double in block order), so sums do not
 * depend on the number of threads and float rounding stays at the size of a
 * block.  A block scores only the concepts whose category has ground truth
 * in one of its rows: the train images are sorted by their categories
 * (probe_run.c), so most blocks hold one dataset's images. */
#define PR_BLOCK 4096
#define PR_GRAD_ROWS 256

typedef struct {
    const pr_problem *p;
    const double *W;    /* [C][K+1] */
    const unsigned char *active; /* [C] or NULL */
    double *fb, *gb;    /* [nblocks][C] loss, [nblocks][C][K+1] gradient (0 for skipped concepts) */
    size_t b0, b1;
    double flop;        /* the gemms' floating-point operations (benchmark) */
    int rc;
} eval_job;

/* per-pixel loss of the block's rows for its concepts cs[0..nc); S holds
 * the scores [rows][nc] in, dloss/dscore out; fb, gb[K] per concept */
static void block_loss(const pr_problem *p, size_t i0, size_t rows, const size_t *cs, size_t nc,
                       double *S, double *fb, double *gbias)
{
    size_t C = p->C;
    for (size_t i = i0; i < i0 + rows; i++)
        for (size_t j = 0; j < nc; j++) {
            size_t c = cs[j];
            double *sp = S + (i - i0) * nc + j, s = *sp;
            if (!INCLUDED(p, i, c)) {
                *sp = 0;
                continue;
            }
            /* wpos t softplus(-s) + wneg (1 - t) softplus(s), from one exp and
             * one log1p: softplus(+-s) = max(+-s, 0) + log1p(e), e = exp(-|s|) */
            double t = p->T[i * C + c], a = p->wpos[c] * t, b = p->wneg[c] * (1 - t);
            double e = exp(-fabs(s)), l = log1p(e), sig = s >= 0 ? 1 / (1 + e) : e / (1 + e);
            fb[c] += a * ((s < 0 ? -s : 0) + l) + b * ((s > 0 ? s : 0) + l);
            *sp = -a * (1 - sig) + b * sig;
            gbias[c] += *sp;
        }
}

/* The float design's loss: the same per-pixel formula with e, log1p(e) and
 * the sigmoid from softplusf_parts (vectorised float; libm's exp and log1p
 * were a quarter of an evaluation), the weighted sums in double.  Sf holds
 * the gemm's X W^T in and dloss/dscore out (the gradient gemm takes it in
 * float anyway); sc is scratch [3][rows * nc]. */
static void block_loss_f(const pr_problem *p, size_t i0, size_t rows, const size_t *cs, size_t nc,
                         const double *W, float *Sf, float *sc, double *fb, double *gbias)
{
    size_t C = p->C, K1 = p->K + 1, n = rows * nc;
    float *s = sc, *l = sc + n, *sig = sc + 2 * n;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < nc; j++)
            s[i * nc + j] = (float)((double)Sf[i * nc + j] + W[cs[j] * K1 + K1 - 1]);
    softplusf_parts(s, n, l, sig);
    for (size_t i = i0; i < i0 + rows; i++)
        for (size_t j = 0; j < nc; j++) {
            size_t c = cs[j], q = (i - i0) * nc + j;
            if (!INCLUDED(p, i, c)) {
                Sf[q] = 0;
                continue;
            }
            double t = p->T[i * C + c], a = p->wpos[c] * t, b = p->wneg[c] * (1 - t);
            double v = s[q], lq = l[q], g = sig[q];
            fb[c] += a * ((v < 0 ? -v : 0) + lq) + b * ((v > 0 ? v : 0) + lq);
            double r = -a * (1 - g) + b * g;
            Sf[q] = (float)r;
            gbias[c] += r;
        }
}

/* the (active) concepts scored in rows [i0, i1): categories present in any row */
static size_t block_concepts(const pr_problem *p, const unsigned char *active, size_t i0, size_t i1,
                             size_t *cs)
{
    uint64_t any = 0;
    for (size_t i = i0; i < i1; i++)
        any |= p->present[i];
    size_t nc = 0;
    for (size_t c = 0; c < p->C; c++)
        if (((any >> p->category[c]) & 1u) && (!active || active[c]))
            cs[nc++] = c;
    return nc;
}

/* one block: S = X_b W_b^T + b, the loss, then G_b = R^T X_b (float or double) */
static int eval_block(const pr_problem *p, const double *W, const unsigned char *active, size_t blk,
                      double *fb, double *gb)
{
    size_t K = p->K, C = p->C, K1 = K + 1, i0 = blk * PR_BLOCK;
    size_t rows = i0 + PR_BLOCK < p->P ? PR_BLOCK : p->P - i0;
    size_t *cs = malloc((C + 1) * sizeof *cs), nc = block_concepts(p, active, i0, i0 + rows, cs);
    double *S = p->Xd ? malloc((rows * nc + 1) * sizeof *S) : NULL, *Wd = malloc((nc * K + 1) * sizeof *Wd);
    double *gbias = calloc(C + 1, sizeof *gbias);
    float *Sf = malloc((rows * nc + 1) * sizeof *Sf), *Wf = malloc((nc * K + 1) * sizeof *Wf);
    float *sc = p->Xd ? NULL : malloc((3 * rows * nc + 1) * sizeof *sc);
    int rc = !cs || !Wd || !gbias || !Sf || !Wf || (p->Xd ? !S : !sc) ? -1 : 0;
    for (size_t j = 0; j < nc && !rc; j++)
        for (size_t k = 0; k < K; k++)
            Wd[j * K + k] = W[cs[j] * K1 + k], Wf[j * K + k] = (float)W[cs[j] * K1 + k];
    if (!rc && nc) {
        if (p->Xd) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nc, (int)K, 1,
                        p->Xd + i0 * K, (int)K, Wd, (int)K, 0, S, (int)nc);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < nc; j++)
                    S[i * nc + j] += W[cs[j] * K1 + K];
            block_loss(p, i0, rows, cs, nc, S, fb, gbias);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nc, (int)K, (int)rows, 1, S,
                        (int)nc, p->Xd + i0 * K, (int)K, 0, Wd, (int)K);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nc, (int)K, 1,
                        p->Xf + i0 * K, (int)K, Wf, (int)K, 0, Sf, (int)nc);
            block_loss_f(p, i0, rows, cs, nc, W, Sf, sc, fb, gbias);
            /* the gradient's sums over rows: float within PR_GRAD_ROWS rows,
             * double between (float rounding stays at the size of a sub-block) */
            memset(Wd, 0, nc * K * sizeof *Wd);
            for (size_t r0 = 0; r0 < rows; r0 += PR_GRAD_ROWS) {
                size_t rr = r0 + PR_GRAD_ROWS < rows ? PR_GRAD_ROWS : rows - r0;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nc, (int)K, (int)rr, 1,
                            Sf + r0 * nc, (int)nc, p->Xf + (i0 + r0) * K, (int)K, 0, Wf, (int)K);
                for (size_t i = 0; i < nc * K; i++)
                    Wd[i] += Wf[i];
            }
        }
        for (size_t j = 0; j < nc; j++) {
            memcpy(gb + cs[j] * K1, Wd + j * K, K * sizeof *gb);
            gb[cs[j] * K1 + K] = gbias[cs[j]];
        }
    }
    free(cs), free(S), free(Wd), free(gbias), free(Sf), free(Wf), free(sc);
    return rc;
}

static void *eval_worker(void *arg)
{
    eval_job *j = arg;
    size_t C = j->p->C, K1 = j->p->K + 1;
    for (size_t blk = j->b0; blk < j->b1 && !j->rc; blk++) {
        size_t i0 = blk * PR_BLOCK, rows = i0 + PR_BLOCK < j->p->P ? PR_BLOCK : j->p->P - i0, cs[64];
        j->rc = eval_block(j->p, j->W, j->active, blk, j->fb + blk * C, j->gb + blk * C * K1);
        if (C <= 64) /* two gemms of rows x K x (the block's concepts) */
            j->flop += 4.0 * (double)rows * (double)j->p->K * (double)block_concepts(j->p, j->active, i0, i0 + rows, cs);
    }
    return NULL;
}

static size_t eval_calls;
static double eval_flop, eval_seconds, eval_cpu;

/* f[C], G[C][K+1] summed over the blocks in block order */
static int blocked_eval(const pr_problem *p, const double *W, const unsigned char *active, double *f,
                        double *G)
{
    size_t C = p->C, K1 = p->K + 1, nb = (p->P + PR_BLOCK - 1) / PR_BLOCK;
    double *fb = nd_calloc((nb + 1) * C, sizeof *fb), *gb = nd_calloc((nb + 1) * C * K1, sizeof *gb);
    if (!fb || !gb) {
        free(fb), free(gb);
        return -1;
    }
    int nt = nd_threads(p->threads), rc = 0;
    if ((size_t)nt > nb)
        nt = nb ? (int)nb : 1;
    eval_job jobs[ND_MAX_THREADS];
    for (int k = 0; k < nt; k++)
        jobs[k] = (eval_job){p, W, active, fb, gb, nb * (size_t)k / (size_t)nt, nb * (size_t)(k + 1) / (size_t)nt, 0, 0};
    int saved = nd_blas_serial_begin(); /* the jobs thread the work: one BLAS thread each */
    nd_run_jobs(eval_worker, jobs, sizeof jobs[0], nt);
    nd_blas_serial_end(saved);
    for (int k = 0; k < nt; k++)
        rc |= jobs[k].rc, eval_flop += jobs[k].flop;
    memset(f, 0, C * sizeof *f);
    memset(G, 0, C * K1 * sizeof *G);
    for (size_t blk = 0; blk < nb && !rc; blk++)
        for (size_t c = 0; c < C; c++) {
            f[c] += fb[blk * C + c];
            for (size_t k = 0; k < K1; k++)
                G[c * K1 + k] += gb[(blk * C + c) * K1 + k];
        }
    free(fb), free(gb);
    return rc ? nd_fail("out of memory") : 0;
}

size_t pr_eval_calls(void) { return eval_calls; }

void pr_eval_stats(size_t *calls, double *gflop, double *seconds, double *cpu)
{
    *calls = eval_calls, *gflop = eval_flop * 1e-9, *seconds = eval_seconds, *cpu = eval_cpu;
}

int pr_eval(const pr_problem *p, double l2, const double *W, double *f, double *G)
{
    return pr_eval_active(p, l2, W, NULL, f, G);
}

int pr_eval_active(const pr_problem *p, double l2, const double *W, const unsigned char *active,
                   double *f, double *G)
{
    eval_calls++;
    size_t K = p->K, C = p->C, K1 = K + 1;
    double t0 = nd_now(), c0 = nd_cpu_now();
    int rc = blocked_eval(p, W, active, f, G);
    eval_seconds += nd_now() - t0, eval_cpu += nd_cpu_now() - c0;
    if (rc)
        return -1;
    for (size_t c = 0; c < C; c++)
        for (size_t k = 0; k < K; k++) {
            double w = W[c * K1 + k];
            f[c] += 0.5 * l2 * w * w;
            G[c * K1 + k] += l2 * w;
        }
    return 0;
}
