/* probe_io.c - the probes' result files. */
#include "core/format.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pr_category_means(const pr_result *r, const broden *ds, double *out)
{
    size_t nc = broden_num_categories(ds);
    memset(out, 0, nc * 5 * sizeof *out);
    for (size_t c = 0; c < r->C; c++) {
        double *m = out + (size_t)r->category[c] * 5;
        m[0] += r->single[c].test_iou, m[1] += r->binary[c].test_iou;
        m[2] += r->linear[c].test_iou, m[3] += r->units_needed[c], m[4] += 1;
    }
    for (size_t k = 0; k < nc; k++)
        for (int j = 0; j < 4; j++)
            out[k * 5 + j] = out[k * 5 + 4] > 0 ? out[k * 5 + j] / out[k * 5 + 4] : NAN;
}

static void write_csv(const pr_result *r, const broden *ds, FILE *f)
{
    fprintf(f, "label,name,category,unit,single_train_iou,single_test_iou,binary_train_iou,"
               "binary_test_iou,linear_train_iou,linear_test_iou,linear_threshold,linear_iters,"
               "linear_grad_rel,units_needed\n");
    for (size_t c = 0; c < r->C; c++) {
        fprintf(f, "%d,", r->label[c]);
        nd_json_str(f, broden_label_name(ds, r->label[c]));
        fprintf(f, ",%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%d,%.3g,%d\n",
                broden_category_name(ds, (size_t)r->category[c]), r->unit[c] + 1,
                r->single[c].train_iou, r->single[c].test_iou, r->binary[c].train_iou,
                r->binary[c].test_iou, r->linear[c].train_iou, r->linear[c].test_iou,
                r->linear[c].threshold, r->linear[c].iters, r->linear[c].grad_rel, r->units_needed[c]);
    }
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fprintf(f, "null");
}

static int write_summary(const pr_result *r, const broden *ds, FILE *f, const char *extra)
{
    const pr_options *o = &r->opt;
    size_t nc = broden_num_categories(ds);
    double *m = nd_malloc(nc * 5 * sizeof *m + 1);
    if (!m)
        return -1;
    pr_category_means(r, ds, m);
    nd_format_begin(f, "probes", ND_FORMAT_PROBES);
    fprintf(f, "  \"profile\": \"%s\",\n", nd_profile_name(o->profile));
    fprintf(f, "  \"split\": {\"source\": \"%s\", \"train_fraction\": %.9g, \"seed\": %lu, "
               "\"train_images\": %zu, \"test_images\": %zu},\n",
            r->split_from_index ? "index.csv split column" : "seeded shuffle", o->train_fraction,
            o->split_seed, r->n_train, r->n_test);
    fprintf(f, "  \"probe\": {\"loss\": \"class-balanced logistic at feature resolution against "
               "area-averaged labels (U^T y / U^T 1)\", \"l2\": %.9g, \"optimizer\": \"L-BFGS from w = 0\", "
               "\"history\": %d, \"max_iter\": %d, \"gtol\": %.3g, \"gtol_binary\": %.3g, \"inputs\": \"(a - mean) / one global "
               "scale\", \"threshold\": \"max train IoU at label resolution over %d levels (highest within 1e-4 relative)\", "
               "\"precision\": \"%s\"},\n",
            o->l2, o->history, o->max_iter, o->gtol, o->gtol_binary, PR_BINS, o->double_precision ? "double" : "float32");
    fprintf(f, "  \"dissection\": {\"quantile\": %.9g, \"thresholds\": \"train images only\"},\n", o->quantile);
    fprintf(f, "  \"units_needed\": {\"fraction\": %.9g, \"of\": \"full probe train IoU\", \"rank\": "
               "\"|w_k| * sd_k\", \"search\": \"grid 1,2,4,..,K then bisection to max(1, rtol n)\", \"rtol\": %.9g, "
               "\"refit_iter\": %d, \"refit_start\": \"grid: the full probe; bisection: the upper end's refit\"},\n",
            o->units_fraction, o->units_rtol, o->units_iter);
    fprintf(f, "  \"concepts\": %zu, \"units\": %zu,\n  \"categories\": [", r->C, r->K);
    for (size_t k = 0; k < nc; k++) {
        fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
        nd_json_str(f, broden_category_name(ds, k));
        fprintf(f, ", \"concepts\": %d, \"single_test_iou\": ", (int)m[k * 5 + 4]);
        json_num(f, m[k * 5]);
        fprintf(f, ", \"binary_test_iou\": ");
        json_num(f, m[k * 5 + 1]);
        fprintf(f, ", \"linear_test_iou\": ");
        json_num(f, m[k * 5 + 2]);
        fprintf(f, ", \"units_needed\": ");
        json_num(f, m[k * 5 + 3]);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"seconds\": {\"linear\": %.3f, \"units_needed\": %.3f, \"single\": %.3f, "
               "\"binary\": %.3f, \"total\": %.3f}",
            r->seconds_linear, r->seconds_units, r->seconds_single, r->seconds_binary, r->seconds_total);
    if (extra && *extra)
        fprintf(f, ",\n  %s", extra);
    fprintf(f, "\n}\n");
    free(m);
    return 0;
}

int pr_write(const pr_result *r, const broden *ds, const char *dir, const char *extra_json)
{
    if (nd_mkdirs(dir))
        return -1;
    char *p1 = nd_path_join(dir, "probes.csv"), *p2 = nd_path_join(dir, "probe_summary.json");
    char *p3 = nd_path_join(dir, "probe_weights.npy");
    double *wb = nd_malloc(r->C * (r->K + 1) * sizeof *wb);
    afile a1 = {0}, a2 = {0};
    int rc = -1;
    if (!p1 || !p2 || !p3 || !wb)
        goto done;
    for (size_t c = 0; c < r->C; c++) {
        memcpy(wb + c * (r->K + 1), r->w + c * r->K, r->K * sizeof *wb);
        wb[c * (r->K + 1) + r->K] = r->b[c];
    }
    size_t shape[2] = {r->C, r->K + 1};
    if (afile_open(&a1, p1))
        goto done;
    write_csv(r, ds, a1.f);
    if (afile_commit(&a1))
        goto done;
    if (afile_open(&a2, p2))
        goto done;
    if (write_summary(r, ds, a2.f, extra_json)) {
        afile_abort(&a2);
        goto done;
    }
    if (afile_commit(&a2) || npy_save(p3, NPY_F64, 2, shape, wb))
        goto done;
    rc = 0;
done:
    free(p1), free(p2), free(p3), free(wb);
    return rc;
}
