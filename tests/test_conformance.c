/* test_conformance.c - agreement with the two reference implementations on
 * ../shared/fixtures/netdissect-lite-mini (120 images, AlexNet-shaped conv5
 * activations, 44 labels in 6 categories).
 *
 * Counts are integers and must be equal exactly; IoU within 1e-12 relative
 * (both sides divide the same integers in double, so any difference beyond
 * rounding would be a real disagreement); upsampled maps bit for bit. */
#include "core/broden.h"
#include "core/csv.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/quantile.h"
#include "core/upsample.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX "fixtures/netdissect-lite-mini/"

static double *load(const char *rel, size_t *n)
{
    double *v = NULL;
    if (npy_load_f64(test_shared_path(rel), &v, n)) {
        printf("cannot load %s: %s\n", rel, nd_errmsg());
        exit(1);
    }
    return v;
}

static int equal_counts(const char *label, const int64_t *got, const double *want, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if ((double)got[i] != want[i] && !bad++)
            first = i;
    printf("  %-52s n=%zu mismatches %zu\n", label, n, bad);
    if (bad)
        printf("    first at %zu: got %lld want %.0f\n", first, (long long)got[first], want[first]);
    CHECK(!bad, "%s equal", label);
    return !bad;
}

/* Our upsampling of every unit of image 0 against the reference, bit for bit. */
static void check_upsample(const up_plan *p, const npy_t *feat, const char *rel)
{
    npy_t ref;
    if (npy_open(&ref, test_shared_path(rel))) {
        CHECK(0, "open %s: %s", rel, nd_errmsg());
        return;
    }
    size_t K = feat->shape[1], hw = feat->shape[2] * feat->shape[3], npx = (size_t)p->sh * (size_t)p->sw;
    float *out = malloc(npx * sizeof *out), *tmp = malloc((size_t)p->h * (size_t)p->sw * sizeof *tmp);
    size_t bad = 0;
    double worst = 0;
    for (size_t u = 0; u < K; u++) {
        up_apply(p, (const float *)feat->data + u * hw, out, tmp);
        const float *want = (const float *)ref.data + u * npx;
        for (size_t i = 0; i < npx; i++)
            if (memcmp(&out[i], &want[i], 4)) {
                bad++;
                if (fabs(out[i] - want[i]) > worst)
                    worst = fabs(out[i] - want[i]);
            }
    }
    printf("  upsampled maps of image 0 vs %s: %zu of %zu values differ (max abs %.3g)\n", rel, bad,
           K * npx, worst);
    CHECK(bad == 0, "upsampling bit for bit (%s)", rel);
    free(out), free(tmp);
    npy_close(&ref);
}

