/* bench_train.c - training throughput of a small AlexNet-like network (five
 * convolutions, three max pools, two fully connected layers, dropout) at
 * 64x64 input, the next issue's network, batch 64, random data.
 *
 * Prints training images/s and GFLOP/s against a square 2048 sgemm peak
 * measured in the same run, split into the forward pass (training mode) and
 * the backward pass.  Flops: 2 per multiply-add; forward = the convolutions
 * and fully connected layers; backward = the weight gradients (same count)
 * plus the input gradients of every layer but the first.
 */
#include "core/blas.h"
#include "core/jobs.h"
#include "models/net.h"
#include "train/table.h"
#include "train/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *alexnet_like[][2] = {
    {"conv1", "conv cout=64 k=5 stride=1 pad=2 relu=1"},
    {"pool1", "maxpool k=3 stride=2"},
    {"conv2", "conv cout=128 k=5 stride=1 pad=2 relu=1"},
    {"pool2", "maxpool k=3 stride=2"},
    {"conv3", "conv cout=192 k=3 stride=1 pad=1 relu=1"},
    {"conv4", "conv cout=192 k=3 stride=1 pad=1 relu=1"},
    {"conv5", "conv cout=128 k=3 stride=1 pad=1 relu=1"},
    {"pool5", "maxpool k=3 stride=2"},
    {"fc6", "fc cout=256"},
    {"relu6", "relu"},
    {"drop6", "dropout"},
    {"fc7", "fc cout=10"},
};

static double sgemm_peak(void)
{
    enum { S = 2048 };
    float *A = malloc(sizeof(float) * S * S), *B = malloc(sizeof(float) * S * S),
          *C = malloc(sizeof(float) * S * S);
    for (size_t i = 0; i < (size_t)S * S; i++)
        A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = nd_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A, S, B, S, 0.0f,
                    C, S);
        double t = nd_now() - t0;
        best = t < best ? t : best;
    }
    free(A), free(B), free(C);
    return 2.0 * S * S * S / best * 1e-9;
}

int main(int argc, char **argv)
{
    (void)argc;
    nd_blas_fix_kernel(argv);
    tr_table tab = {0};
    int nl = (int)(sizeof alexnet_like / sizeof *alexnet_like);
    for (int i = 0; i < nl; i++)
        if (tr_table_add(&tab, alexnet_like[i][0], alexnet_like[i][1]))
            return 1;
    const int B = 64, S = 64, iters = 5;
    net_t net;
    tr_net t;
    if (net_create(&net, "alexnet-like", tab.defs, tab.n, 3, S, S) || net_init_he(&net, 1) ||
        tr_alloc(&t, &net, B, 0))
        return 1;
    t.dropout = 0.5;
    double macs = net_macs(&net, net.nlayers - 1), first = 0;
    for (int i = 0; i < net.nlayers; i++)
        if (net.layers[i].def->kind == NET_CONV || net.layers[i].def->kind == NET_FC) {
            first = (double)net.layers[i].nweights * net.layers[i].h * net.layers[i].w;
            break;
        }
    double fwd_flops = 2 * macs, bwd_flops = 2 * macs + 2 * (macs - first);
    float *x = malloc(sizeof(float) * B * 3 * S * S);
    int *lab = malloc(sizeof(int) * B);
    for (int i = 0; i < B * 3 * S * S; i++)
        x[i] = (float)sin(0.01 * i);
    for (int i = 0; i < B; i++)
        lab[i] = i % 10;
    double peak = sgemm_peak();
    printf("sgemm 2048^3: %.1f GFLOP/s (peak reference, %d threads available)\n", peak,
           nd_threads(0));
    double tf = 0, tb = 0, ts = 0;
    for (int it = -1; it < iters; it++) { /* iteration -1 warms up */
        double t0 = nd_now();
        tr_forward(&t, x, B, 1);
        double t1 = nd_now();
        tr_loss(&t, lab, B, NULL);
        tr_backward(&t, x, B);
        double t2 = nd_now();
        tr_sgd(&t, 0.01, 0.9, 5e-4);
        double t3 = nd_now();
        if (it >= 0)
            tf += t1 - t0, tb += t2 - t1, ts += t3 - t2;
    }
    double tot = tf + tb + ts, imgs = (double)B * iters;
    printf("network: alexnet-like, 5 conv + 2 fc, input 3x%dx%d, batch %d, %.3f GFLOP forward "
           "per image, %zu parameters\n",
           S, S, B, fwd_flops * 1e-9, net.nparams);
    printf("training: %.1f images/s, %.1f GFLOP/s = %.0f%% of sgemm peak\n", imgs / tot,
           (fwd_flops + bwd_flops) * imgs / tot * 1e-9,
           100 * (fwd_flops + bwd_flops) * imgs / tot * 1e-9 / peak);
    printf("  forward:  %.3f s/batch, %.1f GFLOP/s = %.0f%% of peak\n", tf / iters,
           fwd_flops * imgs / tf * 1e-9, 100 * fwd_flops * imgs / tf * 1e-9 / peak);
    printf("  backward: %.3f s/batch, %.1f GFLOP/s = %.0f%% of peak\n", tb / iters,
           bwd_flops * imgs / tb * 1e-9, 100 * bwd_flops * imgs / tb * 1e-9 / peak);
    printf("  sgd step: %.3f s/batch\n", ts / iters);
    free(x), free(lab);
    tr_free(&t);
    net_free(&net);
    tr_table_free(&tab);
    return 0;
}
