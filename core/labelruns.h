/* labelruns.h - counting a label map's pixels by runs of one label number.
 *
 * Label layers are regions: along a row (and from one row into the next)
 * the label number changes rarely, so the pixels are counted per run (one
 * add per run, not a store per pixel to the same slot) and runs are found
 * eight pixels at a time. */
#ifndef ND_LABELRUNS_H
#define ND_LABELRUNS_H

#include <stddef.h>
#include <stdint.h>

/* Add the n pixels of map to cnt[label] (cnt[0] counts the unlabelled
 * ones) and OR catbit[label] of every label met into *pres.  With known
 * (a 65,536-entry table, 1 for the numbers label.csv lists and for 0),
 * each run's number is checked first: the first unknown one is returned
 * and nothing past it is counted; -1 when all are known (or known is
 * NULL: the caller vouches for them). */
long nd_label_runs(const uint16_t *map, size_t n, int64_t *cnt, const uint64_t *catbit, const unsigned char *known,
                   uint64_t *pres);

#endif
