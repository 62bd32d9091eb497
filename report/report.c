/* report.c - the report of one result folder: top images, masks, sprites,
 * pages; built in a temporary folder and renamed into place.
 *
 * Work is organised by image, then by unit: each image that is in some
 * unit's top list is read once (its activations - rotated ones cost an
 * sgemm - and its photograph, decoded and resized once however many units
 * show it), keeping only those units' maps; then each unit's strip is drawn
 * and encoded.  Both passes run on nd_run_jobs threads split by index, so
 * the files do not depend on the thread count. */
#include "report/report.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "models/image.h"
#include "report/html.h"
#include "report/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    rpt_result r;
    rpt_data d;
    size_t N, K, k, hw;
    int scale;
    size_t *top;            /* [K][k] image indices, best first */
    rpt_cell *cells;        /* [K][k] */
    float *maxact;          /* [N][K] */
    float *maps;            /* [K][k][hw] the unit's map in each top image */
    unsigned char **thumb;  /* [N] sw*s x sh*s RGB, only for images in some top list */
    size_t *ioff, *islot;   /* images -> (unit, slot) pairs: CSR over images */
} report_run;

typedef struct {
    report_run *run;
    const char *dir; /* output folder */
    int tid, nt;
    size_t u0, u1;   /* unit pass: this round's units */
    int rc;
    char err[1024];
} pass_job;

static void job_fail(pass_job *j)
{
    j->rc = -1;
    snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
}

/* The photograph of image i at label resolution times the scale. */
static int load_thumb(report_run *R, size_t i)
{
    int sh, sw;
    broden_image_size(R->d.ds, i, NULL, NULL, &sh, &sw);
    char *dir = nd_path_join(R->r.dataset, "images");
    char *p = dir ? nd_path_join(dir, broden_image_name(R->d.ds, i)) : NULL;
    free(dir);
    img_u8 im;
    int rc = -1;
    if (p && img_load_rgb(&im, p) == 0) {
        int w = sw * R->scale, h = sh * R->scale;
        R->thumb[i] = nd_malloc((size_t)w * (size_t)h * 3);
        rc = R->thumb[i] ? img_resize_u8(R->thumb[i], w, h, im.px, im.w, im.h, 3) : -1;
        img_free(&im);
    }
    free(p);
    return rc;
}

static void *image_worker(void *arg)
{
    pass_job *j = arg;
    report_run *R = j->run;
    const nd_features *f = &R->d.f;
    float *buf = nd_malloc(f->K * R->hw * sizeof *buf);
    if (!buf) {
        job_fail(j);
        return NULL;
    }
    for (size_t i = (size_t)j->tid; i < R->N; i += (size_t)j->nt) {
        if (R->ioff[i] == R->ioff[i + 1])
            continue;
        const float *x;
        if (f->get(f->ctx, i, 1, buf, &x) || load_thumb(R, i)) {
            job_fail(j);
            break;
        }
        for (size_t q = R->ioff[i]; q < R->ioff[i + 1]; q++) {
            size_t us = R->islot[q], u = us / R->k;
            memcpy(R->maps + us * R->hw, x + u * R->hw, R->hw * sizeof *x);
        }
    }
    free(buf);
    return NULL;
}

/* Invert the top lists: for each image, the (unit, slot) pairs showing it. */
static int index_images(report_run *R)
{
    size_t n = R->K * R->k;
    if (!(R->ioff = nd_calloc(R->N + 1, sizeof *R->ioff)) || !(R->islot = nd_malloc(n * sizeof *R->islot)))
        return -1;
    for (size_t q = 0; q < n; q++)
        R->ioff[R->top[q] + 1]++;
    for (size_t i = 0; i < R->N; i++)
        R->ioff[i + 1] += R->ioff[i];
    size_t *fill = nd_calloc(R->N, sizeof *fill);
    if (!fill)
        return -1;
    for (size_t q = 0; q < n; q++) {
        size_t i = R->top[q];
        R->islot[R->ioff[i] + fill[i]++] = q;
    }
    free(fill);
    return 0;
}

