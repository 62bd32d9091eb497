/* layers.c - the layers experiment (see layers.h). */
#include "experiments/layers.h"

#include "core/afile.h"
#include "core/broden.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/format.h"
#include "core/jobs.h"
#include "core/layers.h"
#include "core/result.h"
#include "experiments/cli.h"
#include "experiments/figures.h"
#include "models/extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    mdl_runner *r;
    char **paths;
} fwd_ctx;

static int fwd_run(void *ctx, size_t i0, size_t n, float *const *out)
{
    fwd_ctx *f = ctx;
    return mdl_runner_run_layers(f->r, (const char *const *)f->paths + i0, (int)n, out);
}

void layers_free_paths(char **p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i]);
    free(p);
}

int layers_image_paths(const broden *ds, char ***out)
{
    size_t n = broden_num_images(ds);
    char *img = nd_path_join(broden_dir(ds), "images");
    char **p = nd_calloc(n ? n : 1, sizeof *p);
    int rc = img && p ? 0 : -1;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(p[i] = nd_path_join(img, broden_image_name(ds, i))))
            rc = -1;
    free(img);
    if (rc) {
        layers_free_paths(p, n);
        return -1;
    }
    *out = p;
    return 0;
}

typedef struct {
    const layers_spec *s;
    const char *net;
    const char *stage; /* the rate counts from the start of this pass */
    double t0, last;
} prog_ctx;

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    prog_ctx *p = ctx;
    double t = nd_now();
    if (p->stage && strcmp(p->stage, stage))
        p->t0 = p->last; /* the previous pass ended at its last (done == total) line */
    p->stage = stage;
    if (p->s->quiet || (done < total && t - p->last < 1.0))
        return;
    p->last = t;
    cli_progress("layers: %s network, %s pass, %zu/%zu images, %.1f images/s", p->net, stage, done,
                 total, done / (t - p->t0 > 0 ? t - p->t0 : 1));
}

/* counts.csv of one network: the per-layer, per-category detector counts. */
static int write_counts(const char *path, const broden *ds, mdl_runner *r, const nd_result *res)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    fprintf(a.f, "layer,index,units,category,detectors,unique_percat,unique_toplabel\n");
    for (int k = 0; k < mdl_runner_outputs(r); k++) {
        int c, h, w;
        const char *name = mdl_runner_output(r, k, &c, &h, &w);
        const nd_counts *n = &res[k].counts;
        for (size_t q = 0; q < broden_num_categories(ds); q++)
            fprintf(a.f, "%s,%d,%d,%s,%d,%d,%d\n", name, k, c, broden_category_name(ds, q),
                    n->cat_detectors[q], n->cat_unique_percat[q], n->cat_unique_toplabel[q]);
        fprintf(a.f, "%s,%d,%d,all,%d,%d,%d\n", name, k, c, n->detectors, n->unique_percat,
                n->unique_toplabel);
    }
    return afile_commit(&a);
}

int layers_dissect(const layers_spec *s, const broden *ds, char **paths, mdl_runner *r,
                   const char *net, const char *netdir, const char *counts)
{
    int nl = mdl_runner_outputs(r), rc = 0;
    nd_layer_source src = {.N = broden_num_images(ds), .nl = nl, .block = (size_t)s->batch};
    nd_options o[MDL_MAX_OUTPUTS];
    for (int k = 0; k < nl; k++) {
        int c, h, w;
        mdl_runner_output(r, k, &c, &h, &w);
        src.K[k] = (size_t)c, src.h[k] = (size_t)h, src.w[k] = (size_t)w;
        nd_options_default(&o[k]);
        o[k].profile = s->profile;
        o[k].quantile = s->quantile;
        o[k].iou_threshold = s->iou_threshold;
        o[k].threads = s->threads;
        mdl_runner_field(r, k, &o[k].field_offset, &o[k].field_size, &o[k].field_stride);
        o[k].have_field = 1;
    }
    fwd_ctx f = {r, paths};
    src.run = fwd_run;
    src.ctx = &f;
    prog_ctx pc = {.s = s, .net = net, .t0 = nd_now()};
    nd_result *res = nd_calloc((size_t)nl, sizeof *res);
    if (!res || nd_dissect_layers(ds, &src, o, res, (nd_progress){progress, &pc}))
        rc = -1;
    cli_progress_done();
    for (int k = 0; k < nl && !rc; k++) {
        int c, h, w;
        const char *layer = mdl_runner_output(r, k, &c, &h, &w);
        char *dir = nd_path_join(netdir, layer);
        char extra[256];
        snprintf(extra, sizeof extra, "\"network\": \"%s\", \"layer\": \"%s\"", net, layer);
        rc = dir ? nd_write_result(&res[k], ds, dir, extra) : -1;
        free(dir);
    }
    if (!rc)
        rc = write_counts(counts, ds, r, res);
    for (int k = 0; res && k < nl; k++)
        nd_result_free(&res[k]);
    free(res);
    return rc;
}

