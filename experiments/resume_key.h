/* resume_key.h - resume.key: may this run folder's finished results be kept?
 *
 * A run folder (a sweep's, a layers experiment's) records in resume.key what
 * its results depend on: the dataset's CSV signature and categories, every
 * input file by size + content hash (core/fingerprint.h: a copied folder, a
 * moved file or a dataset named through a symlink still match; one changed
 * byte does not), and the settings that change numbers.  Paths, titles,
 * threads, batch sizes, a sweep's alphas and draws are not in it.
 *
 * Sweeps: activations (and, when computed, the model, layer and weights,
 * checkpoint or random seed), [dissect] settings, base_seed.
 * Layers experiments: model, weights, random seed, layer list, [dissect].
 */
#ifndef ND_RESUME_KEY_H
#define ND_RESUME_KEY_H

#include "experiments/config.h"

/* The key text of this configuration (malloc'd), NULL + nd_fail when an
 * input cannot be read. */
char *resume_key_text(const config *c);

/* Write <out_dir>/resume.key (making the folder) when absent, else compare
 * it with this configuration's key, comment lines aside.  A difference is
 * -1 and one nd_fail line: naming the input file when an input's content
 * changed ("PATH: the weights changed since ..."), else resume.key:LINE and
 * both values. */
int resume_key_claim(const config *c);

#endif