static void cell_size(const report_run *R, size_t u, int *cw, int *ch)
{
    *cw = *ch = 1;
    for (size_t s = 0; s < R->k; s++) {
        int sh, sw;
        broden_image_size(R->d.ds, R->top[u * R->k + s], NULL, NULL, &sh, &sw);
        if (sw * R->scale > *cw)
            *cw = sw * R->scale;
        if (sh * R->scale > *ch)
            *ch = sh * R->scale;
    }
}

/* A plain file: the folder is made atomic as a whole (rpt_in_tmp syncs it
 * once before the rename instead of once per sprite). */
static int write_png(const char *path, const unsigned char *rgb, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return nd_fail("%s: cannot create: %s", path, strerror(errno));
    int rc = img_write_png_rgb(f, path, rgb, w, h, RPT_PNG_LEVEL);
    if (ferror(f) && !rc)
        rc = nd_fail("%s: write failed: %s", path, strerror(errno ? errno : EIO));
    if (fclose(f) != 0 && !rc)
        rc = nd_fail("%s: write failed: %s", path, strerror(errno));
    return rc;
}

/* Draw and write unit u's strip; fills its cells. */
static int draw_unit(report_run *R, size_t u, const char *dir, unsigned char *mask, unsigned char *gt)
{
    int cw, ch;
    cell_size(R, u, &cw, &ch);
    int W = (int)R->k * (cw + RPT_GAP) - RPT_GAP, H = 2 * ch + RPT_GAP;
    unsigned char *sp = nd_malloc((size_t)W * (size_t)H * 3);
    if (!sp)
        return -1;
    memset(sp, 255, (size_t)W * (size_t)H * 3);
    for (size_t s = 0; s < R->k; s++) {
        rpt_cell *c = &R->cells[u * R->k + s];
        size_t i = R->top[u * R->k + s];
        int ih, iw, sh, sw;
        broden_image_size(R->d.ds, i, &ih, &iw, &sh, &sw);
        if (rpt_unit_mask(&R->r.opt, &R->d.f, R->maps + (u * R->k + s) * R->hw, R->r.thr[u], iw, sh, sw,
                          mask)) {
            free(sp);
            return -1;
        }
        c->img = i, c->maxact = R->maxact[i * R->K + u];
        c->gt_px = rpt_truth(R->d.ds, i, R->d.label[u], gt);
        size_t both = 0, any = 0;
        c->mask_px = 0;
        for (size_t p = 0; p < (size_t)sh * (size_t)sw; p++)
            c->mask_px += mask[p], both += mask[p] & gt[p], any += mask[p] | gt[p];
        c->iou = any ? (double)both / (double)any : -1;
        rpt_draw_cells(sp, W, (int)s * (cw + RPT_GAP), ch + RPT_GAP, R->thumb[i], sh, sw, R->scale, mask, gt);
    }
    char name[64];
    snprintf(name, sizeof name, "sprites/u%04zu.png", u + 1);
    char *p = nd_path_join(dir, name);
    int rc = p ? write_png(p, sp, W, H) : -1;
    free(p), free(sp);
    return rc;
}

static void *unit_worker(void *arg)
{
    pass_job *j = arg;
    report_run *R = j->run;
    size_t big = 0;
    for (size_t i = 0; i < R->N; i++) {
        int sh, sw;
        broden_image_size(R->d.ds, i, NULL, NULL, &sh, &sw);
        if ((size_t)sh * (size_t)sw > big)
            big = (size_t)sh * (size_t)sw;
    }
    unsigned char *mask = nd_malloc(big + 1), *gt = nd_malloc(big + 1);
    int bad = !mask || !gt;
    for (size_t u = j->u0 + (size_t)j->tid; u < j->u1 && !bad; u += (size_t)j->nt)
        bad = draw_unit(R, u, j->dir, mask, gt) != 0;
    if (bad)
        job_fail(j);
    free(mask), free(gt);
    return NULL;
}

