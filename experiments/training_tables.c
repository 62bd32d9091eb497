/* training_tables.c - the tables and figures of the training-conditions
 * experiment (see training.h), from the finished steps' files:
 *   conditions.csv   condition, seed, layer, category: units, detectors,
 *                    unique (both conventions), held-out accuracy, training time
 *   summary.csv      per group (baseline = the seeds; the other conditions
 *                    alone) at every layer: n, mean, sd, min, max
 *   table.md         the last conv layer's table and the per-layer totals
 *   iterations.csv   the first seed's snapshots at the last conv layer:
 *                    held-out accuracy, unique detectors and detectors per
 *                    category (iteration 0 = the random condition: the same
 *                    seed's untrained initialisation)
 *   iterations.md, figures/training_unique and training_iterations
 * "unique" is the headline per-category convention (core/score.h). */
#include "experiments/training.h"

#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "experiments/figures.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXC (TRAINING_MAX_SEEDS + 3)
#define MAXL 16 /* layers */
#define MAXK 16 /* categories, "all" included */

typedef struct {
    long units, det, upc, utl;
    int have;
} cell;

typedef struct {
    int nl, nk;
    char layer[MAXL][64], cat[MAXK][64];
    cell v[MAXC][MAXL][MAXK]; /* condition (or snapshot), layer, category */
    double acc[MAXC], wall[MAXC], cpu[MAXC];
} table;

static int find(char (*names)[64], int *n, int max, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], s))
            return i;
    if (*n == max)
        return nd_fail("%s: more than %d names in the tables", s, max);
    snprintf(names[*n], 64, "%s", s);
    return (*n)++;
}

/* counts.csv of one dissection into row r of t. */
static int read_counts(table *t, int r, const char *dir)
{
    csv_file c;
    if (csv_open_in(&c, dir, "counts.csv"))
        return -1;
    static const char *cols[6] = {"layer", "units", "category", "detectors", "unique_percat",
                                  "unique_toplabel"};
    int ci[6], rc = 0, n;
    for (int k = 0; k < 6 && !rc; k++)
        if ((ci[k] = csv_col(&c, cols[k])) < 0)
            rc = nd_fail("%s: no column '%s'", c.path, cols[k]);
    while (!rc && (n = csv_next(&c)) > 0) {
        int l = find(t->layer, &t->nl, MAXL, c.f[ci[0]]), k = find(t->cat, &t->nk, MAXK, c.f[ci[2]]);
        cell *e = l >= 0 && k >= 0 ? &t->v[r][l][k] : NULL;
        if (!e || csv_long(c.f[ci[1]], &e->units) || csv_long(c.f[ci[3]], &e->det) ||
            csv_long(c.f[ci[4]], &e->upc) || csv_long(c.f[ci[5]], &e->utl))
            rc = nd_fail("%s:%d: expected a layer, a category and integer counts", c.path, c.line);
        else
            e->have = 1;
    }
    if (!rc && n < 0)
        rc = -1;
    csv_close(&c);
    return rc;
}

/* val_acc of snapshots.csv's row `it` (it < 0: the last row); NAN if absent. */
static double run_accuracy(const char *run, long it)
{
    csv_file c;
    double acc = NAN, v;
    if (csv_open_in(&c, run, "snapshots.csv"))
        return NAN;
    int ci = csv_col(&c, "iteration"), ca = csv_col(&c, "val_acc");
    long i;
    while (ci >= 0 && ca >= 0 && csv_next(&c) > 0)
        if (!csv_long(c.f[ci], &i) && (it < 0 || i == it) && !csv_double(c.f[ca], &v))
            acc = v;
    csv_close(&c);
    return acc;
}

static void run_timing(const char *run, double *wall, double *cpu)
{
    csv_file c;
    *wall = *cpu = NAN;
    if (csv_open_in(&c, run, "timing.csv"))
        return;
    int cw = csv_col(&c, "wall_s"), cc = csv_col(&c, "cpu_s");
    if (cw >= 0 && cc >= 0 && csv_next(&c) > 0 && (csv_double(c.f[cw], wall) || csv_double(c.f[cc], cpu)))
        *wall = *cpu = NAN;
    csv_close(&c);
}

static char *sub(const training_spec *s, const char *a, const char *b)
{
    char rel[1400];
    snprintf(rel, sizeof rel, "%s/%s", a, b);
    return nd_path_join(s->out_dir, rel);
}

/* An atomic output file <out>/<name>. */
static int open_out(afile *a, const training_spec *s, const char *name)
{
    char *p = nd_path_join(s->out_dir, name);
    int rc = p ? afile_open(a, p) : -1;
    free(p);
    return rc;
}

