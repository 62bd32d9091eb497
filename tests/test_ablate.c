/* test_ablate.c - switching units off (models/ablate.h) on SqueezeNet v1.0
 * against fixtures/squeezenet-forward: no unit = the intact logits (bytes);
 * one unit = the fixture's fire9 with that channel zeroed, run through
 * conv_final + ReLU + global average in a slow obvious loop; rotated
 * directions at alpha 0 = the units (bytes), at alpha 1 = rotate, zero,
 * rotate back (double loop); unit-list checks and random draws. */
#include "core/blas.h"
#include "core/err.h"
#include "core/npy.h"
#include "linalg/rotation.h"
#include "models/ablate.h"
#include "models/net.h"
#include "models/squeezenet.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIMG 3
#define K 512
#define HW 169 /* fire9: 13 x 13 */
#define NCLS 1000

static net_t net;
static int L9, LAST;
static float *act;    /* our fire9 [3][512][169] from input.npy */
static float *intact; /* our logits [3][1000] from the full forward pass */

static float *load(const char *rel, size_t want)
{
    npy_t a;
    if (npy_open(&a, test_shared_path(rel)) || a.count != want)
        return NULL;
    float *v = malloc(sizeof(float) * want);
    npy_to_f32(&a, 0, want, v);
    npy_close(&a);
    return v;
}

/* max |got - want| / max |want| (NaN sticks) */
static double rel_err(const float *got, const double *want, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= e))
            e = d;
        m = fabs(want[i]) > m ? fabs(want[i]) : m;
    }
    return e / (m > 0 ? m : 1);
}

/* conv_final (1x1, pad 1: a 15 x 15 output whose border sees only zeros)
 * + ReLU + global average, in double, from a fire9 map with unit u zeroed
 * (u < 0: none). */
static void slow_rest(const float *f9, int u, double *out)
{
    const net_layer *C = &net.layers[net_find(&net, "conv_final")];
    for (int o = 0; o < NCLS; o++) {
        double s = 0;
        for (int y = 0; y < 15; y++)
            for (int x = 0; x < 15; x++) {
                double z = C->bias[o];
                if (y >= 1 && y <= 13 && x >= 1 && x <= 13)
                    for (int c = 0; c < K; c++)
                        if (c != u)
                            z += (double)C->wt[(size_t)o * K + c] * f9[(size_t)c * HW + (y - 1) * 13 + (x - 1)];
                s += z > 0 ? z : 0;
            }
        out[o] = s / 225.0;
    }
}

static int run(const abl_set *s, float *out, int threads)
{
    abl_runner r = {&net, L9, LAST, NIMG, act, threads};
    return abl_run(&r, s, out);
}

static void test_intact(void)
{
    test_group("no unit removed = the intact logits, byte for byte");
    abl_set s;
    float *got = malloc(sizeof(float) * NIMG * NCLS);
    CHECK(abl_units(&s, K, NULL, 0, "none") == 0, "empty set: %s", nd_errmsg());
    CHECK(run(&s, got, 0) == 0, "run: %s", nd_errmsg());
    size_t diff = 0;
    for (size_t i = 0; i < NIMG * NCLS; i++)
        diff += memcmp(&got[i], &intact[i], sizeof(float)) != 0;
    CHECK(diff == 0, "%zu of %d logits differ from the full forward pass", diff, NIMG * NCLS);
    printf("  %zu of %d logits differ (want 0)\n", diff, NIMG * NCLS);
    free(got);
}

/* the unit with the largest mean activation in image 0 of the fixture:
 * removing it must move the logits well beyond the tolerance */
static int strong_unit(const float *f9)
{
    int b = 0;
    double bs = -1;
    for (int c = 0; c < K; c++) {
        double s = 0;
        for (int p = 0; p < HW; p++)
            s += f9[(size_t)c * HW + p];
        if (s > bs)
            bs = s, b = c;
    }
    return b;
}

