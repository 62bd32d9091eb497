/* test_upsample.c - both upsampling rules (core/upsample.h) by hand on tiny
 * maps, and the sparse mask against the dense one.  Comparisons are exact
 * (memcmp): the hand values are sums of weights 0, .25, .5, .75, 1 times
 * small integers, exact in float, and the sparse mask must equal the dense
 * one pixel for pixel. */
#include "core/upsample.h"
#include "tests/testutil.h"

#include <string.h>

static void test_upsample(void)
{
    test_group("upsampling");
    float m[4] = {0, 4, 8, 12}, out[16], tmp[64];
    up_plan p;
    /* NDL 2x2 -> 4x4: weights (1, 0), (.75, .25), (.25, .75), (0, 1) per axis */
    CHECK(up_plan_lite(&p, 2, 2, 4, 4) == 0, "plan NDL 2x2 -> 4x4");
    up_apply(&p, m, out, tmp);
    float want_l[16] = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
    CHECK(!memcmp(out, want_l, sizeof out), "NDL 2x2 -> 4x4 by hand");
    up_plan_free(&p);
    /* ND: iw 8, sw 4 -> r = 2; size 4, offset 0 -> first node (4/2+0)/2 = 1;
     * stride 4 -> step 2: nodes at 1 and 3; clamped outside */
    CHECK(up_plan_nd(&p, 2, 2, 4, 4, 8, 0, 4, 4) == 0, "plan ND 2x2 -> 4x4");
    up_apply(&p, m, out, tmp);
    float want_n[16] = {0, 0, 2, 4, 0, 0, 2, 4, 4, 4, 6, 8, 8, 8, 10, 12};
    CHECK(!memcmp(out, want_n, sizeof out), "ND 2x2 -> 4x4 by hand");
    up_plan_free(&p);
    /* 3x3 maps: NDL 3x3 -> 3x3 is the identity; ND with nodes 0, 2, 4 on 5 */
    float m3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, o3[25];
    CHECK(up_plan_lite(&p, 3, 3, 3, 3) == 0, "plan NDL 3x3 -> 3x3");
    up_apply(&p, m3, o3, tmp);
    CHECK(!memcmp(o3, m3, sizeof m3), "NDL 3x3 -> 3x3 identity");
    up_plan_free(&p);
    CHECK(up_plan_nd(&p, 3, 3, 5, 5, 10, -1, 2, 4) == 0, "plan ND 3x3 -> 5x5"); /* r 2, first (1-1)/2 = 0, step 2 */
    up_apply(&p, m3, o3, tmp);
    float want3[25] = {1, 1.5, 2, 2.5, 3, 2.5, 3, 3.5, 4, 4.5, 4, 4.5, 5, 5.5, 6,
                       5.5, 6, 6.5, 7, 7.5, 7, 7.5, 8, 8.5, 9};
    CHECK(!memcmp(o3, want3, sizeof want3), "ND 3x3 -> 5x5 nodes and midpoints");
    int idx[25];
    float tmp2[64];
    CHECK(up_mask_dense(&p, m3, 7.5f, idx, o3, tmp2) == 3 && up_mask(&p, m3, 7.5f, idx) == 3, "mask is strict > (7.5 excluded: 8, 8.5, 9)");
    up_plan_free(&p);

    /* the sparse mask (only around nodes above threshold) against the dense
     * one, on random maps with few and many hot nodes, both rules */
    unsigned s = 777;
    int bad = 0, total = 0;
    for (int rule = 0; rule < 2; rule++) {
        int prc = rule ? up_plan_nd(&p, 13, 13, 113, 113, 227, -64, 163, 16) : up_plan_lite(&p, 13, 13, 113, 113);
        CHECK(prc == 0, "plan 13x13 -> 113x113, rule %d", rule);
        if (prc)
            continue;
        float map[169], outd[113 * 113], tmpd[13 * 113];
        int i1[113 * 113], i2[113 * 113];
        for (int trial = 0; trial < 300; trial++) {
            for (int k = 0; k < 169; k++) {
                s = s * 1103515245u + 12345u;
                map[k] = (s >> 9) % 3 ? 0.0f : (float)((s >> 12) % 10000) / 1000.0f;
            }
            float thr = (float)(trial % 100) / 10.0f;
            int n1 = up_mask_dense(&p, map, thr, i1, outd, tmpd), n2 = up_mask(&p, map, thr, i2);
            total += n1;
            if (n1 != n2 || memcmp(i1, i2, sizeof(int) * (size_t)n1))
                bad++;
        }
        up_plan_free(&p);
    }
    CHECK(bad == 0, "sparse mask equals dense mask on 600 random maps (%d differ, %d mask pixels)", bad, total);
}

/* up_apply (row products, two pixels per step) against the per-pixel
 * reference, bit for bit, on random signed maps with odd and even sizes
 * (segments of odd length, a last odd column) */
static void test_apply_vs_ref(void)
{
    test_group("up_apply vs the per-pixel reference");
    unsigned s = 4242;
    int bad = 0, n = 0;
    static float map[15 * 15], o1[227 * 227], o2[227 * 227], tmp[15 * 227];
    int shapes[3][6] = {{13, 113, 227, -64, 163, 16}, {14, 224, 224, -60, 155, 16}, {15, 57, 229, -3, 11, 4}};
    for (int sh = 0; sh < 3; sh++)
        for (int rule = 0; rule < 2; rule++) {
            int *z = shapes[sh];
            up_plan p;
            int prc = rule ? up_plan_nd(&p, z[0], z[0], z[1], z[1], z[2], z[3], z[4], z[5])
                           : up_plan_lite(&p, z[0], z[0], z[1], z[1]);
            CHECK(prc == 0, "plan %d -> %d, rule %d", z[0], z[1], rule);
            if (prc)
                continue;
            for (int trial = 0; trial < 20; trial++) {
                for (int k = 0; k < z[0] * z[0]; k++) {
                    s = s * 1103515245u + 12345u;
                    map[k] = (float)((int)((s >> 8) % 200001) - 100000) * 1.37e-4f;
                }
                up_apply(&p, map, o1, tmp);
                up_apply_ref(&p, map, o2, tmp);
                bad += memcmp(o1, o2, sizeof(float) * (size_t)(z[1] * z[1])) != 0;
                n++;
            }
            up_plan_free(&p);
        }
    CHECK(bad == 0, "up_apply equals up_apply_ref bit for bit (%d of %d maps differ)", bad, n);
}

int main(void)
{
    test_upsample();
    test_apply_vs_ref();
    return test_summary();
}
