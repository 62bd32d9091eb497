/* test_train_grad.c - finite-difference checks of every layer's backward
 * pass, and the statistics of dropout.
 *
 * Each case is a tiny network ending in the layer under test; the loss is
 * L = sum_i r_i y_i (double) with fixed random r, so dL/dy = r.  The
 * analytic gradients of every parameter and of the input are compared with
 * central differences (L(p + h) - L(p - h)) / 2h.
 *
 * Tolerance (float32 layers): h = 1e-2 on inputs of size ~1.  Truncation is
 * h^2 f'''/6 ~ 1e-5 of the gradient scale; float32 rounding of the outputs
 * (~6e-8 relative each, summed over <= 300 outputs of size <= ~3) divided by
 * 2h adds <= ~1e-4.  We check max |fd - analytic| <= 5e-4 * max |analytic|
 * per tensor (5e-4 = 5x that bound): a wrong term (a missing 1/M, a dropped branch) is off by
 * O(1) of the scale.  Kinks are kept out of reach of +-h: ReLU inputs have
 * |x| >= 0.1 and max-pool inputs are distinct multiples of 0.1.
 */
#include "models/net.h"
#include "tests/testutil.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 1e-2
#define TOL 5e-4

static unsigned long lcg = 12345;
static double urand(void) /* uniform [0,1), a fixed sequence */
{
    lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

typedef struct {
    net_t net;
    tr_net t;
    float *x;
    double *r;
    int n;
    size_t insz, outsz;
} gcase;

static double loss(gcase *g)
{
    gsl_rng_set(g->t.rng, 7); /* the same dropout mask every time */
    tr_forward(&g->t, g->x, g->n, 1);
    const float *y = g->t.y[g->net.nlayers - 1];
    double s = 0;
    for (size_t i = 0; i < (size_t)g->n * g->outsz; i++)
        s += g->r[i] * y[i];
    return s;
}

/* central differences over n floats at p, against the analytic ga */
static void fd_check(gcase *g, const char *label, float *p, const float *ga, size_t n)
{
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + (float)H;
        double lp = loss(g);
        p[i] = keep - (float)H;
        double lm = loss(g);
        p[i] = keep;
        double fd = (lp - lm) / ((double)(keep + (float)H) - (double)(keep - (float)H));
        double e = fabs(fd - ga[i]);
        worst = e > worst || isnan(e) ? e : worst;
        scale = fabs(ga[i]) > scale ? fabs(ga[i]) : scale;
    }
    double rel = scale > 0 ? worst / scale : worst;
    printf("  %-34s n=%-4zu max |fd - analytic| / max|analytic| = %.2e (scale %.2e)\n", label,
           n, rel, scale);
    CHECK(rel <= TOL && scale > 0, "%s: %.3e", label, rel);
}

static void run_case(const char *name, const net_def *defs, int nd, int c, int h, int w,
                     int n, int kind_of_input, double dropout)
{
    gcase g;
    memset(&g, 0, sizeof g);
    g.n = n;
    if (net_create(&g.net, name, defs, nd, c, h, w) || net_init_he(&g.net, 3) ||
        tr_alloc(&g.t, &g.net, n, 1)) {
        CHECK(0, "%s: setup", name);
        return;
    }
    g.t.dropout = dropout;
    g.insz = (size_t)c * h * w;
    g.outsz = tr_layer_size(&g.net.layers[nd - 1]);
    g.x = malloc(sizeof(float) * n * g.insz);
    g.r = malloc(sizeof(double) * n * g.outsz);
    size_t m = (size_t)n * g.insz;
    for (size_t i = 0; i < m; i++) {
        double u = urand() * 2 - 1;
        if (kind_of_input == 1) /* away from ReLU's kink */
            u = u < 0 ? u - 0.1 : u + 0.1;
        g.x[i] = (float)u;
    }
    if (kind_of_input == 2) /* distinct multiples of 0.1, shuffled: no ties for max */
        for (size_t i = 0; i < m; i++) {
            g.x[i] = (float)(0.1 * (double)i - 0.05 * (double)m);
            size_t j = (size_t)(urand() * (double)(i + 1));
            float tmp = g.x[i];
            g.x[i] = g.x[j], g.x[j] = tmp;
        }
    for (int i = 0; i < g.net.nlayers; i++) /* nonzero biases and BN shifts */
        if (g.net.layers[i].bias)
            for (int k = 0; k < g.net.layers[i].c; k++)
                g.net.layers[i].bias[k] = (float)(urand() - 0.5);
    for (size_t i = 0; i < (size_t)n * g.outsz; i++)
        g.r[i] = urand() * 2 - 1;
    /* analytic */
    loss(&g);
    for (size_t i = 0; i < (size_t)n * g.outsz; i++)
        g.t.dy[g.net.nlayers - 1][i] = (float)g.r[i];
    tr_backward(&g.t, g.x, n);
    float *ga = malloc(sizeof(float) * (g.net.nparams + 1));
    float *gx = malloc(sizeof(float) * m);
    memcpy(ga, g.t.grad, sizeof(float) * g.net.nparams);
    memcpy(gx, g.t.dx, sizeof(float) * m);
    char label[128];
    for (int i = 0; i < g.net.nlayers; i++) {
        net_layer *L = &g.net.layers[i];
        if (!net_has_params(L))
            continue;
        snprintf(label, sizeof label, "%s %s.weight", name, L->def->name);
        fd_check(&g, label, L->wt, ga + (L->wt - g.net.params), L->nweights);
        snprintf(label, sizeof label, "%s %s.bias", name, L->def->name);
        fd_check(&g, label, L->bias, ga + (L->bias - g.net.params), (size_t)L->c);
    }
    snprintf(label, sizeof label, "%s input", name);
    fd_check(&g, label, g.x, gx, m);
    free(ga), free(gx), free(g.x), free(g.r);
    tr_free(&g.t);
    net_free(&g.net);
}

