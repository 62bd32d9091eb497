/* probe_steps.c - IBD tables and the equivariance check (probe_steps.h). */
#include "experiments/probe_steps.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/ibd.h"
#include "core/npy.h"
#include "experiments/commands.h"
#include "models/squeezenet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const int probe_ibd_default_classes[12] = {817, 814, 472, 404, 671, 345, 348, 281, 207, 11, 985, 970};

/* conv_final's weights [1000][K] as double, rows turned by R */
static int class_rows(const char *weights, const double *R, size_t K, double **out)
{
    net_t net;
    if (sqz_create(&net))
        return -1;
    int rc = sqz_load_dc(&net, weights, NULL, NULL), li = net_find(&net, "conv_final");
    if (!rc && (li < 0 || (size_t)net.layers[li].cin != K || net.layers[li].def->k != 1))
        rc = nd_fail("%s: conv_final is not a 1x1 map of %zu units", weights, K);
    size_t nc = rc ? 0 : (size_t)net.layers[li].def->cout;
    double *W = rc ? NULL : nd_malloc(nc * K * sizeof *W);
    if (!rc && !W)
        rc = -1;
    for (size_t i = 0; !rc && i < nc; i++)
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            if (!R)
                s = net.layers[li].wt[i * K + k];
            else
                for (size_t j = 0; j < K; j++)
                    s += R[k * K + j] * net.layers[li].wt[i * K + j];
            W[i * K + k] = s;
        }
    net_free(&net);
    *out = W;
    return rc;
}

static void ibd_rows(FILE *f, int cls, const char *name, const char *basis, const int *pick,
                     const double *coef, int n, double resid, const char *const *what)
{
    for (int j = 0; j < n; j++) {
        fprintf(f, "%d,", cls);
        nd_json_str(f, name);
        fprintf(f, ",%s,%d,", basis, j + 1);
        nd_json_str(f, what[pick[j]]);
        fprintf(f, ",%.6g,%.6g\n", coef[j], resid);
    }
}

int probe_ibd(const pr_result *r, const broden *ds, const char *weights, const double *R,
              const int *classes, int ncls, int kmax, double iou_thr, const char *dir)
{
    size_t K = r->K, nu = 0;
    char syn[4200], **names = NULL;
    const char *slash = strrchr(weights, '/');
    snprintf(syn, sizeof syn, "%.*ssynset_words.txt", slash ? (int)(slash - weights + 1) : 0, weights);
    double *W = NULL, *U = nd_calloc(K * K, sizeof *U), coef[64];
    const char **cname = nd_malloc(r->C * sizeof *cname), **uname = nd_malloc(K * sizeof *uname);
    char (*ubuf)[96] = nd_malloc(K * sizeof *ubuf);
    int pick[64], n, rc = -1;
    double resid;
    afile a = {0};
    char *path = nd_path_join(dir, "ibd.csv");
    if (kmax > 64)
        kmax = 64;
    if (!U || !cname || !uname || !ubuf || !path || classify_read_synsets(syn, &names) ||
        class_rows(weights, R, K, &W))
        goto done;
    for (size_t c = 0; c < r->C; c++)
        cname[c] = broden_label_name(ds, r->label[c]);
    for (size_t k = 0; k < K; k++) /* the units a dissection labels: basis vectors e_k */
        if (r->unit_iou[k] > iou_thr) {
            U[nu * K + k] = 1;
            snprintf(ubuf[nu], sizeof ubuf[nu], "unit %zu (%s %.3f)", k + 1,
                     broden_label_name(ds, r->unit_label[k]), r->unit_iou[k]);
            uname[nu] = ubuf[nu];
            nu++;
        }
    if (afile_open(&a, path))
        goto done;
    fprintf(a.f, "class,name,basis,rank,concept,coefficient,residual_share\n");
    for (int i = 0; i < ncls; i++) {
        int cls = classes[i];
        if (cls < 0 || cls >= 1000) {
            afile_abort(&a);
            nd_fail("ibd: class %d is not in 0..999", cls);
            goto done;
        }
        const double *v = W + (size_t)cls * K;
        if (ibd_decompose(v, r->w, r->C, K, kmax, pick, coef, &n, &resid) ||
            (ibd_rows(a.f, cls, names[cls], "probe", pick, coef, n, resid, cname), 0) ||
            ibd_decompose(v, U, nu, K, kmax, pick, coef, &n, &resid)) {
            afile_abort(&a);
            goto done;
        }
        ibd_rows(a.f, cls, names[cls], "unit", pick, coef, n, resid, uname);
    }
    rc = afile_commit(&a);
done:
    if (names)
        for (int i = 0; i < 1000; i++)
            free(names[i]);
    free(names), free(W), free(U), free(cname), free(uname), free(ubuf), free(path);
    return rc;
}

