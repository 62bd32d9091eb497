/* test_tally.c - the tally (core/tally.h) on the hand-counted 2-image
 * dataset (tests/testutil.h): G, I, A and M under both profiles, the
 * repeated image-level label rule, and tallies adding over image shards;
 * then on the 120-image mini fixture (113 x 113 label maps, up to several
 * layers per image) against the direct computation - the full upsampled
 * map, every mask pixel looked up in every layer - on 1 and 2 threads,
 * counted by label tuples and layer by layer (nd_tally_by_layers).
 * All counts are integers, compared exactly. */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/thresholds.h"
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

/* unit 0: image a all 1 (whole mask, 16 px), image b all 0.
 * unit 1: image a [[1,0],[0,0]] -> top-left 2x2 (4 px, all cat);
 *         image b [[0,0],[0,1]] -> bottom-right, on unlabelled pixels
 *         (NDL: 4 px; ND: 1 px, the corner). */
static void test_counts(void)
{
    test_group("tally of a 2-image dataset");
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
        CHECK(r.tally.G[1] == 8 && r.tally.G[2] == 8 && r.tally.G[3] == 16, "G: cat 8, dog 8, beach 16");
        CHECK(r.tally.I[0 * L + 1] == 8 && r.tally.I[0 * L + 3] == 16 && r.tally.I[1 * L + 1] == 4 &&
                  r.tally.I[1 * L + 3] == 4 && r.tally.I[1 * L + 2] == 0,
              "I by hand");
        CHECK(r.tally.A[0] == 16 && r.tally.A[1] == 16, "A unit 0: object 16, scene 16");
        CHECK(r.tally.A[2] == 4 && r.tally.A[3] == 4, "A unit 1 (NDL): object 4 (b's mask hits no label), scene 4");
        nd_result_free(&r);
    } else
        CHECK(0, "dissect lite: %s", nd_errmsg());

    o.profile = ND_PROFILE_NETDISSECT;
    if (nd_dissect(ds, &f, &o, &r) == 0) {
        CHECK(r.tally.M[1] == 5, "ND mask of unit 1: 4 + 1 px (got %lld)", (long long)r.tally.M[1]);
        CHECK(r.tally.A[2] == 5, "A unit 1 (ND): object counted in every image with object labels: 5");
        nd_result_free(&r);
    } else
        CHECK(0, "dissect ND: %s", nd_errmsg());
    o.have_field = 0;
    CHECK(nd_dissect(ds, &f, &o, &r) != 0 && strstr(nd_errmsg(), "receptive field"),
          "ND without the receptive field is an error: %s", nd_errmsg());
    npy_close(&a);
    broden_free(ds);
}

