/* loop.h - the training loop: mini-batch SGD over a tr_data set with
 * snapshots, held-out accuracy and resumption.
 *
 * Run folder `out`: snap-NNNNNNNN/ (a checkpoint, train/ckpt.h, after that
 * many iterations) for every chosen iteration and the last, and
 * snapshots.csv (iteration, lr, train_loss, train_acc, val_acc: the mean
 * loss and accuracy of the batches since the previous snapshot, and the
 * held-out accuracy in evaluation mode, centre crops).  A run that finds
 * snapshots of its own in `out` resumes from the latest one (it holds
 * parameters, running statistics, momentum buffers, random-number states and
 * the iteration), so a run killed at any moment and started again ends
 * byte-identical to one never interrupted.
 *
 * Order: epoch e visits the training images in a permutation drawn from
 * mt19937 seeded with seed + e (so it needs no saved state); an epoch is
 * floor(n / batch) batches.  Augmentation and dropout draw from generators
 * seeded from seed and saved in each snapshot.
 */
#ifndef ND_TRAIN_LOOP_H
#define ND_TRAIN_LOOP_H

#include "core/progress.h"
#include "train/data.h"
#include "train/table.h"
#include "train/train.h"

typedef struct {
    long iterations, batch;
    double lr, momentum, weight_decay;
    tr_lr_kind schedule;
    long step_size;
    double gamma;
    unsigned long seed;
    double dropout;      /* rate of every dropout layer (0: off) */
    int augment;         /* random crop + flip */
    int crop;            /* network input size */
    const long *snapshots; /* increasing iterations; the last iteration is always saved */
    int nsnapshots;
    const char *out;
    const char *init;    /* start from this checkpoint (NULL: He init from seed) */
    int full_batch;      /* every training image in every step, in index order */
    int threads;         /* 0: every CPU; results do not depend on it */
    long warmup;         /* the lr rises linearly over the first warmup iterations (0: none) */
} tr_opts;

/* What the loop is doing, for a progress callback (ctx may point here). */
typedef struct {
    long it, total, start; /* iterations done, planned, resumed from */
    double loss, acc;      /* last batch */
    double val_acc;        /* last snapshot's held-out accuracy (NAN: none) */
    const char *snapshot;  /* folder written last, or NULL */
} tr_status;

/* val may be NULL (no held-out accuracy).  Progress stages: "train" after
 * each iteration, "snapshot" after each snapshot (done = iteration). */
int tr_train(const tr_opts *o, const tr_table *tab, const tr_data *train, const tr_data *val,
             tr_status *st, nd_progress prog);


#endif
