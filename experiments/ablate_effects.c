/* ablate_effects.c - `dissect ablate`'s effects step: per concept and k,
 * the concept's top-k units, k random units and the concept's top-k rotated
 * units switched off; effects.csv, the figure's data and the figure. */
#include "experiments/ablate_internal.h"

#include "core/afile.h"
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Group means of one condition for one concept: drop of the intact class's
 * probability and top-1 changes, on images with the concept and without. */
typedef struct {
    int n;
    double s[4], q[4]; /* drop with, drop without, flip with, flip without */
} acc;

static void acc_add(acc *a, const abl_ctx *c, int ci)
{
    double s[4] = {0}, n[2] = {0};
    for (size_t i = 0; i < c->N; i++) {
        int w = c->present[(size_t)ci * c->N + i] ? 0 : 1;
        s[w] += c->drop[i];
        s[2 + w] += c->changed[i];
        n[w]++;
    }
    for (int j = 0; j < 4; j++) {
        double v = n[j % 2] > 0 ? s[j] / n[j % 2] : NAN;
        a->s[j] += v;
        a->q[j] += v * v;
    }
    a->n++;
}

static double acc_mean(const acc *a, int j) { return a->n ? a->s[j] / a->n : NAN; }
static double acc_sd(const acc *a, int j)
{
    if (a->n < 2)
        return NAN;
    double m = acc_mean(a, j), v = (a->q[j] - a->n * m * m) / (a->n - 1);
    return sqrt(v > 0 ? v : 0);
}

static void put(FILE *f, double v)
{
    if (isnan(v))
        fputs(",", f);
    else
        fprintf(f, ",%.6g", v);
}

static void row(FILE *f, const abl_ctx *c, int ci, const char *method, int k, const acc *a,
                const char *units, double iou)
{
    const char *name = broden_label_name(c->ds, c->clabel[ci]);
    int cat = broden_primary(c->ds, c->clabel[ci]);
    size_t with = 0;
    for (size_t i = 0; i < c->N; i++)
        with += c->present[(size_t)ci * c->N + i];
    fprintf(f, "%s,%s,%s,%d,%d,%s", name, cat >= 0 ? broden_category_name(c->ds, (size_t)cat) : "",
            method, k, a->n, units);
    put(f, iou);
    fprintf(f, ",%zu,%zu", with, c->N - with);
    for (int j = 0; j < 4; j++) {
        put(f, acc_mean(a, j));
        put(f, acc_sd(a, j));
    }
    fputc('\n', f);
}

static int measure_units(abl_ctx *c, const int *u, int k, const char *what)
{
    abl_set s;
    if (abl_units(&s, c->K, u, k, what))
        return -1;
    int rc = abl_measure(c, &s);
    abl_free(&s);
    return rc;
}

/* The top-k units of concept ci in result r, and their mean IoU with it. */
static double top_of(const abl_ctx *c, const nd_result *r, int ci, int k, int *u, double *score)
{
    for (int v = 0; v < c->K; v++)
        score[v] = abl_iou(r, v, c->clabel[ci]);
    abl_top_units(score, c->K, k, u);
    double m = 0;
    for (int j = 0; j < k; j++)
        m += score[u[j]] / k;
    return m;
}

#define FIGC 8 /* figure columns per (concept, k) */

/* k random rotated units (the random draws' unit numbers, directions rows
 * of the first rotation): the baseline of the rotated detectors, as random
 * units are of the detectors. */
static int random_rotated(abl_ctx *c, int k, int *u, acc *rr)
{
    int rc = 0;
    for (int d = 0; d < c->a->random_draws && !rc; d++) {
        abl_set s;
        rc = abl_random_units(c->K, k, c->a->random_seed + (unsigned long)d, u) ||
             abl_dirs(&s, c->K, c->Q, u, k, "random rotated units") || abl_measure(c, &s);
        abl_free(&s);
        for (int ci = 0; ci < c->nc && !rc; ci++)
            acc_add(&rr[ci], c, ci);
    }
    return rc;
}

/* fig[(ci * nk + ki) * FIGC + ...]: top with, top without, random with
 * (mean, sd), rotated with (mean, sd), random rotated with (mean, sd) */
