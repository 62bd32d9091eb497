/* squeezenet.c - the SqueezeNet v1.0 table (see the model README and
 * SqueezeNet_deploy.prototxt).  Dropout (drop9) is the identity at test time
 * and is left out.  conv_final keeps the prototxt's pad 1: its 15x15 output
 * has a border of relu(bias) that the global average includes. */
#include "models/squeezenet.h"

#include "core/err.h"
#include "models/dcnet.h"

#include <stdlib.h>

const float sqz_mean_bgr[3] = {104.0f, 117.0f, 123.0f};

#define CONV(nm, from, co, kk, st, pd) {NET_CONV, nm, {from, NULL}, co, kk, st, pd, 1}
#define POOL(nm, from) {NET_MAXPOOL, nm, {from, NULL}, 0, 3, 2, 0, 0}
#define FIRE(n, from, s, e)                                                 \
    CONV("fire" #n "/conv1x1_1", from, s, 1, 1, 0),                         \
    CONV("fire" #n "/conv1x1_2", "fire" #n "/conv1x1_1", e, 1, 1, 0),       \
    CONV("fire" #n "/conv3x3_2", "fire" #n "/conv1x1_1", e, 3, 1, 1),       \
    {NET_CONCAT, "fire" #n, {"fire" #n "/conv1x1_2", "fire" #n "/conv3x3_2"}, 0, 0, 0, 0, 0}

static const net_def defs[] = {
    CONV("conv1", NULL, 96, 7, 2, 0),
    POOL("pool1", "conv1"),
    FIRE(2, "pool1", 16, 64),
    FIRE(3, "fire2", 16, 64),
    FIRE(4, "fire3", 32, 128),
    POOL("pool4", "fire4"),
    FIRE(5, "pool4", 32, 128),
    FIRE(6, "fire5", 48, 192),
    FIRE(7, "fire6", 48, 192),
    FIRE(8, "fire7", 64, 256),
    POOL("pool8", "fire8"),
    FIRE(9, "pool8", 64, 256),
    CONV("conv_final", "fire9", 1000, 1, 1, 1),
    {NET_GLOBAL_AVGPOOL, "pool10", {"conv_final", NULL}, 0, 0, 0, 0, 0},
};

const net_def *sqz_defs(int *n)
{
    *n = (int)(sizeof defs / sizeof defs[0]);
    return defs;
}

int sqz_create(net_t *net)
{
    int n;
    const net_def *d = sqz_defs(&n);
    return net_create(net, "squeezenet", d, n, 3, SQZ_INPUT, SQZ_INPUT);
}

int sqz_load_dc(net_t *net, const char *path, size_t *stored, size_t *nonzero)
{
    dcnet_layer L[64];
    int n = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const net_layer *l = &net->layers[i];
        if (l->def->kind != NET_CONV)
            continue;
        ND_ASSERT(n < 64);
        L[n++] = (dcnet_layer){l->def->name, l->c, l->nweights, l->wt, l->bias, 0, 0};
    }
    if (dcnet_read(path, L, n))
        return -1;
    size_t s = 0, z = 0;
    for (int i = 0; i < n; i++)
        s += L[i].stored, z += L[i].nonzero;
    if (stored)
        *stored = s;
    if (nonzero)
        *nonzero = z;
    return 0;
}

int sqz_preprocess(float *dst, const img_u8 *im)
{
    const int S = SQZ_INPUT;
    const unsigned char *px = im->px;
    unsigned char *sq = NULL;
    if (im->w != S || im->h != S) {
        sq = nd_malloc((size_t)S * S * 3);
        if (!sq || img_resize_u8(sq, S, S, im->px, im->w, im->h, 3)) {
            free(sq);
            return -1;
        }
        px = sq;
    }
    for (int c = 0; c < 3; c++) /* BGR plane c takes RGB channel 2 - c */
        for (int p = 0; p < S * S; p++)
            dst[(size_t)c * S * S + p] = (float)px[(size_t)p * 3 + (2 - c)] - sqz_mean_bgr[c];
    free(sq);
    return 0;
}
