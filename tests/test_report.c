/* test_report.c - `dissect report` against obvious references:
 *  - rpt_topk equals a full sort of the per-image maxima (ties by index);
 *  - per-image maxima of the pass equal the obvious triple loop, and the
 *    tally's record of them (maxact.npy) equals both;
 *  - on the NetDissect-Lite mini fixture (dissected here), every sprite cell
 *    read back from its PNG is the image darkened exactly outside the
 *    dissection mask - recomputed here by up_mask_dense (full upsample,
 *    then compare) from the activations - with the mask edge drawn inside;
 *  - the report is byte-identical with 1 and 2 threads. */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/result.h"
#include "core/upsample.h"
#include "models/image.h"
#include "report/internal.h"
#include "report/report.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *sort_m;
static size_t sort_K, sort_u;
static int by_max(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    float x = sort_m[i * sort_K + sort_u], y = sort_m[j * sort_K + sort_u];
    if (x != y)
        return x > y ? -1 : 1;
    return (i > j) - (i < j);
}

static void test_topk(void)
{
    test_group("top-k equals a full ranking of the per-image maxima");
    size_t N = 300, K = 7;
    float *m = malloc(N * K * sizeof *m);
    unsigned s = 12345;
    /* few distinct values, so ties are common and the tie rule is tested */
    for (size_t i = 0; i < N * K; i++)
        s = s * 1103515245u + 12345u, m[i] = (float)((s >> 16) % 40) / 8.0f;
    size_t all[300], top[300];
    int bad = 0;
    for (size_t u = 0; u < K; u++)
        for (size_t k = 1; k <= N; k += k < 20 ? 1 : 97) {
            for (size_t i = 0; i < N; i++)
                all[i] = i;
            sort_m = m, sort_K = K, sort_u = u;
            qsort(all, N, sizeof *all, by_max);
            rpt_topk(m, N, K, u, k, top);
            bad += memcmp(all, top, k * sizeof *top) != 0;
        }
    CHECK(bad == 0, "%d (unit, k) cases differ from the full sort", bad);
    free(m);
}

typedef struct {
    nd_features f;
    npy_t a;
    broden *ds;
    nd_options o;
    char res[4096];
} fixture;

static int open_fixture(fixture *x)
{
    memset(x, 0, sizeof *x);
    nd_options_default(&x->o);
    x->o.field_offset = -64, x->o.field_size = 163, x->o.field_stride = 16, x->o.have_field = 1;
    if (npy_open(&x->a, test_shared_path("fixtures/netdissect-lite-mini/features.npy")) ||
        nd_features_from_npy(&x->f, &x->a) ||
        broden_open(&x->ds, test_shared_path("fixtures/netdissect-lite-mini/dataset"), NULL))
        return -1;
    nd_result r;
    snprintf(x->res, sizeof x->res, "%s/mini", test_tmpdir());
    int rc = nd_dissect(x->ds, &x->f, &x->o, &r) || nd_write_result(&r, x->ds, x->res, NULL);
    nd_result_free(&r);
    return rc ? -1 : 0;
}

static void test_maxact(const fixture *x, float *m)
{
    test_group("per-image maxima");
    CHECK(rpt_maxact_pass(&x->f, 2, m) == 0, "pass: %s", nd_errmsg());
    size_t hw = x->f.h * x->f.w, bad = 0;
    const float *v = x->a.data;
    for (size_t i = 0; i < x->f.N; i++)
        for (size_t u = 0; u < x->f.K; u++) {
            float mx = v[(i * x->f.K + u) * hw];
            for (size_t p = 0; p < hw; p++)
                mx = v[(i * x->f.K + u) * hw + p] > mx ? v[(i * x->f.K + u) * hw + p] : mx;
            bad += mx != m[i * x->f.K + u];
        }
    CHECK(bad == 0, "%zu of %zu maxima differ from the obvious loop", bad, x->f.N * x->f.K);
    /* the tally's record, written beside the result */
    char path[4200];
    snprintf(path, sizeof path, "%s/maxact.npy", x->res);
    float *t = malloc(x->f.N * x->f.K * sizeof *t);
    CHECK(rpt_maxact_load(path, x->f.N, x->f.K, t) == 0, "maxact.npy: %s", nd_errmsg());
    bad = 0;
    for (size_t q = 0; q < x->f.N * x->f.K; q++)
        bad += t[q] != m[q];
    CHECK(bad == 0, "%zu of %zu maxima of the tally (maxact.npy) differ from the pass", bad, x->f.N * x->f.K);
    /* images without labels in the selected categories are not tallied,
     * but their maxima are recorded too (texture: 20 of the 120 images) */
    broden *tex;
    nd_result r;
    size_t nodata = 0;
    bad = 0;
    if (broden_open(&tex, test_shared_path("fixtures/netdissect-lite-mini/dataset"), "texture") == 0 &&
        nd_dissect(tex, &x->f, &x->o, &r) == 0) {
        for (size_t i = 0; i < x->f.N; i++)
            nodata += !broden_image_has_data(tex, i);
        for (size_t q = 0; q < x->f.N * x->f.K; q++)
            bad += r.maxact[q] != m[q];
        nd_result_free(&r);
        broden_free(tex);
    }
    CHECK(bad == 0 && nodata > 0, "texture only (%zu images without labels): %zu maxima differ", nodata, bad);
    free(t);
}

