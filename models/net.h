/* net.h - a feed-forward convolutional network described by a layer table,
 * its forward pass (float32, CPU) and its receptive-field geometry.
 *
 * Layout: activations are [N][C][H][W] float32, row-major; convolution
 * weights [cout][cin][k][k], biases [cout] (PyTorch's layouts).  Layer kinds:
 * convolution (+ReLU), max pooling with Caffe's rounded-up output size,
 * channel concatenation, global average pooling, and for trained networks
 * batch normalisation (weight = scale, bias = shift, running mean and
 * variance), ReLU, dropout (the identity here: the forward pass is
 * evaluation mode; train/ runs the training mode) and fully connected
 * (weights [out][in], in = the flattened C*H*W input).  The same table
 * drives inference (net_forward) and training (train/).  A network is a const array of net_def rows in
 * topological order; inputs are named (NULL = the network input), so
 * SqueezeNet's fire modules and any other graph of these kinds of layers are
 * a table away (see models/squeezenet.c).
 *
 *     net_t net;
 *     if (net_create(&net, "squeezenet", defs, ndefs, 3, 227, 227)) return -1;
 *     ... fill net.layers[i].wt / .bias (dcnet_read, net_init_he) ...
 *     net_ws *ws = net_ws_alloc(&net, upto);
 *     net_forward(&net, ws, x, n, upto, out);   // out: [n][C][H][W] of layer upto
 *     net_ws_free(ws); net_free(&net);
 */
#ifndef ND_NET_H
#define ND_NET_H

#include <stddef.h>

typedef enum {
    NET_CONV, NET_MAXPOOL, NET_CONCAT, NET_GLOBAL_AVGPOOL,
    NET_BATCHNORM, NET_RELU, NET_DROPOUT, NET_FC
} net_kind;

/* Batch normalisation constants (PyTorch's defaults, as the train-step
 * fixture states them): variance epsilon, running-average momentum. */
#define NET_BN_EPS 1e-5
#define NET_BN_MOMENTUM 0.1

typedef struct {
    net_kind kind;
    const char *name;
    const char *in[2]; /* input layer names; in[0] NULL = network input; in[1] for concat */
    int cout;          /* conv, fc: output channels */
    int k, stride, pad; /* conv, maxpool: square kernel */
    int relu;          /* conv: ReLU applied in place */
} net_def;
/* A dropout layer marks where dropout goes; its rate is a training
 * condition (train/train.h), since evaluation mode ignores it. */

typedef struct {
    const net_def *def;
    int nin, in[2];   /* resolved input indices; -1 = network input */
    int c, h, w;      /* output shape of one image */
    int cin;          /* conv: input channels; fc: input features c*h*w */
    size_t nweights;  /* conv: cout*cin*k*k; fc: cout*cin; batchnorm: c */
    float *wt, *bias; /* conv, fc, batchnorm (scale, shift): carved from net_t.params */
    float *rmean, *rvar; /* batchnorm: running statistics, carved from net_t.stats */
    /* receptive field in input pixels: output position j covers input
     * [off + j*stride, off + j*stride + size) along each axis.  A concat's
     * branches share centre and stride (checked); the largest branch's
     * (off, size) is reported - Network Dissection's upsampling nodes
     * depend only on centre and stride, so this choice changes nothing. */
    int field_off, field_size, field_stride;
} net_layer;

typedef struct {
    char *name;
    int nlayers;
    net_layer *layers;
    int in_c, in_h, in_w;
    float *params; /* all weights and biases, one block */
    size_t nparams;
    float *stats;  /* batch-norm running means and variances, one block */
    size_t nstats;
} net_t;

/* A layer has learnable parameters (wt, bias). */
int net_has_params(const net_layer *L);

/* The input convention of networks trained here (train/data.h) and of
 * their feature extraction (models/extract.h): an 8-bit RGB value v becomes
 * (v - 128) / 64, planes R, G, B. */
#define NET_TRAINED_PIXEL(v) (((float)(v) - 128.0f) / 64.0f)

