/* sweep.c - the report of a sweep run folder.
 *
 *   index.html   the sweep's figures, and for the top detectors of the
 *                unrotated layer the unit's strip before rotation beside the
 *                strip of the same coordinate after the full rotation
 *                (alpha = 1, draw 0), with both labels and IoUs
 *   figures/     copies of the run's figures (the site stands alone)
 *   before/      the report of the unrotated point
 *   after/       the report of alpha = 1, draw 0
 * The points are found through sweep.csv (seed -1 is the unrotated point). */
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "report/html.h"
#include "report/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *run;
    rpt_options *o;
    char before[512], after[512]; /* point folder names */
} sweep_ctx;

static int find_points(sweep_ctx *s)
{
    char *p = nd_path_join(s->run, "sweep.csv");
    csv_file c;
    if (!p || csv_open(&c, p)) {
        free(p);
        return -1;
    }
    int ca = csv_col(&c, "alpha"), cd = csv_col(&c, "draw"), cs = csv_col(&c, "seed"), row, rc = 0;
    s->before[0] = s->after[0] = 0;
    if (ca < 0 || cd < 0 || cs < 0)
        rc = nd_fail("%s: header needs the columns alpha, draw, seed", p);
    while (!rc && (row = csv_next(&c)) > 0) {
        double a;
        long d, seed;
        if (c.nf <= ca || c.nf <= cd || c.nf <= cs || csv_double(c.f[ca], &a) || csv_long(c.f[cd], &d) ||
            csv_long(c.f[cs], &seed)) {
            rc = nd_fail("%s:%d: expected numbers in alpha, draw, seed", p, c.line);
            break;
        }
        /* the point folders are named a<alpha as in sweep.csv>_d<draw> */
        char *dst = seed < 0 ? s->before : a == 1 && d == 0 ? s->after : NULL;
        if (dst)
            snprintf(dst, sizeof s->before, "points/a%s_d%ld", c.f[ca], d);
    }
    if (!rc && (!s->before[0] || !s->after[0]))
        rc = nd_fail("%s: no %s point (the sweep report needs alpha = 0 and alpha = 1, draw 0)", p,
                     s->before[0] ? "alpha = 1, draw 0" : "unrotated");
    csv_close(&c);
    free(p);
    return rc;
}