static int run_pass(report_run *R, const char *dir, int threads, void *(*fn)(void *), size_t u0, size_t u1)
{
    int nt = nd_threads(threads);
    pass_job jobs[ND_MAX_THREADS];
    memset(jobs, 0, sizeof jobs);
    for (int t = 0; t < nt; t++)
        jobs[t].run = R, jobs[t].dir = dir, jobs[t].tid = t, jobs[t].nt = nt, jobs[t].u0 = u0, jobs[t].u1 = u1;
    nd_run_jobs(fn, jobs, sizeof jobs[0], nt);
    for (int t = 0; t < nt; t++)
        if (jobs[t].rc)
            return nd_fail("%s", jobs[t].err);
    return 0;
}

/* Per-image maxima: the tally's maxact.npy when the result has it. */
static int get_maxact(report_run *R, int threads)
{
    if (!(R->maxact = nd_malloc(R->N * R->K * sizeof *R->maxact)))
        return -1;
    char *p = nd_path_join(R->r.dir, "maxact.npy");
    struct stat st;
    int rc = !p ? -1
             : stat(p, &st) == 0 ? rpt_maxact_load(p, R->N, R->K, R->maxact)
                                 : rpt_maxact_pass(&R->d.f, threads, R->maxact);
    free(p);
    return rc;
}

static int prepare(report_run *R, const char *result_dir, const rpt_options *o)
{
    if (rpt_result_read(&R->r, result_dir, o->dataset, o->features) || rpt_data_open(&R->d, &R->r))
        return -1;
    R->N = R->d.f.N, R->K = R->d.f.K, R->hw = R->d.f.h * R->d.f.w;
    R->k = (size_t)(o->top > 0 ? o->top : 12);
    if (R->k > R->N)
        R->k = R->N;
    int msh = 1, msw = 1;
    for (size_t i = 0; i < R->N; i++) {
        int sh, sw;
        broden_image_size(R->d.ds, i, NULL, NULL, &sh, &sw);
        msh = sh > msh ? sh : msh, msw = sw > msw ? sw : msw;
    }
    R->scale = rpt_scale(msh, msw);
    if (get_maxact(R, o->threads))
        return -1;
    size_t n = R->K * R->k;
    if (!(R->top = nd_malloc(n * sizeof *R->top)) || !(R->cells = nd_calloc(n, sizeof *R->cells)) ||
        !(R->maps = nd_malloc(n * R->hw * sizeof *R->maps)) || !(R->thumb = nd_calloc(R->N, sizeof *R->thumb)))
        return -1;
    for (size_t u = 0; u < R->K; u++)
        rpt_topk(R->maxact, R->N, R->K, u, R->k, R->top + u * R->k);
    return index_images(R);
}

static void run_free(report_run *R)
{
    if (R->thumb)
        for (size_t i = 0; i < R->N; i++)
            free(R->thumb[i]);
    free(R->thumb), free(R->top), free(R->cells), free(R->maxact), free(R->maps), free(R->ioff), free(R->islot);
    rpt_data_close(&R->d);
    rpt_result_free(&R->r);
}

