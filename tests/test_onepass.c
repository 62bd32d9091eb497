/* test_onepass.c - one read of a rotated source (core/onepass.h) gives the
 * bits of nd_dissect streaming it twice: the in-memory copy (budget large
 * enough) and the sieve (budget 0: kept maps in a temporary file, the rest
 * as their maxima), on 1 and 2 threads, under both profiles.
 *
 * Input: the NetDissect-Lite fixture (120 images, 256 units of 13 x 13),
 * rotated by a Haar Q^0.5, so maps are dense and of either sign.
 */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/onepass.h"
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

static void one_setting(const broden *ds, const nd_features *rf, nd_options o, const char *what)
{
    char g[256];
    snprintf(g, sizeof g, "one read of a rotated source, %s, %d thread(s)", what, o.threads);
    test_group(g);
    nd_result ref, held, sieved, once0;
    nd_once_stats sh, ss, s0;
    CHECK(nd_dissect(ds, rf, &o, &ref) == 0, "streamed twice: %s", nd_errmsg());
    CHECK(nd_dissect_once(ds, rf, &o, (size_t)1 << 30, NULL, &held, &sh) == 0 && sh.how == ND_ONCE_HELD,
          "held in memory: %s", nd_errmsg());
    CHECK(nd_dissect_sieved(ds, rf, &o, test_tmpdir(), &sieved, &ss) == 0 && ss.how == ND_ONCE_SIEVED,
          "sieved: %s", nd_errmsg());
    CHECK(nd_dissect_once(ds, rf, &o, 0, NULL, &once0, &s0) == 0 && s0.how == ND_ONCE_SIEVED,
          "budget 0 sieves: %s", nd_errmsg());
    printf("  sieve kept %llu of %llu maps (%.1f%%), %.1f MB spilled; %d detectors\n",
           (unsigned long long)ss.kept, (unsigned long long)ss.maps, 100.0 * (double)ss.kept / (double)ss.maps,
           (double)ss.spilled / 1e6, ref.counts.detectors);
    CHECK(ref.threshold_method == ND_THR_STREAM && !ref.thresholds_given, "the reference used the stream method");
    CHECK(same_result(&ref, &held), "in-memory copy: bit-identical to streaming twice");
    CHECK(same_result(&ref, &sieved), "sieve: bit-identical to streaming twice (thresholds, G I A M, maxima, IoU)");
    CHECK(same_result(&ref, &once0), "nd_dissect_once with budget 0: the same");
    CHECK(ss.kept > 0 && ss.kept < ss.maps && ss.spilled == ss.kept * rf->h * rf->w * sizeof(float),
          "some maps kept, not all, and exactly those spilled");
    CHECK(ref.counts.detectors > 0 || o.profile == ND_PROFILE_LITE, "the rotated layer has detectors to compare");
    nd_result_free(&ref), nd_result_free(&held), nd_result_free(&sieved), nd_result_free(&once0);
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
    CHECK(nd_dissect_sieved(ds, rf, &o, NULL, &good, &s0) == 0 && s0.passes == 1, "no guess: %s", nd_errmsg());
    nd_result_free(&good);
    nd_sieve_guess(32, 8);
    CHECK(nd_dissect_sieved(ds, rf, &o, NULL, &good, &sg) == 0 && sg.passes == 1, "good guess, one pass: %s",
          nd_errmsg());
    nd_sieve_guess(16, 0.05); /* the sample's maximum: above the keep-th largest */
    CHECK(nd_dissect_sieved(ds, rf, &o, NULL, &miss, &sm) == 0 && sm.passes == 2, "a miss runs again: %s",
          nd_errmsg());
    nd_sieve_guess(0, 0);
    printf("  kept: %llu maps without a guess, %llu with a good one, %llu after a miss\n",
           (unsigned long long)s0.kept, (unsigned long long)sg.kept, (unsigned long long)sm.kept);
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
    CHECK(nd_dissect_sieved(ds, rf, &o, "/nonexistent-dir", &r, NULL) == -1 &&
              strstr(nd_errmsg(), "/nonexistent-dir/nd-sieve.") && strstr(nd_errmsg(), "temporary file"),
          "a temporary folder that does not exist is named: %s", nd_errmsg());
    nd_features short_f = *rf;
    short_f.N = rf->N - 1;
    CHECK(nd_dissect_sieved(ds, &short_f, &o, NULL, &r, NULL) == -1 && strstr(nd_errmsg(), "index.csv"),
          "images that do not match the dataset: %s", nd_errmsg());
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
