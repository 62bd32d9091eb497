/* sweep.c - the report of a sweep run folder (placeholder until written). */
#include "core/err.h"
#include "report/internal.h"

int rpt_sweep_report(const char *run_dir, rpt_options *o, const char *out)
{
    (void)o, (void)out;
    return nd_fail("%s: sweep reports are not written yet", run_dir);
}