static int one_k(abl_ctx *c, FILE *f, int ki, double *fig, int *u, double *score)
{
    const abl_args *a = c->a;
    int k = a->ks[ki];
    acc *rnd = nd_calloc((size_t)c->nc * 2, sizeof *rnd), *rr = rnd + c->nc;
    if (!rnd)
        return -1;
    int rc = a->rot_draws ? random_rotated(c, k, u, rr) : 0;
    for (int d = 0; d < a->random_draws && !rc; d++) {
        rc = abl_random_units(c->K, k, a->random_seed + (unsigned long)d, u) ||
             measure_units(c, u, k, "random units");
        for (int ci = 0; ci < c->nc && !rc; ci++)
            acc_add(&rnd[ci], c, ci);
    }
    char us[4096];
    for (int ci = 0; ci < c->nc && !rc; ci++) {
        double *g = fig + ((size_t)ci * a->nk + ki) * FIGC;
        acc top = {0}, rot = {0};
        double iou = top_of(c, &c->res, ci, k, u, score);
        abl_units_str(us, sizeof us, u, k);
        if ((rc = measure_units(c, u, k, "top units")))
            break;
        acc_add(&top, c, ci);
        row(f, c, ci, "top", k, &top, us, iou);
        row(f, c, ci, "random", k, &rnd[ci], "", NAN);
        double riou = 0;
        for (int d = 0; d < a->rot_draws && !rc; d++) {
            riou += top_of(c, &c->rot[d], ci, k, u, score) / a->rot_draws;
            if (d == 0)
                abl_units_str(us, sizeof us, u, k);
            abl_set s;
            rc = abl_dirs(&s, c->K, c->Q + (size_t)d * c->K * c->K, u, k, "rotated units") ||
                 abl_measure(c, &s);
            abl_free(&s);
            if (!rc)
                acc_add(&rot, c, ci);
        }
        if (a->rot_draws) {
            row(f, c, ci, "rotated", k, &rot, us, riou);
            row(f, c, ci, "rotated-random", k, &rr[ci], "", NAN);
        }
        g[0] = acc_mean(&top, 0), g[1] = acc_mean(&top, 1);
        g[2] = acc_mean(&rnd[ci], 0), g[3] = acc_sd(&rnd[ci], 0);
        g[4] = acc_mean(&rot, 0), g[5] = acc_sd(&rot, 0);
        g[6] = acc_mean(&rr[ci], 0), g[7] = acc_sd(&rr[ci], 0);
    }
    free(rnd);
    return rc;
}

/* An explicit list (--units) or a category's detectors (--category):
 * one condition, a row per concept. */
static int fixed_set(abl_ctx *c, FILE *f, const int *u, int k, const char *method)
{
    if (measure_units(c, u, k, method))
        return -1;
    char us[4096];
    abl_units_str(us, sizeof us, u, k);
    for (int ci = 0; ci < c->nc; ci++) {
        acc x = {0};
        acc_add(&x, c, ci);
        double iou = 0;
        for (int j = 0; j < k; j++)
            iou += abl_iou(&c->res, u[j], c->clabel[ci]) / k;
        row(f, c, ci, method, k, &x, us, iou);
    }
    return 0;
}

static int category_units(const abl_ctx *c, int **u, int *k)
{
    int cat = -1;
    for (size_t j = 0; j < broden_num_categories(c->ds); j++)
        if (!strcmp(broden_category_name(c->ds, j), c->a->category))
            cat = (int)j;
    if (cat < 0)
        return nd_fail("--category: '%s' is not a category of %s", c->a->category, c->a->dataset);
    *u = nd_malloc(sizeof(int) * (size_t)c->K);
    *k = 0;
    for (int v = 0; *u && v < c->K; v++)
        if (c->res.unit_cat[v] == cat && c->res.unit_score[v] > c->a->o.iou_threshold)
            (*u)[(*k)++] = v;
    if (*u && *k == 0)
        return nd_fail("--category: no detector of '%s' in %s", c->a->category, c->a->layer);
    return *u ? 0 : -1;
}

