/* probe_fit.c - L-BFGS for all concepts at once: every evaluation scores
 * all concepts with one gemm (pr_eval), while each concept keeps its own
 * history, direction, step and line search.  Only inner products and linear
 * combinations of gradients enter, and the first step is -g scaled by
 * 1/||g||: for activations Q a every iterate is Q w (rotation-equivariant). */
#include "core/err.h"
#include "core/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *s, *y, *rho; /* [m][n], [m][n], [m] */
    int count, head;     /* pairs held; next slot */
} lbfgs_hist;

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* d = -H g by the two-loop recursion (H0 = gamma I, gamma = s.y / y.y of the
 * newest pair); al is scratch [m] */
static void direction(const lbfgs_hist *h, int m, const double *g, size_t n, double *d, double *al)
{
    for (size_t i = 0; i < n; i++)
        d[i] = g[i];
    for (int k = 0; k < h->count; k++) {
        int j = (h->head - 1 - k + m) % m;
        al[j] = h->rho[j] * dot(h->s + (size_t)j * n, d, n);
        const double *y = h->y + (size_t)j * n;
        for (size_t i = 0; i < n; i++)
            d[i] -= al[j] * y[i];
    }
    if (h->count) {
        int j = (h->head - 1 + m) % m;
        const double *y = h->y + (size_t)j * n;
        double gamma = 1.0 / (h->rho[j] * dot(y, y, n));
        for (size_t i = 0; i < n; i++)
            d[i] *= gamma;
    }
    for (int k = h->count - 1; k >= 0; k--) {
        int j = (h->head - 1 - k + m) % m;
        double beta = h->rho[j] * dot(h->y + (size_t)j * n, d, n);
        const double *s = h->s + (size_t)j * n;
        for (size_t i = 0; i < n; i++)
            d[i] += (al[j] - beta) * s[i];
    }
    for (size_t i = 0; i < n; i++)
        d[i] = -d[i];
}

static void push(lbfgs_hist *h, int m, size_t n, const double *w0, const double *w1,
                 const double *g0, const double *g1)
{
    double *s = h->s + (size_t)h->head * n, *y = h->y + (size_t)h->head * n;
    for (size_t i = 0; i < n; i++)
        s[i] = w1[i] - w0[i], y[i] = g1[i] - g0[i];
    double sy = dot(s, y, n);
    if (!(sy > 1e-300)) /* no curvature (cannot happen with l2 > 0 except by rounding) */
        return;
    h->rho[h->head] = 1.0 / sy;
    h->head = (h->head + 1) % m;
    if (h->count < m)
        h->count++;
}

static void apply_mask(const pr_problem *p, const unsigned char *mask, double *G)
{
    if (!mask)
        return;
    size_t K = p->K;
    for (size_t c = 0; c < p->C; c++)
        for (size_t k = 0; k < K; k++)
            if (!mask[c * K + k])
                G[c * (K + 1) + k] = 0;
}

typedef struct {
    size_t C, n;
    double *G, *Wt, *Gt, *f, *ft, *d, *t, *gd, *al, *g0;
    unsigned char *active, *pending;
    lbfgs_hist *h;
} fit_state;

static void state_free(fit_state *s, int C)
{
    if (s->h)
        for (int c = 0; c < C; c++)
            free(s->h[c].s), free(s->h[c].y), free(s->h[c].rho);
    free(s->h), free(s->G), free(s->Wt), free(s->Gt), free(s->f), free(s->ft), free(s->d);
    free(s->t), free(s->gd), free(s->al), free(s->g0), free(s->active), free(s->pending);
}

