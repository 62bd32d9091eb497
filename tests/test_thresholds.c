/* test_thresholds.c - the threshold methods, chosen through nd_options and
 * read back from the result: the one-pass candidate stream, the two
 * histogram passes and the select reference give the same thresholds bit
 * for bit as a full sort (exact ==: all pick the same two order statistics
 * and interpolate them by the same formula), AUTO takes the stream, and a
 * sample that misleads the stream's starting floors still gives the exact
 * thresholds (the misled unit read again on its own; test_topk checks the
 * miss is detected and named).
 * Shards of the images that sum their histogram counts (dissect-mpi) get
 * the stream's thresholds too.
 * 4,096 images, so that the stream samples (64 images, in blocks of 8 at
 * multiples of N/8: the misleading images at multiples of N/4 are in half
 * of them). */
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/quantile.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { N = 4096, K = 3, HW = 4 };

/* N images of 2x2 label maps, each with the image-level label 1 (category
 * "scene"), so the tally has something to count. */
static const char *make_dataset(void)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/thr", test_tmpdir());
    mkdir(dir, 0777);
    size_t cap = 64 + (size_t)N * 40;
    char *idx = malloc(cap);
    if (!idx) {
        CHECK(0, "out of memory");
        return NULL;
    }
    size_t len = (size_t)snprintf(idx, cap, "image,split,ih,iw,sh,sw,scene\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(idx + len, cap - len, "i%d.jpg,train,2,2,2,2,1\n", i);
    int rc = test_write_text(dir, "index.csv", idx);
    free(idx);
    rc |= test_write_text(dir, "category.csv", "name,first,last,count,frequency\nscene,1,1,1,1\n");
    rc |= test_write_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,beach,scene(1),1,1,\n");
    rc |= test_write_text(dir, "c_scene.csv", "code,number,name,frequency,coverage\n1,1,beach,1,1\n");
    return rc ? NULL : dir;
}

/* Activations [N][K][2][2]; with `mislead`, unit 2's sampled images hold
 * values above all others but fewer than the tail needs, so the floors
 * guessed from them are too high. */
static float *make_activations(int mislead)
{
    float *x = malloc((size_t)N * K * HW * sizeof *x);
    if (!x)
        return NULL;
    unsigned s = 99;
    for (size_t i = 0; i < N; i++)
        for (size_t u = 0; u < K; u++)
            for (size_t k = 0; k < HW; k++) {
                s = s * 1103515245u + 12345u;
                float v = (float)((s >> 8) % 100000) / 1000.0f - 20.0f;
                if (u == 2 && mislead)
                    v = i % (N / 4) < 8 ? 1000.0f + (float)((s >> 8) % 100) / 100.0f : (float)(i % 1000);
                x[(i * K + u) * HW + k] = v > 0 ? v : 0;
            }
    return x;
}

/* Dissect with method m; 0 and the thresholds/method used, or -1. */
static int run(const broden *ds, const nd_features *f, nd_thr_method m, double *thr, nd_thr_method *used)
{
    nd_options o;
    nd_options_default(&o);
    o.profile = ND_PROFILE_LITE;
    o.threads = 2;
    o.threshold_method = m;
    nd_result r;
    if (nd_dissect(ds, f, &o, &r))
        return -1;
    memcpy(thr, r.thresholds, K * sizeof *thr);
    *used = r.threshold_method;
    int given = r.thresholds_given;
    nd_result_free(&r);
    return given ? -1 : 0;
}

/* Thresholds as the ranks of a distributed run get them (dissect-mpi):
 * each shard of images runs both histogram passes on its own stream, the
 * shards' qt_stream_counts are summed before each pass ends.  Shard ends at
 * 0, 1000 (not a multiple of the 16-image block), 2048 and N. */