static int load_conditions(const training_spec *s, const training_cond *c, int nc, table *t)
{
    int rc = 0;
    for (int i = 0; i < nc && !rc; i++) {
        char *d = sub(s, "dissect", c[i].name), *run = sub(s, "runs", c[i].name);
        rc = d && run ? read_counts(t, i, d) : -1;
        if (!rc) {
            t->acc[i] = run_accuracy(run, -1);
            run_timing(run, &t->wall[i], &t->cpu[i]);
        }
        free(d);
        free(run);
    }
    return rc;
}

/* ---------- statistics over a group of rows ---------- */

typedef struct {
    int n;
    double mean, sd, min, max;
} stat;

static stat stats(const double *x, int n)
{
    stat st = {n, 0, 0, INFINITY, -INFINITY};
    for (int i = 0; i < n; i++) {
        st.mean += x[i] / n;
        st.min = fmin(st.min, x[i]);
        st.max = fmax(st.max, x[i]);
    }
    for (int i = 0; i < n && n > 1; i++)
        st.sd += (x[i] - st.mean) * (x[i] - st.mean) / (n - 1);
    st.sd = sqrt(st.sd);
    return st;
}

/* The group of rows g: the seeds (g = 0) or condition nseeds + g - 1. */
static int group_rows(const training_spec *s, int g, int *rows)
{
    if (g == 0) {
        for (int i = 0; i < s->nseeds; i++)
            rows[i] = i;
        return s->nseeds;
    }
    rows[0] = s->nseeds + g - 1;
    return 1;
}

static stat group_stat(const training_spec *s, const table *t, int g, int l, int k, int what)
{
    int rows[MAXC], n = group_rows(s, g, rows);
    double x[MAXC];
    for (int i = 0; i < n; i++) {
        const cell *e = &t->v[rows[i]][l][k];
        x[i] = what == 0 ? (double)e->upc : what == 1 ? (double)e->det : t->acc[rows[i]];
    }
    return stats(x, n);
}

static const char *group_name(const training_cond *c, int nseeds, int g)
{
    return g == 0 ? "baseline" : c[nseeds + g - 1].name;
}

/* ---------- conditions.csv, summary.csv ---------- */

static int write_conditions(const training_spec *s, const training_cond *c, int nc, const table *t)
{
    afile a;
    if (open_out(&a, s, "conditions.csv"))
        return -1;
    fprintf(a.f, "condition,seed,layer,units,category,detectors,unique_percat,unique_toplabel,"
                 "val_acc,train_wall_s,train_cpu_s\n");
    for (int i = 0; i < nc; i++)
        for (int l = 0; l < t->nl; l++)
            for (int k = 0; k < t->nk; k++) {
                const cell *e = &t->v[i][l][k];
                if (e->have)
                    fprintf(a.f, "%s,%ld,%s,%ld,%s,%ld,%ld,%ld,%.4f,%.1f,%.1f\n", c[i].name,
                            c[i].seed, t->layer[l], e->units, t->cat[k], e->det, e->upc, e->utl,
                            t->acc[i], t->wall[i], t->cpu[i]);
            }
    return afile_commit(&a);
}

static void put_stat(FILE *f, stat st)
{
    fprintf(f, ",%.4f,%.4f,%.4f,%.4f", st.mean, st.sd, st.min, st.max);
}

static int write_summary(const training_spec *s, const training_cond *c, const table *t)
{
    afile a;
    if (open_out(&a, s, "summary.csv"))
        return -1;
    fprintf(a.f, "group,n,layer,category,unique_mean,unique_sd,unique_min,unique_max,"
                 "detectors_mean,detectors_sd,detectors_min,detectors_max,"
                 "acc_mean,acc_sd,acc_min,acc_max\n");
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < t->nl; l++)
            for (int k = 0; k < t->nk; k++) {
                stat u = group_stat(s, t, g, l, k, 0);
                fprintf(a.f, "%s,%d,%s,%s", group_name(c, s->nseeds, g), u.n, t->layer[l], t->cat[k]);
                put_stat(a.f, u);
                put_stat(a.f, group_stat(s, t, g, l, k, 1));
                put_stat(a.f, group_stat(s, t, g, l, k, 2));
                fputc('\n', a.f);
            }
    return afile_commit(&a);
}

/* ---------- table.md ---------- */

static int last_layer(const training_spec *s, const table *t)
{
    for (int l = 0; l < t->nl; l++)
        if (!strcmp(t->layer[l], s->last_layer))
            return l;
    return t->nl - 1;
}

static void md_cell(FILE *f, stat u, stat d)
{
    fprintf(f, " %.1f ± %.1f [%g-%g] (%.1f ± %.1f) |", u.mean, u.sd, u.min, u.max, d.mean, d.sd);
}

