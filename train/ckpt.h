/* ckpt.h - checkpoints: a folder anyone can read.
 *
 *   net.txt     "netdissect-c network 1", "input C H W", then one line per
 *               layer in train/table.h's form (the layer table)
 *   <layer>.weight.npy, <layer>.bias.npy            float32, PyTorch layouts:
 *               conv [out][in][kh][kw], fc [out][in], batchnorm [C] (scale,
 *               shift)
 *   <layer>.running_mean.npy, <layer>.running_var.npy   batch norm, [C]
 *   state.txt   the training state: iteration, whether momentum buffers
 *               exist, the metrics at this snapshot, and "file NAME BYTES
 *               FNV1A64" for every other file of the folder
 *   <layer>.weight.momentum.npy, <layer>.bias.momentum.npy, rng.bin (GSL
 *               mt19937 states: dropout, then augmentation and order)
 *
 * A folder with only net.txt and the tensors (no state.txt) is a weights-
 * only checkpoint: it can be dissected or trained from (iteration 0, no
 * momentum), so networks made elsewhere can be brought in.  With state.txt,
 * every file is checked against its size and hash before use, so a corrupt
 * or truncated file is rejected with one line naming it.  Folders are
 * written whole under a temporary name and renamed into place.
 */
#ifndef ND_TRAIN_CKPT_H
#define ND_TRAIN_CKPT_H

#include "train/table.h"
#include "train/train.h"

typedef struct {
    long iteration;
    double train_loss, train_acc, val_acc; /* NAN when not measured */
} tr_ckpt_info;

/* t == NULL: a weights-only checkpoint; aug may be NULL. */
int tr_ckpt_save(const char *dir, const net_t *net, const tr_net *t, const gsl_rng *aug,
                 const tr_ckpt_info *info);

/* Read net.txt into tab, create net from it and fill parameters and running
 * statistics.  info (may be NULL): iteration and metrics (0 / NAN without
 * state.txt); *has_state (may be NULL): state.txt present. */
int tr_ckpt_load(const char *dir, tr_table *tab, net_t *net, tr_ckpt_info *info,
                 int *has_state);

/* Momentum buffers and random-number states into a trainer allocated for
 * the loaded net (a no-op without state.txt). */
int tr_ckpt_load_state(const char *dir, tr_net *t, gsl_rng *aug);

/* Remove the temporary folders ("NAME.tmp.HOST.PID", "NAME.old.HOST.PID")
 * that a killed tr_ckpt_save of this host left in dir: only those whose
 * process is gone, so a run on another node or still running is never
 * touched. */
void tr_ckpt_clean_stale(const char *dir);

/* The iteration and metrics in a checkpoint's state.txt (required). */
int tr_ckpt_info_read(const char *dir, tr_ckpt_info *info);

#endif
