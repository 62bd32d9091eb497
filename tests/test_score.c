/* test_score.c - IoU, best labels and detector counts (core/score.h) on the
 * hand-counted 2-image dataset (tests/testutil.h), the unique-detector rule
 * on hand-made arrays where the two conventions differ, and the profile
 * table (core/options.h). */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "tests/testutil.h"

#include <math.h>
#include <string.h>

static void test_hand_iou(void)
{
    test_group("IoU, labels and counts on a 2-image dataset");
    broden *ds;
    npy_t a;
    nd_features f;
    nd_options o;
    if (test_open_hand(0, &ds, &a, &f, &o))
        return;
    o.profile = ND_PROFILE_LITE;
    nd_result r;
    if (nd_dissect(ds, &f, &o, &r) == 0) {
        size_t L = r.L;
        /* IoU = I / (A + G - I + eps) with eps = 1e-10 and denominators 8..16:
         * the exact ratios move by at most 1e-10 / 8 relative, so 1e-10 in
         * absolute terms holds them and would catch any wrong count (a
         * count off by one moves an IoU by > 0.01) */
        CHECK(fabs(r.iou[0 * L + 1] - 0.5) < 1e-10 && fabs(r.iou[0 * L + 3] - 1.0) < 1e-10,
              "IoU unit 0: cat 1/2, beach 1");
        CHECK(fabs(r.iou[1 * L + 1] - 0.5) < 1e-10 && fabs(r.iou[1 * L + 3] - 0.25) < 1e-10,
              "IoU unit 1 (NDL): cat 4/8, beach 4/16");
        CHECK(r.unit_label[0] == 3 && r.unit_cat[0] == 1 && r.unit_label[1] == 1, "labels: unit 0 beach, unit 1 cat");
        /* per-category: object {cat} (both units), scene {beach} (both) = 2;
         * top-label: unit 0 beach, unit 1 cat = 2 */
        CHECK(r.counts.detectors == 2 && r.counts.unique_percat == 2 && r.counts.unique_toplabel == 2,
              "counts: 2 detectors, 2 unique per-category, 2 top-label (got %d %d %d)", r.counts.detectors,
              r.counts.unique_percat, r.counts.unique_toplabel);
        CHECK(r.cat_label[1 * 2 + 1] == 3 && r.cat_iou[1 * 2 + 1] > 0.24, "unit 1 scene: beach at 1/4");
        nd_result_free(&r);
    } else
        CHECK(0, "dissect lite: %s", nd_errmsg());
    o.profile = ND_PROFILE_NETDISSECT;
    if (nd_dissect(ds, &f, &o, &r) == 0) {
        size_t L = r.L;
        /* eps = 1e-20: the double quotient 4/9 is within one ulp (6e-17) of
         * the exact ratio; 1e-12 leaves room and catches any wrong count */
        CHECK(fabs(r.iou[1 * L + 1] - 4.0 / 9.0) < 1e-12, "IoU unit 1 (ND): cat 4/9");
        nd_result_free(&r);
    } else
        CHECK(0, "dissect ND: %s", nd_errmsg());
    npy_close(&a);
    broden_free(ds);
}

/* 4 units, 2 categories (0 object, 1 scene), threshold 0.04:
 *   unit 0: object label 7 at 0.30, scene label 9 at 0.10 -> best object 7
 *   unit 1: object label 7 at 0.20, scene label 8 at 0.50 -> best scene 8
 *   unit 2: object label 6 at 0.05, scene label 8 at 0.05 -> tie: later, scene 8
 *   unit 3: object label 5 at 0.04, scene 0 at 0       -> no detector (not > 0.04)
 * per-category: object {7, 6} = 2 (unit 3's 0.04 is not above), scene {9, 8} = 2 -> 4
 * top-label: object {7} (unit 0), scene {8} (units 1, 2) -> 2; detectors 3 */
static void test_count_rule(void)
{
    test_group("unique detectors: per-category and top-label conventions");
    int cat_label[8] = {7, 9, 7, 8, 6, 8, 5, 0};
    double cat_iou[8] = {0.30, 0.10, 0.20, 0.50, 0.05, 0.05, 0.04, 0};
    int unit_cat[4], unit_label[4];
    double unit_score[4];
    for (int u = 0; u < 4; u++) {
        unit_cat[u] = nd_best_category(cat_iou + 2 * u, 2, &unit_score[u]);
        unit_label[u] = cat_label[2 * u + unit_cat[u]];
    }
    CHECK(unit_cat[0] == 0 && unit_cat[1] == 1 && unit_cat[2] == 1 && unit_score[2] == 0.05,
          "best category: highest, ties to the later");
    nd_counts c;
    if (nd_count_detectors(4, 2, cat_label, cat_iou, unit_cat, unit_label, unit_score, 0.04, &c)) {
        CHECK(0, "count: %s", nd_errmsg());
        return;
    }
    CHECK(c.detectors == 3 && c.unique_percat == 4 && c.unique_toplabel == 2,
          "3 detectors, 4 per-category, 2 top-label (got %d %d %d)", c.detectors, c.unique_percat, c.unique_toplabel);
    CHECK(c.cat_detectors[0] == 1 && c.cat_detectors[1] == 2 && c.cat_unique_percat[0] == 2 &&
              c.cat_unique_percat[1] == 2 && c.cat_unique_toplabel[0] == 1 && c.cat_unique_toplabel[1] == 1,
          "per-category columns");
    nd_counts_free(&c);
}

static void test_profiles(void)
{
    test_group("profile table");
    nd_profile p;
    const char *nd[] = {"netdissect", "nd"}, *ndl[] = {"netdissect-lite", "ndl", "lite"};
    int ok = 1;
    for (int i = 0; i < 2; i++)
        ok &= nd_profile_parse(nd[i], &p) == 0 && p == ND_PROFILE_NETDISSECT;
    for (int i = 0; i < 3; i++)
        ok &= nd_profile_parse(ndl[i], &p) == 0 && p == ND_PROFILE_LITE;
    CHECK(ok, "names and aliases parse");
    CHECK(nd_profile_parse("netdissect2", &p) != 0 && nd_profile_parse("", &p) != 0, "unknown names do not");
    CHECK(!strcmp(nd_profile_name(ND_PROFILE_NETDISSECT), "netdissect") &&
              !strcmp(nd_profile_name(ND_PROFILE_LITE), "netdissect-lite"),
          "canonical names");
    CHECK(nd_profile_eps(ND_PROFILE_NETDISSECT) == 1e-20 && nd_profile_eps(ND_PROFILE_LITE) == 1e-10, "eps");
    const nd_profile_info *a = nd_profile_get(ND_PROFILE_NETDISSECT), *b = nd_profile_get(ND_PROFILE_LITE);
    CHECK(a->upsample_field && !a->a_where_hit && a->image_labels_once && !b->upsample_field && b->a_where_hit &&
              !b->image_labels_once,
          "rules: ND field upsampling, A where present, labels once; NDL resize, A where hit, labels each time");
}

int main(void)
{
    test_hand_iou();
    test_count_rule();
    test_profiles();
    return test_summary();
}