/* Compare one cell of a sprite with the expected drawing; returns the
 * number of wrong pixels and adds the mask's size to *masked. */
static size_t check_cell(const fixture *x, const img_u8 *sp, int x0, size_t i, size_t u, double thr, size_t *masked)
{
    int ih, iw, sh, sw;
    broden_image_size(x->ds, i, &ih, &iw, &sh, &sw);
    size_t hw = x->f.h * x->f.w, wrong = 0;
    up_plan p;
    up_plan_nd(&p, (int)x->f.h, (int)x->f.w, sh, sw, iw, -64, 163, 16);
    int *idx = malloc(sizeof *idx * (size_t)(sh * sw));
    float *out = malloc(sizeof *out * (size_t)(sh * sw)), *tmp = malloc(sizeof *tmp * (size_t)(sh * sw));
    unsigned char *mask = calloc((size_t)(sh * sw), 1);
    int n = up_mask_dense(&p, (const float *)x->a.data + (i * x->f.K + u) * hw, (float)thr, idx, out, tmp);
    for (int q = 0; q < n; q++)
        mask[idx[q]] = 1;
    *masked += (size_t)n;
    /* the photograph at label resolution (scale 1 for 113 x 113 maps) */
    char path[4200];
    snprintf(path, sizeof path, "%s/images/%s", test_shared_path("fixtures/netdissect-lite-mini/dataset"),
             broden_image_name(x->ds, i));
    img_u8 im;
    unsigned char *th = malloc((size_t)(sh * sw * 3));
    if (img_load_rgb(&im, path) == 0) {
        img_resize_u8(th, sw, sh, im.px, im.w, im.h, 3);
        img_free(&im);
    }
    for (int y = 0; y < sh; y++)
        for (int xx = 0; xx < sw; xx++) {
            const unsigned char *s = sp->px + ((size_t)y * (size_t)sp->w + (size_t)(x0 + xx)) * 3;
            const unsigned char *t = th + ((size_t)y * (size_t)sw + (size_t)xx) * 3;
            int in = mask[y * sw + xx], edge_px = !memcmp(s, RPT_EDGE, 3), ok = 1;
            for (int c = 0; c < 3; c++)
                ok &= in ? (edge_px || s[c] == t[c]) : s[c] == rpt_dark(t[c]);
            wrong += !ok;
        }
    up_plan_free(&p);
    free(idx), free(out), free(tmp), free(mask), free(th);
    return wrong;
}

static void test_sprites(const fixture *x, const float *m, const char *rep)
{
    test_group("sprites read back: darkened exactly outside the dissection mask");
    double *thr;
    size_t K, k = 4;
    char path[8400];
    snprintf(path, sizeof path, "%s/thresholds.npy", x->res);
    if (npy_load_f64(path, &thr, &K)) {
        CHECK(0, "%s", nd_errmsg());
        return;
    }
    size_t wrong = 0, masked = 0, cells = 0, *top = malloc(k * sizeof *top);
    /* every 9th unit keeps the test short; all cells of each */
    for (size_t u = 0; u < K; u += 9) {
        snprintf(path, sizeof path, "%s/sprites/u%04zu.png", rep, u + 1);
        img_u8 sp;
        if (img_load_rgb(&sp, path)) {
            CHECK(0, "%s", nd_errmsg());
            break;
        }
        rpt_topk(m, x->f.N, K, u, k, top);
        for (size_t s = 0; s < k; s++, cells++)
            wrong += check_cell(x, &sp, (int)s * (113 + RPT_GAP), top[s], u, thr[u], &masked);
        img_free(&sp);
    }
    CHECK(wrong == 0 && masked > 0, "%zu wrong pixels in %zu cells (%zu mask pixels in all)", wrong, cells, masked);
    /* the check can fail: a mask at another threshold does not match */
    size_t u = 0, other = 0, dummy = 0;
    while (u < K && !(thr[u] > 0))
        u++;
    snprintf(path, sizeof path, "%s/sprites/u%04zu.png", rep, u + 1);
    img_u8 sp;
    if (u < K && img_load_rgb(&sp, path) == 0) {
        rpt_topk(m, x->f.N, K, u, k, top);
        other = check_cell(x, &sp, 0, top[0], u, thr[u] * 0.5, &dummy);
        img_free(&sp);
    }
    CHECK(other > 0, "unit %zu drawn at half its threshold differs in %zu pixels (must be > 0)", u + 1, other);
    free(top), free(thr);
}

static int same_file(const char *a, const char *b)
{
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = f && g;
    for (int c; same && (c = fgetc(f)) != EOF;)
        same = c == fgetc(g);
    same = same && fgetc(g) == EOF;
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    return same;
}

