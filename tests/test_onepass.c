/* test_onepass.c - one read of a rotated source (core/onepass.h) gives the
 * bits of nd_dissect streaming it twice: the in-memory copy (budget large
 * enough) and the sieve (budget 0: kept maps in a temporary file, the rest
 * as their maxima), on 1 and 2 threads, under both profiles.
 *
 * The sieve keeps a kept map as its nodes within up_plan_reach of the
 * nodes above the floor (or whole): tested in memory, in the file, both,
 * and with every map whole; and up_plan_reach itself: up_mask reads
 * nothing outside that reach of the hot nodes (random maps, both rules,
 * plans of several shapes).
 *
 * Input: the NetDissect-Lite fixture (120 images, 256 units of 13 x 13),
 * rotated by a Haar Q^0.5, so maps are dense and of either sign.
 */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/onepass.h"
#include "core/upsample.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX "fixtures/netdissect-lite-mini/"

static int same_i64(const int64_t *a, const int64_t *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

/* every output of the dissection, bit for bit */
static int same_result(const nd_result *a, const nd_result *b)
{
    const nd_tally *x = &a->tally, *y = &b->tally;
    return a->K == b->K && a->N == b->N && !memcmp(a->thresholds, b->thresholds, a->K * sizeof *a->thresholds) &&
           a->thresholds_given == b->thresholds_given && a->threshold_method == b->threshold_method &&
           same_i64(x->G, y->G, x->L) && same_i64(x->I, y->I, x->K * x->L) && same_i64(x->A, y->A, x->K * x->C) &&
           same_i64(x->M, y->M, x->K) && !memcmp(a->maxact, b->maxact, a->N * a->K * sizeof *a->maxact) &&
           !memcmp(a->iou, b->iou, x->K * x->L * sizeof *a->iou) &&
           !memcmp(a->unit_label, b->unit_label, a->K * sizeof *a->unit_label) &&
           a->counts.detectors == b->counts.detectors && a->counts.unique_percat == b->counts.unique_percat;
}

static void print_stats(const char *what, const nd_once_stats *st, size_t hw)
{
    printf("  %s: kept %llu of %llu maps (%.1f%%), %.1f%% of them whole, reach %d; %.1f KB in memory + %.1f KB "
           "in the file (whole maps: %.1f KB)\n",
           what, (unsigned long long)st->kept, (unsigned long long)st->maps, 100.0 * (double)st->kept / (double)st->maps,
           st->kept ? 100.0 * (double)st->whole / (double)st->kept : 0.0, st->reach, (double)st->held / 1e3,
           (double)st->spilled / 1e3, (double)(st->kept * hw * sizeof(float)) / 1e3);
}

static void one_setting(const broden *ds, const nd_features *rf, nd_options o, const char *what)
{
    char g[256];
    snprintf(g, sizeof g, "one read of a rotated source, %s, %d thread(s)", what, o.threads);
    test_group(g);
    size_t hw = rf->h * rf->w;
    nd_result ref, held, sieved, once0, mixed, inmem, whole;
    nd_once_stats sh, ss, s0, sm, si, sw;
    CHECK(nd_dissect(ds, rf, &o, &ref) == 0, "streamed twice: %s", nd_errmsg());
    CHECK(nd_dissect_once(ds, rf, &o, (size_t)1 << 30, NULL, &held, &sh) == 0 && sh.how == ND_ONCE_HELD,
          "held in memory: %s", nd_errmsg());
    CHECK(nd_dissect_sieved(ds, rf, &o, 0, test_tmpdir(), &sieved, &ss) == 0 && ss.how == ND_ONCE_SIEVED,
          "sieved, budget 0 (the file only): %s", nd_errmsg());
    CHECK(nd_dissect_once(ds, rf, &o, 0, NULL, &once0, &s0) == 0 && s0.how == ND_ONCE_SIEVED,
          "budget 0 sieves: %s", nd_errmsg());
    CHECK(nd_dissect_sieved(ds, rf, &o, (size_t)1 << 20, NULL, &mixed, &sm) == 0, "sieved, 1 MB of memory: %s",
          nd_errmsg());
    CHECK(nd_dissect_sieved(ds, rf, &o, (size_t)1 << 30, NULL, &inmem, &si) == 0, "sieved, 1 GB of memory: %s",
          nd_errmsg());
    nd_sieve_sparse(0);
    CHECK(nd_dissect_sieved(ds, rf, &o, (size_t)1 << 20, NULL, &whole, &sw) == 0, "sieved, maps whole: %s",
          nd_errmsg());
    nd_sieve_sparse(1);
    print_stats("file only", &ss, hw);
    print_stats("1 MB of memory", &sm, hw);
    print_stats("1 GB of memory", &si, hw);
    print_stats("maps whole", &sw, hw);
    printf("  %d detectors\n", ref.counts.detectors);
    CHECK(ref.threshold_method == ND_THR_STREAM && !ref.thresholds_given, "the reference used the stream method");
    CHECK(same_result(&ref, &held), "in-memory copy: bit-identical to streaming twice");
    CHECK(same_result(&ref, &sieved), "sieve, kept maps in the file: bit-identical to streaming twice (thresholds, "
                                      "G I A M, maxima, IoU)");
    CHECK(same_result(&ref, &once0), "nd_dissect_once with budget 0: the same");
    CHECK(same_result(&ref, &mixed), "sieve, kept maps in memory and the file: the same");
    CHECK(same_result(&ref, &inmem), "sieve, kept maps in memory: the same");
    CHECK(same_result(&ref, &whole), "sieve, every kept map whole: the same");
    CHECK(ss.kept > 0 && ss.kept < ss.maps && ss.held == 0 && ss.spilled > 0, "budget 0: some maps kept, not all, "
                                                                                "all in the file");
    CHECK(sm.held > 0 && sm.held <= (size_t)1 << 20 && sm.spilled > 0 && sm.held + sm.spilled == ss.spilled,
          "1 MB: part in memory, the rest in the file, the same bytes");
    CHECK(si.held == ss.spilled && si.spilled == 0, "1 GB: all in memory");
    CHECK(ss.reach == 1 && ss.whole < ss.kept / 10 && ss.spilled < ss.kept * hw * sizeof(float) / 3,
          "reach 1; most kept maps sparse, under a third of the bytes of whole maps");
    CHECK(sw.reach == -1 && sw.whole == sw.kept && sw.held + sw.spilled == sw.kept * hw * sizeof(float),
          "sparse storage off: every kept map whole");
    CHECK(ref.counts.detectors > 0 || o.profile == ND_PROFILE_LITE, "the rotated layer has detectors to compare");
    nd_result_free(&ref), nd_result_free(&held), nd_result_free(&sieved), nd_result_free(&once0);
    nd_result_free(&mixed), nd_result_free(&inmem), nd_result_free(&whole);
}

/* Floors guessed from a sample: a good guess keeps fewer maps in one
 * pass, one far too high is caught and costs a second; same bits. */
static void guessed_floors(const broden *ds, const nd_features *rf, nd_options o)
{
    test_group("sieve: floors guessed from a sample (good guess; a miss caught)");
    nd_result ref, good, miss;
    nd_once_stats s0, sg, sm;
    CHECK(nd_dissect(ds, rf, &o, &ref) == 0, "%s", nd_errmsg());
    nd_sieve_guess(4, 0); /* no guess: a sample is at least one block of 8 images */
    CHECK(nd_dissect_sieved(ds, rf, &o, 0, NULL, &good, &s0) == 0 && s0.passes == 1, "no guess: %s", nd_errmsg());
    /* before a thread's first floor every node is above it: those maps
     * (more than UP_MASK_MAX_HOT nodes above the floor) are kept whole */
    CHECK(s0.whole >= rf->K && same_result(&ref, &good),
          "no guess: the first maps kept whole (%llu whole), bit-identical", (unsigned long long)s0.whole);
    nd_result_free(&good);
    nd_sieve_guess(32, 8);
    CHECK(nd_dissect_sieved(ds, rf, &o, 0, NULL, &good, &sg) == 0 && sg.passes == 1, "good guess, one pass: %s",
          nd_errmsg());
    nd_sieve_guess(16, 0.05); /* the sample's maximum: above the keep-th largest */
    CHECK(nd_dissect_sieved(ds, rf, &o, 0, NULL, &miss, &sm) == 0 && sm.passes == 2, "a miss runs again: %s",
          nd_errmsg());
    nd_sieve_guess(0, 0);
    printf("  kept: %llu maps without a guess, %llu with a good one, %llu after a miss (whole: %llu, %llu, %llu)\n",
           (unsigned long long)s0.kept, (unsigned long long)sg.kept, (unsigned long long)sm.kept,
           (unsigned long long)s0.whole, (unsigned long long)sg.whole, (unsigned long long)sm.whole);
    CHECK(sg.kept < s0.kept, "a good guess keeps fewer maps");
    CHECK(same_result(&ref, &good) && same_result(&ref, &miss), "both bit-identical to streaming twice");
    nd_result_free(&ref), nd_result_free(&good), nd_result_free(&miss);
}

/* Given thresholds: one tally pass reads the source once anyway. */
static void given_thresholds(const broden *ds, const nd_features *rf, nd_options o)
{
    test_group("one read: given thresholds stream once, the same result");
    double *thr = malloc(rf->K * sizeof *thr);
    for (size_t u = 0; u < rf->K; u++)
        thr[u] = 0.25 + 0.01 * (double)(u % 7);
    o.thresholds = thr;
    nd_result a, b;
    nd_once_stats st;
    CHECK(nd_dissect(ds, rf, &o, &a) == 0 && nd_dissect_once(ds, rf, &o, 0, NULL, &b, &st) == 0, "%s",
          nd_errmsg());
    CHECK(st.how == ND_ONCE_STREAMED && same_result(&a, &b) && b.thresholds_given, "streamed once, bit-identical");
    nd_result_free(&a), nd_result_free(&b);
    free(thr);
}

static void errors(const broden *ds, const nd_features *rf, nd_options o)
{
    test_group("one read: errors");
    nd_once_release(); /* else the last sieve's spare files are used */
    nd_result r;
    CHECK(nd_dissect_sieved(ds, rf, &o, 0, "/nonexistent-dir", &r, NULL) == -1 &&
              strstr(nd_errmsg(), "/nonexistent-dir/nd-sieve.") && strstr(nd_errmsg(), "temporary file"),
          "a temporary folder that does not exist is named: %s", nd_errmsg());
    nd_features short_f = *rf;
    short_f.N = rf->N - 1;
    CHECK(nd_dissect_sieved(ds, &short_f, &o, 0, NULL, &r, NULL) == -1 && strstr(nd_errmsg(), "index.csv"),
          "images that do not match the dataset: %s", nd_errmsg());
}

/* ---- up_plan_reach: what up_mask reads around the hot nodes ---- */

static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}
static float rndf(void) { return (float)(rnd() % 1000000) / 1e6f; } /* [0, 1) */