/* One network of the experiment: open it, dissect every layer. */
static int run_net(const layers_spec *s, const broden *ds, char **paths, const char *net,
                   const char *weights, long seed, const char *counts)
{
    mdl_runner *r;
    if (mdl_runner_open(&r, s->model, weights, weights ? -1 : seed, s->layers))
        return -1;
    char *netdir = nd_path_join(s->out_dir, net);
    int rc = netdir ? layers_dissect(s, ds, paths, r, net, netdir, counts) : -1;
    free(netdir);
    mdl_runner_close(r);
    return rc;
}

/* ---------- the table of both networks ---------- */

typedef struct {
    char net[16], layer[64], cat[64];
    long index, units, v[3]; /* detectors, unique_percat, unique_toplabel */
} row;

static const char *const nets[2] = {"trained", "random"};

/* Append the rows of <out>/<net>/counts.csv (if it exists). */
static int read_counts(const char *out, const char *net, row **rows, size_t *n, size_t *cap)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%s/counts.csv", net);
    char *p = nd_path_join(out, rel);
    struct stat sb;
    if (!p || stat(p, &sb) != 0) {
        free(p);
        return p ? 0 : -1;
    }
    csv_file c;
    memset(&c, 0, sizeof c);
    int rc = csv_open(&c, p), r = 0, csv_failed = rc != 0;
    static const char *cols[7] = {"layer", "index", "units", "category", "detectors", "unique_percat",
                                  "unique_toplabel"};
    int ci[7];
    for (int k = 0; k < 7 && !rc; k++)
        if ((ci[k] = csv_col(&c, cols[k])) < 0)
            rc = nd_fail("%s: no column '%s'", p, cols[k]);
    while (!rc && (r = csv_next(&c)) > 0) {
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            row *nr = realloc(*rows, *cap * sizeof *nr);
            if (!nr) {
                rc = nd_fail("out of memory");
                break;
            }
            *rows = nr;
        }
        row *w = &(*rows)[*n];
        snprintf(w->net, sizeof w->net, "%s", net);
        snprintf(w->layer, sizeof w->layer, "%s", c.f[ci[0]]);
        snprintf(w->cat, sizeof w->cat, "%s", c.f[ci[3]]);
        if (csv_long(c.f[ci[1]], &w->index) || csv_long(c.f[ci[2]], &w->units) ||
            csv_long(c.f[ci[4]], &w->v[0]) || csv_long(c.f[ci[5]], &w->v[1]) ||
            csv_long(c.f[ci[6]], &w->v[2]))
            rc = nd_fail("%s:%d: expected integer counts", p, c.line);
        else
            (*n)++;
    }
    if (r < 0)
        rc = -1;
    if (!csv_failed)
        csv_close(&c);
    free(p);
    return rc;
}

/* layers.csv (long) and layers_plot.csv (one row per layer, columns
 * <net>_<category>_unique and _fraction) for the figures. */
