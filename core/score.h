/* score.h - from a tally to IoU, best labels and detector counts.
 *
 * IoU(u, l) = I / (A + G - I + eps), with A taken for l's primary category
 * and eps from the profile.  Per unit and category the best label is the one
 * of highest IoU (ties: lowest label number; no overlap at all: no label);
 * a unit's label is its best category's (ties: the later category).  A unit
 * is a detector if its score exceeds the IoU threshold.  Unique detectors
 * are counted under both conventions (docs/method.md):
 *   per-category (headline): for each category c, the distinct cat-c best
 *     labels among units whose cat-c IoU exceeds the threshold, summed over c;
 *   top-label: the distinct labels of detector units, counted within their
 *     best category and summed.
 */
#ifndef ND_SCORE_H
#define ND_SCORE_H

#include <stddef.h>

/* Counts of detectors under both unique-detector conventions. */
typedef struct {
    int detectors;        /* units with score > iou_threshold */
    int unique_percat;    /* headline: sum over c of distinct cat-c best labels with cat-c IoU > thr */
    int unique_toplabel;  /* distinct overall labels among detector units */
    int *cat_detectors;   /* [C] detector units whose best category is c */
    int *cat_unique_percat;   /* [C] distinct cat-c best labels with cat-c IoU > thr */
    int *cat_unique_toplabel; /* [C] distinct labels among detectors whose best category is c */
} nd_counts;

/* The one unique-detector counting rule.  K units, C categories:
 * cat_label[K][C] and cat_iou[K][C] are each unit's best label (any integer
 * id, equal ids = the same concept) and its IoU per category; unit_cat[K],
 * unit_label[K], unit_score[K] the unit's best category, label and score.
 * Allocates out's per-category arrays (free with nd_counts_free). */
int nd_count_detectors(size_t K, size_t C, const int *cat_label, const double *cat_iou, const int *unit_cat,
                       const int *unit_label, const double *unit_score, double iou_threshold, nd_counts *out);
void nd_counts_free(nd_counts *c);

/* A unit's best category from its IoU per category cat_iou[0..C): the
 * highest, ties to the later category (the rule of both references). */
int nd_best_category(const double *cat_iou, size_t C, double *score);

#endif
