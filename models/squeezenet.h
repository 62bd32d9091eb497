/* squeezenet.h - SqueezeNet v1.0 (Iandola et al. 2016) as a net.h table,
 * and its Deep Compression weights.
 *
 * Layer names follow the Caffe prototxt: conv1, pool1, fireN/conv1x1_1
 * (squeeze), fireN/conv1x1_2 and fireN/conv3x3_2 (expand), fireN (the
 * concat, = fireN/concat in Caffe), pool4, pool8, conv_final, pool10
 * (global average -> 1000 logits).  Input 3 x 227 x 227, BGR minus the mean
 * (104, 117, 123), no scaling.
 */
#ifndef ND_SQUEEZENET_H
#define ND_SQUEEZENET_H

#include "models/image.h"
#include "models/net.h"

#define SQZ_INPUT 227
/* The layers a dissection looks at (`--layer all`): the first convolution
 * and every fire module's output. */
#define SQZ_DISSECT_LAYERS "conv1,fire2,fire3,fire4,fire5,fire6,fire7,fire8,fire9"
extern const float sqz_mean_bgr[3];

/* The table; *n receives its length. */
const net_def *sqz_defs(int *n);

/* net_create() with the table at 3 x 227 x 227. */
int sqz_create(net_t *net);

/* Fill the parameters from compressed_SqueezeNet.net (26 convolutions in
 * table order).  stored/nonzero (may be NULL): totals over all layers. */
int sqz_load_dc(net_t *net, const char *path, size_t *stored, size_t *nonzero);

/* Network input from a decoded RGB image: squash-resize the whole image to
 * 227 x 227 (antialiased bilinear, rounded to 8 bits like an image library),
 * planes B, G, R minus sqz_mean_bgr.  dst: 3*227*227 floats. */
int sqz_preprocess(float *dst, const img_u8 *im);

#endif
