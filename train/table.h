/* table.h - a net.h layer table built from text, and written back as text.
 *
 * One layer per line or config key:  NAME KIND [key=value ...]
 *   kinds: conv (cout k stride pad relu), maxpool (k stride pad), concat
 *   (in=A,B), gap, batchnorm, relu, dropout, fc (cout)
 *   in=NAME[,NAME2]: the input layer(s); by default the previous layer (the
 *   network input for the first).  "-" names the network input.
 * e.g.  conv1 conv cout=64 k=5 stride=1 pad=2 relu=1
 *
 * Checkpoints (train/ckpt.h) describe their network in this form, and
 * `dissect train` configs list their layers in it.
 */
#ifndef ND_TRAIN_TABLE_H
#define ND_TRAIN_TABLE_H

#include "models/net.h"

#include <stdio.h>

typedef struct {
    net_def *defs;
    int n, cap;
    char **strs; /* owned names */
    int nstr, capstr;
} tr_table;

/* Append a layer; errors ("layer NAME: ...") leave the table unchanged. */
int tr_table_add(tr_table *t, const char *name, const char *spec);
/* Remove every layer of a kind (batch norm or dropout off), rewiring the
 * layers that read it to its input. */
void tr_table_drop_kind(tr_table *t, net_kind kind);
void tr_table_free(tr_table *t);
/* One "NAME SPEC" line per layer, every field explicit. */
void tr_table_write(FILE *f, const net_def *defs, int n);
const char *tr_kind_name(net_kind k);

#endif
