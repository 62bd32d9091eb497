/* input.c - reading a result folder and opening the data it was made from.
 *
 * Every failure is one line naming the file and the field or row, and the
 * checks run before anything is drawn: a report is either made from data
 * that match the result, or not made at all. */
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/format.h"
#include "core/json.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "report/internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dup_or_fail(const char *s)
{
    char *d = strdup(s);
    if (!d)
        nd_fail("out of memory");
    return d;
}

static int json_int(const nd_json *j, const char *path, int *out)
{
    double v;
    if (nd_json_number(j, path, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* The settings and counts of summary.json. */
static int read_summary(rpt_result *r, const nd_json *j)
{
    double v;
    char *prof = nd_json_string(j, "profile");
    if (!prof)
        return -1;
    int bad = nd_profile_parse(prof, &r->opt.profile);
    free(prof);
    if (bad)
        return nd_fail("%s: field \"profile\": not netdissect or netdissect-lite", j->file);
    if (r->opt.profile == ND_PROFILE_NETDISSECT) {
        if (json_int(j, "field.offset", &r->opt.field_offset) || json_int(j, "field.size", &r->opt.field_size) ||
            json_int(j, "field.stride", &r->opt.field_stride))
            return -1;
        r->opt.have_field = 1;
    }
    if (nd_json_number(j, "units", &v))
        return -1;
    r->K = (size_t)v;
    if (nd_json_number(j, "images", &v))
        return -1;
    r->images = (size_t)v;
    if (nd_json_number(j, "iou_threshold", &r->opt.iou_threshold))
        return -1;
    const char *src = nd_json_get(j, "thresholds_source");
    r->thresholds_given = src && !strcmp(src, "\"given\"");
    if (!r->thresholds_given && nd_json_number(j, "quantile", &r->opt.quantile))
        return -1;
    if (json_int(j, "detectors", &r->detectors) || json_int(j, "unique_detectors.per_category", &r->unique_percat) ||
        json_int(j, "unique_detectors.top_label", &r->unique_toplabel))
        return -1;
    /* a sweep point names its rotation; `dissect units` results are unrotated */
    r->seed = -1;
    if (nd_json_get(j, "seed")) {
        if (nd_json_number(j, "seed", &v) || nd_json_number(j, "alpha", &r->alpha))
            return -1;
        r->seed = (long)v;
    }
    return 0;
}

static int read_categories(rpt_result *r, const nd_json *j)
{
    char key[64];
    size_t C = 0;
    for (;; C++) {
        snprintf(key, sizeof key, "categories[%zu].name", C);
        if (!nd_json_get(j, key))
            break;
    }
    if (C == 0)
        return nd_fail("%s: field \"categories\": missing or empty", j->file);
    r->C = C;
    r->cat_name = nd_calloc(C, sizeof *r->cat_name);
    r->cat_det = nd_calloc(C, sizeof *r->cat_det);
    r->cat_upc = nd_calloc(C, sizeof *r->cat_upc);
    r->cat_utl = nd_calloc(C, sizeof *r->cat_utl);
    if (!r->cat_name || !r->cat_det || !r->cat_upc || !r->cat_utl)
        return -1;
    for (size_t c = 0; c < C; c++) {
        snprintf(key, sizeof key, "categories[%zu].name", c);
        if (!(r->cat_name[c] = nd_json_string(j, key)))
            return -1;
#define CAT_INT(member, dst)                                                  \
    snprintf(key, sizeof key, "categories[%zu]." member, c);                  \
    if (json_int(j, key, &(dst)[c]))                                          \
        return -1;
        CAT_INT("detectors", r->cat_det)
        CAT_INT("unique_per_category", r->cat_upc)
        CAT_INT("unique_top_label", r->cat_utl)
#undef CAT_INT
    }
    return 0;
}

/* Unit, label, category and score of every unit from result.csv. */
static int read_units(rpt_result *r, const char *path)
{
    csv_file c;
    if (csv_open(&c, path))
        return -1;
    int cu = csv_col(&c, "unit"), cc = csv_col(&c, "category"), cl = csv_col(&c, "label"),
        cs = csv_col(&c, "score"), rc = -1, row;
    size_t seen = 0;
    if (cu < 0 || cc < 0 || cl < 0 || cs < 0) {
        nd_fail("%s: header needs the columns unit, category, label, score", path);
        goto out;
    }
    r->unit_label = nd_calloc(r->K, sizeof *r->unit_label);
    r->unit_cat = nd_calloc(r->K, sizeof *r->unit_cat);
    r->unit_score = nd_calloc(r->K, sizeof *r->unit_score);
    if (!r->unit_label || !r->unit_cat || !r->unit_score)
        goto out;
    while ((row = csv_next(&c)) > 0) {
        long u;
        double s;
        if (c.nf <= cu || c.nf <= cc || c.nf <= cl || c.nf <= cs || csv_long(c.f[cu], &u) || u < 1 ||
            (size_t)u > r->K || r->unit_label[u - 1] || csv_double(c.f[cs], &s)) {
            nd_fail("%s:%d: expected a unit 1..%zu seen once and a numeric score", path, c.line, r->K);
            goto out;
        }
        if (!(r->unit_label[u - 1] = dup_or_fail(c.f[cl])) || !(r->unit_cat[u - 1] = dup_or_fail(c.f[cc])))
            goto out;
        r->unit_score[u - 1] = s, seen++;
    }
    if (row < 0)
        goto out;
    if (seen != r->K) {
        nd_fail("%s: %zu unit rows, summary.json says %zu units", path, seen, r->K);
        goto out;
    }
    rc = 0;
out:
    csv_close(&c);
    return rc;
}

static int need_file(const char *dir, const char *name, char **path)
{
    struct stat st;
    *path = nd_path_join(dir, name);
    if (!*path)
        return -1;
    if (stat(*path, &st) != 0 || !S_ISREG(st.st_mode))
        return nd_fail("%s: missing (not a result folder of dissect units or a sweep point)", *path);
    return 0;
}

int rpt_result_read(rpt_result *r, const char *dir, const char *dataset, const char *features)
{
    memset(r, 0, sizeof *r);
    nd_options_default(&r->opt);
    char *ps = NULL, *pc = NULL, *pt = NULL;
    nd_json j;
    int rc = -1, have_j = 0;
    if (!(r->dir = dup_or_fail(dir)))
        return -1;
    if (need_file(dir, "summary.json", &ps) || need_file(dir, "result.csv", &pc) ||
        need_file(dir, "thresholds.npy", &pt) || nd_json_read(&j, ps))
        goto out;
    have_j = 1;
    if (nd_format_check(&j, ND_FORMAT_RESULT) || read_summary(r, &j) || read_categories(r, &j))
        goto out;
    r->dataset = dataset ? dup_or_fail(dataset) : nd_json_string(&j, "dataset");
    if (!r->dataset)
        goto out;
    if (features)
        r->features = dup_or_fail(features);
    else if (!nd_json_get(&j, "features"))
        nd_fail("%s: field \"features\": missing (a result written before the features path was recorded: "
                "give --features)", ps);
    else
        r->features = nd_json_string(&j, "features");
    if (!r->features || read_units(r, pc))
        goto out;
    size_t n;
    if (npy_load_f64(pt, &r->thr, &n))
        goto out;
    if (n != r->K) {
        nd_fail("%s: %zu thresholds, summary.json says %zu units", pt, n, r->K);
        goto out;
    }
    rc = 0;
out:
    if (have_j)
        nd_json_free(&j);
    free(ps), free(pc), free(pt);
    if (rc)
        rpt_result_free(r);
    return rc;
}

void rpt_result_free(rpt_result *r)
{
    for (size_t u = 0; u < r->K; u++) {
        if (r->unit_label)
            free(r->unit_label[u]);
        if (r->unit_cat)
            free(r->unit_cat[u]);
    }
    for (size_t c = 0; c < r->C; c++)
        if (r->cat_name)
            free(r->cat_name[c]);
    free(r->unit_label), free(r->unit_cat), free(r->unit_score), free(r->cat_name);
    free(r->cat_det), free(r->cat_upc), free(r->cat_utl), free(r->thr);
    free(r->dir), free(r->dataset), free(r->features);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ the data */

/* The summary's categories, comma-joined, as broden_open selects them. */
static char *category_list(const rpt_result *r)
{
    size_t n = 1;
    for (size_t c = 0; c < r->C; c++)
        n += strlen(r->cat_name[c]) + 1;
    char *s = nd_malloc(n);
    if (!s)
        return NULL;
    s[0] = 0;
    for (size_t c = 0; c < r->C; c++) {
        if (c)
            strcat(s, ",");
        strcat(s, r->cat_name[c]);
    }
    return s;
}

static int check_dataset(rpt_data *d, const rpt_result *r)
{
    const char *ds = r->dataset;
    if (broden_num_images(d->ds) != r->images)
        return nd_fail("%s/index.csv: %zu images, but %s/summary.json was made on %zu (the dataset does not "
                       "match the result)", ds, broden_num_images(d->ds), r->dir, r->images);
    size_t L = broden_num_labels(d->ds);
    if (!(d->label = nd_calloc(r->K, sizeof *d->label)))
        return -1;
    for (size_t u = 0; u < r->K; u++) {
        if (!*r->unit_label[u])
            continue;
        for (size_t l = 1; l < L && !d->label[u]; l++)
            if (!strcmp(broden_label_name(d->ds, (int)l), r->unit_label[u]))
                d->label[u] = (int)l;
        if (!d->label[u])
            return nd_fail("%s/result.csv: unit %zu: label '%s' is not in %s/label.csv (the dataset does not "
                           "match the result)", r->dir, u + 1, r->unit_label[u], ds);
    }
    return 0;
}

/* Q^alpha a, drawn the way the sweep draws it (rot_haar, then the power). */
static int rotate(rpt_data *d, const rpt_result *r)
{
    size_t K = r->K;
    double *Q = nd_malloc(K * K * sizeof *Q), *R = nd_malloc(K * K * sizeof *R);
    int rc = -1;
    if (Q && R && !rot_haar(Q, K, (unsigned long)r->seed) && !rot_power(R, Q, K, r->alpha) &&
        !rot_features(&d->f, &d->raw, R))
        rc = 0, d->rotated = 1;
    free(Q), free(R);
    return rc ? nd_fail_prefix("%s/summary.json: rotation seed %ld alpha %g", r->dir, r->seed, r->alpha) : 0;
}

int rpt_data_open(rpt_data *d, const rpt_result *r)
{
    memset(d, 0, sizeof *d);
    char *cats = category_list(r);
    if (!cats || broden_open(&d->ds, r->dataset, cats)) {
        free(cats);
        goto fail;
    }
    free(cats);
    if (check_dataset(d, r) || npy_open(&d->npy, r->features))
        goto fail;
    d->have_npy = 1;
    if (nd_features_from_npy(&d->raw, &d->npy))
        goto fail;
    if (d->raw.N != r->images || d->raw.K != r->K) {
        nd_fail("%s: %zu images x %zu units, but %s/summary.json has %zu x %zu (the activations do not match "
                "the result)", r->features, d->raw.N, d->raw.K, r->dir, r->images, r->K);
        goto fail;
    }
    d->f = d->raw;
    if (r->seed >= 0 && r->alpha != 0 && rotate(d, r))
        goto fail;
    return 0;
fail:
    rpt_data_close(d);
    return -1;
}

void rpt_data_close(rpt_data *d)
{
    if (d->rotated)
        rot_features_free(&d->f);
    if (d->have_npy)
        npy_close(&d->npy);
    broden_free(d->ds);
    free(d->label);
    memset(d, 0, sizeof *d);
}
