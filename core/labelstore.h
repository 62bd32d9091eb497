/* labelstore.h - the prepared label store: decoded label layers in one file.
 *
 * Decoding every PNG on every run is the slowest part of opening a dataset
 * at Broden scale, so broden_open_store() can keep the decoded layers in a
 * file and memory-map it on later runs.  Format: a 64-byte header (magic
 * "NDLBLS01", signature, layer count, map length, image count, little-endian
 * uint64) followed by all layer maps, uint16, in index.csv order.  The
 * signature is FNV-1a over the dataset's CSV files and the selected
 * categories, so any edit to the dataset makes the store stale (it is then
 * rebuilt).  A store is built in place in a memory-mapped temporary file and
 * renamed into place once complete (core/afile.h), so it is whole or absent.
 */
#ifndef ND_LABELSTORE_H
#define ND_LABELSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/afile.h"

typedef struct {
    void *map;      /* the whole mapped file, NULL if none */
    size_t len;
    uint16_t *maps; /* the layer maps inside it */
    afile file;     /* while building */
} nd_lstore;

/* Signature of the dataset in dir: its category.csv, label.csv, index.csv
 * and the c_<cat>.csv of every category in cats[0..ncat), then the names of
 * the selected categories cats[sel[0..nsel)]. */
int nd_lstore_signature(const char *dir, char *const *cats, int ncat, const int *sel, int nsel, uint64_t *sig);

/* Map the store at path read-only if it exists and carries this signature
 * and a consistent size: 1 = mapped, 0 = absent or stale (not an error). */
int nd_lstore_map(nd_lstore *s, const char *path, uint64_t sig);

/* Check a mapped store's header against the dataset's index (counts); dir
 * names the dataset in messages.  Its label numbers are checked by the
 * pass that counts them (core/broden.c, nd_label_runs), which reports an
 * unknown one through nd_lstore_bad_label (L: the number of label slots). */
int nd_lstore_check(const nd_lstore *s, const char *dir, size_t nimages, size_t nlayers, size_t maps_len);
int nd_lstore_bad_label(const char *dir, unsigned v, int L);

/* Start building a store of maps_len label pixels at path (s->maps is then
 * writable); finish with nd_lstore_commit or nd_lstore_abort. */
int nd_lstore_create(nd_lstore *s, const char *path, size_t maps_len);
/* Header last, then flush and rename: the store appears complete or not at all. */
int nd_lstore_commit(nd_lstore *s, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len);
/* Remove a store being built (no-op if none is). */
void nd_lstore_abort(nd_lstore *s);
/* Unmap (after commit, abort or map). */
void nd_lstore_close(nd_lstore *s);

/* For generators of synthetic data: write a store whose maps are produced by
 * fill() (which fwrites maps_len uint16 values in index order to f). */
int broden_store_write_raw(const char *path, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len,
                           int (*fill)(void *ctx, FILE *f), void *ctx);

#endif