static void md_layer_table(FILE *f, const training_spec *s, const training_cond *c, int nc,
                           const table *t, int l)
{
    fprintf(f, "| condition |");
    for (int k = 0; k < t->nk; k++)
        fprintf(f, " %s |", t->cat[k]);
    fprintf(f, " held-out accuracy |\n|---|");
    for (int k = 0; k <= t->nk; k++)
        fprintf(f, "---|");
    fputc('\n', f);
    for (int i = 0; i < nc; i++) {
        fprintf(f, "| %s |", c[i].name);
        for (int k = 0; k < t->nk; k++)
            fprintf(f, " %ld / %ld (%ld) |", t->v[i][l][k].upc, t->v[i][l][k].utl,
                    t->v[i][l][k].det);
        fprintf(f, " %.4f |\n", t->acc[i]);
        if (i == s->nseeds - 1) { /* the seeds' mean, sd and range */
            fprintf(f, "| **baseline, %d seeds** |", s->nseeds);
            for (int k = 0; k < t->nk; k++)
                md_cell(f, group_stat(s, t, 0, l, k, 0), group_stat(s, t, 0, l, k, 1));
            stat a = group_stat(s, t, 0, l, 0, 2);
            fprintf(f, " %.4f ± %.4f |\n", a.mean, a.sd);
        }
    }
}

static int write_md(const training_spec *s, const training_cond *c, int nc, const table *t)
{
    afile a;
    if (open_out(&a, s, "table.md"))
        return -1;
    int L = last_layer(s, t);
    fprintf(a.f, "# Training conditions on the synthetic world\n\nPer category at %s (the "
                 "last conv layer), dissected on the probe world: unique detectors under the "
                 "per-category (headline) / top-label conventions, and in brackets detectors "
                 "(units whose best category it is); the seeds' row: per-category unique "
                 "detectors mean ± sd [min-max] (detectors mean ± sd).  Accuracy: the training "
                 "world's held-out split.\n\n",
            t->layer[L]);
    md_layer_table(a.f, s, c, nc, t, L);
    fprintf(a.f, "\n## Every layer: unique detectors (detectors), all categories\n\n| condition |");
    for (int l = 0; l < t->nl; l++)
        fprintf(a.f, " %s |", t->layer[l]);
    fprintf(a.f, "\n|---|");
    for (int l = 0; l < t->nl; l++)
        fprintf(a.f, "---|");
    fputc('\n', a.f);
    int all = -1;
    for (int k = 0; k < t->nk; k++)
        if (!strcmp(t->cat[k], "all"))
            all = k;
    for (int i = 0; i < nc && all >= 0; i++) {
        fprintf(a.f, "| %s |", c[i].name);
        for (int l = 0; l < t->nl; l++)
            fprintf(a.f, " %ld (%ld) |", t->v[i][l][all].upc, t->v[i][l][all].det);
        fputc('\n', a.f);
    }
    fprintf(a.f, "\n## Training time per run\n\n| condition | wall s | CPU s |\n|---|---|---|\n");
    for (int i = 0; i < nc; i++)
        fprintf(a.f, "| %s | %.0f | %.0f |\n", c[i].name, t->wall[i], t->cpu[i]);
    return afile_commit(&a);
}

/* ---------- iterations ---------- */

static int snap_filter(const struct dirent *e)
{
    return !strncmp(e->d_name, "snap-", 5) && strlen(e->d_name) == 13;
}

/* iterations/snap-*: rows 1.. of t (row 0: the random condition as
 * iteration 0); it[] their iterations; returns the row count or -1. */
static int load_iterations(const training_spec *s, const training_cond *c, int nc, table *t,
                           long *it)
{
    char *d = nd_path_join(s->out_dir, "iterations"), *run = sub(s, "runs", c[0].name);
    char *rnd = sub(s, "dissect", c[nc - 1].name), *rrun = sub(s, "runs", c[nc - 1].name);
    struct dirent **e = NULL;
    int n = d && run && rnd && rrun ? scandir(d, &e, snap_filter, alphasort) : -1, rows = 0;
    if (n < 0)
        nd_fail("%s: cannot list the snapshots' dissections", d ? d : "iterations");
    else if (!read_counts(t, 0, rnd)) {
        it[0] = 0, t->acc[0] = run_accuracy(rrun, -1), rows = 1;
        for (int i = 0; i < n && rows > 0 && rows < MAXC; i++) {
            char *sd = nd_path_join(d, e[i]->d_name);
            it[rows] = strtol(e[i]->d_name + 5, NULL, 10);
            if (!sd || read_counts(t, rows, sd))
                rows = -1;
            else
                t->acc[rows] = run_accuracy(run, it[rows]), rows++;
            free(sd);
        }
    } else
        rows = -1;
    for (int i = 0; i < n; i++)
        free(e[i]);
    free(e);
    free(d), free(run), free(rnd), free(rrun);
    return n < 0 ? -1 : rows;
}