static int extra_sets(abl_ctx *c, FILE *f)
{
    int rc = 0, *u = NULL, k = 0;
    if (c->a->units) {
        rc = abl_parse_units(c->a->units, c->K, &u, &k, "--units") || fixed_set(c, f, u, k, "list");
        free(u);
        u = NULL;
    }
    if (!rc && c->a->category) {
        char m[256];
        snprintf(m, sizeof m, "category:%s", c->a->category);
        rc = category_units(c, &u, &k) || fixed_set(c, f, u, k, m);
        free(u);
    }
    return rc;
}

static int write_fig_data(const abl_ctx *c, const double *fig)
{
    char *dir = nd_path_join(c->a->out, "figures"), *path = dir ? nd_path_join(dir, "effect_vs_k.dat") : NULL;
    afile af;
    int rc = !path || nd_mkdirs(dir) || afile_open(&af, path);
    for (int ci = 0; !rc && ci < c->nc; ci++) {
        fprintf(af.f, "# %s\n# k top_with top_without random_with random_sd rotated_with rotated_sd"
                " rotated_random_with rotated_random_sd\n",
                broden_label_name(c->ds, c->clabel[ci]));
        for (int ki = 0; ki < c->a->nk; ki++) {
            const double *g = fig + ((size_t)ci * c->a->nk + ki) * FIGC;
            fprintf(af.f, "%d", c->a->ks[ki]);
            for (int j = 0; j < FIGC; j++)
                fprintf(af.f, isnan(g[j]) ? " NaN" : " %.6g", g[j]);
            fputc('\n', af.f);
        }
        fputs("\n\n", af.f);
    }
    if (!rc)
        rc = afile_commit(&af);
    free(dir), free(path);
    return rc ? -1 : 0;
}

static int draw(const abl_ctx *c)
{
    char *data = nd_path_join(c->a->out, "figures/effect_vs_k.dat"), *vars = NULL, names[4096] = "";
    size_t vl = 0;
    for (int ci = 0; ci < c->nc; ci++) {
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", ci ? " " : "", broden_label_name(c->ds, c->clabel[ci]));
        for (char *p = names + n + (ci ? 1 : 0); *p; p++)
            *p = *p == ' ' || *p == '\'' ? '_' : *p;
    }
    FILE *m = data ? open_memstream(&vars, &vl) : NULL;
    if (!m) {
        free(data);
        return nd_fail("out of memory");
    }
    char title[512];
    snprintf(title, sizeof title, "%s %s on %s", c->net->name, c->a->layer, c->a->dataset);
    fig_gp_quote(m, "data", data);
    fig_gp_quote(m, "concepts", names);
    fig_gp_quote(m, "plottitle", title);
    fclose(m);
    int rc = fig_run("ablate_effect", c->a->out, vars, 1);
    free(vars), free(data);
    return rc;
}

int abl_effects(abl_ctx *c)
{
    const abl_args *a = c->a;
    c->total = a->nk * (a->random_draws * (1 + !!a->rot_draws) + c->nc * (1 + a->rot_draws)) +
               !!a->units + !!a->category;
    char *path = nd_path_join(a->out, "effects.csv");
    double *fig = nd_malloc(sizeof(double) * FIGC * (size_t)c->nc * a->nk + 1);
    int *u = nd_malloc(sizeof(int) * (size_t)c->K);
    double *score = nd_malloc(sizeof(double) * (size_t)c->K);
    afile f;
    int rc = !path || !fig || !u || !score || afile_open(&f, path);
    if (!rc) {
        fputs("concept,category,method,k,draws,units,iou,images_with,images_without,"
              "drop_with,drop_with_sd,drop_without,drop_without_sd,"
              "flip_with,flip_with_sd,flip_without,flip_without_sd\n", f.f);
        for (int ki = 0; ki < a->nk && !rc; ki++)
            rc = one_k(c, f.f, ki, fig, u, score);
        rc = rc || extra_sets(c, f.f);
        if (rc)
            afile_abort(&f);
        else
            rc = afile_commit(&f);
    }
    cli_progress_done();
    if (!rc)
        rc = write_fig_data(c, fig) || draw(c);
    free(path), free(fig), free(u), free(score);
    return rc ? -1 : 0;
}
