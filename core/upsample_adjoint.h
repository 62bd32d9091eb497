/* upsample_adjoint.h - the transpose of the two upsampling rules.
 *
 * up_apply() is linear in the map: out = U in with U an (sh*sw) x (h*w)
 * matrix of non-negative bilinear weights.  A loss at label resolution has
 * its gradient at feature resolution through U^T, and U^T applied to a label
 * indicator, divided by U^T 1, is the area average of the labels that each
 * feature pixel's weights reach - the target of the probes' loss at feature
 * resolution.  Computed in double (the rounding of up_apply to float is not
 * part of the linear map).
 */
#ifndef ND_UPSAMPLE_ADJOINT_H
#define ND_UPSAMPLE_ADJOINT_H

#include "core/upsample.h"

/* out[h*w] = U^T r[sh*sw]; tmp has room for h*sw doubles (NDL only). */
void up_adjoint(const up_plan *p, const double *r, double *out, double *tmp);

/* U in, in double (no float rounding): the linear map up_adjoint is the
 * transpose of (for tests; tmp as above). */
void up_apply_double(const up_plan *p, const double *in, double *out, double *tmp);

#endif
