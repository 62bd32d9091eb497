/* result.c - writing a dissection: result.csv (the references' column
 * layout), summary.json and thresholds.npy, each atomically and all three
 * written before any replaces the previous result (see nd_write_result). */
#include "core/result.h"
#include "core/afile.h"
#include "core/err.h"
#include "core/format.h"
#include "core/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CSV field: quote only when needed */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const nd_result *sort_r;
static int by_score(const void *a, const void *b)
{
    size_t u = *(const size_t *)a, v = *(const size_t *)b;
    double su = sort_r->unit_score[u], sv = sort_r->unit_score[v];
    if (su != sv)
        return su > sv ? -1 : 1;
    return (u > v) - (u < v);
}

static int write_csv(const nd_result *r, const broden *ds, FILE *f)
{
    size_t K = r->K, C = r->C, L = r->L;
    size_t *order = nd_malloc(K * sizeof *order);
    if (!order)
        return -1;
    for (size_t u = 0; u < K; u++)
        order[u] = u;
    sort_r = r;
    qsort(order, K, sizeof *order, by_score);
    fprintf(f, "unit,category,label,score");
    for (size_t c = 0; c < C; c++) {
        const char *cn = broden_category_name(ds, c);
        fprintf(f, ",%s-label,%s-truth,%s-activation,%s-intersect,%s-iou", cn, cn, cn, cn, cn);
    }
    fputc('\n', f);
    for (size_t k = 0; k < K; k++) {
        size_t u = order[k];
        fprintf(f, "%zu,", u + 1);
        csv_str(f, broden_category_name(ds, (size_t)r->unit_cat[u]));
        fputc(',', f);
        csv_str(f, broden_label_name(ds, r->unit_label[u]));
        fprintf(f, ",%.17g", r->unit_score[u]);
        for (size_t c = 0; c < C; c++) {
            int l = r->cat_label[u * C + c];
            fputc(',', f);
            csv_str(f, broden_label_name(ds, l));
            fprintf(f, ",%lld,%lld,%lld,%.17g", (long long)(l > 0 ? r->tally.G[l] : 0),
                    (long long)r->tally.A[u * C + c],
                    (long long)(l > 0 ? r->tally.I[u * L + (size_t)l] : 0),
                    r->cat_iou[u * C + c] < 0 ? 0.0 : r->cat_iou[u * C + c]);
        }
        fputc('\n', f);
    }
    free(order);
    return 0;
}

static int write_summary(const nd_result *r, const broden *ds, FILE *f, const char *extra)
{
    const nd_options *o = &r->opt;
    const nd_counts *n = &r->counts;
    size_t withdata = 0;
    for (size_t i = 0; i < broden_num_images(ds); i++)
        withdata += (size_t)broden_image_has_data(ds, i);
    nd_format_begin(f, "result", ND_FORMAT_RESULT);
    if (extra && *extra)
        fprintf(f, "  %s,\n", extra);
    fprintf(f, "  \"dataset\": ");
    nd_json_str(f, broden_dir(ds));
    if (r->features) {
        /* absolute, so that the report finds it from any folder */
        char *abs = realpath(r->features, NULL);
        fprintf(f, ",\n  \"features\": ");
        nd_json_str(f, abs ? abs : r->features);
        free(abs);
    }
    fprintf(f, ",\n  \"images\": %zu,\n  \"images_with_labels\": %zu,\n  \"units\": %zu,\n",
            broden_num_images(ds), withdata, r->K);
    fprintf(f, "  \"profile\": \"%s\",\n  \"eps\": %.17g,\n", nd_profile_name(o->profile),
            nd_profile_eps(o->profile));
    if (nd_profile_get(o->profile)->upsample_field)
        fprintf(f, "  \"field\": {\"offset\": %d, \"size\": %d, \"stride\": %d},\n", o->field_offset,
                o->field_size, o->field_stride);
    if (r->thresholds_given)
        fprintf(f, "  \"thresholds_source\": \"given\",\n");
    else
        fprintf(f,
                "  \"thresholds_source\": \"exact quantile\",\n  \"quantile\": %.17g,\n"
                "  \"threshold_level\": %.17g,\n"
                "  \"threshold_interpolation\": \"linear between order statistics (numpy 'linear', "
                "Hyndman-Fan 7), over all positions of all images at feature resolution\",\n",
                o->quantile, 1.0 - o->quantile);
    fprintf(f, "  \"mask_rule\": \"upsampled float32 map > float32(threshold)\",\n");
    fprintf(f, "  \"iou_threshold\": %.17g,\n  \"detector_rule\": \"score > iou_threshold\",\n",
            o->iou_threshold);
    fprintf(f, "  \"detectors\": %d,\n", n->detectors);
    fprintf(f, "  \"unique_detectors\": {\"per_category\": %d, \"top_label\": %d, \"headline\": "
               "\"per_category\"},\n", n->unique_percat, n->unique_toplabel);
    fprintf(f, "  \"categories\": [");
    for (size_t c = 0; c < r->C; c++) {
        fprintf(f, "%s\n    {\"name\": ", c ? "," : "");
        nd_json_str(f, broden_category_name(ds, c));
        fprintf(f, ", \"detectors\": %d, \"unique_per_category\": %d, \"unique_top_label\": %d}",
                n->cat_detectors[c], n->cat_unique_percat[c], n->cat_unique_toplabel[c]);
    }
    /* no timings here: a result folder must be bit-identical across runs */
    fprintf(f, "\n  ],\n");
    fprintf(f, "  \"thresholds\": [");
    for (size_t u = 0; u < r->K; u++)
        fprintf(f, "%s%.17g", u ? ", " : "", r->thresholds[u]);
    fprintf(f, "]\n}\n");
    return 0;
}

