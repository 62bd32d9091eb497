/* softplusf.c - float exp(-|s|), log1p and the sigmoid over arrays (softplusf.h). */
#include "core/softplusf.h"

#include <stdint.h>

/* exp(x) for x in [-87, 0]: x = n ln2 + r (Cody-Waite split of ln2), e^r by
 * its Taylor polynomial to degree 7 (|r| <= 0.35: truncation 5e-9), times 2^n
 * built in the exponent bits */
static inline float expf_neg(float x)
{
    float y = x * 1.44269504f;
    int32_t n = (int32_t)(y - 0.5f); /* y <= 0: nearest integer */
    float fn = (float)n;
    float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { int32_t i; float f; } scale = {.i = (n + 127) * (1 << 23)};
    return p * scale.f;
}

/* log1p(e) for e in [0, 1] as 2 atanh(z), z = e / (2 + e) in [0, 1/3]: no
 * cancellation for small e, series in z^2 <= 1/9 to z^14 (next term 2e-9) */
static inline float log1pf_unit(float e)
{
    float z = e / (2.0f + e), z2 = z * z;
    float p = 1.0f / 15;
    p = p * z2 + 1.0f / 13;
    p = p * z2 + 1.0f / 11;
    p = p * z2 + 1.0f / 9;
    p = p * z2 + 1.0f / 7;
    p = p * z2 + 1.0f / 5;
    p = p * z2 + 1.0f / 3;
    p = p * z2 + 1.0f;
    return 2.0f * z * p;
}

void softplusf_parts(const float *s, size_t n, float *l, float *sig)
{
    for (size_t i = 0; i < n; i++) {
        /* |s| capped at 87 on the bits (non-negative floats order as their
         * bits; an integer select vectorises where a float one may not) */
        union { float f; int32_t i; } a = {.f = __builtin_fabsf(s[i])}, cap = {.f = 87.0f};
        a.i = a.i < cap.i ? a.i : cap.i;
        float e = expf_neg(-a.f);
        l[i] = log1pf_unit(e);
        sig[i] = (s[i] >= 0 ? 1.0f : e) / (1.0f + e);
    }
}
