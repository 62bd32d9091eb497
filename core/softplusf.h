/* softplusf.h - the logistic loss's per-score pieces in float, over arrays,
 * in straight-line code the compiler vectorises (libm's exp and log1p are
 * calls, one value at a time, and were a quarter of the probes' loss).
 *
 * For scores s[0..n): e = exp(-|s|), l = log1p(e) (softplus(+-s) =
 * max(+-s, 0) + l) and sig = 1 / (1 + exp(-s)).  Relative error of l and sig
 * a few float ulps (test_probe.c checks them against libm in double); no
 * branches, so every element gets the same operations whatever n is, and the
 * results do not depend on how the loop was split into vector lanes.
 * Scores beyond +-87 are taken as +-87 for e alone (e < 2e-38 there). */
#ifndef ND_SOFTPLUSF_H
#define ND_SOFTPLUSF_H

#include <stddef.h>

void softplusf_parts(const float *s, size_t n, float *l, float *sig);

#endif
