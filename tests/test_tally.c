/* test_tally.c - the tally (core/tally.h) on the hand-counted 2-image
 * dataset (tests/testutil.h): G, I, A and M under both profiles, the
 * repeated image-level label rule, and tallies adding over image shards.
 * All counts are integers, compared exactly. */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "tests/testutil.h"

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

int main(void)
{
    test_counts();
    test_repeated_and_shards();
    return test_summary();
}
