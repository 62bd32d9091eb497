/* sweep_probes.c - the [probes] part of a sweep (sweep_probes.h). */
#include "experiments/sweep_probes.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/probe.h"
#include "experiments/cli.h"
#include "experiments/figures.h"
#include "experiments/probe_steps.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sweep_probe_wanted(const config *c, double alpha, int draw)
{
    if (!c->probes || (c->probe_draws && draw >= c->probe_draws))
        return 0;
    if (!c->n_probe_alphas)
        return 1;
    for (int i = 0; i < c->n_probe_alphas; i++)
        if (c->probe_alphas[i] == alpha)
            return 1;
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char *p = nd_path_join(dir, name);
    int r = p && access(p, F_OK) == 0;
    free(p);
    return r;
}

int sweep_probe_point(const config *c, const broden *ds, const nd_features *f, const double *R,
                      double alpha, long seed, const char *point_dir, const char *ref_dir,
                      int threads, double *seconds)
{
    *seconds = 0;
    if (exists(point_dir, "probe_summary.json"))
        return 0;
    double t0 = nd_now(), wrel, diou;
    pr_options o;
    pr_options_default(&o);
    o.profile = c->profile, o.quantile = c->quantile, o.threads = threads;
    o.field_offset = c->field_offset, o.field_size = c->field_size, o.field_stride = c->field_stride;
    o.have_field = c->profile == ND_PROFILE_NETDISSECT;
    o.train_fraction = c->probe_train_fraction, o.split_seed = c->probe_split_seed;
    o.units = c->probe_units;
    pr_result r;
    if (pr_run(ds, f, R, &o, &r))
        return -1;
    char check[1024] = "", extra[4096], a[64];
    int rc = -1;
    if (R && ref_dir && exists(ref_dir, "probe_summary.json") &&
        probe_check(&r, R, ref_dir, check, sizeof check, &wrel, &diou))
        goto done;
    cli_fmt_double(a, sizeof a, alpha);
    snprintf(extra, sizeof extra, "\"features\": \"%s\", \"rotation\": {\"seed\": %ld, \"alpha\": %s}%s%s",
             c->npy, seed, a, check[0] ? ", " : "", check);
    /* IBD reads SqueezeNet's conv_final: only for its fire9 */
    int ibd = c->weights && c->model && c->layer && !strcmp(c->model, "squeezenet") && !strcmp(c->layer, "fire9");
    if (ibd && probe_ibd(&r, ds, c->weights, R, probe_ibd_default_classes, 12, 7, c->iou_threshold, point_dir))
        goto done;
    if (pr_write(&r, ds, point_dir, extra)) /* probe_summary.json last: the completion mark */
        goto done;
    rc = 0;
done:
    pr_result_free(&r);
    *seconds = nd_now() - t0;
    return rc ? nd_fail_prefix("probes") : 0;
}

/* per category of one point: sums of the four scores and the concept count */
static int read_point(const char *dir, const broden *ds, double *acc, FILE *all, const sweep_probe_pt *p)
{
    char *path = nd_path_join(dir, "probes.csv");
    csv_file f;
    if (!path || csv_open(&f, path)) {
        free(path);
        return -1;
    }
    int col[6] = {csv_col(&f, "category"), csv_col(&f, "single_test_iou"), csv_col(&f, "binary_test_iou"),
                  csv_col(&f, "linear_test_iou"), csv_col(&f, "units_needed"), csv_col(&f, "name")};
    int rc = 0, lab = csv_col(&f, "label");
    for (int i = 0; i < 6; i++)
        if (col[i] < 0 || lab < 0)
            rc = nd_fail("%s: missing columns", path);
    size_t nc = broden_num_categories(ds);
    while (!rc && csv_next(&f) > 0) {
        size_t k;
        for (k = 0; k < nc; k++)
            if (col[0] < f.nf && !strcmp(f.f[col[0]], broden_category_name(ds, k)))
                break;
        double v[4];
        for (int i = 0; i < 4 && !rc; i++)
            if (col[i + 1] >= f.nf || csv_double(f.f[col[i + 1]], &v[i]))
                rc = nd_fail("%s:%d: not a number", path, f.line);
        if (rc || k == nc) {
            rc = rc ? rc : nd_fail("%s:%d: unknown category", path, f.line);
            break;
        }
        for (int i = 0; i < 4; i++)
            acc[k * 5 + i] += v[i];
        acc[k * 5 + 4] += 1;
        char a[64];
        cli_fmt_double(a, sizeof a, p->alpha);
        fprintf(all, "%s,%d,%ld,%s,", a, p->draw, p->seed, f.f[lab]);
        nd_json_str(all, f.f[col[5]]);
        fprintf(all, ",%s,%.9g,%.9g,%.9g,%g\n", f.f[col[0]], v[0], v[1], v[2], v[3]);
    }
    csv_close(&f);
    free(path);
    return rc;
}