#define ROW(kind, nm, from, co, k, s, p, relu) {kind, nm, {from, NULL}, co, k, s, p, relu}

static void test_layers(void)
{
    test_group("finite differences: every layer kind");
    const net_def conv3[] = {ROW(NET_CONV, "conv", NULL, 4, 3, 2, 1, 0)};
    run_case("conv k3 s2 p1", conv3, 1, 3, 7, 7, 2, 0, 0);
    const net_def conv1[] = {ROW(NET_CONV, "conv", NULL, 5, 1, 1, 0, 0)};
    run_case("conv k1 (direct)", conv1, 1, 3, 4, 4, 2, 0, 0);
    const net_def bn[] = {ROW(NET_BATCHNORM, "bn", NULL, 0, 0, 0, 0, 0)};
    run_case("batchnorm (training mode)", bn, 1, 3, 4, 4, 3, 0, 0);
    const net_def relu[] = {ROW(NET_RELU, "relu", NULL, 0, 0, 0, 0, 0)};
    run_case("relu", relu, 1, 2, 4, 4, 2, 1, 0);
    const net_def pool[] = {ROW(NET_MAXPOOL, "pool", NULL, 0, 3, 2, 0, 0)};
    run_case("maxpool k3 s2 (ceil)", pool, 1, 2, 8, 8, 2, 2, 0);
    const net_def poolp[] = {ROW(NET_MAXPOOL, "pool", NULL, 0, 2, 2, 1, 0)};
    run_case("maxpool k2 s2 p1", poolp, 1, 2, 5, 5, 2, 2, 0);
    const net_def gap[] = {ROW(NET_GLOBAL_AVGPOOL, "gap", NULL, 0, 0, 0, 0, 0)};
    run_case("global average pool", gap, 1, 3, 4, 4, 2, 0, 0);
    const net_def fc[] = {ROW(NET_FC, "fc", NULL, 4, 0, 0, 0, 0)};
    run_case("fully connected", fc, 1, 2, 3, 3, 3, 0, 0);
    const net_def drop[] = {ROW(NET_DROPOUT, "drop", NULL, 0, 0, 0, 0, 0)};
    run_case("dropout (fixed mask)", drop, 1, 2, 4, 4, 2, 0, 0.4);
    /* a fire module: two branches share an input, then concat */
    const net_def fire[] = {
        ROW(NET_CONV, "sq", NULL, 3, 1, 1, 0, 0),
        ROW(NET_CONV, "e1", "sq", 2, 1, 1, 0, 0),
        ROW(NET_CONV, "e3", "sq", 2, 3, 1, 1, 0),
        {NET_CONCAT, "cat", {"e1", "e3"}, 0, 0, 0, 0, 0},
    };
    run_case("fire (branches + concat)", fire, 4, 2, 5, 5, 2, 0, 0);
}

