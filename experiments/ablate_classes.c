/* ablate_classes.c - `dissect ablate`'s classes step (a network whose
 * outputs are the classes of an image-level category, e.g. the world's
 * scenes): the PNAS 2020 measure.  Balanced accuracy of class y on a split:
 * (recall + true-negative rate) / 2 of "predicted y".  Units are ranked per
 * class on the train split by the drop of that class's balanced accuracy
 * when each is removed alone; the top k are removed together and the drop
 * is measured on the test split, against k random units (the effects
 * step's draws: the same seeds). */
#include "experiments/ablate_internal.h"

#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "experiments/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int ncls;
    long *label;  /* class -> label number */
    int *cls;     /* [N] class of each image, -1 none */
    char *split;  /* [N] 't' train, 'e' test, 0 other */
} classes;

static int class_of(classes *k, long l)
{
    for (int y = 0; y < k->ncls; y++)
        if (k->label[y] == l)
            return y;
    return -1;
}

/* Classes as train/data.h numbers them: the distinct labels of the
 * category's column (first label of a cell) over every row, increasing. */
static int read_classes(const abl_ctx *c, classes *k)
{
    const abl_args *a = c->a;
    csv_file f;
    if (csv_open_in(&f, a->dataset, "index.csv"))
        return -1;
    int col = csv_col(&f, a->classes), sc = csv_col(&f, "split"), rc = 0;
    k->label = nd_malloc(sizeof(long) * (c->N + 1));
    k->cls = nd_malloc(sizeof(int) * (c->N + 1));
    k->split = nd_calloc(c->N + 1, 1);
    long *row = nd_malloc(sizeof(long) * (c->N + 1));
    if (col < 0 || sc < 0)
        rc = nd_fail("%s/index.csv: no column '%s'", a->dataset, col < 0 ? a->classes : "split");
    size_t i = 0;
    while (!rc && k->label && k->cls && k->split && row && csv_next(&f) > 0 && i < c->N) {
        char *e;
        row[i] = col < f.nf && f.f[col][0] ? strtol(f.f[col], &e, 10) : 0;
        const char *s = sc < f.nf ? f.f[sc] : "";
        k->split[i] = !strcmp(s, a->train_split) ? 't' : !strcmp(s, a->test_split) ? 'e' : 0;
        if (row[i] > 0 && class_of(k, row[i]) < 0) {
            int y = k->ncls++;
            while (y > 0 && k->label[y - 1] > row[i])
                k->label[y] = k->label[y - 1], y--;
            k->label[y] = row[i];
        }
        i++;
    }
    csv_close(&f);
    if (!rc && (!k->label || !k->cls || !k->split || !row))
        rc = -1;
    for (size_t t = 0; !rc && t < c->N; t++)
        k->cls[t] = row[t] > 0 ? class_of(k, row[t]) : -1;
    free(row);
    if (!rc && k->ncls != c->C)
        rc = nd_fail("%s: %d classes in '%s', the network has %d outputs", a->dataset, k->ncls,
                     a->classes, c->C);
    return rc;
}

/* Balanced accuracy of every class on split s from predictions pred. */
static void balanced(const classes *k, const abl_ctx *c, const int *pred, char s, double *out)
{
    for (int y = 0; y < k->ncls; y++) {
        double tp = 0, p = 0, tn = 0, n = 0;
        for (size_t i = 0; i < c->N; i++) {
            if (k->split[i] != s || k->cls[i] < 0)
                continue;
            if (k->cls[i] == y)
                p++, tp += pred[i] == y;
            else
                n++, tn += pred[i] != y;
        }
        out[y] = p > 0 && n > 0 ? (tp / p + tn / n) / 2 : NAN;
    }
}

static int measure_units(abl_ctx *c, const int *u, int k)
{
    abl_set s;
    if (abl_units(&s, c->K, u, k, "units"))
        return -1;
    int rc = abl_measure(c, &s);
    abl_free(&s);
    return rc;
}