/* Resolve inputs, infer shapes and fields, allocate (zeroed) parameters.
 * Errors (unknown input name, a layer with no output, branches of a concat
 * whose sizes or receptive-field centres/strides disagree) name the layer. */
int net_create(net_t *net, const char *name, const net_def *defs, int ndefs, int in_c,
               int in_h, int in_w);
void net_free(net_t *net);

/* Index of the layer called name, or -1 (no error recorded). */
int net_find(const net_t *net, const char *name);

/* He initialisation (weights ~ N(0, 2/fan_in), fan_in = cin*k*k for conv,
 * cin for fc; biases 0), GSL's mt19937 seeded with seed, layers in table
 * order; batch norm: scale 1, shift 0, running mean 0, running variance 1. */
int net_init_he(net_t *net, unsigned long seed);

/* Multiply-add count of one image's forward pass up to layer upto
 * (convolutions and fully connected layers). */
double net_macs(const net_t *net, int upto);

/* Per-thread scratch for forward passes up to a layer. */
typedef struct net_ws net_ws;
net_ws *net_ws_alloc(const net_t *net, int upto);
void net_ws_free(net_ws *ws);

/* Run n images x [n][in_c][in_h][in_w] through layers 0..upto and copy layer
 * upto's output to out [n][c][h][w].  Images go through one at a time
 * (im2col + cblas_sgemm per convolution), so memory does not grow with n. */
void net_forward(const net_t *net, net_ws *ws, const float *x, int n, int upto, float *out);
/* Layer i's output (i <= the workspace's upto) for the last image that
 * net_forward ran: every layer keeps its own buffer, so one forward pass
 * gives all of them (the several-layer extraction reads them here). */
const float *net_ws_output(const net_ws *ws, int i);

/* The rest of the network from a given output of layer `from` (one image):
 * act (c x h x w of layer from, e.g. with units switched off, models/
 * ablate.h) becomes that layer's output and layers from+1..upto run on it,
 * with the same code as net_forward, so an unchanged act gives the same
 * bytes.  Only for networks where no layer after `from` reads an earlier
 * layer or the input (checked by net_reads_only_from). */
void net_forward_from(const net_t *net, net_ws *ws, int from, const float *act, int upto,
                      float *out);
/* -1 when every layer after `from` reads only layers >= from; else the
 * first layer that reads something earlier (the rest cannot run alone). */
int net_reads_only_from(const net_t *net, int from);

/* The slow, obvious convolution (7 nested loops), for testing the fast one. */
void net_conv_naive(float *out, const float *in, const float *wt, const float *bias, int cin,
                    int h, int w, int cout, int k, int stride, int pad, int relu);
/* The fast one on one image, exposed for the same test; col needs
 * cin*k*k*oh*ow floats (unused for 1x1 stride 1 pad 0). */
void net_conv(float *out, const float *in, const float *wt, const float *bias, int cin, int h,
              int w, int cout, int k, int stride, int pad, int relu, float *col);
/* im2col of one image: row (c, i, j) of col holds the input pixel under
 * kernel tap (i, j) for every output position (oh*ow), zero in the padding. */
void net_im2col(float *col, const float *in, int cin, int h, int w, int k, int stride, int pad,
                int oh, int ow);
/* Max pooling of one image (c planes), windows clipped at the border. */
void net_maxpool(float *out, const float *in, int c, int h, int w, int k, int stride, int pad,
                 int oh, int ow);
/* Global average of c planes of hw pixels each (sums in double). */
void net_global_avgpool(float *out, const float *in, int c, size_t hw);
/* Evaluation-mode batch norm of one image of hw pixels per channel. */
void net_bn_eval(float *out, const float *in, const net_layer *L, size_t hw);
/* Caffe's pooled size: ceil((in + 2*pad - k) / stride) + 1, minus one if the
 * last window would start in the padding. */
int net_pool_size(int in, int k, int stride, int pad);

#endif