static int state_alloc(fit_state *s, size_t C, size_t n, int m)
{
    memset(s, 0, sizeof *s);
    s->C = C, s->n = n;
    s->G = nd_malloc(C * n * sizeof(double)), s->Wt = nd_malloc(C * n * sizeof(double));
    s->Gt = nd_malloc(C * n * sizeof(double)), s->d = nd_malloc(C * n * sizeof(double));
    s->f = nd_malloc(C * sizeof(double)), s->ft = nd_malloc(C * sizeof(double));
    s->t = nd_malloc(C * sizeof(double)), s->gd = nd_malloc(C * sizeof(double));
    s->g0 = nd_malloc(C * sizeof(double)), s->al = nd_malloc((size_t)m * sizeof(double));
    s->active = nd_calloc(C, 1), s->pending = nd_calloc(C, 1);
    s->h = nd_calloc(C, sizeof *s->h);
    if (!s->G || !s->Wt || !s->Gt || !s->d || !s->f || !s->ft || !s->t || !s->gd || !s->g0 ||
        !s->al || !s->active || !s->pending || !s->h)
        return -1;
    for (size_t c = 0; c < C; c++) {
        s->h[c].s = nd_malloc((size_t)m * n * sizeof(double));
        s->h[c].y = nd_malloc((size_t)m * n * sizeof(double));
        s->h[c].rho = nd_malloc((size_t)m * sizeof(double));
        if (!s->h[c].s || !s->h[c].y || !s->h[c].rho)
            return -1;
    }
    return 0;
}

/* A concept's next iteration from W[c]: the L-BFGS direction, the first
 * trial step (1, or 1/||g|| before any pair) and the trial point Wt[c]. */
static void start_iteration(fit_state *s, int m, size_t c, const double *W)
{
    size_t n = s->n;
    double *d = s->d + c * n, *g = s->G + c * n;
    direction(&s->h[c], m, g, n, d, s->al);
    s->gd[c] = dot(g, d, n);
    if (!(s->gd[c] < 0)) { /* not a descent direction (rounding): restart */
        s->h[c].count = 0;
        direction(&s->h[c], m, g, n, d, s->al);
        s->gd[c] = dot(g, d, n);
    }
    s->t[c] = s->h[c].count ? 1.0 : 1.0 / sqrt(dot(g, g, n));
    s->pending[c] = 0; /* backtracking rounds of this iteration */
    for (size_t i = 0; i < n; i++)
        s->Wt[c * n + i] = W[c * n + i] + s->t[c] * d[i];
}

/* Near the optimum a float loss changes by less than its rounding (~1e-9
 * relative), so Armijo's test on loss values fails on steps that are fine;
 * the slope along d is still exact to float precision.  The approximate
 * Wolfe conditions (Hager & Zhang 2005) judge a step by slopes alone:
 * sigma g.d <= g_t.d <= (2 delta - 1) g.d with delta 0.1, sigma 0.9 (for a
 * quadratic the second is Armijo with c1 = delta), the loss allowed to rise
 * by PR_FIT_FNOISE |f| (their epsilon; the float loss rounds at ~3e-8 |f|).
 * Inner products only: equivariant. */
#define PR_FIT_FNOISE 1e-6
static int approx_wolfe(const fit_state *s, size_t c)
{
    size_t n = s->n;
    double gtd = dot(s->Gt + c * n, s->d + c * n, n), gd = s->gd[c];
    return s->ft[c] <= s->f[c] + PR_FIT_FNOISE * fabs(s->f[c]) && gtd >= 0.9 * gd && gtd <= -0.8 * gd;
}

/* After an evaluation at the trial points: a concept whose trial meets
 * Armijo (c1 = 1e-4) or the approximate Wolfe conditions takes it and starts
 * its next iteration (or stops: converged, at max_iter, or, after an Armijo
 * step, when the loss fell by <= ftol |f|); one that does not backtracks to
 * the minimiser of the quadratic through f, g.d and ft, kept in [0.1 t,
 * 0.5 t], and stops after 6 rounds (the floor where rounding hides
 * progress). */