static int write_tables(const char *out, const row *rw, size_t n)
{
    char *p = nd_path_join(out, "layers.csv");
    afile a;
    if (!p || afile_open(&a, p)) {
        free(p);
        return -1;
    }
    free(p);
    fprintf(a.f, "net,layer,index,units,category,detectors,unique_percat,unique_toplabel\n");
    for (size_t i = 0; i < n; i++)
        fprintf(a.f, "%s,%s,%ld,%ld,%s,%ld,%ld,%ld\n", rw[i].net, rw[i].layer, rw[i].index,
                rw[i].units, rw[i].cat, rw[i].v[0], rw[i].v[1], rw[i].v[2]);
    if (afile_commit(&a))
        return -1;
    if (!(p = nd_path_join(out, "layers_plot.csv")) || afile_open(&a, p)) {
        free(p);
        return -1;
    }
    free(p);
    /* columns: every (net, category) seen, in row order of the first layer */
    fprintf(a.f, "index,layer");
    for (size_t i = 0; i < n; i++)
        if (rw[i].index == 0)
            fprintf(a.f, ",%s_%s_unique,%s_%s_fraction", rw[i].net, rw[i].cat, rw[i].net, rw[i].cat);
    fputc('\n', a.f);
    for (long li = 0;; li++) {
        int any = 0;
        for (size_t i = 0; i < n && !any; i++)
            if (rw[i].index == li)
                any = 1, fprintf(a.f, "%ld,%s", li, rw[i].layer);
        if (!any)
            break;
        for (size_t h = 0; h < n; h++) {
            if (rw[h].index != 0)
                continue;
            const row *m = NULL;
            for (size_t i = 0; i < n && !m; i++)
                if (rw[i].index == li && !strcmp(rw[i].net, rw[h].net) && !strcmp(rw[i].cat, rw[h].cat))
                    m = &rw[i];
            if (m)
                fprintf(a.f, ",%ld,%.6f", m->v[1], m->units ? (double)m->v[0] / m->units : 0.0);
            else
                fprintf(a.f, ",,");
        }
        fputc('\n', a.f);
    }
    return afile_commit(&a);
}

/* layers.json: what the run is (format version, inputs, settings) and each
 * network's per-layer totals (the "all" rows). */
static int write_summary(const layers_spec *s, const row *rw, size_t n)
{
    char b[64];
    afile a;
    if (nd_format_open(&a, s->out_dir, "layers.json", "layers", ND_FORMAT_LAYERS))
        return -1;
    FILE *f = a.f;
    fprintf(f, "  \"program_version\": \"%s\",\n  \"dataset\": ", ND_VERSION);
    nd_json_str(f, s->dataset);
    fprintf(f, ",\n  \"categories\": [");
    for (size_t i = 0, k = 0; i < n; i++)
        if (rw[i].index == 0 && !strcmp(rw[i].net, rw[0].net) && strcmp(rw[i].cat, "all")) {
            fputs(k++ ? ", " : "", f);
            nd_json_str(f, rw[i].cat);
        }
    fprintf(f, "],\n  \"model\": ");
    nd_json_str(f, s->model);
    fprintf(f, ",\n  \"weights\": ");
    if (s->weights)
        nd_json_str(f, s->weights);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"random_seed\": %ld,\n  \"profile\": \"%s\",\n", s->random_seed,
            nd_profile_name(s->profile));
    cli_fmt_double(b, sizeof b, s->quantile);
    fprintf(f, "  \"quantile\": %s,\n", b);
    cli_fmt_double(b, sizeof b, s->iou_threshold);
    fprintf(f, "  \"iou_threshold\": %s,\n  \"networks\": {", b);
    const char *open_net = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rw[i].cat, "all"))
            continue;
        if (!open_net || strcmp(open_net, rw[i].net))
            fprintf(f, "%s\n    \"%s\": {", open_net ? "\n    }," : "", rw[i].net);
        else
            fputc(',', f);
        fputs("\n      ", f);
        nd_json_str(f, rw[i].layer);
        fprintf(f, ": {\"units\": %ld, \"detectors\": %ld, \"unique_per_category\": %ld, "
                   "\"unique_top_label\": %ld}", rw[i].units, rw[i].v[0], rw[i].v[1], rw[i].v[2]);
        open_net = rw[i].net;
    }
    fprintf(f, "%s\n  }\n}\n", open_net ? "\n    }" : "");
    return afile_commit(&a);
}

