/* probe.c - the split, the class-balanced logistic loss and its L-BFGS fit
 * (see probe.h for the method and why every step is rotation-equivariant). */
#include "core/probe.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"

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
    o->gtol = 1e-7;
    o->ftol = 1e-13;
    o->history = 10;
    o->units_fraction = 0.9;
    o->units_iter = 5;
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

/* S[P][C] = X w^T + b: one gemm over all concepts */
static int scores(const pr_problem *p, const double *W, double *S)
{
    size_t P = p->P, K = p->K, C = p->C, K1 = K + 1;
    if (p->Xd) {
        double *Wd = nd_malloc(C * K * sizeof *Wd);
        if (!Wd)
            return -1;
        for (size_t c = 0; c < C; c++)
            memcpy(Wd + c * K, W + c * K1, K * sizeof *Wd);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)C, (int)K, 1, p->Xd,
                    (int)K, Wd, (int)K, 0, S, (int)C);
        free(Wd);
    } else {
        float *Wf = nd_malloc(C * K * sizeof *Wf), *Sf = nd_malloc(P * C * sizeof *Sf);
        if (!Wf || !Sf) {
            free(Wf), free(Sf);
            return -1;
        }
        for (size_t c = 0; c < C; c++)
            for (size_t k = 0; k < K; k++)
                Wf[c * K + k] = (float)W[c * K1 + k];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)C, (int)K, 1, p->Xf,
                    (int)K, Wf, (int)K, 0, Sf, (int)C);
        for (size_t i = 0; i < P * C; i++)
            S[i] = Sf[i];
        free(Wf), free(Sf);
    }
    for (size_t i = 0; i < P; i++)
        for (size_t c = 0; c < C; c++)
            S[i * C + c] += W[c * K1 + K];
    return 0;
}

/* G[c][0..K) = R^T X (R = dloss/dscore, [P][C]): the other gemm */
static int backprop(const pr_problem *p, const double *R, double *G)
{
    size_t P = p->P, K = p->K, C = p->C, K1 = K + 1;
    double *Gd = nd_malloc(C * K * sizeof *Gd);
    if (!Gd)
        return -1;
    if (p->Xd) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)K, (int)P, 1, R, (int)C,
                    p->Xd, (int)K, 0, Gd, (int)K);
    } else {
        float *Rf = nd_malloc(P * C * sizeof *Rf), *Gf = nd_malloc(C * K * sizeof *Gf);
        if (!Rf || !Gf) {
            free(Rf), free(Gf), free(Gd);
            return -1;
        }
        for (size_t i = 0; i < P * C; i++)
            Rf[i] = (float)R[i];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)K, (int)P, 1, Rf, (int)C,
                    p->Xf, (int)K, 0, Gf, (int)K);
        for (size_t i = 0; i < C * K; i++)
            Gd[i] = Gf[i];
        free(Rf), free(Gf);
    }
    for (size_t c = 0; c < C; c++) {
        memcpy(G + c * K1, Gd + c * K, K * sizeof *G);
    }
    free(Gd);
    return 0;
}

/* The per-pixel loss runs over fixed blocks of rows, summed in block
 * order, so sums do not depend on the number of threads. */
#define PR_BLOCK 2048

typedef struct {
    const pr_problem *p;
    double *S;          /* scores in, dloss/dscore out */
    double *fb, *gb;    /* [nblocks][C] partial loss and bias gradient */
    size_t b0, b1;
} loss_job;

static void *loss_worker(void *arg)
{
    loss_job *j = arg;
    const pr_problem *p = j->p;
    size_t C = p->C;
    for (size_t blk = j->b0; blk < j->b1; blk++) {
        double *fb = j->fb + blk * C, *gb = j->gb + blk * C;
        size_t i1 = (blk + 1) * PR_BLOCK < p->P ? (blk + 1) * PR_BLOCK : p->P;
        for (size_t c = 0; c < C; c++)
            fb[c] = gb[c] = 0;
        for (size_t i = blk * PR_BLOCK; i < i1; i++)
            for (size_t c = 0; c < C; c++) {
                double *sp = j->S + i * C + c, s = *sp;
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
                gb[c] += *sp;
            }
    }
    return NULL;
}

static int pixel_loss(const pr_problem *p, double *S, double *f, double *gbias)
{
    size_t C = p->C, nb = (p->P + PR_BLOCK - 1) / PR_BLOCK;
    double *fb = nd_malloc((nb + 1) * C * sizeof *fb), *gb = nd_malloc((nb + 1) * C * sizeof *gb);
    if (!fb || !gb) {
        free(fb), free(gb);
        return -1;
    }
    int nt = nd_threads(p->threads);
    if ((size_t)nt > nb)
        nt = nb ? (int)nb : 1;
    loss_job jobs[ND_MAX_THREADS];
    for (int k = 0; k < nt; k++)
        jobs[k] = (loss_job){p, S, fb, gb, nb * (size_t)k / (size_t)nt, nb * (size_t)(k + 1) / (size_t)nt};
    nd_run_jobs(loss_worker, jobs, sizeof jobs[0], nt);
    for (size_t c = 0; c < C; c++) {
        f[c] = gbias[c] = 0;
        for (size_t blk = 0; blk < nb; blk++)
            f[c] += fb[blk * C + c], gbias[c] += gb[blk * C + c];
    }
    free(fb), free(gb);
    return 0;
}

static size_t eval_calls;
size_t pr_eval_calls(void) { return eval_calls; }

int pr_eval(const pr_problem *p, double l2, const double *W, double *f, double *G)
{
    eval_calls++;
    size_t P = p->P, K = p->K, C = p->C, K1 = K + 1;
    double *S = nd_malloc((P * C + 1) * sizeof *S), *gbias = nd_malloc(C * sizeof *gbias);
    int rc = !S || !gbias || scores(p, W, S) || pixel_loss(p, S, f, gbias) || backprop(p, S, G);
    free(S);
    if (rc) {
        free(gbias);
        return -1;
    }
    for (size_t c = 0; c < C; c++) {
        G[c * K1 + K] = gbias[c];
        for (size_t k = 0; k < K; k++) {
            double w = W[c * K1 + k];
            f[c] += 0.5 * l2 * w * w;
            G[c * K1 + k] += l2 * w;
        }
    }
    free(gbias);
    return 0;
}