static int sharded(const nd_features *f, double *out)
{
    enum { S = 3 };
    const size_t cut[S + 1] = {0, 1000, 2048, N};
    qt_stream *q[S];
    int rc = 0;
    for (int k = 0; k < S; k++)
        if (!(q[k] = qt_stream_new(K, (uint64_t)N * HW, 0.995)))
            rc = -1;
    for (int pass = 1; pass <= 2 && !rc; pass++) {
        for (int k = 0; k < S && !rc; k++)
            rc = nd_thresholds_pass(f, q[k], pass, cut[k], cut[k + 1], 2);
        size_t n = 0;
        uint32_t *sum = rc ? NULL : qt_stream_counts(q[0], pass, &n);
        for (int k = 1; k < S && !rc; k++) {
            size_t m;
            const uint32_t *c = qt_stream_counts(q[k], pass, &m);
            for (size_t i = 0; i < n; i++)
                sum[i] += c[i];
        }
        for (int k = 1; k < S && !rc; k++)
            memcpy(qt_stream_counts(q[k], pass, &n), sum, n * sizeof *sum);
        for (int k = 0; k < S && !rc; k++)
            rc = qt_stream_end_pass(q[k], pass);
    }
    if (!rc)
        qt_stream_result(q[S - 1], out);
    for (int k = 0; k < S; k++)
        qt_stream_free(q[k]);
    return rc;
}

static void threshold_paths(const broden *ds, int mislead)
{
    float *x = make_activations(mislead), *col = malloc((size_t)N * HW * sizeof *col);
    if (!x || !col) {
        CHECK(0, "out of memory");
        free(x), free(col);
        return;
    }
    char fp[4300];
    snprintf(fp, sizeof fp, "%s/thr%d.npy", test_tmpdir(), mislead);
    size_t shape[4] = {N, K, 2, 2};
    npy_t a;
    nd_features f;
    if (npy_save(fp, NPY_F32, 4, shape, x) || npy_open(&a, fp)) {
        CHECK(0, "activations: %s", nd_errmsg());
        free(x), free(col);
        return;
    }
    CHECK(nd_features_from_npy(&f, &a) == 0, "features: %s", nd_errmsg());
    double want[K], t_auto[K], t_hist[K], t_sel[K], t_win[K];
    for (size_t u = 0; u < K; u++) {
        for (size_t i = 0; i < N; i++)
            memcpy(col + i * HW, x + (i * K + u) * HW, HW * sizeof *col);
        want[u] = qt_sorted(col, (size_t)N * HW, 0.995);
    }
    nd_thr_method used = ND_THR_AUTO;
    CHECK(run(ds, &f, ND_THR_AUTO, t_auto, &used) == 0 && used == ND_THR_STREAM, "%s (used %s)",
          mislead ? "AUTO: the stream, after a misleading sample" : "AUTO: the stream", nd_thr_method_name(used));
    CHECK(run(ds, &f, ND_THR_HISTOGRAM, t_hist, &used) == 0 && used == ND_THR_HISTOGRAM, "HISTOGRAM: two passes");
    CHECK(run(ds, &f, ND_THR_SELECT, t_sel, &used) == 0 && used == ND_THR_SELECT, "SELECT: the reference");
    int bad = 0;
    for (size_t u = 0; u < K; u++)
        bad += t_auto[u] != want[u] || t_hist[u] != want[u] || t_sel[u] != want[u];
    CHECK(bad == 0, "auto, histograms, select and sorting agree bit for bit on %d units (%d differ)", K, bad);
    int wrc = run(ds, &f, ND_THR_STREAM, t_win, &used);
    CHECK(wrc == 0 && used == ND_THR_STREAM && !memcmp(t_win, want, sizeof want), "STREAM forced: exact");
    /* the distributed path is two histogram passes, the single process's
     * the stream: both are exact order statistics, so equal bit for bit */
    double t_shard[K];
    CHECK(sharded(&f, t_shard) == 0 && !memcmp(t_shard, t_win, sizeof t_win) && !memcmp(t_shard, want, sizeof want),
          "3 shards' histogram counts summed (the MPI path) == the STREAM thresholds%s, bit for bit",
          mislead ? " after a misleading sample" : "");
    npy_close(&a);
    free(x), free(col);
}

int main(void)
{
    test_group("thresholds: stream, histograms and select agree (methods chosen in nd_options)");
    const char *dir = make_dataset();
    broden *ds = NULL;
    if (!dir || broden_open(&ds, dir, NULL)) {
        CHECK(0, "dataset: %s", nd_errmsg());
        return test_summary();
    }
    threshold_paths(ds, 0);
    threshold_paths(ds, 1);
    broden_free(ds);
    return test_summary();
}