/* drop[v * ncls + y]: balanced accuracy of y on train, intact minus unit v removed */
static int rank_on_train(abl_ctx *c, const classes *k, double *drop, const double *base)
{
    double *b = nd_malloc(sizeof(double) * (size_t)k->ncls);
    int rc = b ? 0 : -1;
    for (int v = 0; v < c->K && !rc; v++) {
        rc = measure_units(c, &v, 1);
        balanced(k, c, c->pred, 't', b);
        for (int y = 0; y < k->ncls && !rc; y++)
            drop[(size_t)v * k->ncls + y] = base[y] - b[y];
    }
    free(b);
    return rc;
}

static size_t count(const classes *k, const abl_ctx *c, char s, int y)
{
    size_t n = 0;
    for (size_t i = 0; i < c->N; i++)
        n += k->split[i] == s && k->cls[i] == y;
    return n;
}

static int class_rows(abl_ctx *c, const classes *k, FILE *f, const double *drop,
                      const double *test0, int *u, double *sc, double *b)
{
    const abl_args *a = c->a;
    int rc = 0, Y = k->ncls;
    double *rs = nd_calloc((size_t)Y * 2, sizeof(double));
    char us[4096];
    for (int ki = 0; ki < a->nk && rs && !rc; ki++) {
        int kk = a->ks[ki];
        memset(rs, 0, sizeof(double) * 2 * Y);
        for (int d = 0; d < a->random_draws && !rc; d++) {
            rc = abl_random_units(c->K, kk, a->random_seed + (unsigned long)d, u) ||
                 measure_units(c, u, kk);
            balanced(k, c, c->pred, 'e', b);
            for (int y = 0; y < Y && !rc; y++)
                rs[y] += test0[y] - b[y], rs[Y + y] += (test0[y] - b[y]) * (test0[y] - b[y]);
        }
        for (int y = 0; y < Y && !rc; y++) {
            for (int v = 0; v < c->K; v++)
                sc[v] = drop[(size_t)v * Y + y];
            abl_top_units(sc, c->K, kk, u);
            abl_units_str(us, sizeof us, u, kk);
            if ((rc = measure_units(c, u, kk)))
                break;
            balanced(k, c, c->pred, 'e', b);
            int R = a->random_draws;
            double m = R ? rs[y] / R : NAN, v = R > 1 ? (rs[Y + y] - R * m * m) / (R - 1) : NAN;
            fprintf(f, "%s,%ld,%d,%zu,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%s\n",
                    broden_label_name(c->ds, (int)k->label[y]), k->label[y], kk, count(k, c, 't', y),
                    count(k, c, 'e', y), test0[y], b[y], test0[y] - b[y], m,
                    R > 1 ? sqrt(v > 0 ? v : 0) : NAN, us);
        }
    }
    free(rs);
    return rs ? rc : -1;
}

int abl_classes(abl_ctx *c)
{
    classes k = {0, NULL, NULL, NULL};
    int rc = read_classes(c, &k), Y = k.ncls;
    c->total += c->K + c->a->nk * (c->a->random_draws + Y);
    double *train0 = nd_malloc(sizeof(double) * (size_t)(Y + 1));
    double *test0 = nd_malloc(sizeof(double) * (size_t)(Y + 1));
    double *b = nd_malloc(sizeof(double) * (size_t)(Y + 1));
    double *drop = nd_malloc(sizeof(double) * (size_t)c->K * (Y + 1));
    double *sc = nd_malloc(sizeof(double) * (size_t)c->K);
    int *u = nd_malloc(sizeof(int) * (size_t)c->K);
    char *path = nd_path_join(c->a->out, "classes.csv");
    afile f;
    rc = rc || !train0 || !test0 || !b || !drop || !sc || !u || !path;
    if (!rc) {
        balanced(&k, c, c->top, 't', train0);
        balanced(&k, c, c->top, 'e', test0);
        rc = rank_on_train(c, &k, drop, train0) || afile_open(&f, path);
    }
    if (!rc) {
        fputs("class,label,k,train_images,test_images,balanced_intact,balanced_ablated,drop,"
              "random_drop,random_drop_sd,units\n", f.f);
        rc = class_rows(c, &k, f.f, drop, test0, u, sc, b);
        if (rc)
            afile_abort(&f);
        else
            rc = afile_commit(&f);
    }
    cli_progress_done();
    free(k.label), free(k.cls), free(k.split);
    free(train0), free(test0), free(b), free(drop), free(sc), free(u), free(path);
    return rc ? -1 : 0;
}