/* softmax cross-entropy: d loss / d logits against central differences */
static void test_softmax_ce(void)
{
    test_group("finite differences: softmax cross-entropy");
    const net_def gap[] = {ROW(NET_GLOBAL_AVGPOOL, "gap", NULL, 0, 0, 0, 0, 0)};
    net_t net;
    tr_net t;
    CHECK(!net_create(&net, "ce", gap, 1, 5, 1, 1) && !tr_alloc(&t, &net, 3, 1), "setup");
    float x[15];
    int lab[3] = {0, 3, 4};
    for (int i = 0; i < 15; i++)
        x[i] = (float)(urand() * 6 - 3);
    tr_forward(&t, x, 3, 1);
    tr_loss(&t, lab, 3, NULL);
    float ga[15];
    memcpy(ga, t.dy[0], sizeof ga);
    double worst = 0, scale = 0;
    for (int i = 0; i < 15; i++) {
        float k = x[i];
        x[i] = k + (float)H;
        tr_forward(&t, x, 3, 1);
        double lp = tr_loss(&t, lab, 3, NULL);
        x[i] = k - (float)H;
        tr_forward(&t, x, 3, 1);
        double lm = tr_loss(&t, lab, 3, NULL);
        x[i] = k;
        double fd = (lp - lm) / ((double)(k + (float)H) - (double)(k - (float)H));
        worst = fmax(worst, fabs(fd - ga[i]));
        scale = fmax(scale, fabs(ga[i]));
    }
    printf("  softmax CE logits: max |fd - analytic| / max|analytic| = %.2e\n", worst / scale);
    CHECK(worst / scale <= TOL, "softmax CE %.3e", worst / scale);
    tr_free(&t);
    net_free(&net);
}

/* Kept fraction ~ Binomial(m, 1-p)/m: sd = sqrt(p(1-p)/m) = 4.6e-4 at
 * m = 1e6, p = 0.3; we allow 5 sd (a false alarm ~ 6e-7).  Kept units must
 * be x/(1-p) exactly (the float factor), dropped ones exactly 0, and
 * evaluation mode must copy the input bit for bit. */
static void test_dropout(void)
{
    test_group("dropout: kept fraction, scaling, evaluation identity");
    const net_def drop[] = {ROW(NET_DROPOUT, "drop", NULL, 0, 0, 0, 0, 0)};
    const int c = 10, hw = 100, n = 1000;
    const double p = 0.3;
    net_t net;
    tr_net t;
    CHECK(!net_create(&net, "drop", drop, 1, c, hw, 1) && !tr_alloc(&t, &net, n, 0), "setup");
    t.dropout = p;
    gsl_rng_set(t.rng, 11);
    size_t m = (size_t)c * hw * n;
    float *x = malloc(sizeof(float) * m);
    for (size_t i = 0; i < m; i++)
        x[i] = (float)(urand() + 0.5);
    tr_forward(&t, x, n, 1);
    size_t kept = 0, badscale = 0;
    float f = (float)(1.0 / (1.0 - p));
    for (size_t i = 0; i < m; i++) {
        if (t.y[0][i] != 0) {
            kept++;
            badscale += t.y[0][i] != x[i] * f;
        }
    }
    double frac = (double)kept / (double)m, sd = sqrt(p * (1 - p) / (double)m);
    printf("  kept fraction %.6f (expected %.6f, %.2f sd); wrongly scaled %zu\n", frac, 1 - p,
           (frac - (1 - p)) / sd, badscale);
    CHECK(fabs(frac - (1 - p)) <= 5 * sd, "kept fraction %.6f", frac);
    CHECK(badscale == 0, "%zu kept units not scaled by 1/(1-p)", badscale);
    tr_forward(&t, x, n, 0);
    CHECK(memcmp(t.y[0], x, sizeof(float) * m) == 0, "evaluation mode is not the identity");
    net_ws *ws = net_ws_alloc(&net, 0);
    float *o = malloc(sizeof(float) * m);
    net_forward(&net, ws, x, n, 0, o);
    CHECK(memcmp(o, x, sizeof(float) * m) == 0, "net_forward dropout is not the identity");
    net_ws_free(ws);
    free(o), free(x);
    tr_free(&t);
    net_free(&net);
}

static void test_schedules(void)
{
    test_group("learning-rate schedules");
    CHECK(tr_lr(TR_LR_CONST, 0.1, 57, 100, 0, 0) == 0.1, "constant");
    CHECK(tr_lr(TR_LR_STEP, 0.1, 29, 100, 30, 0.1) == 0.1 &&
              fabs(tr_lr(TR_LR_STEP, 0.1, 30, 100, 30, 0.1) - 0.01) < 1e-15 &&
              fabs(tr_lr(TR_LR_STEP, 0.1, 65, 100, 30, 0.1) - 0.001) < 1e-15,
          "step: x0.1 every 30 iterations");
    CHECK(tr_lr(TR_LR_COSINE, 0.1, 0, 100, 0, 0) == 0.1 &&
              fabs(tr_lr(TR_LR_COSINE, 0.1, 50, 100, 0, 0) - 0.05) < 1e-15 &&
              tr_lr(TR_LR_COSINE, 0.1, 99, 100, 0, 0) < 1e-4,
          "cosine: base, half at the middle, ~0 at the end");
}

int main(void)
{
    test_schedules();
    test_layers();
    test_softmax_ce();
    test_dropout();
    return test_summary();
}
