/* probe_steps.h - the steps of `dissect probe` shared with the sweep:
 * the IBD table of a point and the rotation-equivariance check. */
#ifndef ND_PROBE_STEPS_H
#define ND_PROBE_STEPS_H

#include "core/probe.h"

/* Default ImageNet classes for IBD (0-based): ones MSRC-v2's concepts can
 * explain (sports car, speedboat, canoe, airliner, mountain bike, ox, ram,
 * tabby, golden retriever, goldfinch, daisy, alp). */
extern const int probe_ibd_default_classes[12];

/* dir/ibd.csv: for each class, its conv_final weight row (turned by R when
 * given: class scores are avgpool(ReLU(W a + b)), and W R^T reads R a)
 * decomposed greedily onto the linear probes' concept vectors and onto the
 * single units with a dissection label (train IoU > iou_thr), up to kmax
 * each.  weights: SqueezeNet's compressed_SqueezeNet.net; class names from
 * synset_words.txt beside it. */
int probe_ibd(const pr_result *r, const broden *ds, const char *weights, const double *R,
              const int *classes, int ncls, int kmax, double iou_thr, const char *dir);

/* Compare r with an unrotated run in ref_dir (probe_weights.npy,
 * probes.csv): max over concepts of ||w - R w0|| / ||w0|| and of the change
 * in linear-probe test IoU, written as a JSON member into json (cap bytes)
 * with the convergence tolerance they hold at (r's gtol), the limits
 * (issue 13's notes) and whether both are met. */
#define PROBE_W_REL_LIMIT 1e-4
#define PROBE_IOU_LIMIT 1e-3
int probe_check(const pr_result *r, const double *R, const char *ref_dir, char *json, size_t cap,
                double *wrel, double *diou);

#endif
