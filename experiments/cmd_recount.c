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

/* Options; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, double *thr, const char **out)
{
    static const struct option opts[] = {{"iou-threshold", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'i') {
            if (cli_double(optarg, thr) || *thr < 0 || *thr >= 1)
                return cli_usage_error("recount", "--iou-threshold: expected a number in [0, 1), got '%s'", optarg);
        } else if (c == 'o')
            *out = optarg;
        else if (c == 'h') {
            usage(stdout);
            return ND_EXIT_OK;
        } else
            return cli_usage_error("recount", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return cli_usage_error("recount", "expected one result CSV file");
    return -1;
}

/* The four count columns of category cc (named from its -label column). */
static int find_count_cols(const csv_file *f, cat_cols *cc, const char *path)
{
    static const char *suf[] = {"-truth", "-activation", "-intersect", "-iou"};
    int *dst[] = {&cc->col_truth, &cc->col_act, &cc->col_inter, &cc->col_iou};
    char col[600];
    for (int k = 0; k < 4; k++) {
        snprintf(col, sizeof col, "%s%s", cc->name, suf[k]);
        if ((*dst[k] = csv_col(f, col)) < 0)
            return nd_fail("%s: column '%s' missing (every <cat>-label needs -truth, -activation, "
                           "-intersect, -iou)", path, col);
    }
    return 0;
}

/* Every "<cat>-label" column and its count columns. */
static int read_header(const csv_file *f, recount_data *d, const char *path)
{
    if (csv_col(f, "unit") < 0 || csv_col(f, "category") < 0)
        return nd_fail("%s: header has no 'unit' or 'category' column (not a dissection result)", path);
    if (!(d->cat = nd_calloc((size_t)f->nh, sizeof *d->cat)))
        return -1;
    for (int i = 0; i < f->nh; i++) {
        size_t n = strlen(f->hdr[i]);
        if (n <= 6 || strcmp(f->hdr[i] + n - 6, "-label"))
            continue;
        cat_cols *cc = &d->cat[d->ncat];
        if (!(cc->name = nd_malloc(n - 5)))
            return -1;
        memcpy(cc->name, f->hdr[i], n - 6);
        cc->name[n - 6] = 0;
        d->ncat++;
        cc->col_label = i;
        if (find_count_cols(f, cc, path))
            return -1;
    }
    return d->ncat ? 0 : nd_fail("%s: no '<category>-label' columns", path);
}

