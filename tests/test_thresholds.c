/* test_thresholds.c - the threshold methods, chosen through nd_options and
 * read back from the result: the one-pass sampled window, the two histogram
 * passes and the select reference give the same thresholds bit for bit as a
 * full sort (exact ==: all pick the same two order statistics and
 * interpolate them by the same formula), AUTO takes the window when its
 * sample brackets the quantile and falls back to the histograms when it
 * does not, and a forced window that misses is an error.  4,096 images, so
 * that a sample exists (the window samples every N/1024-th image). */
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

/* Activations [N][K][2][2]; with `mislead`, unit 2's sampled images
 * (multiples of 4) see only small values, so the window misses. */
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
                    v = i % 4 == 0 ? 1.0f : (float)(i % 1000);
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
    CHECK(run(ds, &f, ND_THR_AUTO, t_auto, &used) == 0 && used == (mislead ? ND_THR_HISTOGRAM : ND_THR_WINDOW),
          "%s (used %s)", mislead ? "AUTO: a misleading sample falls back to histograms" : "AUTO: one pass with the sampled window",
          nd_thr_method_name(used));
    CHECK(run(ds, &f, ND_THR_HISTOGRAM, t_hist, &used) == 0 && used == ND_THR_HISTOGRAM, "HISTOGRAM: two passes");
    CHECK(run(ds, &f, ND_THR_SELECT, t_sel, &used) == 0 && used == ND_THR_SELECT, "SELECT: the reference");
    int bad = 0;
    for (size_t u = 0; u < K; u++)
        bad += t_auto[u] != want[u] || t_hist[u] != want[u] || t_sel[u] != want[u];
    CHECK(bad == 0, "auto, histograms, select and sorting agree bit for bit on %d units (%d differ)", K, bad);
    int wrc = run(ds, &f, ND_THR_WINDOW, t_win, &used);
    if (mislead)
        CHECK(wrc != 0 && strstr(nd_errmsg(), "window"), "WINDOW forced on a misleading sample fails: %s", nd_errmsg());
    else
        CHECK(wrc == 0 && used == ND_THR_WINDOW && !memcmp(t_win, want, sizeof want), "WINDOW forced: exact");
    npy_close(&a);
    free(x), free(col);
}

int main(void)
{
    test_group("thresholds: window, histograms and select agree (methods chosen in nd_options)");
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
