/* draw.c - per-image maxima, top-k ranking, masks and the cells of a sprite. */
#include "core/err.h"
#include "core/jobs.h"
#include "core/tally.h"
#include "report/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const nd_features *f;
    float *m;
    int tid, nt, rc;
    char err[512];
} max_job;

static int max_block(void *ctx, const float *x, size_t i0, size_t n)
{
    max_job *j = ctx;
    const nd_features *f = j->f;
    size_t hw = f->h * f->w;
    for (size_t q = 0; q < n * f->K; q++) {
        const float *p = x + q * hw;
        float mx = p[0];
        for (size_t r = 1; r < hw; r++)
            mx = p[r] > mx ? p[r] : mx;
        j->m[i0 * f->K + q] = mx;
    }
    return 0;
}

static void *max_worker(void *arg)
{
    max_job *j = arg;
    j->rc = nd_features_blocks(j->f, j->tid, j->nt, max_block, j, j->err, sizeof j->err);
    return NULL;
}

int rpt_maxact_pass(const nd_features *f, int threads, float *m)
{
    int nt = nd_threads(threads);
    max_job jobs[ND_MAX_THREADS];
    memset(jobs, 0, sizeof jobs);
    for (int k = 0; k < nt; k++)
        jobs[k].f = f, jobs[k].m = m, jobs[k].tid = k, jobs[k].nt = nt;
    nd_run_jobs(max_worker, jobs, sizeof jobs[0], nt);
    for (int k = 0; k < nt; k++)
        if (jobs[k].rc)
            return nd_fail("%s", jobs[k].err);
    return 0;
}

int rpt_maxact_load(const char *path, size_t N, size_t K, float *m)
{
    npy_t a;
    if (npy_open(&a, path))
        return -1;
    int rc = 0;
    if (a.dtype != NPY_F32 || a.ndim != 2 || a.shape[0] != N || a.shape[1] != K)
        rc = nd_fail("%s: expected float32 %zu x %zu (images x units)", path, N, K);
    else
        memcpy(m, a.data, N * K * sizeof *m);
    npy_close(&a);
    return rc;
}

/* a ranks before b: larger value, then lower index */
static int before(const float *m, size_t K, size_t u, size_t a, size_t b)
{
    float va = m[a * K + u], vb = m[b * K + u];
    return va > vb || (va == vb && a < b);
}

/* Insertion into a sorted list of at most k: O(N k), and k is small. */
void rpt_topk(const float *m, size_t N, size_t K, size_t u, size_t k, size_t *out)
{
    size_t n = 0;
    if (k > N)
        k = N;
    for (size_t i = 0; i < N; i++) {
        if (n == k && !before(m, K, u, i, out[n - 1]))
            continue;
        size_t p = n < k ? n++ : k - 1;
        while (p > 0 && before(m, K, u, i, out[p - 1])) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = i;
    }
}

int rpt_scale(int sh, int sw)
{
    int big = sh > sw ? sh : sw, s = 96 / (big > 0 ? big : 1);
    return s < 1 ? 1 : s;
}

int rpt_unit_mask(const nd_options *o, const nd_features *f, const float *map, double thr, int iw, int sh,
                  int sw, unsigned char *mask)
{
    up_plan p;
    if (nd_tally_plan(&p, f, o, sh, sw, iw))
        return -1;
    int *idx = nd_malloc(sizeof *idx * (size_t)sh * (size_t)sw);
    if (!idx) {
        up_plan_free(&p);
        return -1;
    }
    /* the dissector compares float32 maps with the float32 threshold */
    int n = up_mask(&p, map, (float)thr, idx);
    memset(mask, 0, (size_t)sh * (size_t)sw);
    for (int q = 0; q < n; q++)
        mask[idx[q]] = 1;
    free(idx);
    up_plan_free(&p);
    return 0;
}

size_t rpt_truth(const broden *ds, size_t i, int label, unsigned char *gt)
{
    int sh, sw;
    broden_image_size(ds, i, NULL, NULL, &sh, &sw);
    size_t npix = (size_t)sh * (size_t)sw, n = 0;
    memset(gt, 0, npix);
    if (label <= 0 || !broden_image_has_data(ds, i))
        return 0;
    const broden_layer *layers;
    const broden_imglabel *ils;
    size_t nl, ni;
    broden_image_layers(ds, i, &layers, &nl);
    broden_image_labels(ds, i, &ils, &ni);
    for (size_t k = 0; k < ni; k++)
        if (ils[k].label == label)
            memset(gt, 1, npix);
    for (size_t k = 0; k < nl; k++)
        for (size_t p = 0; p < npix; p++)
            gt[p] |= layers[k].map[p] == label;
    for (size_t p = 0; p < npix; p++)
        n += gt[p];
    return n;
}

static int edge(const unsigned char *mask, int sh, int sw, int y, int x)
{
    if (!mask[y * sw + x])
        return 0;
    return (y > 0 && !mask[(y - 1) * sw + x]) || (y + 1 < sh && !mask[(y + 1) * sw + x]) ||
           (x > 0 && !mask[y * sw + x - 1]) || (x + 1 < sw && !mask[y * sw + x + 1]);
}

void rpt_draw_cells(unsigned char *sprite, int W, int x0, int y1, const unsigned char *thumb, int sh, int sw,
                    int s, const unsigned char *mask, const unsigned char *gt)
{
    for (int y = 0; y < sh * s; y++)
        for (int x = 0; x < sw * s; x++) {
            int ly = y / s, lx = x / s, in = mask[ly * sw + lx], e = edge(mask, sh, sw, ly, lx);
            const unsigned char *t = thumb + ((size_t)y * (size_t)(sw * s) + (size_t)x) * 3;
            unsigned char *a = sprite + ((size_t)y * (size_t)W + (size_t)(x0 + x)) * 3;
            unsigned char *b = sprite + ((size_t)(y1 + y) * (size_t)W + (size_t)(x0 + x)) * 3;
            const unsigned char *g = gt[ly * sw + lx] ? RPT_GT_IN : RPT_GT_OUT;
            for (int c = 0; c < 3; c++) {
                a[c] = e ? RPT_EDGE[c] : in ? t[c] : rpt_dark(t[c]);
                b[c] = e ? RPT_EDGE[c] : g[c];
            }
        }
}