/* keep[p]: node p is within r rows and columns of a node of m above thr */
static void near_hot(const float *m, int h, int w, float thr, int r, unsigned char *keep)
{
    memset(keep, 0, (size_t)(h * w));
    for (int p = 0; p < h * w; p++)
        if (m[p] > thr)
            for (int y = p / w - r; y <= p / w + r; y++)
                for (int x = p % w - r; x <= p % w + r; x++)
                    if (y >= 0 && y < h && x >= 0 && x < w)
                        keep[y * w + x] = 1;
}

/* A map below thr (background in [thr - 1, thr]) with `hot` nodes above it,
 * clustered around a few centres or scattered. */
static void random_map(float *m, int h, int w, float thr, int hot)
{
    for (int p = 0; p < h * w; p++)
        m[p] = thr - rndf();
    int cy = (int)(rnd() % (unsigned)h), cx = (int)(rnd() % (unsigned)w), scattered = rnd() % 4 == 0;
    for (int k = 0; k < hot; k++) {
        if (k % 5 == 0 || scattered)
            cy = (int)(rnd() % (unsigned)h), cx = (int)(rnd() % (unsigned)w);
        int y = cy + (int)(rnd() % 3) - 1, x = cx + (int)(rnd() % 3) - 1;
        y = y < 0 ? 0 : y >= h ? h - 1 : y, x = x < 0 ? 0 : x >= w ? w - 1 : x;
        m[y * w + x] = thr + 0.01f + rndf();
    }
}