static int write_iterations(const training_spec *s, const table *t, const long *it, int rows)
{
    int L = last_layer(s, t), rc = 0;
    for (int md = 0; md < 2 && !rc; md++) {
        afile a;
        if (open_out(&a, s, md ? "iterations.md" : "iterations.csv"))
            return -1;
        if (md)
            fprintf(a.f, "# Interpretability over training iterations (%s, seed %ld)\n\n"
                         "Unique detectors (detectors) per category at %s; iteration 0 is the "
                         "untrained initialisation (the random condition).\n\n| iteration | "
                         "held-out accuracy |", s->last_layer, s->seeds[0], t->layer[L]);
        else
            fprintf(a.f, "iteration,val_acc");
        for (int k = 0; k < t->nk; k++)
            fprintf(a.f, md ? " %s |" : ",%s_unique,%s_detectors", t->cat[k], t->cat[k]);
        if (md) {
            fprintf(a.f, "\n|---|---|");
            for (int k = 0; k < t->nk; k++)
                fprintf(a.f, "---|");
        }
        fputc('\n', a.f);
        for (int r = 0; r < rows; r++) {
            fprintf(a.f, md ? "| %ld | %.4f |" : "%ld,%.4f", it[r], t->acc[r]);
            for (int k = 0; k < t->nk; k++)
                fprintf(a.f, md ? " %ld (%ld) |" : ",%ld,%ld", t->v[r][L][k].upc, t->v[r][L][k].det);
            fputc('\n', a.f);
        }
        rc = afile_commit(&a);
    }
    return rc;
}

/* ---------- figures ---------- */

/* figure_unique.csv: per category (not "all"), each group's mean and sd of
 * unique detectors at the last conv layer. */
static int write_figure_data(const training_spec *s, const training_cond *c, const table *t)
{
    afile a;
    if (open_out(&a, s, "figure_unique.csv"))
        return -1;
    int L = last_layer(s, t);
    fprintf(a.f, "category");
    for (int g = 0; g < 4; g++)
        fprintf(a.f, ",%s,%s_sd", group_name(c, s->nseeds, g), group_name(c, s->nseeds, g));
    fputc('\n', a.f);
    for (int k = 0; k < t->nk; k++) {
        if (!strcmp(t->cat[k], "all"))
            continue;
        fprintf(a.f, "%s", t->cat[k]);
        for (int g = 0; g < 4; g++) {
            stat u = group_stat(s, t, g, L, k, 0);
            fprintf(a.f, ",%.4f,%.4f", u.mean, u.sd);
        }
        fputc('\n', a.f);
    }
    return afile_commit(&a);
}

static int draw(const training_spec *s, const table *t)
{
    char cats[1024] = "";
    for (int k = 0; k < t->nk; k++)
        if (strcmp(t->cat[k], "all") && strlen(cats) + strlen(t->cat[k]) + 2 < sizeof cats)
            strcat(*cats ? strcat(cats, " ") : cats, t->cat[k]);
    int rc = 0;
    for (int f = 0; f < 2 && !rc; f++) {
        char *data = nd_path_join(s->out_dir, f ? "iterations.csv" : "figure_unique.csv");
        char *vars = NULL;
        size_t vlen = 0;
        FILE *m = data ? open_memstream(&vars, &vlen) : NULL;
        if (!m) {
            free(data);
            return nd_fail("out of memory");
        }
        fig_gp_quote(m, "data", data);
        fig_gp_quote(m, "cats", cats);
        fig_gp_quote(m, "layer", s->last_layer);
        fclose(m);
        rc = fig_run(f ? "training_iterations" : "training_unique", s->out_dir, vars, f == 0);
        free(vars);
        free(data);
    }
    return rc;
}

int training_tables(const training_spec *s)
{
    training_cond c[MAXC];
    int nc = training_conditions(s, c);
    table *t = nd_calloc(1, sizeof *t), *ti = nd_calloc(1, sizeof *ti);
    long it[MAXC];
    int rc = t && ti ? load_conditions(s, c, nc, t) : -1, rows = 0;
    if (!rc)
        rc = training_write_json(s, c, nc) || write_conditions(s, c, nc, t) || write_summary(s, c, t) || write_md(s, c, nc, t) ||
             write_figure_data(s, c, t) ? -1 : 0;
    if (!rc && (rows = load_iterations(s, c, nc, ti, it)) < 0)
        rc = -1;
    if (!rc)
        rc = write_iterations(s, ti, it, rows);
    if (!rc && !s->no_plot)
        rc = draw(s, t);
    free(t);
    free(ti);
    return rc;
}
