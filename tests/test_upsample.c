/* test_upsample.c - both upsampling rules (core/upsample.h) by hand on tiny
 * maps, and the sparse mask against the dense one.  Comparisons are exact
 * (memcmp): the hand values are sums of weights 0, .25, .5, .75, 1 times
 * small integers, exact in float, and the sparse mask must equal the dense
 * one pixel for pixel. */
#include "core/upsample.h"
#include "tests/testutil.h"

#include <string.h>

/* Pixels where the runs rs/rl[0..nr) (up_mask_runs) and the mask
 * want[0..n) differ, plus one per run that is empty, out of order or
 * adjoins the one before (up_mask_runs merges them): 0 = the same mask. */
static int runs_differ(const int *want, int n, const int *rs, const int *rl, int nr)
{
    int bad = 0, q = 0;
    for (int r = 0; r < nr; r++) {
        bad += rl[r] < 1 || (r > 0 && rs[r] <= rs[r - 1] + rl[r - 1]);
        for (int k = 0; k < rl[r]; k++, q++)
            bad += q >= n || want[q] != rs[r] + k;
    }
    return bad + (q < n ? n - q : 0);
}

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
    int bad = 0, total = 0, bad_runs = 0, worst_runs = 0;
    for (int rule = 0; rule < 2; rule++) {
        int prc = rule ? up_plan_nd(&p, 13, 13, 113, 113, 227, -64, 163, 16) : up_plan_lite(&p, 13, 13, 113, 113);
        CHECK(prc == 0, "plan 13x13 -> 113x113, rule %d", rule);
        if (prc)
            continue;
        float map[169], outd[113 * 113], tmpd[13 * 113];
        int i1[113 * 113], i2[113 * 113], rs[113 * 113], rl[113 * 113];
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
            int nr = up_mask_runs(&p, map, thr, rs, rl), d = runs_differ(i1, n1, rs, rl, nr);
            bad_runs += d > 0, worst_runs = d > worst_runs ? d : worst_runs;
        }
        up_plan_free(&p);
    }
    CHECK(bad == 0, "sparse mask equals dense mask on 600 random maps (%d differ, %d mask pixels)", bad, total);
    CHECK(bad_runs == 0, "its runs (up_mask_runs) are the dense mask on the 600 maps (%d differ, worst by %d pixels)",
          bad_runs, worst_runs);
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

/* up_mask's two instruction-set paths (SSE2 baseline and, where the CPU
 * has it, AVX2) against each other and against the dense mask, on random
 * sparse maps under several ND geometries (segments of odd lengths, odd
 * and non-square widths, clamped edges): thresholds equal to a node's
 * value, integer maps whose upsampled values hit the threshold exactly,
 * signed maps, no hot node and more than 64. */
