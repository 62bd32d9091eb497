/* probe_data.c - the probes' matrices: raw rows, designs, area-averaged
 * targets, and a feature source over the raw rows for the dissector. */
#include "core/blas.h"
#include "core/err.h"
#include "core/probe_gemm.h"
#include "core/probe_internal.h"
#include "core/upsample_adjoint.h"

#include <cblas.h>
#include <lapacke.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pr_plan_for(const pr_ctx *x, size_t i, up_cache *pc)
{
    int ih, iw, sh, sw;
    const pr_options *o = x->o;
    broden_image_size(x->ds, i, &ih, &iw, &sh, &sw);
    return up_cache_get(pc, nd_profile_get(o->profile)->upsample_field, (int)x->h, (int)x->w, sh, sw, iw,
                        o->field_offset, o->field_size, o->field_stride);
}

int pr_raw(const pr_ctx *x, const nd_features *f, const double *R, float **raw)
{
    size_t K = x->K, hw = x->hw, nimg = x->ntr + x->nte;
    float *out = nd_malloc(nimg * hw * K * sizeof *out), *buf = nd_malloc(K * hw * sizeof *buf);
    if (!out || !buf) {
        free(out), free(buf);
        return -1;
    }
    for (size_t j = 0; j < nimg; j++) {
        const float *a;
        if (f->get(f->ctx, x->img[j], 1, buf, &a)) {
            free(out), free(buf);
            return -1;
        }
        float *r = out + j * hw * K;
        for (size_t k = 0; k < K; k++)
            for (size_t p = 0; p < hw; p++)
                r[p * K + k] = a[k * hw + p];
    }
    free(buf);
    if (R) { /* rows a^T -> (R a)^T = a^T R^T: one sgemm over every row */
        float *Rf = nd_malloc(K * K * sizeof *Rf), *rot = nd_malloc(nimg * hw * K * sizeof *rot);
        if (!Rf || !rot) {
            free(Rf), free(rot), free(out);
            return -1;
        }
        for (size_t i = 0; i < K * K; i++)
            Rf[i] = (float)R[i];
        pr_rows_sgemm(out, nimg * hw, K, Rf, K, 1, rot, x->o->threads);
        free(Rf), free(out);
        out = rot;
    }
    *raw = out;
    return 0;
}

void pr_design_free(pr_design *d)
{
    free(d->Xf), free(d->Xd), free(d->mu), free(d->sd), free(d->white);
    memset(d, 0, sizeof *d);
}

static double design_value(const float *raw, const double *thr, size_t i, size_t k, size_t K)
{
    float v = raw[i * K + k];
    return thr ? (v > (float)thr[k] ? 1.0 : 0.0) : (double)v;
}

/* mu (train mean vector) and sigma (one global scale): both commute with a
 * rotation of the units, unlike per-unit scales */
int pr_design_build(const pr_ctx *x, const float *raw, const double *thr, int dbl, pr_design *d)
{
    size_t K = x->K, ntr = x->ntr * x->hw, rows = (x->ntr + x->nte) * x->hw;
    memset(d, 0, sizeof *d);
    d->mu = nd_calloc(K, sizeof *d->mu), d->sd = nd_calloc(K, sizeof *d->sd);
    if (dbl)
        d->Xd = nd_malloc(rows * K * sizeof *d->Xd);
    else
        d->Xf = nd_malloc(rows * K * sizeof *d->Xf);
    if (!d->mu || !d->sd || (!d->Xd && !d->Xf)) {
        pr_design_free(d);
        return -1;
    }
    for (size_t i = 0; i < ntr; i++)
        for (size_t k = 0; k < K; k++)
            d->mu[k] += design_value(raw, thr, i, k, K);
    double ss = 0;
    for (size_t k = 0; k < K; k++)
        d->mu[k] /= (double)ntr;
    for (size_t i = 0; i < ntr; i++)
        for (size_t k = 0; k < K; k++) {
            double v = design_value(raw, thr, i, k, K) - d->mu[k];
            d->sd[k] += v * v;
        }
    for (size_t k = 0; k < K; k++)
        ss += d->sd[k];
    d->sigma = sqrt(ss / ((double)ntr * (double)K));
    if (!(d->sigma > 0))
        d->sigma = 1; /* constant activations: nothing to scale */
    for (size_t k = 0; k < K; k++)
        d->sd[k] = sqrt(d->sd[k] / (double)ntr) / d->sigma;
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < K; k++) {
            double v = (design_value(raw, thr, i, k, K) - d->mu[k]) / d->sigma;
            if (dbl)
                d->Xd[i * K + k] = v;
            else
                d->Xf[i * K + k] = (float)v;
        }
    return 0;
}