typedef struct {
    int nd, h, w, sh, sw, iw, offset, size, stride;
    int want;  /* the reach expected, -1 unchecked */
    int tight; /* every node at the reach's distance has a nonzero weight somewhere */
} plan_case;

static void reach_bounds_mask(void)
{
    test_group("up_plan_reach: up_mask reads nothing beyond the reach of the hot nodes");
    static const plan_case cases[] = {
        {1, 13, 13, 113, 113, 227, -64, 163, 16, 1, 1}, /* AlexNet conv5, the benchmarks' shape */
        {1, 7, 7, 56, 56, 224, -16, 99, 32, 1, 1},
        {1, 6, 9, 50, 70, 140, 0, 20, 16, 1, 1},
        {1, 27, 27, 113, 113, 227, -8, 51, 8, 1, 1},
        {0, 13, 13, 113, 113, 0, 0, 0, 0, 1, 1},
        {0, 7, 7, 112, 112, 0, 0, 0, 0, 1, 1},
        {0, 6, 9, 50, 70, 0, 0, 0, 0, 1, 1},
        /* the same size: pixels sit on nodes, neighbours read with weight 0 */
        {1, 13, 13, 13, 13, 13, 0, 1, 1, 1, 0},
        {0, 13, 13, 13, 13, 0, 0, 0, 0, 1, 0},
        /* shrinking: wider taps, the outermost of weight 0 */
        {0, 20, 20, 10, 10, 0, 0, 0, 0, -1, 0},
        {0, 13, 13, 7, 7, 0, 0, 0, 0, -1, 0},
    };
    const float thr = 1.0f;
    int bad = 0, maps = 0, seen_short = 0, cases_short = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const plan_case *k = &cases[c];
        up_plan p;
        int prc = k->nd ? up_plan_nd(&p, k->h, k->w, k->sh, k->sw, k->iw, k->offset, k->size, k->stride)
                        : up_plan_lite(&p, k->h, k->w, k->sh, k->sw);
        CHECK(prc == 0, "plan %s %dx%d -> %dx%d: %s", k->nd ? "ND" : "NDL", k->h, k->w, k->sh, k->sw, nd_errmsg());
        if (prc)
            continue;
        int r = up_plan_reach(&p), hw = k->h * k->w, npix = k->sh * k->sw;
        printf("  %s %dx%d -> %dx%d: reach %d\n", k->nd ? "ND " : "NDL", k->h, k->w, k->sh, k->sw, r);
        CHECK(k->want < 0 || r == k->want, "%s %dx%d -> %dx%d: reach %d, expected %d", k->nd ? "ND" : "NDL", k->h,
              k->w, k->sh, k->sw, r, k->want);
        float *m = malloc((size_t)hw * sizeof *m), *f = malloc((size_t)hw * sizeof *f);
        int *i0 = malloc((size_t)npix * sizeof *i0), *i1 = malloc((size_t)npix * sizeof *i1);
        unsigned char *keep = malloc((size_t)hw);
        int differs_short = 0;
        for (int t = 0; t < 400; t++) {
            int hot = t % 8 == 7 ? 1 + (int)(rnd() % UP_MASK_MAX_HOT) : 1 + (int)(rnd() % 8);
            hot = hot > hw ? hw : hot;
            random_map(m, k->h, k->w, thr, hot);
            int n0 = up_mask(&p, m, thr, i0);
            /* fillers <= thr: thr itself, far below, the map's minimum */
            for (int fk = 0; fk < 3; fk++) {
                float lo = m[0];
                for (int q = 1; q < hw; q++)
                    lo = m[q] < lo ? m[q] : lo;
                float fill = fk == 0 ? thr : fk == 1 ? thr - 5.0f : lo;
                near_hot(m, k->h, k->w, thr, r, keep);
                for (int q = 0; q < hw; q++)
                    f[q] = keep[q] ? m[q] : fill;
                int n1 = up_mask(&p, f, thr, i1);
                maps++;
                if (n1 != n0 || memcmp(i0, i1, (size_t)n0 * sizeof *i0)) {
                    if (bad++ < 3)
                        printf("  mask differs: %s %dx%d -> %dx%d, trial %d, filler %g: %d vs %d pixels\n",
                               k->nd ? "ND" : "NDL", k->h, k->w, k->sh, k->sw, t, (double)fill, n1, n0);
                }
                /* the test can see a reach one too short: nodes at the
                 * reach's distance are read */
                if (r >= 1 && fk == 1) {
                    near_hot(m, k->h, k->w, thr, r - 1, keep);
                    for (int q = 0; q < hw; q++)
                        f[q] = keep[q] ? m[q] : fill;
                    int n2 = up_mask(&p, f, thr, i1);
                    differs_short |= n2 != n0 || memcmp(i0, i1, (size_t)n0 * sizeof *i0);
                }
            }
        }
        cases_short += k->tight, seen_short += k->tight && differs_short;
        free(m), free(f), free(i0), free(i1), free(keep);
        up_plan_free(&p);
    }
    printf("  %d maps x fillers compared, %d masks differ; a reach one shorter changed masks on %d of the %d "
           "upsampling plans\n",
           maps, bad, seen_short, cases_short);
    CHECK(bad == 0, "masks with every node beyond the reach replaced by a filler <= thr: identical (%d differ)", bad);
    CHECK(seen_short == cases_short, "a reach one shorter is seen (%d of %d plans)", seen_short, cases_short);
}

