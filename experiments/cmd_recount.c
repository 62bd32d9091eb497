/* cmd_recount.c - `dissect recount CSV`: recount detectors from a result
 * file (ours, or the references' layout), recomputing every IoU from the
 * count columns: IoU = I / (A + G - I). */
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/score.h"
#include "experiments/cli.h"
#include "experiments/commands.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    int col_label, col_truth, col_act, col_inter, col_iou;
} cat_cols;

typedef struct {
    int ncat;
    cat_cols *cat;
    size_t nunits;
    char **label;    /* [unit][cat] label name */
    double *iou;     /* [unit][cat] recomputed */
    double max_abs_err;
    size_t rows_category_mismatch;
} recount_data;

static char *const *sort_names;
static int by_name(const void *a, const void *b)
{
    return strcmp(sort_names[*(const size_t *)a], sort_names[*(const size_t *)b]);
}

/* The core's counting rule (nd_count_detectors) on this file: label names
 * become ids (equal names, equal ids), and each unit's best category is
 * taken by the core's rule. */
static int count(const recount_data *d, double thr, nd_counts *out)
{
    size_t K = d->nunits, C = (size_t)d->ncat, n = K * C;
    size_t *order = nd_malloc((n ? n : 1) * sizeof *order);
    int *ids = nd_malloc((n ? n : 1) * sizeof *ids), *unit_cat = nd_malloc((K ? K : 1) * sizeof *unit_cat);
    int *unit_label = nd_malloc((K ? K : 1) * sizeof *unit_label);
    double *unit_score = nd_malloc((K ? K : 1) * sizeof *unit_score);
    int rc = -1;
    if (order && ids && unit_cat && unit_label && unit_score) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        sort_names = d->label;
        qsort(order, n, sizeof *order, by_name);
        for (size_t i = 0, id = 0; i < n; i++) {
            if (i && strcmp(d->label[order[i]], d->label[order[i - 1]]))
                id++;
            ids[order[i]] = (int)id;
        }
        for (size_t u = 0; u < K; u++) {
            unit_cat[u] = nd_best_category(d->iou + u * C, C, &unit_score[u]);
            unit_label[u] = ids[u * C + (size_t)unit_cat[u]];
        }
        rc = nd_count_detectors(K, C, ids, d->iou, unit_cat, unit_label, unit_score, thr, out);
    }
    free(order), free(ids), free(unit_cat), free(unit_label), free(unit_score);
    return rc;
}


static void usage(FILE *f)
{
    fprintf(f, "usage: dissect recount RESULT.csv [--iou-threshold 0.04] [--out counts.json]\n"
               "\n"
               "Recompute IoU = I / (A + G - I) from the <cat>-truth, -activation and -intersect\n"
               "columns of a result file (ours or the references' layout), report the largest\n"
               "difference from its -iou columns, and count detectors (score > threshold) and\n"
               "unique detectors under both conventions, per category.\n"
               "\n"
               "example:\n"
               "  dissect recount ../shared/data/netdissect-release/caffe_reference_places205.csv\n");
}