int layers_run(const layers_spec *s)
{
    if (!s->weights && s->random_seed < 0)
        return nd_fail("%s: no network: give trained weights or a random seed", s->out_dir);
    if (s->batch < 1)
        return nd_fail("%s: batch %d, expected >= 1", s->out_dir, s->batch);
    broden *ds = NULL;
    char **paths = NULL;
    int rc = 0, opened = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        const char *w = k == 0 ? s->weights : NULL;
        if (k == 0 && !s->weights)
            continue;
        if (k == 1 && s->random_seed < 0)
            continue;
        char rel[64];
        snprintf(rel, sizeof rel, "%s/counts.csv", nets[k]);
        char *counts = nd_path_join(s->out_dir, rel);
        struct stat sb;
        if (!counts)
            rc = -1;
        else if (stat(counts, &sb) == 0) {
            if (!s->quiet)
                fprintf(stderr, "layers: %s network complete, skipped (%s)\n", nets[k], counts);
        } else {
            if (!opened && !(rc = broden_open(&ds, s->dataset, s->categories)))
                rc = layers_image_paths(ds, &paths), opened = 1;
            if (!rc)
                rc = nd_mkdirs(s->out_dir) || run_net(s, ds, paths, nets[k], w, s->random_seed, counts)
                         ? -1 : 0;
        }
        free(counts);
    }
    if (opened)
        layers_free_paths(paths, broden_num_images(ds));
    broden_free(ds);
    row *rw = NULL;
    size_t n = 0, cap = 0;
    for (int k = 0; k < 2 && !rc; k++)
        rc = read_counts(s->out_dir, nets[k], &rw, &n, &cap);
    if (!rc)
        rc = write_tables(s->out_dir, rw, n) || write_summary(s, rw, n) ? -1 : 0;
    free(rw);
    if (!rc && !s->no_plot)
        rc = layers_draw(s->out_dir, s->title);
    return rc;
}

/* Categories and networks present, from layers_plot.csv's header
 * ("<net>_<category>_unique" columns), space separated. */
static int plot_names(const char *path, char *cats, size_t cc, char *netsout, size_t nc)
{
    char *text = nd_read_text(path);
    if (!text)
        return -1;
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = 0;
    *cats = *netsout = 0;
    for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
        size_t n = strlen(tok);
        if (n < 8 || strcmp(tok + n - 7, "_unique"))
            continue;
        tok[n - 7] = 0;
        char *us = strchr(tok, '_');
        if (!us)
            continue;
        *us = 0;
        const char *cat = us + 1;
        if (!strcmp(cat, "all"))
            continue;
        char pad[80];
        snprintf(pad, sizeof pad, " %s ", cat);
        char padded[4200];
        snprintf(padded, sizeof padded, " %s ", cats);
        if (!strstr(padded, pad) && strlen(cats) + strlen(cat) + 2 < cc)
            strcat(*cats ? strcat(cats, " ") : cats, cat);
        snprintf(pad, sizeof pad, " %s ", tok);
        snprintf(padded, sizeof padded, " %s ", netsout);
        if (!strstr(padded, pad) && strlen(netsout) + strlen(tok) + 2 < nc)
            strcat(*netsout ? strcat(netsout, " ") : netsout, tok);
    }
    free(text);
    return 0;
}

int layers_draw(const char *out_dir, const char *title)
{
    char *data = nd_path_join(out_dir, "layers_plot.csv");
    char cats[2048], netsl[64];
    if (!data || plot_names(data, cats, sizeof cats, netsl, sizeof netsl)) {
        free(data);
        return -1;
    }
    char *vars = NULL;
    size_t vlen = 0;
    FILE *m = open_memstream(&vars, &vlen);
    if (!m) {
        free(data);
        return nd_fail("out of memory");
    }
    fig_gp_quote(m, "data", data);
    fig_gp_quote(m, "cats", cats);
    fig_gp_quote(m, "nets", netsl);
    fig_gp_quote_label(m, "plottitle", title ? title : "");
    fclose(m);
    int rc = fig_run("layers_unique", out_dir, vars, 1);
    if (!rc)
        rc = fig_run("layers_fraction", out_dir, vars, 0);
    free(vars);
    free(data);
    return rc;
}