static int copy_file(const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb"), *g = f ? fopen(dst, "wb") : NULL;
    int rc = 0;
    char buf[65536];
    size_t n;
    while (g && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (fwrite(buf, 1, n, g) != n)
            break;
    if (!f || !g || ferror(f) || ferror(g))
        rc = nd_fail("%s: cannot copy to %s: %s", src, dst, strerror(errno ? errno : EIO));
    if (g && fclose(g) != 0 && !rc)
        rc = nd_fail("%s: write failed: %s", dst, strerror(errno));
    if (f)
        fclose(f);
    return rc;
}

static const char *figures[] = {"unique_vs_alpha", "category_vs_alpha"};

/* Copy the figures that exist; returns how many PNGs were copied, or -1. */
static int copy_figures(const char *run, const char *dir)
{
    char src[4096], dst[4096];
    int n = 0;
    snprintf(dst, sizeof dst, "%s/figures", dir);
    if (nd_mkdirs(dst))
        return -1;
    for (size_t q = 0; q < sizeof figures / sizeof *figures; q++)
        for (int e = 0; e < 2; e++) {
            struct stat st;
            snprintf(src, sizeof src, "%s/figures/%s.%s", run, figures[q], e ? "svg" : "png");
            if (stat(src, &st) != 0)
                continue;
            snprintf(dst, sizeof dst, "%s/figures/%s.%s", dir, figures[q], e ? "svg" : "png");
            if (copy_file(src, dst))
                return -1;
            n += !e;
        }
    return n;
}

static const char sweep_js[] = "window.addEventListener('load',function(){if(location.hash!=='#selftest')return;"
                               "ndTest.images();ndTest.done()});\n";

static void pair_row(FILE *f, const rpt_result *a, const rpt_result *b, size_t u)
{
    fprintf(f, "<div class=\"unit\"><h2>unit %zu</h2><div class=\"pair\">", u + 1);
    const rpt_result *r[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        fprintf(f, "<div><p>%s: <a href=\"%s/unit.html#u=%zu\">", s ? "after (alpha = 1, draw 0)" : "before rotation",
                s ? "after" : "before", u + 1);
        rpt_html_esc(f, r[s]->unit_label[u]);
        fputs("</a> <span class=\"muted\">(", f);
        rpt_html_esc(f, r[s]->unit_cat[u]);
        fprintf(f, ")</span>, IoU %.4f%s</p><img src=\"%s/sprites/u%04zu.png\" style=\"max-width:46vw\" alt=\"\"></div>",
                r[s]->unit_score[u], r[s]->unit_score[u] > r[s]->opt.iou_threshold ? " (detector)" : "",
                s ? "after" : "before", u + 1);
    }
    fputs("</div></div>\n", f);
}

static int write_sweep_index(const sweep_ctx *s, const char *dir, int nfig, const rpt_result *a, const rpt_result *b)
{
    char *path = nd_path_join(dir, "index.html");
    afile af;
    if (!path || afile_open(&af, path)) {
        free(path);
        return -1;
    }
    free(path);
    FILE *f = af.f;
    rpt_html_head(f, "Rotation sweep report");
    fprintf(f, "<script>%s</script>\n<h1>Rotation sweep: ", rpt_js_common);
    rpt_html_esc(f, s->run);
    fprintf(f, "</h1>\n<p>Reports of the points: <a href=\"before/index.html\">unrotated</a> (%d detectors, %d unique "
               "per-category, %d top-label) and <a href=\"after/index.html\">alpha = 1, draw 0</a> (%d, %d, %d).</p>\n",
            a->detectors, a->unique_percat, a->unique_toplabel, b->detectors, b->unique_percat, b->unique_toplabel);
    for (size_t q = 0; q < sizeof figures / sizeof *figures && nfig > 0; q++)
        fprintf(f, "<p><img src=\"figures/%s.png\" alt=\"%s\" style=\"max-width:48%%\"></p>\n", figures[q], figures[q]);
    size_t *order = nd_malloc(a->K * sizeof *order), n = 0;
    for (size_t u = 0; order && u < a->K; u++) {
        size_t p = n;
        if (!(a->unit_score[u] > a->opt.iou_threshold))
            continue;
        while (p > 0 && a->unit_score[order[p - 1]] < a->unit_score[u])
            order[p] = order[p - 1], p--;
        order[p] = u, n++;
    }
    size_t show = n < (size_t)s->o->top_units ? n : (size_t)s->o->top_units;
    fprintf(f, "<h2>The top %zu detectors of the unrotated layer, and the same coordinate after the full rotation</h2>\n",
            show);
    for (size_t q = 0; q < show; q++)
        pair_row(f, a, b, order[q]);
    free(order);
    fprintf(f, "<pre id=\"selftest\" hidden></pre>\n<script>%s</script>\n</body></html>\n", sweep_js);
    return afile_commit(&af);
}

static int build_sweep(void *ctx, const char *dir)
{
    sweep_ctx *s = ctx;
    char pb[4096], pa[4096], ob[4096], oa[4096], m[4096];
    snprintf(pb, sizeof pb, "%s/%s", s->run, s->before);
    snprintf(pa, sizeof pa, "%s/%s", s->run, s->after);
    snprintf(ob, sizeof ob, "%s/before", dir);
    snprintf(oa, sizeof oa, "%s/after", dir);
    snprintf(m, sizeof m, "%s/" RPT_MARKER, dir);
    rpt_result a, b;
    int rc = -1, nfig;
    if (nd_mkdirs(ob) || nd_mkdirs(oa) || rpt_build(pb, s->o, ob) || rpt_build(pa, s->o, oa) ||
        (nfig = copy_figures(s->run, dir)) < 0)
        return -1;
    if (rpt_result_read(&a, pb, s->o->dataset, s->o->features))
        return -1;
    if (rpt_result_read(&b, pa, s->o->dataset, s->o->features) == 0) {
        rc = write_sweep_index(s, dir, nfig, &a, &b) || afile_write_all(m, "dissect report (sweep)\n", 23) ? -1 : 0;
        rpt_result_free(&b);
    }
    rpt_result_free(&a);
    return rc;
}

int rpt_sweep_report(const char *run_dir, rpt_options *o, const char *out)
{
    double t0 = nd_now();
    sweep_ctx s = {.run = run_dir, .o = o};
    if (o->top_units <= 0)
        o->top_units = 12;
    int rc = find_points(&s) || rpt_in_tmp(out, build_sweep, &s) ? -1 : 0;
    o->seconds = nd_now() - t0;
    return rc;
}