static int grow_units(recount_data *d, size_t *cap)
{
    if (d->nunits < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : 256;
    char **nl = realloc(d->label, nc * (size_t)d->ncat * sizeof *d->label);
    if (nl)
        d->label = nl;
    double *ni = nl ? realloc(d->iou, nc * (size_t)d->ncat * sizeof *d->iou) : NULL;
    if (!ni)
        return nd_fail("out of memory (%zu units)", nc);
    d->iou = ni;
    *cap = nc;
    return 0;
}

/* One category of the current row: IoU recomputed, label copied. */
static int read_cell(const csv_file *f, recount_data *d, size_t u, int k, const char *path)
{
    const cat_cols *cc = &d->cat[k];
    static const char *names[] = {"-truth", "-activation", "-intersect", "-iou"};
    double v[4];
    int cols[] = {cc->col_truth, cc->col_act, cc->col_inter, cc->col_iou};
    for (int q = 0; q < 4; q++)
        if (csv_double(f->f[cols[q]], &v[q]) || (q < 3 && v[q] < 0))
            return nd_fail("%s:%d: field '%s%s': expected a number, got '%s'", path, f->line, cc->name,
                           names[q], f->f[cols[q]]);
    double G = v[0], A = v[1], I = v[2], den = A + G - I, iou = den > 0 ? I / den : 0;
    double e = fabs(iou - v[3]);
    if (e > d->max_abs_err)
        d->max_abs_err = e;
    size_t at = u * (size_t)d->ncat + (size_t)k;
    d->iou[at] = iou;
    size_t n = strlen(f->f[cc->col_label]) + 1;
    if (!(d->label[at] = nd_malloc(n)))
        return -1;
    memcpy(d->label[at], f->f[cc->col_label], n);
    return 0;
}

static int read_rows(csv_file *f, recount_data *d, const char *path)
{
    int ccat = csv_col(f, "category"), r;
    size_t cap = 0;
    while ((r = csv_next(f)) > 0) {
        if (f->nf != f->nh)
            return nd_fail("%s:%d: %d fields, the header has %d", path, f->line, f->nf, f->nh);
        if (grow_units(d, &cap))
            return -1;
        size_t u = d->nunits;
        for (int k = 0; k < d->ncat; k++)
            if (read_cell(f, d, u, k, path)) {
                for (int j = 0; j < k; j++) /* this row's labels so far */
                    free(d->label[u * (size_t)d->ncat + (size_t)j]);
                return -1;
            }
        d->nunits++;
        double best;
        int bestc = nd_best_category(d->iou + u * (size_t)d->ncat, (size_t)d->ncat, &best);
        if (strcmp(f->f[ccat], d->cat[bestc].name) && best > 0)
            d->rows_category_mismatch++;
    }
    return r < 0 ? -1 : 0;
}

static void print_counts(const recount_data *d, const nd_counts *cn, double thr, const char *path)
{
    printf("%s: %zu units, %d categories\n", path, d->nunits, d->ncat);
    printf("IoU recomputed from counts: max abs difference from the -iou columns %.3e\n", d->max_abs_err);
    if (d->rows_category_mismatch)
        printf("warning: %zu rows name a category other than the recomputed best\n", d->rows_category_mismatch);
    printf("detectors (score > %g): %d\n", thr, cn->detectors);
    printf("unique detectors: %d per-category (headline), %d top-label\n", cn->unique_percat, cn->unique_toplabel);
    printf("%-12s %9s %13s %10s\n", "category", "detectors", "unique(p-cat)", "unique(top)");
    for (int k = 0; k < d->ncat; k++)
        printf("%-12s %9d %13d %10d\n", d->cat[k].name, cn->cat_detectors[k], cn->cat_unique_percat[k],
               cn->cat_unique_toplabel[k]);
}

static int write_json(const recount_data *d, const nd_counts *cn, double thr, const char *path, const char *out)
{
    afile a;
    if (afile_open(&a, out))
        return -1;
    fprintf(a.f, "{\n  \"source\": ");
    nd_json_str(a.f, path);
    fprintf(a.f, ",\n  \"units\": %zu,\n  \"iou_threshold\": %.17g,\n", d->nunits, thr);
    fprintf(a.f, "  \"iou_max_abs_error\": %.6e,\n  \"detectors\": %d,\n", d->max_abs_err, cn->detectors);
    fprintf(a.f, "  \"unique_detectors\": {\"per_category\": %d, \"top_label\": %d, \"headline\": \"per_category\"},\n",
            cn->unique_percat, cn->unique_toplabel);
    fprintf(a.f, "  \"categories\": [");
    for (int k = 0; k < d->ncat; k++) {
        fprintf(a.f, "%s\n    {\"name\": ", k ? "," : "");
        nd_json_str(a.f, d->cat[k].name);
        fprintf(a.f, ", \"detectors\": %d, \"unique_per_category\": %d, \"unique_top_label\": %d}",
                cn->cat_detectors[k], cn->cat_unique_percat[k], cn->cat_unique_toplabel[k]);
    }
    fprintf(a.f, "\n  ]\n}\n");
    return afile_commit(&a);
}

static void recount_free(recount_data *d)
{
    for (size_t u = 0; u < d->nunits; u++)
        for (int k = 0; k < d->ncat; k++)
            free(d->label[u * (size_t)d->ncat + (size_t)k]);
    for (int k = 0; k < d->ncat; k++)
        free(d->cat[k].name);
    free(d->cat), free(d->label), free(d->iou);
}

int cmd_recount(int argc, char **argv)
{
    double thr = 0.04;
    const char *out = NULL;
    int rc = parse_args(argc, argv, &thr, &out);
    if (rc >= 0)
        return rc;
    const char *path = argv[optind];
    /* refused before any work: an input, or a binary file, as --out */
    if (afile_protect_input(path) || (out && afile_check_text(out)))
        return cli_fail();
    csv_file f;
    if (csv_open(&f, path))
        return cli_fail();
    recount_data d = {0};
    nd_counts cn;
    rc = ND_EXIT_FAIL;
    if (!read_header(&f, &d, path) && !read_rows(&f, &d, path) && !count(&d, thr, &cn)) {
        print_counts(&d, &cn, thr, path);
        rc = out && write_json(&d, &cn, thr, path, out) ? ND_EXIT_FAIL : ND_EXIT_OK;
        nd_counts_free(&cn);
    }
    if (rc == ND_EXIT_FAIL)
        cli_fail();
    recount_free(&d);
    csv_close(&f);
    return rc;
}