static void test_repeated_and_shards(void)
{
    test_group("repeated image-level label: once in ND, twice in NDL");
    broden *ds;
    npy_t a;
    nd_features f;
    nd_options o;
    if (test_open_hand(1, &ds, &a, &f, &o))
        return;
    nd_result r;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0 && r.tally.G[3] == 16 && r.tally.I[3] == 16, "ND: G 16, I 16");
    nd_result_free(&r);
    o.profile = ND_PROFILE_LITE;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0 && r.tally.G[3] == 32 && r.tally.I[3] == 32, "NDL: G 32, I 32");
    nd_result_free(&r);

    test_group("tallies add over image shards");
    size_t L = broden_num_labels(ds);
    nd_tally t1, t2, all;
    int ok = nd_tally_alloc(&t1, 2, L, 2) == 0 && nd_tally_alloc(&t2, 2, L, 2) == 0 &&
             nd_tally_alloc(&all, 2, L, 2) == 0;
    CHECK(ok, "allocate three tallies");
    if (ok) {
        CHECK(nd_tally_run(ds, &f, &o, o.thresholds, 0, 1, &t1) == 0 && nd_tally_run(ds, &f, &o, o.thresholds, 1, 2, &t2) == 0 &&
                  nd_tally_run(ds, &f, &o, o.thresholds, 0, 2, &all) == 0,
              "tally [0,1), [1,2) and [0,2): %s", nd_errmsg());
        CHECK(nd_tally_add(&t1, &t2) == 0, "add the shards");
        CHECK(!memcmp(t1.I, all.I, 2 * L * 8) && !memcmp(t1.A, all.A, 4 * 8) && !memcmp(t1.G, all.G, L * 8) &&
                  !memcmp(t1.M, all.M, 2 * 8),
              "shard [0,1) + [1,2) equals the whole");
        nd_tally t3;
        CHECK(nd_tally_alloc(&t3, 1, L, 2) == 0 && nd_tally_add(&t3, &all) != 0, "tallies of different shapes do not add");
        nd_tally_free(&t3);

        /* as the ranks of dissect-mpi: each shard opens only its images' labels */
        broden *s0 = NULL, *s1 = NULL;
        const char *dir = test_hand_dataset(1);
        nd_tally u0, u1;
        int sok = broden_open_shard(&s0, dir, NULL, NULL, 0, 1) == 0 && broden_open_shard(&s1, dir, NULL, NULL, 1, 2) == 0 &&
                  nd_tally_alloc(&u0, 2, L, 2) == 0 && nd_tally_alloc(&u1, 2, L, 2) == 0;
        CHECK(sok, "open the shards [0,1) and [1,2) of the dataset: %s", nd_errmsg());
        if (sok) {
            const broden_layer *ly;
            size_t nl;
            broden_image_layers(s0, 1, &ly, &nl);
            CHECK(nl > 0 && ly[0].map == NULL, "shard [0,1) has no label map of image 1");
            CHECK(nd_tally_run(s0, &f, &o, o.thresholds, 0, 1, &u0) == 0 && nd_tally_run(s1, &f, &o, o.thresholds, 1, 2, &u1) == 0 &&
                      nd_tally_add(&u0, &u1) == 0,
                  "tally each shard on its own dataset: %s", nd_errmsg());
            CHECK(!memcmp(u0.I, all.I, 2 * L * 8) && !memcmp(u0.A, all.A, 4 * 8) && !memcmp(u0.G, all.G, L * 8) &&
                      !memcmp(u0.M, all.M, 2 * 8),
                  "shard datasets' tallies add up to the whole");
            nd_tally_free(&u0), nd_tally_free(&u1);
        }
        broden_free(s0), broden_free(s1);
        size_t i0, i1, prev = 0, tot = 0;
        int contiguous = 1;
        for (int r = 0; r < 5; r++) {
            nd_image_shard(120, r, 5, 16, &i0, &i1);
            contiguous &= i0 == prev && (i0 % 16 == 0) && (i1 % 16 == 0 || i1 == 120);
            prev = i1, tot += i1 - i0;
        }
        CHECK(contiguous && tot == 120, "nd_image_shard: 5 contiguous shards of 120 images at multiples of 16");
    }
    nd_tally_free(&t1), nd_tally_free(&t2), nd_tally_free(&all);
    npy_close(&a);
    broden_free(ds);
}