int main(void)
{
    broden *ds;
    npy_t feat;
    nd_features f, rf;
    if (broden_open(&ds, test_shared_path(FIX "dataset"), NULL) || npy_open(&feat, test_shared_path(FIX "features.npy")) ||
        nd_features_from_npy(&f, &feat)) {
        printf("cannot open the fixture: %s\n", nd_errmsg());
        return 1;
    }
    reach_bounds_mask();
    size_t K = f.K;
    double *Q = malloc(K * K * sizeof *Q), *R = malloc(K * K * sizeof *R);
    if (rot_haar(Q, K, 7) || rot_power(R, Q, K, 0.5) || rot_features(&rf, &f, R)) {
        printf("cannot rotate: %s\n", nd_errmsg());
        return 1;
    }
    nd_options o;
    nd_options_default(&o);
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
    for (int nt = 1; nt <= 2; nt++) {
        o.threads = nt;
        one_setting(ds, &rf, o, "ND profile");
    }
    o.profile = ND_PROFILE_LITE, o.threads = 2;
    one_setting(ds, &rf, o, "NetDissect-Lite profile");
    given_thresholds(ds, &rf, o);
    for (int nt = 1; nt <= 2; nt++) {
        o.threads = nt;
        guessed_floors(ds, &rf, o);
    }
    errors(ds, &rf, o);
    rot_features_free(&rf);
    free(Q), free(R);
    npy_close(&feat);
    broden_free(ds);
    return test_summary();
}
