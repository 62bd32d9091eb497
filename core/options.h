/* options.h - the choices of one dissection: profile (with its one table of
 * defaults), quantile, detector threshold, receptive field, threshold
 * method, threads and progress.  The rules the profiles select are described
 * in docs/method.md. */
#ifndef ND_OPTIONS_H
#define ND_OPTIONS_H

#include "core/progress.h"
#include "core/thresholds.h"

typedef enum {
    ND_PROFILE_NETDISSECT = 0, /* original NetDissect (the paper) */
    ND_PROFILE_LITE = 1        /* NetDissect-Lite */
} nd_profile;

/* What a profile means: the single table of profile defaults. */
typedef struct {
    nd_profile id;
    const char *name;         /* canonical name, as written in summary.json */
    const char *aliases[3];   /* accepted short names, NULL-terminated */
    double eps;               /* IoU = I / (A + G - I + eps) */
    int a_where_hit;          /* A rule: 1 = only images where the mask hits the category (NDL);
                                 0 = every image with ground truth for it (ND) */
    int image_labels_once;    /* an image-level label repeated within an image counts once (ND) */
    int upsample_field;       /* 1 = receptive-field bilinear (needs the field); 0 = image resize */
} nd_profile_info;

const nd_profile_info *nd_profile_get(nd_profile p);
const char *nd_profile_name(nd_profile p);
double nd_profile_eps(nd_profile p);
/* Name or alias -> profile; -1 if unknown. */
int nd_profile_parse(const char *s, nd_profile *p);

typedef struct {
    nd_profile profile;
    double quantile;      /* top quantile, default 0.005 (threshold level 1 - quantile) */
    double iou_threshold; /* detector if score > this; default 0.04 */
    /* receptive-field geometry in input pixels (profiles with upsample_field) */
    int field_offset, field_size, field_stride, have_field;
    const double *thresholds;      /* optional: K given thresholds (then no quantile is computed) */
    nd_thr_method threshold_method; /* how to compute exact thresholds; default ND_THR_AUTO */
    int threads;                   /* worker threads; 0 = number of cores. Results do not depend on it. */
    nd_progress progress;          /* stages "thresholds" and "tally" */
    /* optional out [N][K]: the tally stores the maximum of each unit's map in
     * each image of its range (images without labels too) - NetDissect's
     * "maxprobe", which ranks a unit's top images without another pass */
    float *maxact;
} nd_options;

void nd_options_default(nd_options *o);

#endif
