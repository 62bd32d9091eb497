/* cmd_recount.c - `dissect recount CSV`: recount detectors from a result
 * file (ours, or the references' layout), recomputing every IoU from the
 * count columns: IoU = I / (A + G - I). */
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
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

static int distinct_strings(char **v, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(v[i], v[j]);
        d += !seen;
    }
    return d;
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
    d.cat = calloc((size_t)f.nh, sizeof *d.cat);
    for (int i = 0; i < f.nh; i++) {
        size_t n = strlen(f.hdr[i]);
        if (n > 6 && !strcmp(f.hdr[i] + n - 6, "-label")) {
            cat_cols *cc = &d.cat[d.ncat];
            cc->name = strndup(f.hdr[i], n - 6);
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
            cap = cap ? 2 * cap : 256;
            d.label = realloc(d.label, cap * (size_t)d.ncat * sizeof *d.label);
            d.iou = realloc(d.iou, cap * (size_t)d.ncat * sizeof *d.iou);
            if (!d.label || !d.iou) {
                nd_fail("out of memory");
                goto done;
            }
        }
        size_t u = d.nunits++;
        double best = -1;
        int bestc = 0;
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
            d.label[u * (size_t)d.ncat + (size_t)k] = strdup(f.f[cc->col_label]);
            if (iou >= best)
                best = iou, bestc = k;
        }
        if (strcmp(f.f[ccat], d.cat[bestc].name) && best > 0)
            d.rows_category_mismatch++;
    }
    if (r < 0)
        goto done;
    /* counts */
    char **tmp = calloc(d.nunits + 1, sizeof *tmp);
    int *cat_det = calloc((size_t)d.ncat, sizeof(int)), *cat_upc = calloc((size_t)d.ncat, sizeof(int)),
        *cat_utl = calloc((size_t)d.ncat, sizeof(int));
    int det = 0, upc = 0, utl = 0;
    for (int k = 0; k < d.ncat; k++) {
        int n = 0;
        for (size_t u = 0; u < d.nunits; u++)
            if (d.iou[u * (size_t)d.ncat + (size_t)k] > thr)
                tmp[n++] = d.label[u * (size_t)d.ncat + (size_t)k];
        cat_upc[k] = distinct_strings(tmp, n);
        upc += cat_upc[k];
        n = 0;
        for (size_t u = 0; u < d.nunits; u++) {
            double best = -1;
            int bc = 0;
            for (int q = 0; q < d.ncat; q++)
                if (d.iou[u * (size_t)d.ncat + (size_t)q] >= best)
                    best = d.iou[u * (size_t)d.ncat + (size_t)q], bc = q;
            if (best > thr && bc == k)
                tmp[n++] = d.label[u * (size_t)d.ncat + (size_t)k];
        }
        cat_det[k] = n;
        det += n;
        cat_utl[k] = distinct_strings(tmp, n);
        utl += cat_utl[k];
    }
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
    free(tmp), free(cat_det), free(cat_upc), free(cat_utl);
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
