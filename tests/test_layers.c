/* test_layers.c - nd_dissect_layers (two streaming passes, several layers
 * at once, no activation files) gives exactly what nd_dissect gives on the
 * same activations read from files: thresholds, every tally count, the
 * labels and the detector counts.  Two "layers" from the NetDissect-Lite
 * mini fixture (120 images, 256 units): the fixture's features, and a
 * second layer made from them (units reversed, scaled, 128 of them) so
 * the layers differ; blocks of 7 images so blocks do not divide N. */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/layers.h"
#include "core/npy.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *x; /* fixture [N][256][169] */
    size_t K, hw;
    int calls;
} src_ctx;

/* layer 1 unit u = 2 * layer-0 unit (255 - u), for u < 128 */
static void make_layer1(const float *x0, size_t n, size_t K0, size_t hw, float *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < K0 / 2; u++)
            for (size_t p = 0; p < hw; p++)
                out[(i * (K0 / 2) + u) * hw + p] = 2.0f * x0[(i * K0 + (K0 - 1 - u)) * hw + p];
}

static int run(void *ctx, size_t i0, size_t n, float *const *out)
{
    src_ctx *c = ctx;
    c->calls++;
    memcpy(out[0], c->x + i0 * c->K * c->hw, n * c->K * c->hw * sizeof(float));
    make_layer1(c->x + i0 * c->K * c->hw, n, c->K, c->hw, out[1]);
    return 0;
}

static int same_result(const nd_result *a, const nd_result *b, const char *what)
{
    size_t K = a->K, L = a->tally.L, C = a->tally.C;
    int thr = !memcmp(a->thresholds, b->thresholds, K * sizeof(double));
    int tal = !memcmp(a->tally.G, b->tally.G, L * sizeof(int64_t)) &&
              !memcmp(a->tally.I, b->tally.I, K * L * sizeof(int64_t)) &&
              !memcmp(a->tally.A, b->tally.A, K * C * sizeof(int64_t)) &&
              !memcmp(a->tally.M, b->tally.M, K * sizeof(int64_t));
    int lab = !memcmp(a->unit_label, b->unit_label, K * sizeof(int)) &&
              !memcmp(a->unit_score, b->unit_score, K * sizeof(double));
    int cnt = a->counts.detectors == b->counts.detectors &&
              a->counts.unique_percat == b->counts.unique_percat &&
              a->counts.unique_toplabel == b->counts.unique_toplabel;
    CHECK(thr && tal && lab && cnt,
          "%s: thresholds %s, tallies %s, labels %s, counts %s (%d/%d/%d vs %d/%d/%d)", what,
          thr ? "same" : "DIFFER", tal ? "same" : "DIFFER", lab ? "same" : "DIFFER",
          cnt ? "same" : "DIFFER", a->counts.detectors, a->counts.unique_percat,
          a->counts.unique_toplabel, b->counts.detectors, b->counts.unique_percat,
          b->counts.unique_toplabel);
    return thr && tal && lab && cnt;
}

int main(void)
{
    broden *ds;
    npy_t a;
    const char *dir = test_shared_path("fixtures/netdissect-lite-mini/dataset");
    if (broden_open(&ds, dir, NULL) ||
        npy_open(&a, test_shared_path("fixtures/netdissect-lite-mini/features.npy"))) {
        CHECK(0, "fixture: %s", nd_errmsg());
        return test_summary();
    }
    size_t N = a.shape[0], K = a.shape[1], hw = a.shape[2] * a.shape[3];
    /* reference: both layers through nd_dissect from .npy files */
    nd_features f0, f1;
    nd_features_from_npy(&f0, &a);
    float *x1 = malloc(N * (K / 2) * hw * sizeof *x1);
    make_layer1(a.data, N, K, hw, x1);
    char p1[4200];
    snprintf(p1, sizeof p1, "%s/layer1.npy", test_tmpdir());
    size_t shape1[4] = {N, K / 2, a.shape[2], a.shape[3]};
    npy_t b;
    CHECK(npy_save(p1, NPY_F32, 4, shape1, x1) == 0 && npy_open(&b, p1) == 0, "layer 1 file");
    nd_features_from_npy(&f1, &b);

    for (int prof = 0; prof < 2; prof++) {
        test_group(prof ? "netdissect-lite profile" : "netdissect profile");
        nd_options o[2];
        for (int l = 0; l < 2; l++) {
            nd_options_default(&o[l]);
            o[l].profile = prof ? ND_PROFILE_LITE : ND_PROFILE_NETDISSECT;
            o[l].field_offset = -64, o[l].field_size = 163, o[l].field_stride = 16;
            o[l].have_field = 1;
            o[l].threads = l + 1; /* 1 and 2 threads */
        }
        nd_result want[2], got[2];
        CHECK(nd_dissect(ds, &f0, &o[0], &want[0]) == 0 && nd_dissect(ds, &f1, &o[1], &want[1]) == 0,
              "reference: %s", nd_errmsg());
        src_ctx c = {a.data, K, hw, 0};
        nd_layer_source s = {.N = N, .nl = 2, .K = {K, K / 2}, .h = {a.shape[2], a.shape[2]},
                             .w = {a.shape[3], a.shape[3]}, .block = 7, .run = run, .ctx = &c};
        nd_progress none = {0};
        CHECK(nd_dissect_layers(ds, &s, o, got, none) == 0, "layers: %s", nd_errmsg());
        CHECK(c.calls == 2 * 18, "two passes of 18 blocks: %d calls", c.calls);
        same_result(&got[0], &want[0], "layer 0");
        same_result(&got[1], &want[1], "layer 1");
        CHECK(want[0].counts.detectors > 0, "the fixture has detectors (%d)", want[0].counts.detectors);
        for (int l = 0; l < 2; l++)
            nd_result_free(&want[l]), nd_result_free(&got[l]);
    }

    test_group("a failing source is an error");
    {
        nd_options o[1];
        nd_options_default(&o[0]);
        o[0].profile = ND_PROFILE_LITE;
        nd_result r[1];
        nd_layer_source s = {.N = N + 1, .nl = 1, .K = {K}, .h = {13}, .w = {13}, .block = 7,
                             .run = run, .ctx = NULL};
        nd_progress none = {0};
        CHECK(nd_dissect_layers(ds, &s, o, r, none) != 0 && strstr(nd_errmsg(), "index.csv"),
              "image count mismatch: %s", nd_errmsg());
    }
    free(x1);
    npy_close(&b);
    npy_close(&a);
    broden_free(ds);
    return test_summary();
}