/* per image: indicator of each present concept at label resolution, taken
 * to feature resolution by U^T and divided by U^T 1 */
static void image_targets(const pr_ctx *x, size_t i, const up_plan *pl, const double *den,
                          double *ind, double *ad, double *tmp, float *T)
{
    size_t C = x->C, hw = x->hw, npix = (size_t)pl->sh * (size_t)pl->sw;
    const broden_layer *ly;
    const broden_imglabel *il;
    size_t nl, ni;
    broden_image_layers(x->ds, i, &ly, &nl);
    broden_image_labels(x->ds, i, &il, &ni);
    for (size_t c = 0; c < C; c++) {
        int whole = 0, any = 0;
        for (size_t k = 0; k < ni; k++)
            whole |= il[k].label == x->label[c] && il[k].category == x->category[c];
        if (!whole) {
            memset(ind, 0, npix * sizeof *ind);
            for (size_t k = 0; k < nl; k++)
                if (ly[k].category == x->category[c])
                    for (size_t q = 0; q < npix; q++)
                        if (ly[k].map[q] == x->label[c])
                            ind[q] = 1, any = 1;
        }
        for (size_t p = 0; p < hw; p++)
            T[p * C + c] = whole ? 1.0f : 0.0f;
        if (!any)
            continue;
        up_adjoint(pl, ind, ad, tmp);
        for (size_t p = 0; p < hw; p++)
            T[p * C + c] = den[p] > 0 ? (float)(ad[p] / den[p]) : 0.0f;
    }
}

int pr_targets(const pr_ctx *x, float **Tout, uint64_t **present)
{
    size_t C = x->C, hw = x->hw, npix_max = 0;
    for (size_t j = 0; j < x->ntr; j++) {
        int ih, iw, sh, sw;
        broden_image_size(x->ds, x->img[j], &ih, &iw, &sh, &sw);
        if ((size_t)sh * (size_t)sw > npix_max)
            npix_max = (size_t)sh * (size_t)sw;
    }
    float *T = nd_malloc(x->ntr * hw * C * sizeof *T);
    uint64_t *pr = nd_malloc(x->ntr * hw * sizeof *pr);
    double *ind = nd_malloc(npix_max * sizeof *ind), *ad = nd_malloc(hw * sizeof *ad);
    double *den = nd_malloc(hw * sizeof *den), *tmp = nd_malloc(x->h * npix_max * sizeof *tmp);
    up_cache pc = {0};
    int rc = (!T || !pr || !ind || !ad || !den || !tmp) ? -1 : 0;
    int lastw = -1, lasth = -1;
    for (size_t j = 0; j < x->ntr && !rc; j++) {
        size_t i = x->img[j];
        if (pr_plan_for(x, i, &pc)) {
            rc = -1;
            break;
        }
        if (pc.sh != lasth || pc.sw != lastw) { /* U^T 1 of this plan */
            size_t np = (size_t)pc.sh * (size_t)pc.sw;
            for (size_t q = 0; q < np; q++)
                ind[q] = 1;
            up_adjoint(&pc.plan, ind, den, tmp);
            lasth = pc.sh, lastw = pc.sw;
        }
        image_targets(x, i, &pc.plan, den, ind, ad, tmp, T + j * hw * C);
        uint64_t m = broden_present(x->ds, i);
        for (size_t p = 0; p < hw; p++)
            pr[j * hw + p] = m;
    }
    up_cache_free(&pc);
    free(ind), free(ad), free(den), free(tmp);
    if (rc) {
        free(T), free(pr);
        return -1;
    }
    *Tout = T, *present = pr;
    return 0;
}

typedef struct {
    const pr_ctx *x;
    const float *raw;
    int set, compact;
} raw_src;