/* Build the report of result_dir inside dir (an existing, empty folder). */
int rpt_build(const char *result_dir, const rpt_options *o, const char *dir)
{
    report_run R;
    memset(&R, 0, sizeof R);
    char *sp = nd_path_join(dir, "sprites");
    int rc = -1;
    if (!sp || nd_mkdirs(sp) || prepare(&R, result_dir, o))
        goto out;
    nd_report(o->progress, "images", 0, R.N);
    if (run_pass(&R, dir, o->threads, image_worker, 0, 0))
        goto out;
    /* in rounds, so the calling thread can report progress */
    size_t round = 32;
    for (size_t u0 = 0; u0 < R.K; u0 += round) {
        size_t u1 = u0 + round < R.K ? u0 + round : R.K;
        if (run_pass(&R, dir, o->threads, unit_worker, u0, u1))
            goto out;
        nd_report(o->progress, "sprites", u1, R.K);
    }
    rpt_page pg = {.r = &R.r, .ds = R.d.ds, .k = R.k, .top = R.top, .cells = R.cells, .scale = R.scale};
    rc = rpt_write_pages(&pg, dir);
out:
    free(sp);
    run_free(&R);
    return rc;
}

/* ------------------------------------------------------ the output folder */

/* OUT.tmp.<host>.<pid>: the host too, so a cleanup on a shared disk never
 * takes another machine's temporary. */
static char *rpt_tmp_name(const char *out)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    size_t n = strlen(out) + strlen(host) + 48;
    char *t = nd_malloc(n);
    if (t)
        snprintf(t, n, "%s.tmp.%s.%ld", out, host, (long)getpid());
    return t;
}

/* An existing OUT may be replaced only if it is a report. */
static int rpt_check_out(const char *out)
{
    struct stat st;
    if (stat(out, &st) != 0)
        return 0;
    char *m = nd_path_join(out, RPT_MARKER);
    int ok = m && stat(m, &st) == 0;
    free(m);
    return ok ? 0 : nd_fail("%s: exists and is not a report (no %s); remove it or choose another --out", out,
                            RPT_MARKER);
}

/* Rename the finished tmp to out, replacing an old report only now. */
static int rpt_commit(const char *tmp, const char *out)
{
    char *old = NULL;
    struct stat st;
    if (stat(out, &st) == 0) {
        size_t n = strlen(tmp) + 8;
        if (!(old = nd_malloc(n)))
            return -1;
        snprintf(old, n, "%s.old", tmp);
        if (rename(out, old) != 0) {
            free(old);
            return nd_fail("%s: cannot move the previous report aside: %s", out, strerror(errno));
        }
    }
    int rc = 0;
    if (rename(tmp, out) != 0) {
        rc = nd_fail("%s: cannot rename %s to it: %s", out, tmp, strerror(errno));
        if (old)
            rename(old, out);
    } else if (old)
        afile_remove_dir(old);
    free(old);
    return rc;
}

/* One syncfs for the whole folder: its files are on disk before the rename. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = fd < 0 || syncfs(fd) != 0 ? nd_fail("%s: cannot sync: %s", dir, strerror(errno)) : 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Make tmp, run build(tmp), commit; on failure nothing is left. */
int rpt_in_tmp(const char *out, int (*build)(void *ctx, const char *dir), void *ctx)
{
    if (rpt_check_out(out))
        return -1;
    char *tmp = rpt_tmp_name(out);
    if (!tmp)
        return -1;
    int rc = -1;
    if (nd_mkdirs(tmp) == 0) {
        afile_register_dir(tmp); /* removed by the SIGINT/SIGTERM handler */
        rc = build(ctx, tmp);
        if (rc == 0)
            rc = sync_dir(tmp);
        if (rc == 0)
            rc = rpt_commit(tmp, out);
        if (rc)
            afile_remove_dir(tmp);
        afile_unregister_dir(tmp);
    }
    free(tmp);
    return rc;
}

typedef struct {
    const char *result_dir;
    rpt_options *o;
} one_ctx;

static int build_one(void *ctx, const char *dir)
{
    one_ctx *c = ctx;
    return rpt_build(c->result_dir, c->o, dir);
}

int rpt_report(const char *result_dir, rpt_options *o, const char *out)
{
    double t0 = nd_now();
    one_ctx c = {result_dir, o};
    int rc = rpt_in_tmp(out, build_one, &c);
    o->seconds = nd_now() - t0;
    return rc;
}
