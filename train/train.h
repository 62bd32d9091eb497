/* train.h - training a net.h network on the CPU: a batch forward pass in
 * training mode, softmax cross-entropy, the backward pass of every layer
 * kind, and SGD with momentum and weight decay (PyTorch's rule).
 *
 * The layer table is models/net.h's, the same one SqueezeNet's inference
 * uses: net_forward() is evaluation mode (batch norm on running statistics,
 * dropout the identity), tr_forward() with train = 1 is training mode
 * (batch statistics, running averages updated, inverted dropout).
 * Activations and their gradients are held for a whole batch, layer-major,
 * [n][c][h][w]; parameter gradients share net_t.params' layout.
 *
 *     tr_net t;
 *     if (tr_alloc(&t, &net, batch, 0)) return -1;
 *     tr_forward(&t, x, n, 1);
 *     double loss = tr_loss(&t, labels, n, &correct);   // sets d logits
 *     tr_backward(&t, x, n);                            // t.grad = d loss / d params
 *     tr_sgd(&t, lr, momentum, weight_decay);
 *     tr_free(&t);
 *
 * Determinism: every sum runs in a fixed order (convolutions over fixed
 * groups of images with single-threaded BLAS, their weight gradients summed
 * group by group), dropout masks come from one seeded GSL mt19937 drawn in
 * element order, so one seed gives byte-identical results for any thread
 * count.
 */
#ifndef ND_TRAIN_H
#define ND_TRAIN_H

#include "models/net.h"

#include <gsl/gsl_rng.h>
#include <stddef.h>

/* Convolutions split a batch into this many fixed groups of images. */
#define TR_GROUPS 8

typedef struct {
    net_t *net;
    int batch;            /* capacity in images */
    float **y, **dy;      /* per layer: [batch][c][h][w] output and its gradient */
    float *dx;            /* gradient of the network input (only if asked for) */
    float *grad;          /* d loss / d params, net->nparams, layout of net->params */
    float *mom;           /* momentum buffers, same layout */
    int have_mom;         /* 0 until the first step (PyTorch: v = g on step 1) */
    float **mask;         /* dropout layers: per-element factor 0 or 1/(1-rate) */
    double **bn_mean, **bn_istd; /* batch-norm layers: batch statistics of the last forward */
    int threads;          /* worker threads (default: every CPU); results do not depend on it */
    float **col, **dcol;  /* im2col scratch, one per thread (nscratch allocated) */
    int nscratch;
    float *part;          /* per-image-group weight gradients of one convolution */
    size_t part_stride;
    double dropout;       /* drop probability of every dropout layer; 0 = identity */
    gsl_rng *rng;         /* dropout masks (owned; state saved in checkpoints) */
} tr_net;

/* want_dx: also compute the input gradient (gradient checks).  Threads:
 * t->threads = nd_threads(0); set it after tr_alloc (1..the value given) to use fewer. */
int tr_alloc(tr_net *t, net_t *net, int batch, int want_dx);
void tr_free(tr_net *t);
size_t tr_layer_size(const net_layer *L); /* c*h*w */

/* n <= batch images x [n][in_c][in_h][in_w]; train = 1: training mode
 * (updates batch-norm running statistics, draws dropout masks), 0:
 * evaluation mode.  The logits are t->y[nlayers-1]. */
void tr_forward(tr_net *t, const float *x, int n, int train);

/* Mean softmax cross-entropy of the logits against labels (0..classes-1),
 * in double; sets dy of the last layer to its gradient; *correct (may be
 * NULL) counts argmax hits. */
double tr_loss(tr_net *t, const int *labels, int n, int *correct);

/* Backward pass of the last training-mode forward; t->grad is overwritten. */
void tr_backward(tr_net *t, const float *x, int n);

/* PyTorch SGD: g = grad + wd*w; v = momentum*v + g (v = g on the first
 * step); w = w - lr*v, on every parameter (batch-norm scale and shift and
 * biases included). */
void tr_sgd(tr_net *t, double lr, double momentum, double weight_decay);

/* Learning rate at iteration it (0-based) of total: "step" multiplies base
 * by gamma every step_size iterations; "cosine" anneals from base to 0:
 * base * (1 + cos(pi * it / total)) / 2. */
typedef enum { TR_LR_CONST, TR_LR_STEP, TR_LR_COSINE } tr_lr_kind;
double tr_lr(tr_lr_kind kind, double base, long it, long total, long step_size, double gamma);

#endif
