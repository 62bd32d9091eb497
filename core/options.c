/* options.c - the profile table and option defaults. */
#include "core/options.h"

#include <string.h>

static const nd_profile_info profiles[] = {
    {ND_PROFILE_NETDISSECT, "netdissect", {"nd", NULL}, 1e-20, 0, 1, 1},
    {ND_PROFILE_LITE, "netdissect-lite", {"ndl", "lite", NULL}, 1e-10, 1, 0, 0},
};
#define NPROFILES (sizeof profiles / sizeof profiles[0])

/* An out-of-range value is read as the default profile, as before the table. */
const nd_profile_info *nd_profile_get(nd_profile p)
{
    for (size_t i = 0; i < NPROFILES; i++)
        if (profiles[i].id == p)
            return &profiles[i];
    return &profiles[0];
}

const char *nd_profile_name(nd_profile p) { return nd_profile_get(p)->name; }
double nd_profile_eps(nd_profile p) { return nd_profile_get(p)->eps; }

int nd_profile_parse(const char *s, nd_profile *p)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        int hit = !strcmp(s, profiles[i].name);
        for (const char *const *a = profiles[i].aliases; *a && !hit; a++)
            hit = !strcmp(s, *a);
        if (hit) {
            *p = profiles[i].id;
            return 0;
        }
    }
    return -1;
}

void nd_options_default(nd_options *o)
{
    memset(o, 0, sizeof *o);
    o->profile = ND_PROFILE_NETDISSECT;
    o->quantile = 0.005;
    o->iou_threshold = 0.04;
    o->threshold_method = ND_THR_AUTO;
}
