/* net_init.c - random initialisation of a net.h network (part of the net
 * module; a separate file only because GSL's gsl_cblas.h and OpenBLAS's
 * cblas.h cannot be included in the same translation unit).
 *
 * He et al. 2015: weights ~ N(0, 2 / fan_in), biases 0, the variance that
 * keeps activations from shrinking through ReLU layers - the random-network
 * baseline of Network Dissection.  Ziggurat Gaussian on mt19937, drawn
 * layer by layer in table order, weights in [cout][cin][k][k] order.
 */
#include "models/net.h"

#include "core/err.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <string.h>

int net_init_he(net_t *net, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return nd_fail("%s: cannot allocate a random generator", net->name);
    gsl_rng_set(r, seed);
    for (int i = 0; i < net->nlayers; i++) {
        net_layer *L = &net->layers[i];
        if (L->def->kind == NET_BATCHNORM) {
            for (int c = 0; c < L->c; c++)
                L->wt[c] = 1.0f, L->bias[c] = 0.0f, L->rmean[c] = 0.0f, L->rvar[c] = 1.0f;
            continue;
        }
        if (L->def->kind != NET_CONV && L->def->kind != NET_FC)
            continue;
        double fan_in = L->def->kind == NET_FC ? L->cin : (double)L->cin * L->def->k * L->def->k;
        double sd = sqrt(2.0 / fan_in);
        for (size_t j = 0; j < L->nweights; j++)
            L->wt[j] = (float)gsl_ran_gaussian_ziggurat(r, sd);
        memset(L->bias, 0, sizeof(float) * L->c);
    }
    gsl_rng_free(r);
    return 0;
}