/* column `col` of ref_dir/probes.csv as doubles (n rows) */
static int read_column(const char *dir, const char *col, double *out, size_t n)
{
    char *p = nd_path_join(dir, "probes.csv");
    csv_file c;
    if (!p || csv_open(&c, p)) {
        free(p);
        return -1;
    }
    int j = csv_col(&c, col), rc = 0;
    size_t i = 0;
    if (j < 0)
        rc = nd_fail("%s: no column %s", p, col);
    while (!rc && csv_next(&c) > 0) {
        if (i >= n || j >= c.nf || csv_double(c.f[j], &out[i]))
            rc = nd_fail("%s:%d: %s: expected %zu rows of numbers", p, c.line, col, n);
        i++;
    }
    if (!rc && i != n)
        rc = nd_fail("%s: %zu rows, expected %zu", p, i, n);
    csv_close(&c);
    free(p);
    return rc;
}

int probe_check(const pr_result *r, const double *R, const char *ref_dir, char *json, size_t cap,
                double *wrel, double *diou)
{
    size_t K = r->K, C = r->C, n = 0;
    double *w0 = NULL, *iou0 = nd_malloc(C * sizeof *iou0);
    char *p = nd_path_join(ref_dir, "probe_weights.npy");
    int rc = -1;
    if (!iou0 || !p || npy_load_f64(p, &w0, &n))
        goto done;
    if (n != C * (K + 1)) {
        nd_fail("%s: %zu values, expected %zu concepts x %zu", p, n, C, K + 1);
        goto done;
    }
    if (read_column(ref_dir, "linear_test_iou", iou0, C))
        goto done;
    *wrel = 0, *diou = 0;
    for (size_t c = 0; c < C; c++) {
        double e = 0, nn = 0;
        for (size_t k = 0; k < K; k++) {
            double rw = 0;
            for (size_t j = 0; j < K; j++)
                rw += (R ? R[k * K + j] : (double)(j == k)) * w0[c * (K + 1) + j];
            e += (r->w[c * K + k] - rw) * (r->w[c * K + k] - rw);
            nn += rw * rw;
        }
        double rel = nn > 0 ? sqrt(e / nn) : sqrt(e);
        *wrel = rel > *wrel ? rel : *wrel;
        double d = fabs(r->linear[c].test_iou - iou0[c]);
        *diou = d > *diou ? d : *diou;
    }
    int pass = *wrel <= PROBE_W_REL_LIMIT && *diou <= PROBE_IOU_LIMIT;
    snprintf(json, cap, "\"equivariance\": {\"reference\": \"%s\", \"gtol\": %.3g, \"max_w_rel\": %.3g, "
                        "\"max_delta_test_iou\": %.3g, \"w_rel_limit\": %g, \"iou_limit\": %g, \"pass\": %s}",
             ref_dir, r->opt.gtol, *wrel, *diou, PROBE_W_REL_LIMIT, PROBE_IOU_LIMIT, pass ? "true" : "false");
    rc = 0;
done:
    free(w0), free(iou0), free(p);
    return rc;
}