static void test_one_unit(void)
{
    test_group("one unit removed = the fixture's fire9 with that channel zeroed, slow rest");
    float *f9 = load("fixtures/squeezenet-forward/fire9.npy", (size_t)NIMG * K * HW);
    float *lg = load("fixtures/squeezenet-forward/logits.npy", (size_t)NIMG * NCLS);
    CHECK(f9 && lg, "fixture fire9.npy and logits.npy");
    if (!f9 || !lg)
        return;
    int units[3] = {strong_unit(f9), 0, K - 1};
    double ref[NCLS], worst = 0, worst_ref = 0, moved = 0;
    float *got = malloc(sizeof(float) * NIMG * NCLS);
    /* the slow loop itself against the fixture's own logits (no unit off) */
    for (int i = 0; i < NIMG; i++) {
        slow_rest(f9 + (size_t)i * K * HW, -1, ref);
        double e = rel_err(lg + (size_t)i * NCLS, ref, NCLS);
        worst_ref = e > worst_ref ? e : worst_ref;
    }
    CHECK(worst_ref <= 1e-5, "slow rest of the fixture's fire9 vs its logits: %.3g", worst_ref);
    for (int t = 0; t < 3; t++) {
        abl_set s;
        CHECK(abl_units(&s, K, &units[t], 1, "unit") == 0, "set: %s", nd_errmsg());
        CHECK(run(&s, got, 0) == 0, "run: %s", nd_errmsg());
        for (int i = 0; i < NIMG; i++) {
            slow_rest(f9 + (size_t)i * K * HW, units[t], ref);
            double e = rel_err(got + (size_t)i * NCLS, ref, NCLS);
            worst = e > worst ? e : worst;
            if (t == 0) {
                double d = 0;
                for (int o = 0; o < NCLS; o++)
                    d = fmax(d, fabs(intact[(size_t)i * NCLS + o] - got[(size_t)i * NCLS + o]));
                moved = i == 0 || d < moved ? d : moved;
            }
        }
        abl_free(&s);
    }
    /* our forward pass differs from the reference by ~1e-6 relative
     * (test_forward); the tolerance leaves room for float32 sums */
    CHECK(worst <= 1e-4, "ablated logits vs reference: worst rel %.3g (tol 1e-4)", worst);
    double mx = 0;
    for (int i = 0; i < NCLS; i++)
        mx = fmax(mx, fabs(lg[i]));
    /* the comparison can tell ablated from intact: the change is far above
     * the error (1e-4 itself would be too coarse for one of 512 units) */
    CHECK(moved > 100 * worst * mx, "removing unit %d moves a logit by %.3g (>> error %.3g)",
          units[0] + 1, moved, worst * mx);
    printf("  units %d, 1, %d: worst rel error %.3g (tol 1e-4); slow loop vs fixture logits %.3g;"
           " unit %d moves the logits by at least %.3g\n", units[0] + 1, K, worst, worst_ref,
           units[0] + 1, moved);
    free(got), free(f9), free(lg);
}

static void test_rotated(void)
{
    test_group("rotated directions: alpha 0 = the units (bytes); alpha 1 = rotate, zero, back");
    double *Q = malloc(sizeof(double) * K * K), *R = malloc(sizeof(double) * K * K);
    CHECK(rot_haar(Q, K, 3) == 0 && rot_power(R, Q, K, 0.0) == 0, "Q^0: %s", nd_errmsg());
    int u[4] = {7, 100, 300, 511};
    abl_set su, sd;
    float *a = malloc(sizeof(float) * NIMG * NCLS), *b = malloc(sizeof(float) * NIMG * NCLS);
    CHECK(abl_units(&su, K, u, 4, "u") == 0 && abl_dirs(&sd, K, R, u, 4, "d") == 0, "sets");
    CHECK(run(&su, a, 0) == 0 && run(&sd, b, 0) == 0, "runs: %s", nd_errmsg());
    CHECK(!memcmp(a, b, sizeof(float) * NIMG * NCLS), "alpha 0 directions = units, logits bytes");
    float *x = malloc(sizeof(float) * K * HW), *y = malloc(sizeof(float) * K * HW), sc[4 * HW];
    memcpy(x, act, sizeof(float) * K * HW), memcpy(y, act, sizeof(float) * K * HW);
    abl_apply(&su, x, HW, NULL), abl_apply(&sd, y, HW, sc);
    CHECK(!memcmp(x, y, sizeof(float) * K * HW), "alpha 0: the ablated activations, bytes");
    abl_free(&sd);
    /* alpha 1: r = Q a, zero r_u, a' = Q^T r, in double */
    CHECK(abl_dirs(&sd, K, Q, u, 4, "d") == 0, "set");
    memcpy(y, act, sizeof(float) * K * HW);
    abl_apply(&sd, y, HW, sc);
    double worst = 0, m = 0, *r = malloc(sizeof(double) * K);
    for (int p = 0; p < HW; p++) {
        for (int i = 0; i < K; i++) {
            r[i] = 0;
            for (int j = 0; j < K; j++)
                r[i] += Q[(size_t)i * K + j] * act[(size_t)j * HW + p];
        }
        for (int t = 0; t < 4; t++)
            r[u[t]] = 0;
        for (int j = 0; j < K; j++) {
            double v = 0;
            for (int i = 0; i < K; i++)
                v += Q[(size_t)i * K + j] * r[i];
            worst = fmax(worst, fabs(v - y[(size_t)j * HW + p]));
            m = fmax(m, fabs(act[(size_t)j * HW + p]));
        }
    }
    CHECK(worst <= 1e-5 * m, "alpha 1: worst |ours - rotate/zero/back| %.3g (tol 1e-5 x max %.3g)",
          worst, m);
    printf("  alpha 0: bytes equal; alpha 1: worst error %.3g, %.2g of the largest activation\n",
           worst, worst / m);
    free(Q), free(R), free(a), free(b), free(x), free(y), free(r);
    abl_free(&su), abl_free(&sd);
}

