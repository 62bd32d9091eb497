/* test_train.c - the trainer against ../shared/fixtures/train-step (an
 * independent float64 reference): training-mode logits, the loss, every
 * gradient, and the update of every parameter and running statistic after
 * steps 1 and 2; evaluation-mode logits after step 2.
 *
 * Tolerance: 1e-4 of each tensor's max-abs, as the issue asks.  Updates are
 * compared as deltas (after - before) relative to the reference delta's
 * max-abs, so a wrong weight-decay rule (about wd*w*lr = 2.5e-5 of a weight
 * of 1, several percent of a delta) or a biased running variance (a factor
 * M/(M-1) on the variance's update) fails even where the parameters
 * themselves would agree to 1e-4 (checked by mutation: a biased running
 * variance fails at 1.1e-3, weight decay scaled by 0.9 at 2.8e-4).  We compute in float32 with double sums,
 * whose rounding (~1e-7 relative) is far below that.
 */
#include "core/npy.h"
#include "models/net.h"
#include "models/squeezenet.h"
#include "tests/testutil.h"
#include "train/ckpt.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/afile.h"
#include "core/err.h"

#define TOL 1e-4

static const net_def fixture_defs[] = {
    {NET_CONV, "conv1", {NULL, NULL}, 8, 3, 1, 1, 0},
    {NET_BATCHNORM, "bn1", {"conv1", NULL}, 0, 0, 0, 0, 0},
    {NET_RELU, "relu1", {"bn1", NULL}, 0, 0, 0, 0, 0},
    {NET_MAXPOOL, "pool1", {"relu1", NULL}, 0, 3, 2, 0, 0},
    {NET_CONV, "conv2", {"pool1", NULL}, 16, 3, 2, 1, 1},
    {NET_GLOBAL_AVGPOOL, "gap", {"conv2", NULL}, 0, 0, 0, 0, 0},
    {NET_FC, "fc", {"gap", NULL}, 5, 0, 0, 0, 0},
};

/* A fixture array as doubles; n = its element count (must equal want if want > 0). */
static double *load(const char *name, size_t want)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/train-step/%s.npy", name);
    npy_t a;
    if (npy_open(&a, test_shared_path(rel))) {
        CHECK(0, "open %s", rel);
        return NULL;
    }
    double *v = malloc(sizeof(double) * (a.count + 1));
    npy_to_f64(&a, 0, a.count, v);
    CHECK(want == 0 || a.count == want, "%s: %zu elements, expected %zu", rel, a.count, want);
    npy_close(&a);
    return v;
}

/* max|got - want| / max|want| over a tensor, printed; checked at tol. */
static double rel_err_tol(const char *label, const double *got, const double *want, size_t n,
                          double tol)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        e = d > e || isnan(d) ? d : e;
        m = fabs(want[i]) > m ? fabs(want[i]) : m;
    }
    double r = m > 0 ? e / m : e;
    printf("  %-28s n=%-5zu worst |diff| / max|ref| = %.3e\n", label, n, r);
    CHECK(r <= tol, "%s: relative error %.3e > %g", label, r, tol);
    return r;
}

static double rel_err(const char *label, const double *got, const double *want, size_t n)
{
    return rel_err_tol(label, got, want, n, TOL);
}

