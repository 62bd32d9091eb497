/* net.h - a feed-forward convolutional network described by a layer table,
 * its forward pass (float32, CPU) and its receptive-field geometry.
 *
 * Layout: activations are [N][C][H][W] float32, row-major; convolution
 * weights [cout][cin][k][k], biases [cout].  Layer kinds: convolution (+ReLU),
 * max pooling with Caffe's rounded-up output size, channel concatenation,
 * global average pooling.  A network is a const array of net_def rows in
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

typedef enum { NET_CONV, NET_MAXPOOL, NET_CONCAT, NET_GLOBAL_AVGPOOL } net_kind;

typedef struct {
    net_kind kind;
    const char *name;
    const char *in[2]; /* input layer names; in[0] NULL = network input; in[1] for concat */
    int cout;          /* conv: output channels */
    int k, stride, pad; /* conv, maxpool: square kernel */
    int relu;          /* conv: ReLU applied in place */
} net_def;

typedef struct {
    const net_def *def;
    int nin, in[2];   /* resolved input indices; -1 = network input */
    int c, h, w;      /* output shape of one image */
    int cin;          /* conv: input channels */
    size_t nweights;  /* conv: cout*cin*k*k */
    float *wt, *bias; /* conv: carved from net_t.params */
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
} net_t;

/* Resolve inputs, infer shapes and fields, allocate (zeroed) parameters.
 * Errors (unknown input name, a layer with no output, branches of a concat
 * whose sizes or receptive-field centres/strides disagree) name the layer. */
int net_create(net_t *net, const char *name, const net_def *defs, int ndefs, int in_c,
               int in_h, int in_w);
void net_free(net_t *net);

/* Index of the layer called name, or -1 (no error recorded). */
int net_find(const net_t *net, const char *name);

/* He initialisation (weights ~ N(0, 2/fan_in), fan_in = cin*k*k, biases 0),
 * GSL's mt19937 seeded with seed, layers in table order. */
int net_init_he(net_t *net, unsigned long seed);

/* Multiply-add count of one image's forward pass up to layer upto
 * (convolutions only). */
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

/* The slow, obvious convolution (7 nested loops), for testing the fast one. */
void net_conv_naive(float *out, const float *in, const float *wt, const float *bias, int cin,
                    int h, int w, int cout, int k, int stride, int pad, int relu);
/* The fast one on one image, exposed for the same test; col needs
 * cin*k*k*oh*ow floats (unused for 1x1 stride 1 pad 0). */
void net_conv(float *out, const float *in, const float *wt, const float *bias, int cin, int h,
              int w, int cout, int k, int stride, int pad, int relu, float *col);
/* Caffe's pooled size: ceil((in + 2*pad - k) / stride) + 1, minus one if the
 * last window would start in the padding. */
int net_pool_size(int in, int k, int stride, int pad);

#endif
