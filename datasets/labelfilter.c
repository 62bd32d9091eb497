/* labelfilter.c - Broden's frequency and coverage rule (see labelfilter.h). */
#include "datasets/labelfilter.h"

lf_rule lf_defaults(void)
{
    lf_rule r = {10, 0.5};
    return r;
}

void lf_add(lf_count *c, uint64_t pixels, uint64_t total)
{
    if (!pixels || !total)
        return;
    c->frequency++;
    c->coverage += (double)pixels / (double)total;
}

int lf_keep(const lf_count *c, const lf_rule *r)
{
    /* Coverage is a sum of rounded ratios: ten images at 1/20 each sum to
     * 0.49999999999999994 in double, which must count as 0.5.  A relative
     * slack of 1e-9 is far above the rounding of any realistic number of
     * terms (n * 2^-53) and far below a difference a person would mean. */
    return c->frequency >= (size_t)(r->min_images > 0 ? r->min_images : 0) &&
           c->coverage >= r->min_coverage * (1.0 - 1e-9);
}