static void test_mask_paths(void)
{
    test_group("up_mask: SSE2 and AVX2 paths against the dense mask");
    /* h, w, sh, sw, iw, offset, size, stride */
    static const int geo[5][8] = {{13, 13, 113, 113, 227, -64, 163, 16}, {14, 14, 224, 224, 224, -60, 155, 16},
                                  {15, 15, 57, 57, 229, -3, 11, 4},    {5, 9, 37, 71, 142, 0, 15, 16},
                                  {7, 3, 61, 23, 46, 5, 9, 6}};
    static float map[15 * 15], out[224 * 224], tmp[15 * 224];
    static int want[224 * 224], base[224 * 224], best[224 * 224];
    static int rs[224 * 224], rl[224 * 224];
    int bad_runs[2] = {0, 0}, worst_runs = 0;
    unsigned s = 9001;
    int bad_base = 0, bad_best = 0, maps = 0, ties = 0, sparse = 0;
    long pixels = 0;
    for (int g = 0; g < 5; g++) {
        const int *z = geo[g];
        up_plan p;
        int prc = up_plan_nd(&p, z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7]);
        CHECK(prc == 0, "plan ND %dx%d -> %dx%d", z[0], z[1], z[2], z[3]);
        if (prc)
            continue;
        int nn = z[0] * z[1];
        for (int trial = 0; trial < 2000; trial++) {
            /* kind 0: small integers (exact interpolated values, ties with
             * integer and half thresholds); 1: signed; 2: threshold equal to
             * a hot node; 3: uniform, no background (many hot nodes) */
            int kind = trial % 4, hot = trial % 97 == 0 ? 80 : 1 + trial % 7;
            for (int k = 0; k < nn; k++) {
                s = s * 1103515245u + 12345u;
                map[k] = kind == 0   ? (float)((s >> 8) % 4)
                         : kind == 1 ? (float)((int)((s >> 8) % 20001) - 10000) * 1e-4f
                         : kind == 2 ? (float)((s >> 9) % 10000) / 10000.0f
                                     : (float)((s >> 9) % 10000) / 1000.0f;
            }
            float top = 0;
            for (int k = 0; k < hot && kind < 3; k++) { /* a few hot nodes over the background */
                s = s * 1103515245u + 12345u;
                float v = kind == 0 ? (float)(4 + (s >> 16) % 9) : 2.0f + (float)((s >> 16) % 1000) / 77.0f;
                map[(s >> 8) % (unsigned)nn] = v;
                top = k == 0 ? v : top;
            }
            s = s * 1103515245u + 12345u;
            float thr = kind == 0   ? (float)(3 + (s >> 8) % 6) + ((s >> 12) & 1 ? 0.5f : 0.0f)
                        : kind == 1 ? (float)((s >> 8) % 600) / 100.0f - 1.0f
                        : kind == 2 ? top
                                    : 9.0f + (float)((s >> 8) % 100) / 100.0f;
            int nhot = 0;
            for (int k = 0; k < nn; k++)
                nhot += map[k] > thr;
            sparse += nhot >= 1 && nhot <= 64;
            int n0 = up_mask_dense(&p, map, thr, want, out, tmp);
            int n1 = up_mask_isa(&p, map, thr, base, UP_ISA_BASELINE), n2 = up_mask_isa(&p, map, thr, best, UP_ISA_BEST);
            for (int i = 0; i < z[2] * z[3]; i++)
                ties += out[i] == thr;
            bad_base += n1 != n0 || memcmp(base, want, sizeof(int) * (size_t)n0);
            bad_best += n2 != n0 || memcmp(best, want, sizeof(int) * (size_t)n0);
            for (int isa = 0; isa < 2; isa++) {
                int nr = up_mask_runs_isa(&p, map, thr, rs, rl, isa ? UP_ISA_BEST : UP_ISA_BASELINE);
                int d = runs_differ(want, n0, rs, rl, nr);
                bad_runs[isa] += d > 0, worst_runs = d > worst_runs ? d : worst_runs;
            }
            pixels += n0, maps++;
        }
        up_plan_free(&p);
    }
    int avx2 = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    avx2 = __builtin_cpu_supports("avx2");
#endif
    CHECK(bad_base == 0, "SSE2 path equals the dense mask on %d maps (%d differ; %ld mask pixels, %d pixels equal to thr)",
          maps, bad_base, pixels, ties);
    CHECK(bad_best == 0, "%s path equals the dense mask on %d maps (%d differ)", avx2 ? "AVX2" : "best (no AVX2 here: SSE2)",
          maps, bad_best);
    CHECK(bad_runs[0] == 0 && bad_runs[1] == 0,
          "the runs (up_mask_runs) of both paths are the dense mask on %d maps (SSE2 %d, %s %d differ; worst by %d "
          "pixels)", maps, bad_runs[0], avx2 ? "AVX2" : "best", bad_runs[1], worst_runs);
    CHECK(ties > 0 && sparse > maps / 2,
          "the maps test the strict comparison (%d upsampled pixels equal their threshold) and the sparse path (%d maps "
          "with 1 to 64 hot nodes)", ties, sparse);
}

int main(void)
{
    test_upsample();
    test_apply_vs_ref();
    test_mask_paths();
    return test_summary();
}