int cmd_recount(int argc, char **argv)
{
    static const struct option opts[] = {{"iou-threshold", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    double thr = 0.04;
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'i') {
            if (cli_double(optarg, &thr) || thr < 0 || thr >= 1)
                return cli_usage_error("recount", "--iou-threshold: expected a number in [0, 1), got '%s'", optarg);
        } else if (c == 'o')
            out = optarg;
        else if (c == 'h') {
            usage(stdout);
            return ND_EXIT_OK;
        } else
            return cli_usage_error("recount", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return cli_usage_error("recount", "expected one result CSV file");
    const char *path = argv[optind];
    csv_file f;
    if (csv_open(&f, path))
        return cli_fail();
    recount_data d = {0};
    int rc = ND_EXIT_FAIL;
    int cu = csv_col(&f, "unit"), ccat = csv_col(&f, "category");
    if (cu < 0 || ccat < 0) {
        nd_fail("%s: header has no 'unit' or 'category' column (not a dissection result)", path);
        goto done;
    }
    if (!(d.cat = nd_calloc((size_t)f.nh, sizeof *d.cat)))
        goto done;
    for (int i = 0; i < f.nh; i++) {
        size_t n = strlen(f.hdr[i]);
        if (n > 6 && !strcmp(f.hdr[i] + n - 6, "-label")) {
            cat_cols *cc = &d.cat[d.ncat];
            if (!(cc->name = strndup(f.hdr[i], n - 6))) {
                nd_fail("out of memory");
                goto done;
            }
            char col[600];
            const char *suf[] = {"-truth", "-activation", "-intersect", "-iou"};
            int *dst[] = {&cc->col_truth, &cc->col_act, &cc->col_inter, &cc->col_iou};
            cc->col_label = i;
            for (int k = 0; k < 4; k++) {
                snprintf(col, sizeof col, "%s%s", cc->name, suf[k]);
                if ((*dst[k] = csv_col(&f, col)) < 0) {
                    nd_fail("%s: column '%s' missing (every <cat>-label needs -truth, -activation, "
                            "-intersect, -iou)", path, col);
                    free(cc->name);
                    goto done;
                }
            }
            d.ncat++;
        }
    }
    if (d.ncat == 0) {
        nd_fail("%s: no '<category>-label' columns", path);
        goto done;
    }
    size_t cap = 0;
    int r;
    while ((r = csv_next(&f)) > 0) {
        if (f.nf != f.nh) {
            nd_fail("%s:%d: %d fields, the header has %d", path, f.line, f.nf, f.nh);
            goto done;
        }
        if (d.nunits == cap) {
            size_t nc = cap ? 2 * cap : 256;
            char **nl = realloc(d.label, nc * (size_t)d.ncat * sizeof *d.label);
            if (nl)
                d.label = nl;
            double *ni = nl ? realloc(d.iou, nc * (size_t)d.ncat * sizeof *d.iou) : NULL;
            if (!ni) {
                nd_fail("out of memory");
                goto done;
            }
            d.iou = ni;
            cap = nc;
        }
        size_t u = d.nunits++;
        for (int k = 0; k < d.ncat; k++) {
            cat_cols *cc = &d.cat[k];
            double G, A, I, want;
            const char *names[] = {"-truth", "-activation", "-intersect", "-iou"};
            double *vals[] = {&G, &A, &I, &want};
            int cols[] = {cc->col_truth, cc->col_act, cc->col_inter, cc->col_iou};
            for (int q = 0; q < 4; q++)
                if (csv_double(f.f[cols[q]], vals[q]) || (q < 3 && *vals[q] < 0)) {
                    nd_fail("%s:%d: field '%s%s': expected a number, got '%s'", path, f.line, cc->name,
                            names[q], f.f[cols[q]]);
                    for (int j = 0; j < k; j++) /* this row's labels so far */
                        free(d.label[u * (size_t)d.ncat + (size_t)j]);
                    d.nunits = u;
                    goto done;
                }
            double den = A + G - I, iou = den > 0 ? I / den : 0;
            double e = fabs(iou - want);
            if (e > d.max_abs_err)
                d.max_abs_err = e;
            d.iou[u * (size_t)d.ncat + (size_t)k] = iou;
            if (!(d.label[u * (size_t)d.ncat + (size_t)k] = strdup(f.f[cc->col_label]))) {
                nd_fail("out of memory");
                for (int j = 0; j < k; j++)
                    free(d.label[u * (size_t)d.ncat + (size_t)j]);
                d.nunits = u;
                goto done;
            }
        }
        double best;
        int bestc = nd_best_category(d.iou + u * (size_t)d.ncat, (size_t)d.ncat, &best);
        if (strcmp(f.f[ccat], d.cat[bestc].name) && best > 0)
            d.rows_category_mismatch++;
    }
    if (r < 0)
        goto done;
    nd_counts cn;
    if (count(&d, thr, &cn))
        goto done;
    int det = cn.detectors, upc = cn.unique_percat, utl = cn.unique_toplabel;
    const int *cat_det = cn.cat_detectors, *cat_upc = cn.cat_unique_percat, *cat_utl = cn.cat_unique_toplabel;
    printf("%s: %zu units, %d categories\n", path, d.nunits, d.ncat);
    printf("IoU recomputed from counts: max abs difference from the -iou columns %.3e\n", d.max_abs_err);
    if (d.rows_category_mismatch)
        printf("warning: %zu rows name a category other than the recomputed best\n", d.rows_category_mismatch);
    printf("detectors (score > %g): %d\n", thr, det);
    printf("unique detectors: %d per-category (headline), %d top-label\n", upc, utl);
    printf("%-12s %9s %13s %10s\n", "category", "detectors", "unique(p-cat)", "unique(top)");
    for (int k = 0; k < d.ncat; k++)
        printf("%-12s %9d %13d %10d\n", d.cat[k].name, cat_det[k], cat_upc[k], cat_utl[k]);
    rc = ND_EXIT_OK;
    if (out) {
        afile a;
        if (afile_open(&a, out))
            rc = ND_EXIT_FAIL;
        else {
            fprintf(a.f, "{\n  \"source\": ");
            nd_json_str(a.f, path);
            fprintf(a.f, ",\n  \"units\": %zu,\n  \"iou_threshold\": %.17g,\n", d.nunits, thr);
            fprintf(a.f, "  \"iou_max_abs_error\": %.6e,\n  \"detectors\": %d,\n", d.max_abs_err, det);
            fprintf(a.f, "  \"unique_detectors\": {\"per_category\": %d, \"top_label\": %d, \"headline\": \"per_category\"},\n",
                    upc, utl);
            fprintf(a.f, "  \"categories\": [");
            for (int k = 0; k < d.ncat; k++) {
                fprintf(a.f, "%s\n    {\"name\": ", k ? "," : "");
                nd_json_str(a.f, d.cat[k].name);
                fprintf(a.f, ", \"detectors\": %d, \"unique_per_category\": %d, \"unique_top_label\": %d}",
                        cat_det[k], cat_upc[k], cat_utl[k]);
            }
            fprintf(a.f, "\n  ]\n}\n");
            if (afile_commit(&a))
                rc = ND_EXIT_FAIL;
        }
    }
    nd_counts_free(&cn);
done:
    if (rc == ND_EXIT_FAIL)
        cli_fail();
    for (size_t u = 0; u < d.nunits; u++)
        for (int k = 0; k < d.ncat; k++)
            free(d.label[u * (size_t)d.ncat + (size_t)k]);
    for (int k = 0; k < d.ncat; k++)
        free(d.cat[k].name);
    free(d.cat), free(d.label), free(d.iou);
    csv_close(&f);
    return rc;
}