/* The obvious tally: dense upsampling, one lookup per mask pixel per layer. */
static void direct_tally(const broden *ds, const nd_features *f, const nd_options *o, const double *thr, nd_tally *t)
{
    const nd_profile_info *prof = nd_profile_get(o->profile);
    size_t hw = f->h * f->w, K = f->K, L = t->L, C = t->C;
    float *buf = malloc(K * hw * sizeof *buf);
    unsigned char *hit = malloc(C + 1);
    for (size_t i = 0; i < f->N; i++) {
        if (!broden_image_has_data(ds, i))
            continue;
        int ih, iw, sh, sw;
        broden_image_size(ds, i, &ih, &iw, &sh, &sw);
        up_plan plan;
        nd_tally_plan(&plan, f, o, sh, sw, iw);
        size_t npix = (size_t)sh * (size_t)sw;
        int *idx = malloc(npix * sizeof *idx);
        float *out = malloc(npix * sizeof *out), *tmp = malloc(f->h * (size_t)sw * sizeof *tmp);
        const broden_layer *ly;
        const broden_imglabel *il;
        size_t nl, ni;
        broden_image_layers(ds, i, &ly, &nl);
        broden_image_labels(ds, i, &il, &ni);
        const float *x;
        f->get(f->ctx, i, 1, buf, &x);
        for (size_t u = 0; u < K; u++) {
            int m = up_mask_dense(&plan, x + u * hw, (float)thr[u], idx, out, tmp);
            if (m == 0)
                continue;
            t->M[u] += m;
            memset(hit, 0, C + 1);
            for (size_t k = 0; k < nl; k++)
                for (int q = 0; q < m; q++) {
                    int l = ly[k].map[idx[q]], c = broden_primary(ds, l);
                    t->I[u * L + (size_t)l]++;
                    hit[c < 0 ? C : (size_t)c] = 1;
                }
            for (size_t k = 0; k < ni; k++) {
                int dup = 0;
                for (size_t q = 0; q < k; q++)
                    dup |= prof->image_labels_once && il[q].label == il[k].label;
                if (dup)
                    continue;
                int c = broden_primary(ds, il[k].label);
                t->I[u * L + (size_t)il[k].label] += m;
                hit[c < 0 ? C : (size_t)c] = 1;
            }
            for (size_t c = 0; c < C; c++)
                if (prof->a_where_hit ? hit[c] : (broden_present(ds, i) >> c) & 1)
                    t->A[u * C + c] += m;
        }
        free(idx), free(out), free(tmp);
        up_plan_free(&plan);
    }
    for (size_t u = 0; u < K; u++)
        t->I[u * L] = 0;
    free(buf), free(hit);
}

static void test_direct(void)
{
    test_group("tally of the mini fixture equals the direct computation (both profiles, 1 and 2 threads, by tuples "
               "and layer by layer)");
    broden *ds = NULL;
    npy_t a;
    nd_features f;
    if (broden_open(&ds, test_shared_path("fixtures/netdissect-lite-mini/dataset"), NULL) ||
        npy_open(&a, test_shared_path("fixtures/netdissect-lite-mini/features.npy"))) {
        CHECK(0, "open the mini fixture: %s", nd_errmsg());
        broden_free(ds);
        return;
    }
    nd_features_from_npy(&f, &a);
    size_t K = f.K, L = broden_num_labels(ds), C = broden_num_categories(ds), multi = 0;
    for (size_t i = 0; i < f.N; i++) {
        const broden_layer *ly;
        size_t nl;
        broden_image_layers(ds, i, &ly, &nl);
        multi += nl >= 2;
    }
    CHECK(multi > 0, "%zu of %zu images have two or more label layers", multi, f.N);
    double *thr = malloc(K * sizeof *thr);
    nd_thresholds(&f, 0.005, 0, thr);
    for (int prof = 0; prof < 2; prof++) {
        nd_options o;
        nd_options_default(&o);
        o.profile = prof ? ND_PROFILE_LITE : ND_PROFILE_NETDISSECT;
        o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
        nd_tally want;
        nd_tally_alloc(&want, K, L, C);
        direct_tally(ds, &f, &o, thr, &want);
        for (int run = 0; run < 4; run++) {
            int nt = 1 + run % 2;
            nd_tally got;
            o.threads = nt;
            nd_tally_by_layers = run >= 2;
            nd_tally_alloc(&got, K, L, C);
            int rc = nd_tally_run(ds, &f, &o, thr, 0, f.N, &got);
            int64_t masked = 0;
            for (size_t u = 0; u < K; u++)
                masked += want.M[u];
            CHECK(rc == 0 && masked > 0 && !memcmp(got.I, want.I, K * L * 8) && !memcmp(got.A, want.A, K * C * 8) &&
                      !memcmp(got.M, want.M, K * 8),
                  "%s profile, %d thread%s, %s: I, A and M equal the direct counts (%lld mask pixels)",
                  nd_profile_name(o.profile), nt, nt > 1 ? "s" : "",
                  nd_tally_by_layers ? "layer by layer" : "by label tuples", (long long)masked);
            nd_tally_free(&got);
        }
        nd_tally_free(&want);
    }
    nd_tally_by_layers = 0;
    free(thr);
    npy_close(&a);
    broden_free(ds);
}

int main(void)
{
    test_counts();
    test_repeated_and_shards();
    test_direct();
    return test_summary();
}