/* Flush and fsync a temporary without renaming it: a full disk or a file
 * size limit shows up here (stdio buffers hide it until the flush). */
static int sync_tmp(afile *a)
{
    errno = 0;
    int bad = fflush(a->f) != 0 || ferror(a->f);
    if (!bad && fsync(fileno(a->f)) != 0 && errno != EINVAL)
        bad = 1;
    if (bad)
        return nd_fail("%s: write failed: %s (previous result left in place)", a->path,
                       strerror(errno ? errno : EIO));
    return 0;
}

/* Start the disk writes of a temporary without waiting: the four are then
 * written together and the fsyncs that follow wait about as long as the
 * slowest, not the sum (each fsync alone waited 1-8 ms on this disk).
 * Advice only: the fsync is what guarantees the data. */
static void start_writeback(afile *a)
{
    if (fflush(a->f) == 0)
        sync_file_range(fileno(a->f), 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* All three files are written to temporaries and synced before any is
 * renamed, so a write failure (full disk, file size limit) leaves the
 * previous result untouched.  Then the old summary.json - the marker of a
 * complete folder - is removed first and the new one renamed in last, so an
 * interruption between the renames leaves a folder that does not look
 * complete rather than a mix of two runs that does. */
int nd_write_result(const nd_result *r, const broden *ds, const char *dir, const char *extra_json)
{
    if (nd_mkdirs(dir))
        return -1;
    char *p1 = nd_path_join(dir, "thresholds.npy"), *p2 = nd_path_join(dir, "result.csv"),
         *p3 = nd_path_join(dir, "summary.json"), *p4 = nd_path_join(dir, "maxact.npy");
    int rc = -1, open1 = 0, open2 = 0, open3 = 0, open4 = 0;
    size_t shape[1] = {r->K}, shape4[2] = {r->N, r->K};
    /* maxact.npy is written last of the temporaries, committed first */
    npy_writer w, w4;
    afile a2, a3;
    if (!p1 || !p2 || !p3 || !p4)
        goto out;
    if (npy_writer_open(&w, p1, NPY_F64, 1, shape))
        goto out;
    if (npy_writer_put(&w, r->thresholds, r->K * sizeof *r->thresholds)) /* aborts w itself */
        goto out;
    open1 = 1;
    if (afile_open(&a2, p2))
        goto out;
    open2 = 1;
    if (afile_open(&a3, p3))
        goto out;
    open3 = 1;
    if (write_csv(r, ds, a2.f) || write_summary(r, ds, a3.f, extra_json))
        goto out;
    /* per-image maxima when the result has them (nd_dissect's do); last, as the largest */
    if (r->maxact) {
        if (npy_writer_open(&w4, p4, NPY_F32, 2, shape4))
            goto out;
        if (npy_writer_put(&w4, r->maxact, r->N * r->K * sizeof *r->maxact)) { /* aborts w4 itself */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nd_errmsg());
            nd_fail("%s (previous result left in place)", msg);
            goto out;
        }
        open4 = 1;
    }
    start_writeback(&w.af), start_writeback(&a2), start_writeback(&a3);
    if (open4)
        start_writeback(&w4.af);
    if (sync_tmp(&w.af) || sync_tmp(&a2) || sync_tmp(&a3) || (open4 && sync_tmp(&w4.af)))
        goto out;
    if (unlink(p3) != 0 && errno != ENOENT) {
        nd_fail("%s: cannot replace: %s", p3, strerror(errno));
        goto out;
    }
    open4 = 0;
    if (r->maxact ? npy_writer_commit(&w4) != 0 : unlink(p4) != 0 && errno != ENOENT) {
        /* an old maxact.npy must not stay beside a result it does not belong to */
        if (!r->maxact)
            nd_fail("%s: cannot remove: %s", p4, strerror(errno));
        goto out;
    }
    open1 = 0;
    if (npy_writer_commit(&w))
        goto out;
    open2 = 0;
    if (afile_commit(&a2))
        goto out;
    open3 = 0;
    if (afile_commit(&a3))
        goto out;
    rc = 0;
out:
    if (open1)
        npy_writer_abort(&w);
    if (open2)
        afile_abort(&a2);
    if (open3)
        afile_abort(&a3);
    if (open4)
        npy_writer_abort(&w4);
    free(p1), free(p2), free(p3), free(p4);
    return rc;
}
