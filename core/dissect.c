/* dissect.c - the pipeline of one dissection: thresholds, tally, score. */
#include "core/dissect.h"
#include "core/err.h"
#include "core/jobs.h"

#include <stdlib.h>
#include <string.h>

static int thresholds_step(const nd_features *f, const nd_options *o, nd_result *r)
{
    if (o->thresholds) {
        memcpy(r->thresholds, o->thresholds, f->K * sizeof *r->thresholds);
        r->thresholds_given = 1;
        r->threshold_method = ND_THR_AUTO;
        return 0;
    }
    return nd_thresholds_by(f, o->quantile, o->threads, o->threshold_method, o->progress, r->thresholds,
                            &r->threshold_method);
}

int nd_dissect(const broden *ds, const nd_features *f, const nd_options *o, nd_result *r)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    r->opt.thresholds = NULL;
    r->opt.maxact = NULL; /* the caller's buffer; the result has its own */
    if (f->N != broden_num_images(ds))
        return nd_fail("activations have %zu images but %s/index.csv has %zu rows", f->N,
                       broden_dir(ds), broden_num_images(ds));
    r->K = f->K;
    r->thresholds = nd_malloc(f->K * sizeof *r->thresholds);
    if (!r->thresholds)
        return -1;
    double t0 = nd_now();
    if (thresholds_step(f, o, r)) {
        nd_result_free(r);
        return -1;
    }
    double t1 = nd_now();
    nd_options to = *o;
    r->N = f->N;
    if (!(to.maxact = r->maxact = nd_malloc(f->N * f->K * sizeof *r->maxact)) ||
        nd_tally_alloc(&r->tally, f->K, broden_num_labels(ds), broden_num_categories(ds)) ||
        nd_tally_run(ds, f, &to, r->thresholds, 0, f->N, &r->tally) || nd_score(ds, r)) {
        nd_result_free(r);
        return -1;
    }
    r->seconds_threshold = t1 - t0;
    r->seconds_tally = nd_now() - t1;
    return 0;
}

void nd_result_free(nd_result *r)
{
    free(r->thresholds);
    free(r->maxact);
    nd_tally_free(&r->tally);
    free(r->iou), free(r->cat_label), free(r->cat_iou);
    free(r->unit_cat), free(r->unit_label), free(r->unit_score);
    nd_counts_free(&r->counts);
    memset(r, 0, sizeof *r);
}