static void test_lists(void)
{
    test_group("unit lists and draws");
    abl_set s;
    int bad1[2] = {3, 512}, bad2[3] = {3, 9, 3}, neg[1] = {-1};
    CHECK(abl_units(&s, K, bad1, 2, "--units") == -1 && strstr(nd_errmsg(), "unit 513 is out of range"),
          "out of range: %s", nd_errmsg());
    CHECK(abl_units(&s, K, neg, 1, "--units") == -1 && strstr(nd_errmsg(), "unit 0 is out of range"),
          "below range: %s", nd_errmsg());
    CHECK(abl_units(&s, K, bad2, 3, "--units") == -1 && strstr(nd_errmsg(), "unit 4 is listed twice"),
          "duplicate: %s", nd_errmsg());
    int a[4], b[4], c[4], count[16] = {0};
    CHECK(abl_random_units(K, 4, 5, a) == 0 && abl_random_units(K, 4, 5, b) == 0 &&
              abl_random_units(K, 4, 6, c) == 0, "draws");
    CHECK(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a), "same seed same set, another differs");
    CHECK(a[0] < a[1] && a[1] < a[2] && a[2] < a[3] && a[0] >= 0 && a[3] < K, "sorted, distinct, in range");
    for (unsigned long sd = 0; sd < 4000; sd++) {
        abl_random_units(16, 4, sd, a);
        for (int t = 0; t < 4; t++)
            count[a[t]]++;
    }
    /* each unit: 1000 expected, sd sqrt(4000 * 0.25 * 0.75) = 27.4; 5 sd */
    int worst = 0;
    for (int u = 0; u < 16; u++)
        worst = abs(count[u] - 1000) > worst ? abs(count[u] - 1000) : worst;
    CHECK(worst <= 137, "uniform draws: worst count off by %d of 1000 (5 sd = 137)", worst);
    double sc[6] = {0.1, 0.5, 0.2, 0.5, 0.0, 0.3};
    int top[3];
    abl_top_units(sc, 6, 3, top);
    CHECK(top[0] == 1 && top[1] == 3 && top[2] == 5, "top 3 by score, ties lower first: %d %d %d",
          top[0], top[1], top[2]);
    printf("  random draws: worst count off by %d of 1000 expected\n", worst);
}

static void test_threads(void)
{
    test_group("1 and 2 threads give the same bytes");
    int u[2] = {5, 77};
    abl_set s;
    float *a = malloc(sizeof(float) * NIMG * NCLS), *b = malloc(sizeof(float) * NIMG * NCLS);
    CHECK(abl_units(&s, K, u, 2, "u") == 0 && run(&s, a, 1) == 0 && run(&s, b, 2) == 0, "runs");
    CHECK(!memcmp(a, b, sizeof(float) * NIMG * NCLS), "logits identical");
    abl_free(&s), free(a), free(b);
}

int main(void)
{
    CHECK(sqz_create(&net) == 0, "create: %s", nd_errmsg());
    CHECK(sqz_load_dc(&net, test_shared_path("models/squeezenet-v1.0-deep-compression/"
                                             "compressed_SqueezeNet.net"), NULL, NULL) == 0,
          "weights: %s", nd_errmsg());
    L9 = net_find(&net, "fire9"), LAST = net.nlayers - 1;
    float *x = load("fixtures/squeezenet-forward/input.npy", (size_t)NIMG * 3 * 227 * 227);
    CHECK(x != NULL, "input.npy");
    if (!x)
        return test_summary();
    act = malloc(sizeof(float) * NIMG * K * HW);
    intact = malloc(sizeof(float) * NIMG * NCLS);
    net_ws *ws = net_ws_alloc(&net, LAST);
    int blas = nd_blas_serial_begin(); /* abl_run's workers run BLAS on one thread too */
    net_forward(&net, ws, x, NIMG, L9, act);
    net_forward(&net, ws, x, NIMG, LAST, intact);
    nd_blas_serial_end(blas);
    net_ws_free(ws);
    test_intact();
    test_one_unit();
    test_rotated();
    test_lists();
    test_threads();
    free(x), free(act), free(intact);
    net_free(&net);
    return test_summary();
}
