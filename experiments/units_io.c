/* units_io.c - the steps of `dissect units` shared with the sweep (see units_io.h). */
#include "experiments/units_io.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/result.h"
#include "experiments/cli.h"
#include "models/extract.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int units_parse_field(const char *s, nd_options *o)
{
    int a, b, c, n = 0;
    if (sscanf(s, " %d , %d , %d %n", &a, &b, &c, &n) != 3 || s[n] != 0 || b <= 0 || c <= 0)
        return -1;
    o->field_offset = a, o->field_size = b, o->field_stride = c, o->have_field = 1;
    return 0;
}

int units_field_from_json(const char *features, nd_options *o)
{
    int f[3];
    int r = mdl_read_field(features, f);
    if (r == 1)
        o->field_offset = f[0], o->field_size = f[1], o->field_stride = f[2], o->have_field = 1;
    return r;
}

int units_load_thresholds(const char *path, size_t K, double **out)
{
    size_t n = strlen(path);
    double *v = NULL;
    size_t cnt = 0;
    if (n > 4 && !strcmp(path + n - 4, ".npy")) {
        if (npy_load_f64(path, &v, &cnt))
            return -1;
    } else {
        FILE *f = fopen(path, "r");
        if (!f)
            return nd_fail("%s: cannot open: %s", path, strerror(errno));
        char line[256];
        size_t cap = 0;
        int ln = 0;
        while (fgets(line, sizeof line, f)) {
            ln++;
            char *s = line;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s == '#' || *s == '\n' || *s == 0)
                continue;
            s[strcspn(s, "\r\n")] = 0;
            double x;
            if (csv_double(s, &x)) {
                fclose(f);
                free(v);
                return nd_fail("%s:%d: expected a number, got '%s'", path, ln, s);
            }
            if (cnt == cap) {
                cap = cap ? 2 * cap : 256;
                double *nv = realloc(v, cap * sizeof *v);
                if (!nv) {
                    fclose(f);
                    free(v);
                    return nd_fail("out of memory");
                }
                v = nv;
            }
            v[cnt++] = x;
        }
        fclose(f);
    }
    if (cnt != K) {
        free(v);
        return nd_fail("%s: %zu thresholds, the activations have %zu units", path, cnt, K);
    }
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(v[i])) {
            free(v);
            return nd_fail("%s: threshold of unit %zu is not finite", path, i);
        }
    *out = v;
    return 0;
}

void units_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    cli_progress("dissect: %s %zu/%zu", stage, done, total);
}

int units_run(const char *dataset, const char *label_store, const char *features,
              const char *categories, const char *thresholds_file, const nd_options *o_in,
              const char *out, const char *extra_json, nd_result *res)
{
    nd_options o = *o_in;
    npy_t a;
    broden *ds = NULL;
    double *thr = NULL;
    nd_features f;
    nd_result r;
    int rc = -1;
    memset(&r, 0, sizeof r);
    /* an unusable output folder should fail now, not after the work */
    if (out && nd_mkdirs(out))
        return -1;
    if (npy_open(&a, features))
        return -1;
    if (nd_features_from_npy(&f, &a))
        goto out;
    if (thresholds_file) {
        if (units_load_thresholds(thresholds_file, f.K, &thr))
            goto out;
        o.thresholds = thr;
    }
    cli_progress("dissect: reading dataset %s", dataset);
    if (broden_open_store(&ds, dataset, categories, label_store))
        goto out;
    if (f.N != broden_num_images(ds)) {
        nd_fail("%s: %zu images, but %s/index.csv has %zu rows (shape must match the dataset)",
                features, f.N, dataset, broden_num_images(ds));
        goto out;
    }
    if (nd_features_check_finite(&f, features))
        goto out;
    if (!o.progress.fn)
        o.progress = (nd_progress){units_progress, NULL};
    if (nd_dissect(ds, &f, &o, &r))
        goto out;
    r.features = features;
    if (out && nd_write_result(&r, ds, out, extra_json))
        goto out;
    cli_progress_done();
    fprintf(stderr,
            "dissect: %zu units, %s profile: %d detectors (score > %g), unique detectors "
            "%d per-category, %d top-label  [thresholds %.2f s, tally %.2f s]\n",
            r.K, nd_profile_name(o.profile), r.counts.detectors, o.iou_threshold,
            r.counts.unique_percat, r.counts.unique_toplabel, r.seconds_threshold, r.seconds_tally);
    rc = 0;
out:
    if (res && rc == 0)
        *res = r;
    else
        nd_result_free(&r);
    free(thr);
    broden_free(ds);
    npy_close(&a);
    return rc;
}