int main(void)
{
    broden *ds;
    npy_t feat;
    nd_features f;
    if (broden_open(&ds, test_shared_path(FIX "dataset"), NULL) || npy_open(&feat, test_shared_path(FIX "features.npy")) ||
        nd_features_from_npy(&f, &feat)) {
        printf("cannot open the fixture: %s\n", nd_errmsg());
        return 1;
    }
    size_t n, K = f.K, L = broden_num_labels(ds), C = broden_num_categories(ds);

    test_group("dataset: primary categories");
    double *pc = load(FIX "primary_category.npy", &n);
    int badpc = 0;
    for (size_t l = 1; l < n; l++)
        badpc += broden_primary(ds, (int)l) != (int)pc[l];
    CHECK(n == L && badpc == 0, "primary category of all %zu labels (%d differ)", n - 1, badpc);
    free(pc);

    test_group("NetDissect-Lite profile, its thresholds");
    double *thr = load(FIX "thresholds.npy", &n);
    nd_options o;
    nd_options_default(&o);
    o.profile = ND_PROFILE_LITE;
    o.thresholds = thr;
    nd_result r;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0, "dissect: %s", nd_errmsg());
    double *G = load(FIX "tally_labels.npy", &n), *I = load(FIX "tally_both.npy", &n),
           *A = load(FIX "tally_units_cat.npy", &n), *M = load(FIX "tally_units.npy", &n),
           *iou = load(FIX "iou.npy", &n);
    /* the fixture's G counts unlabelled pixels in slot 0; we do not count them */
    G[0] = 0;
    equal_counts("G (label pixels)", r.tally.G, G, L);
    equal_counts("I (intersections)", r.tally.I, I, K * L);
    equal_counts("A (activation per category, NDL rule)", r.tally.A, A, K * C);
    equal_counts("mask pixels per unit", r.tally.M, M, K);
    for (size_t i = 0; i < K; i++)
        iou[i * L] = 0; /* label 0 is not scored */
    check_close("IoU", r.iou, iou, K * L, 0, 1e-12);

    csv_file c;
    CHECK(csv_open(&c, test_shared_path(FIX "units.csv")) == 0, "units.csv");
    int cu = csv_col(&c, "unit"), ccat = csv_col(&c, "category"), cl = csv_col(&c, "label_number");
    int badlab = 0, rows = 0;
    while (csv_next(&c) > 0) {
        long u, l;
        csv_long(c.f[cu], &u);
        csv_long(c.f[cl], &l);
        rows++;
        if (r.unit_label[u] != l || strcmp(broden_category_name(ds, (size_t)r.unit_cat[u]), c.f[ccat]))
            badlab++;
    }
    csv_close(&c);
    CHECK(rows == (int)K && badlab == 0, "best label and category of every unit (%d of %d differ)", badlab, rows);
    printf("  detectors %d, unique %d per-category, %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);

    up_plan p;
    up_plan_lite(&p, 13, 13, 113, 113);
    check_upsample(&p, &feat, FIX "upsample_img0.npy");
    up_plan_free(&p);

    test_group("NetDissect-Lite profile, exact thresholds");
    nd_options oe = o;
    oe.thresholds = NULL;
    nd_result re;
    CHECK(nd_dissect(ds, &f, &oe, &re) == 0, "dissect: %s", nd_errmsg());
    /* our exact quantile against numpy's at the same level */
    CHECK(csv_open(&c, test_shared_path(FIX "exact_thresholds.csv")) == 0, "exact_thresholds.csv");
    int cq = csv_col(&c, "np_quantile_linear_at_0.995");
    double *npq = calloc(K, sizeof *npq);
    while (csv_next(&c) > 0) {
        long u;
        csv_long(c.f[0], &u);
        csv_double(c.f[cq], &npq[u]);
    }
    csv_close(&c);
    /* numpy interpolates float32 order statistics partly in float32
     * (b - a is a float32 subtraction), so agreement is to float32 rounding */
    check_close("exact thresholds vs numpy quantile(0.995, linear)", re.thresholds, npq, K, 1e-9, 1e-6);
    double *sel = calloc(K, sizeof *sel);
    nd_thresholds_select(&f, 0.005, 0, sel);
    size_t tdiff = 0;
    for (size_t u = 0; u < K; u++)
        tdiff += memcmp(&sel[u], &re.thresholds[u], 8) != 0;
    CHECK(tdiff == 0, "two-pass histogram thresholds equal gather+quickselect bit for bit (%zu differ)", tdiff);
    for (size_t u = 0; u < K; u += 37) {
        float *v = malloc(f.N * 169 * sizeof *v);
        for (size_t i = 0; i < f.N; i++)
            memcpy(v + i * 169, (const float *)feat.data + (i * K + u) * 169, 169 * sizeof *v);
        double want = qt_sorted(v, f.N * 169, 0.995);
        CHECK(want == re.thresholds[u], "unit %zu: threshold equals the sorted reference (%.17g vs %.17g)", u,
              re.thresholds[u], want);
        free(v);
    }
    free(sel);
    int lab_same = 0;
    double dmax = 0;
    for (size_t u = 0; u < K; u++) {
        lab_same += re.unit_label[u] == r.unit_label[u];
        double d = fabs(re.unit_score[u] - r.unit_score[u]);
        if (d > dmax)
            dmax = d;
    }
    printf("  best labels unchanged for %d of %zu units; largest score change %.3e\n", lab_same, K, dmax);
    CHECK(lab_same == (int)K, "exact thresholds keep every best label");
    nd_result_free(&re);
    free(npq);
    nd_result_free(&r);
    free(G), free(I), free(A), free(M), free(iou);

    test_group("original NetDissect profile, field -64,163,16");
    o.profile = ND_PROFILE_NETDISSECT;
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0, "dissect: %s", nd_errmsg());
    G = load(FIX "netdissect-original/tally_truth.npy", &n);
    I = load(FIX "netdissect-original/tally_intersect.npy", &n);
    A = load(FIX "netdissect-original/tally_activation_cat.npy", &n);
    M = load(FIX "netdissect-original/tally_units.npy", &n);
    iou = load(FIX "netdissect-original/iou.npy", &n);
    G[0] = 0;
    equal_counts("G (truth)", r.tally.G, G, L);
    equal_counts("I (intersect)", r.tally.I, I, K * L);
    equal_counts("A (activation per category, ND rule)", r.tally.A, A, K * C);
    equal_counts("mask pixels per unit", r.tally.M, M, K);
    for (size_t i = 0; i < K; i++)
        iou[i * L] = 0;
    check_close("IoU", r.iou, iou, K * L, 0, 1e-12);
    CHECK(csv_open(&c, test_shared_path(FIX "netdissect-original/result.csv")) == 0, "result.csv");
    int cs = csv_col(&c, "score"), clab = csv_col(&c, "label");
    ccat = csv_col(&c, "category");
    badlab = 0, rows = 0;
    double worst = 0;
    while (csv_next(&c) > 0) {
        long u;
        double s;
        csv_long(c.f[0], &u);
        csv_double(c.f[cs], &s);
        u--;
        rows++;
        if (strcmp(broden_label_name(ds, r.unit_label[u]), c.f[clab]) ||
            strcmp(broden_category_name(ds, (size_t)r.unit_cat[u]), c.f[ccat]))
            badlab++;
        double d = fabs(r.unit_score[u] - s) / (s > 0 ? s : 1);
        if (d > worst)
            worst = d;
    }
    csv_close(&c);
    printf("  result.csv: %d rows, %d label/category mismatches, worst score rel err %.3e\n", rows, badlab, worst);
    CHECK(rows == (int)K && badlab == 0 && worst <= 1e-12, "label, category and score of every unit");
    printf("  detectors %d, unique %d per-category, %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);
    up_plan_nd(&p, 13, 13, 113, 113, 227, -64, 163, 16);
    check_upsample(&p, &feat, FIX "netdissect-original/upsample_img0.npy");
    up_plan_free(&p);
    nd_result_free(&r);
    free(G), free(I), free(A), free(M), free(iou), free(thr);

    test_group("threads do not change the result");
    nd_result r1, r2;
    o.thresholds = NULL;
    o.threads = 1;
    nd_dissect(ds, &f, &o, &r1);
    o.threads = 3;
    nd_dissect(ds, &f, &o, &r2);
    CHECK(!memcmp(r1.tally.I, r2.tally.I, K * L * 8) && !memcmp(r1.tally.A, r2.tally.A, K * C * 8) &&
              !memcmp(r1.thresholds, r2.thresholds, K * 8),
          "1 and 3 threads: identical thresholds and tallies");
    nd_result_free(&r1), nd_result_free(&r2);

    broden_free(ds);
    npy_close(&feat);
    return test_summary();
}