static void advance(fit_state *s, int m, size_t c, double *W, int max_iter, double gtol, double ftol,
                    int *iters, int *it_c)
{
    size_t n = s->n;
    double t = s->t[c];
    int armijo = s->ft[c] <= s->f[c] + 1e-4 * t * s->gd[c];
    if (armijo || approx_wolfe(s, c)) {
        push(&s->h[c], m, n, W + c * n, s->Wt + c * n, s->G + c * n, s->Gt + c * n);
        memcpy(W + c * n, s->Wt + c * n, n * sizeof *W);
        memcpy(s->G + c * n, s->Gt + c * n, n * sizeof *W);
        double decrease = s->f[c] - s->ft[c];
        s->f[c] = s->ft[c];
        it_c[c]++;
        if (iters)
            iters[c] = it_c[c];
        if (it_c[c] >= max_iter || sqrt(dot(s->G + c * n, s->G + c * n, n)) <= gtol * s->g0[c] ||
            (armijo && decrease <= ftol * fabs(s->f[c])))
            s->active[c] = 0;
        else
            start_iteration(s, m, c, W);
        return;
    }
    if (++s->pending[c] >= 6) { /* no step decreased the loss: at the rounding floor */
        s->active[c] = 0;
        memcpy(s->Wt + c * n, W + c * n, n * sizeof *W);
        return;
    }
    double q = s->ft[c] - s->f[c] - s->gd[c] * t;
    double tn = q > 0 ? -s->gd[c] * t * t / (2 * q) : 0.5 * t;
    tn = tn < 0.1 * t ? 0.1 * t : tn > 0.5 * t ? 0.5 * t : tn;
    s->t[c] = tn;
    for (size_t i = 0; i < n; i++)
        s->Wt[c * n + i] = W[c * n + i] + tn * s->d[c * n + i];
}

/* The concepts run out of step: one evaluation serves every active
 * concept at its own trial point, whether that is a new iteration's first
 * step or a backtrack, so the evaluations number about the slowest
 * concept's iterations plus backtracks, not the sum over iterations of the
 * worst line search.  Each concept's own sequence of iterates is that of
 * plain L-BFGS (hence still rotation-equivariant). */
int pr_fit(const pr_problem *p, double l2, int max_iter, double gtol, double ftol, int history,
           const unsigned char *mask, double *W, int *iters, double *grad_rel)
{
    size_t C = p->C, n = p->K + 1;
    int m = history < 1 ? 1 : history, rc = -1, *it_c = nd_calloc(C + 1, sizeof *it_c);
    fit_state s;
    if (state_alloc(&s, C, n, m) || !it_c || pr_eval_active(p, l2, W, p->only, s.f, s.G))
        goto done;
    apply_mask(p, mask, s.G);
    memcpy(s.Wt, W, C * n * sizeof *W);
    int any = 0;
    for (size_t c = 0; c < C; c++) {
        s.g0[c] = sqrt(dot(s.G + c * n, s.G + c * n, n));
        s.active[c] = s.g0[c] > 0 && max_iter > 0 && (!p->only || p->only[c]);
        if (iters)
            iters[c] = 0;
        if (s.active[c])
            start_iteration(&s, m, c, W);
        any |= s.active[c];
    }
    while (any) {
        if (pr_eval_active(p, l2, s.Wt, s.active, s.ft, s.Gt))
            goto done;
        apply_mask(p, mask, s.Gt);
        any = 0;
        for (size_t c = 0; c < C; c++) {
            if (s.active[c])
                advance(&s, m, c, W, max_iter, gtol, ftol, iters, it_c);
            any |= s.active[c];
        }
    }
    if (grad_rel)
        for (size_t c = 0; c < C; c++)
            grad_rel[c] = s.g0[c] > 0 ? sqrt(dot(s.G + c * n, s.G + c * n, n)) / s.g0[c] : 0;
    rc = 0;
done:
    state_free(&s, (int)C);
    free(it_c);
    return rc;
}