/* Mask pixels over all labelled images, as the report draws them from the
 * result folder (rotating the activations again for a rotated point), must
 * equal the tally's M of every unit. */
static size_t masks_vs_tally(const char *res, const char *feats, const nd_tally *t)
{
    rpt_result rr;
    rpt_data d;
    if (rpt_result_read(&rr, res, NULL, feats) || rpt_data_open(&d, &rr)) {
        CHECK(0, "%s", nd_errmsg());
        return 1;
    }
    size_t K = d.f.K, hw = d.f.h * d.f.w, bad = 0;
    float *buf = malloc(K * hw * sizeof *buf);
    unsigned char *mask = malloc(113 * 113);
    int64_t *M = calloc(K, sizeof *M);
    for (size_t i = 0; i < d.f.N; i++) {
        const float *x;
        int ih, iw, sh, sw;
        if (!broden_image_has_data(d.ds, i) || d.f.get(d.f.ctx, i, 1, buf, &x))
            continue;
        broden_image_size(d.ds, i, &ih, &iw, &sh, &sw);
        for (size_t u = 0; u < K; u++) {
            rpt_unit_mask(&rr.opt, &d.f, x + u * hw, rr.thr[u], iw, sh, sw, mask);
            for (int p = 0; p < sh * sw; p++)
                M[u] += mask[p];
        }
    }
    for (size_t u = 0; u < K; u++)
        bad += M[u] != t->M[u];
    free(buf), free(mask), free(M);
    rpt_data_close(&d);
    rpt_result_free(&rr);
    return bad;
}

static void test_rotated(fixture *x, const char *feats)
{
    test_group("masks of a rotated point (alpha 1, seed 1) are the dissection's");
    size_t K = x->f.K;
    double *Q = malloc(K * K * sizeof *Q), *R = malloc(K * K * sizeof *R);
    rot_schur *sch = NULL;
    nd_features rf;
    nd_result r;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/rotated", test_tmpdir());
    /* R exactly as the sweep makes it: one Schur form per draw, then the power */
    int rc = rot_haar(Q, K, 1) || rot_schur_init(&sch, Q, K) || rot_schur_power(sch, R, 1.0) ||
             rot_features(&rf, &x->f, R);
    rc = rc || nd_dissect(x->ds, &rf, &x->o, &r) ||
         nd_write_result(&r, x->ds, dir, "\"alpha\": 1, \"draw\": 0, \"seed\": 1, \"rotation\": \"Q^alpha\"");
    CHECK(rc == 0, "rotated dissection: %s", nd_errmsg());
    if (rc == 0) {
        size_t bad = masks_vs_tally(dir, feats, &r.tally);
        CHECK(bad == 0, "%zu of %zu units: the report's mask pixels differ from the tally's", bad, K);
        rot_features_free(&rf);
        nd_result_free(&r);
    }
    rot_schur_free(sch);
    free(Q), free(R);
}

int main(void)
{
    test_topk();
    fixture x;
    if (open_fixture(&x)) {
        CHECK(0, "fixture: %s", nd_errmsg());
        return test_summary();
    }
    float *m = malloc(x.f.N * x.f.K * sizeof *m);
    test_maxact(&x, m);
    char rep1[4200], rep2[4200];
    snprintf(rep1, sizeof rep1, "%s/rep1", test_tmpdir());
    snprintf(rep2, sizeof rep2, "%s/rep2", test_tmpdir());
    char feats[4200];
    snprintf(feats, sizeof feats, "%s", test_shared_path("fixtures/netdissect-lite-mini/features.npy"));
    rpt_options o = {.top = 4, .threads = 1, .features = feats};
    int rc = rpt_report(x.res, &o, rep1);
    CHECK(rc == 0, "report: %s", nd_errmsg());
    if (rc == 0)
        test_sprites(&x, m, rep1);
    test_group("masks of the unrotated result are the dissection's");
    {
        nd_result r;
        if (nd_dissect(x.ds, &x.f, &x.o, &r) == 0) {
            size_t bad = masks_vs_tally(x.res, feats, &r.tally);
            CHECK(bad == 0, "%zu of %zu units: the report's mask pixels differ from the tally's", bad, x.f.K);
            nd_result_free(&r);
        }
    }
    test_rotated(&x, feats);
    test_group("1 and 2 threads write the same report");
    o.threads = 2;
    CHECK(rpt_report(x.res, &o, rep2) == 0, "report: %s", nd_errmsg());
    int diff = 0;
    static const char *files[] = {"index.html", "unit.html", "data.js", "sprites/u0001.png", "sprites/u0128.png",
                                  "sprites/u0256.png"};
    for (size_t q = 0; q < sizeof files / sizeof *files; q++) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s/%s", rep1, files[q]);
        snprintf(b, sizeof b, "%s/%s", rep2, files[q]);
        diff += !same_file(a, b);
    }
    CHECK(diff == 0, "%d files differ between 1 and 2 threads", diff);
    free(m);
    npy_close(&x.a);
    broden_free(x.ds);
    return test_summary();
}