static double maxabs(const double *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/* conv1.bias feeds batch norm, which removes any per-channel constant, so
 * its exact gradient is 0: the reference holds float64 rounding noise
 * (~1e-17) and we hold float32 noise (a sum of 1536 terms cancelling
 * exactly, observed ~3e-10), for which "relative to max-abs" means nothing.
 * Such a gradient (reference max-abs < 1e-12) is checked absolutely at
 * 1e-7, and its update - weight decay alone, ~1e-7 - relatively at 5e-3
 * (lr times our noise is ~1e-3 of it).  The other tensors keep 1e-4. */
#define ZERO_GRAD 1e-12
#define ZERO_GRAD_ATOL 1e-7
#define ZERO_GRAD_UPDATE_TOL 5e-3

static void f2d(double *d, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
}

typedef struct {
    const char *name;
    float *p; /* in the network */
    size_t n;
} tensor;

/* the 12 tensors: weights and biases of each layer, bn running stats */
static int tensors(net_t *net, tensor *T, int stats)
{
    static char names_[2][16][64];
    char (*names)[64] = names_[stats];
    int k = 0;
    for (int i = 0; i < net->nlayers; i++) {
        net_layer *L = &net->layers[i];
        if (!net_has_params(L))
            continue;
        const char *nm = L->def->name;
        if (stats && L->def->kind != NET_BATCHNORM)
            continue;
        float *p[2] = {stats ? L->rmean : L->wt, stats ? L->rvar : L->bias};
        const char *suf[2] = {stats ? "running_mean" : "weight", stats ? "running_var" : "bias"};
        size_t cnt[2] = {stats ? (size_t)L->c : L->nweights, (size_t)L->c};
        for (int j = 0; j < 2; j++) {
            snprintf(names[k], sizeof names[k], "%s.%s", nm, suf[j]);
            T[k] = (tensor){names[k], p[j], cnt[j]};
            k++;
        }
    }
    return k;
}

static void compare_logits(const char *label, const float *z, const char *file, size_t n)
{
    double *want = load(file, n), got[64];
    f2d(got, z, n);
    if (want)
        rel_err(label, got, want, n);
    free(want);
}

/* One step: logits, loss, gradients, then the deltas of params and stats. */
static void step(net_t *net, tr_net *t, const float *x, const int *lab, int n, int k,
                 const double *loss_ref)
{
    char f[128], lab_s[128];
    tensor P[16], S[16];
    int np = tensors(net, P, 0), ns = tensors(net, S, 1);
    snprintf(f, sizeof f, "step%d.logits", k);
    tr_forward(t, x, n, 1);
    compare_logits(f, t->y[net->nlayers - 1], f, (size_t)n * 5);
    double loss = tr_loss(t, lab, n, NULL);
    printf("  step %d loss %.9f reference %.9f\n", k, loss, loss_ref[k - 1]);
    CHECK(fabs(loss - loss_ref[k - 1]) <= TOL * fabs(loss_ref[k - 1]), "loss step %d", k);
    tr_backward(t, x, n);
    /* states before the update, from our own previous step */
    double *before[32];
    int zero[32] = {0};
    for (int i = 0; i < np + ns; i++) {
        tensor *T = i < np ? &P[i] : &S[i - np];
        snprintf(f, sizeof f, "step%d.grad.%s", k, T->name);
        if (i < np) {
            double *g = malloc(sizeof(double) * T->n), *want = load(f, T->n);
            f2d(g, t->grad + (T->p - net->params), T->n);
            snprintf(lab_s, sizeof lab_s, "grad %d %s", k, T->name);
            zero[i] = want && maxabs(want, T->n) < ZERO_GRAD;
            if (zero[i]) {
                double m = maxabs(g, T->n);
                printf("  %-28s n=%-5zu exact zero: max |ours| = %.3e\n", lab_s, T->n, m);
                CHECK(m <= ZERO_GRAD_ATOL, "%s: %.3e", lab_s, m);
            } else if (want)
                rel_err(lab_s, g, want, T->n);
            free(g), free(want);
        }
        before[i] = malloc(sizeof(double) * T->n);
        f2d(before[i], T->p, T->n);
    }
    /* the running statistics were already updated by the forward pass: take
     * "before" for them from the reference's previous state */
    for (int i = np; i < np + ns; i++) {
        if (k == 1)
            snprintf(f, sizeof f, "init.%s", S[i - np].name);
        else
            snprintf(f, sizeof f, "step%d.%s", k - 1, S[i - np].name);
        double *prev = load(f, S[i - np].n);
        if (prev)
            memcpy(before[i], prev, sizeof(double) * S[i - np].n);
        free(prev);
    }
    tr_sgd(t, 0.05, 0.9, 0.0005);
    for (int i = 0; i < np + ns; i++) {
        tensor *T = i < np ? &P[i] : &S[i - np];
        if (k == 1)
            snprintf(f, sizeof f, "init.%s", T->name);
        else
            snprintf(f, sizeof f, "step%d.%s", k - 1, T->name);
        double *ref0 = load(f, T->n);
        snprintf(f, sizeof f, "step%d.%s", k, T->name);
        double *ref1 = load(f, T->n);
        double *dg = malloc(sizeof(double) * T->n), *dw = malloc(sizeof(double) * T->n);
        for (size_t j = 0; ref0 && ref1 && j < T->n; j++) {
            dg[j] = T->p[j] - before[i][j];
            dw[j] = ref1[j] - ref0[j];
        }
        snprintf(lab_s, sizeof lab_s, "update %d %s", k, T->name);
        if (ref0 && ref1)
            rel_err_tol(lab_s, dg, dw, T->n, zero[i] ? ZERO_GRAD_UPDATE_TOL : TOL);
        free(ref0), free(ref1), free(dg), free(dw), free(before[i]);
    }
}

static void test_fixture(void)
{
    test_group("train-step fixture: logits, gradients, updates (PyTorch SGD, batch norm)");
    net_t net;
    int nd = (int)(sizeof fixture_defs / sizeof *fixture_defs);
    CHECK(net_create(&net, "fixture", fixture_defs, nd, 3, 16, 16) == 0, "net_create");
    tensor P[16], S[16];
    int np = tensors(&net, P, 0), ns = tensors(&net, S, 1);
    CHECK(np == 8 && ns == 2, "tensor count %d %d", np, ns);
    for (int i = 0; i < np + ns; i++) {
        tensor *T = i < np ? &P[i] : &S[i - np];
        char f[128];
        snprintf(f, sizeof f, "init.%s", T->name);
        double *v = load(f, T->n);
        for (size_t j = 0; v && j < T->n; j++)
            T->p[j] = (float)v[j];
        free(v);
    }
    const int n = 6;
    double *xd = load("input", (size_t)n * 3 * 16 * 16), *ld = load("labels", n);
    float *x = malloc(sizeof(float) * n * 3 * 16 * 16);
    int lab[6];
    for (int i = 0; xd && i < n * 3 * 16 * 16; i++)
        x[i] = (float)xd[i];
    for (int i = 0; ld && i < n; i++)
        lab[i] = (int)ld[i];
    const double loss_ref[2] = {1.5533467214333054, 1.3536026188267025};
    tr_net t;
    CHECK(tr_alloc(&t, &net, n, 0) == 0, "tr_alloc");
    step(&net, &t, x, lab, n, 1, loss_ref);
    step(&net, &t, x, lab, n, 2, loss_ref);
    /* evaluation mode through the inference path (net_forward) */
    net_ws *ws = net_ws_alloc(&net, net.nlayers - 1);
    float z[30];
    net_forward(&net, ws, x, n, net.nlayers - 1, z);
    compare_logits("eval.logits (net_forward)", z, "eval.logits", 30);
    tr_forward(&t, x, n, 0);
    compare_logits("eval.logits (tr_forward)", t.y[net.nlayers - 1], "eval.logits", 30);
    net_ws_free(ws);
    tr_free(&t);
    net_free(&net);
    free(xd), free(ld), free(x);
}

/* Save after two steps, load into a fresh network and trainer: parameters,
 * statistics, momentum and the dropout generator come back bit for bit, so
 * evaluation logits and the next training step are identical. */
static void test_checkpoint(void)
{
    test_group("checkpoint round trip");
    tr_table tab;
    memset(&tab, 0, sizeof tab);
    const char *specs[][2] = {{"conv1", "conv cout=4 k=3 pad=1 relu=1"}, {"bn1", "batchnorm"},
                              {"pool1", "maxpool k=2 stride=2"}, {"drop", "dropout"},
                              {"fc", "fc cout=3"}};
    for (int i = 0; i < 5; i++)
        CHECK(tr_table_add(&tab, specs[i][0], specs[i][1]) == 0, "table %s", specs[i][0]);
    net_t a, b;
    tr_net ta, tb;
    CHECK(!net_create(&a, "a", tab.defs, tab.n, 3, 8, 8) && !net_init_he(&a, 5) &&
              !tr_alloc(&ta, &a, 4, 0),
          "setup");
    ta.dropout = 0.5;
    float x[4 * 3 * 64];
    int lab[4] = {0, 1, 2, 1};
    for (int i = 0; i < 4 * 3 * 64; i++)
        x[i] = (float)sin(0.37 * i);
    for (int s = 0; s < 2; s++) {
        tr_forward(&ta, x, 4, 1);
        tr_loss(&ta, lab, 4, NULL);
        tr_backward(&ta, x, 4);
        tr_sgd(&ta, 0.1, 0.9, 1e-3);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ckpt", test_tmpdir());
    tr_ckpt_info info = {2, 1.5, 0.25, NAN}, got;
    CHECK(tr_ckpt_save(dir, &a, &ta, NULL, &info) == 0, "save: %s", nd_errmsg());
    tr_table tb_tab;
    int has = 0;
    CHECK(tr_ckpt_load(dir, &tb_tab, &b, &got, &has) == 0, "load: %s", nd_errmsg());
    CHECK(has && got.iteration == 2 && got.train_loss == 1.5 && got.train_acc == 0.25 &&
              isnan(got.val_acc),
          "info round trip");
    CHECK(!tr_alloc(&tb, &b, 4, 0) && !tr_ckpt_load_state(dir, &tb, NULL), "state: %s",
          nd_errmsg());
    tb.dropout = 0.5;
    CHECK(b.nparams == a.nparams && !memcmp(a.params, b.params, sizeof(float) * a.nparams),
          "parameters identical");
    CHECK(!memcmp(a.stats, b.stats, sizeof(float) * a.nstats), "running statistics identical");
    CHECK(tb.have_mom && !memcmp(ta.mom, tb.mom, sizeof(float) * a.nparams), "momentum identical");
    tr_forward(&ta, x, 4, 0);
    tr_forward(&tb, x, 4, 0);
    CHECK(!memcmp(ta.y[a.nlayers - 1], tb.y[b.nlayers - 1], sizeof(float) * 12),
          "evaluation logits identical");
    for (tr_net *t = &ta; t; t = t == &ta ? &tb : NULL) {
        tr_forward(t, x, 4, 1);
        tr_loss(t, lab, 4, NULL);
        tr_backward(t, x, 4);
        tr_sgd(t, 0.1, 0.9, 1e-3);
    }
    CHECK(!memcmp(a.params, b.params, sizeof(float) * a.nparams),
          "the next training step (dropout drawn from the restored generator) is identical");
    /* a weights-only checkpoint (no state.txt) loads too */
    char *st = nd_path_join(dir, "state.txt");
    unlink(st);
    free(st);
    net_t c;
    tr_table tc;
    CHECK(tr_ckpt_load(dir, &tc, &c, &got, &has) == 0 && !has && got.iteration == 0,
          "weights-only checkpoint");
    net_free(&c), tr_table_free(&tc);
    tr_free(&ta), tr_free(&tb);
    net_free(&a), net_free(&b);
    tr_table_free(&tab), tr_table_free(&tb_tab);
}

/* One table drives inference and training: SqueezeNet's training-mode
 * forward pass (it has no batch norm or dropout) gives net_forward's logits,
 * and its backward pass runs.  Both use net_conv per image; BLAS threading
 * may round differently, hence 1e-5 rather than bit equality. */
static void test_squeezenet_table(void)
{
    test_group("SqueezeNet's table in the trainer");
    net_t net;
    tr_net t;
    CHECK(!sqz_create(&net) && !net_init_he(&net, 2) && !tr_alloc(&t, &net, 2, 0), "setup");
    size_t in = 3 * 227 * 227;
    float *x = malloc(sizeof(float) * 2 * in), z[2000];
    for (size_t i = 0; i < 2 * in; i++)
        x[i] = (float)(40 * sin(0.001 * (double)i));
    net_ws *ws = net_ws_alloc(&net, net.nlayers - 1);
    net_forward(&net, ws, x, 2, net.nlayers - 1, z);
    tr_forward(&t, x, 2, 1);
    double got[2000], want[2000];
    f2d(got, t.y[net.nlayers - 1], 2000);
    f2d(want, z, 2000);
    rel_err("squeezenet logits, train vs inference", got, want, 2000);
    int lab[2] = {3, 7};
    double loss = tr_loss(&t, lab, 2, NULL);
    tr_backward(&t, x, 2);
    int finite = isfinite(loss);
    double g2 = 0;
    for (size_t i = 0; i < net.nparams; i++)
        finite &= isfinite(t.grad[i]), g2 += (double)t.grad[i] * t.grad[i];
    printf("  squeezenet loss %.4f, |grad| %.3e\n", loss, sqrt(g2));
    CHECK(finite && g2 > 0, "squeezenet backward: finite nonzero gradient");
    net_ws_free(ws);
    free(x);
    tr_free(&t);
    net_free(&net);
}

int main(void)
{
    test_squeezenet_table();
    test_fixture();
    test_checkpoint();
    return test_summary();
}