static int write_summary(const config *c, const broden *ds, const double *m, const sweep_probe_pt *pts, int n)
{
    static const char *nm[4] = {"single", "binary", "linear", "units"};
    size_t nc = broden_num_categories(ds);
    char *path = nd_path_join(c->out_dir, "probe_summary.csv");
    afile a;
    if (!path || afile_open(&a, path)) {
        free(path);
        return -1;
    }
    free(path);
    fprintf(a.f, "alpha,category,n");
    for (int i = 0; i < 4; i++)
        fprintf(a.f, ",%s_mean,%s_sd", nm[i], nm[i]);
    fputc('\n', a.f);
    /* category-major, so that each category's rows are consecutive (its figure's lines) */
    for (size_t k = 0; k < nc; k++)
        for (int i = 0; i < n; i++) {
            int first = 1;
            for (int j = 0; j < i; j++)
                first &= pts[j].alpha != pts[i].alpha;
            if (!first)
                continue;
            double s[4] = {0}, q[4] = {0};
            int cnt = 0;
            for (int j = i; j < n; j++)
                if (pts[j].alpha == pts[i].alpha && m[(size_t)j * nc * 5 + k * 5 + 4] > 0) {
                    const double *v = m + (size_t)j * nc * 5 + k * 5;
                    for (int t = 0; t < 4; t++)
                        s[t] += v[t] / v[4], q[t] += (v[t] / v[4]) * (v[t] / v[4]);
                    cnt++;
                }
            if (!cnt)
                continue;
            char b[64];
            cli_fmt_double(b, sizeof b, pts[i].alpha);
            fprintf(a.f, "%s,%s,%d", b, broden_category_name(ds, k), cnt);
            for (int t = 0; t < 4; t++) {
                double mean = s[t] / cnt, var = cnt > 1 ? (q[t] - cnt * mean * mean) / (cnt - 1) : 0;
                fprintf(a.f, ",%.9g,%.9g", mean, var > 0 ? sqrt(var) : 0);
            }
            fputc('\n', a.f);
        }
    return afile_commit(&a);
}

static int draw(const config *c, const broden *ds)
{
    const char *pd = fig_plots_dir();
    char script[4200], title[512];
    if (!pd)
        return -1;
    snprintf(script, sizeof script, "%s/probes_vs_alpha.gp", pd);
    char *sum = nd_path_join(c->out_dir, "probe_summary.csv");
    int rc = sum ? 0 : -1;
    for (size_t k = 0; !rc && k < broden_num_categories(ds); k++) {
        char *vars = NULL, base[300];
        size_t len = 0;
        FILE *m = open_memstream(&vars, &len);
        if (!m) {
            rc = nd_fail("out of memory");
            break;
        }
        fig_gp_quote(m, "summary", sum);
        fig_gp_quote(m, "cat", broden_category_name(ds, k));
        fig_gp_quote_label(m, "catlabel", broden_category_name(ds, k));
        fig_gp_quote_label(m, "plottitle", config_title(c, title, sizeof title));
        fclose(m);
        snprintf(base, sizeof base, "probes_%s", broden_category_name(ds, k));
        rc = fig_gnuplot(script, c->out_dir, base, vars, 0);
        free(vars);
    }
    free(sum);
    return rc;
}

int sweep_probe_tables(const config *c, const broden *ds, const sweep_probe_pt *pts, int n, int plot)
{
    size_t nc = broden_num_categories(ds);
    double *m = nd_calloc((size_t)n * nc * 5 + 1, sizeof *m);
    char *path = nd_path_join(c->out_dir, "probes.csv");
    afile a;
    if (!m || !path || afile_open(&a, path)) {
        free(m), free(path);
        return -1;
    }
    free(path);
    fprintf(a.f, "alpha,draw,seed,label,name,category,single_test_iou,binary_test_iou,linear_test_iou,units_needed\n");
    for (int i = 0; i < n; i++)
        if (read_point(pts[i].dir, ds, m + (size_t)i * nc * 5, a.f, &pts[i])) {
            afile_abort(&a);
            free(m);
            return -1;
        }
    int rc = afile_commit(&a) || write_summary(c, ds, m, pts, n) || (plot && draw(c, ds));
    free(m);
    return rc ? -1 : 0;
}
