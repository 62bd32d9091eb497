/* ablate_internal.h - the shared state of `dissect ablate`'s steps
 * (experiments/ablate.c, ablate_effects.c, ablate_classes.c). */
#ifndef ND_EXP_ABLATE_INTERNAL_H
#define ND_EXP_ABLATE_INTERNAL_H

#include "core/broden.h"
#include "core/dissect.h"
#include "experiments/ablate.h"
#include "models/ablate.h"
#include "models/extract.h"
#include "train/table.h"

#include <stddef.h>

typedef struct {
    const abl_args *a;
    net_t own;          /* the checkpoint's network (borrowed by the runner) */
    tr_table tab;
    int have_own;
    mdl_runner *run;
    const net_t *net;
    int layer, last, K, C;
    size_t N, hw;
    float *act;         /* [N][K][hw] */
    float *intact;      /* [N][C] */
    int *top;           /* [N] the intact top-1 class */
    double *ptop;       /* [N] its probability */
    broden *ds;
    nd_result res;      /* the layer's dissection */
    nd_result *rot;     /* [rot_draws] the rotated layer's */
    double *Q;          /* [rot_draws][K][K] */
    int nc;             /* concepts */
    int *clabel;        /* [nc] label numbers */
    unsigned char *present; /* [nc][N] */
    float *scratch;     /* [N][C] outputs of one condition */
    double *drop;       /* [N] */
    unsigned char *changed; /* [N] */
    int *pred;          /* [N] ablated top-1 */
    int done, total;    /* conditions, for the progress line */
    double t0, tc;      /* start; start of the first condition */
} abl_ctx;

/* One condition: the set applied, every image run; drop, changed, pred
 * filled (vs the intact network). */
int abl_measure(abl_ctx *c, const abl_set *s);
/* effects.csv and the figure's data; classes.csv. */
int abl_effects(abl_ctx *c);
int abl_classes(abl_ctx *c);
/* The IoU of unit u with label l in result r. */
double abl_iou(const nd_result *r, int u, int l);
/* "1 5 9" (units from 1) into buf. */
void abl_units_str(char *buf, size_t cap, const int *u, int k);

#endif