static int raw_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const raw_src *s = ctx;
    const pr_ctx *x = s->x;
    size_t K = x->K, hw = x->hw;
    for (size_t t = 0; t < n; t++) {
        float *o = buf + t * K * hw;
        long j = s->compact ? (long)(i0 + t) : x->block[i0 + t];
        int in = j >= 0 && (s->set == 0 ? (size_t)j < x->ntr : (size_t)j >= x->ntr);
        if (!in) {
            for (size_t q = 0; q < K * hw; q++)
                o[q] = -FLT_MAX;
            continue;
        }
        const float *r = s->raw + (size_t)j * hw * K;
        for (size_t k = 0; k < K; k++)
            for (size_t p = 0; p < hw; p++)
                o[k * hw + p] = r[p * K + k];
    }
    *out = buf;
    return 0;
}

int pr_raw_features(const pr_ctx *x, const float *raw, int set, int compact, nd_features *f)
{
    raw_src *s = nd_malloc(sizeof *s);
    if (!s)
        return -1;
    *s = (raw_src){x, raw, set, compact};
    f->N = compact ? x->ntr : x->N, f->K = x->K, f->h = x->h, f->w = x->w;
    f->get = raw_get, f->ctx = s;
    return 0;
}

/* M = V diag((lambda + eps)^(-1/2)) V^T from the train rows' covariance Cv
 * (destroyed).  The covariance sums in double (pr_rows_cov: float products
 * per block of rows, double between blocks; one float sum over ~1e5 rows
 * would move M by ~1e-5 between a basis and its rotation). */
static int whitening(size_t K, double *Cv, double *M)
{
    double *ev = nd_malloc(K * sizeof *ev);
    if (!ev)
        return -1;
    int saved = nd_blas_serial_begin(); /* the same eigenvectors for any thread count */
    int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)K, Cv, (lapack_int)K, ev);
    nd_blas_serial_end(saved);
    if (info) {
        free(ev);
        return nd_fail("probe: eigendecomposition of the activations' covariance failed");
    }
    double mean = 0;
    for (size_t k = 0; k < K; k++)
        mean += ev[k] / (double)K;
    double eps = PR_WHITEN_EPS * (mean > 0 ? mean : 1);
    for (size_t k = 0; k < K; k++)
        ev[k] = 1 / sqrt((ev[k] > 0 ? ev[k] : 0) + eps);
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) /* columns of Cv are the eigenvectors */
                s += Cv[i * K + k] * Cv[j * K + k] * ev[k];
            M[i * K + j] = s;
        }
    free(ev);
    return 0;
}

/* The whitened train rows in the design's precision: double (tests) by
 * dsyrk / dgemm, float by fixed blocks (pr_rows_cov, pr_rows_sgemm) so the
 * result does not depend on the thread count. */
int pr_whiten(const pr_ctx *x, const pr_design *in, pr_design *out)
{
    size_t K = x->K, rows = x->ntr * x->hw; /* the fit reads only train rows */
    memset(out, 0, sizeof *out);
    double *Cv = nd_calloc(K * K, sizeof *Cv);
    float *Mf = nd_malloc(K * K * sizeof *Mf);
    out->white = nd_malloc(K * K * sizeof *out->white);
    out->mu = nd_malloc(K * sizeof *out->mu), out->sd = nd_malloc(K * sizeof *out->sd);
    if (in->Xd)
        out->Xd = nd_malloc(rows * K * sizeof *out->Xd);
    else
        out->Xf = nd_malloc(rows * K * sizeof *out->Xf);
    int rc = !Cv || !Mf || !out->white || !out->mu || !out->sd || (!out->Xd && !out->Xf);
    if (!rc && in->Xd)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)K, (int)rows, 1.0 / (double)rows, in->Xd,
                    (int)K, 0, Cv, (int)K);
    else if (!rc)
        rc = pr_rows_cov(in->Xf, rows, K, Cv, x->o->threads);
    rc = rc || whitening(K, Cv, out->white);
    free(Cv);
    if (rc) {
        free(Mf);
        pr_design_free(out);
        return -1;
    }
    memcpy(out->mu, in->mu, K * sizeof *out->mu);
    memcpy(out->sd, in->sd, K * sizeof *out->sd);
    out->sigma = in->sigma;
    if (in->Xd) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)K, (int)K, 1, in->Xd,
                    (int)K, out->white, (int)K, 0, out->Xd, (int)K);
    } else {
        for (size_t i = 0; i < K * K; i++)
            Mf[i] = (float)out->white[i];
        pr_rows_sgemm(in->Xf, rows, K, Mf, K, 0, out->Xf, x->o->threads);
    }
    free(Mf);
    return 0;
}
