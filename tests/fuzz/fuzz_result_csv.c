/* fuzz_result_csv.c - `dissect recount` (experiments/cmd_recount.c) on a
 * fuzzed result CSV: the header scan for <cat>-label/-truth/-activation/
 * -intersect/-iou columns, the per-row numbers, and the detector counts.
 * The whole command runs (cmd_recount with argv), so its exit status is
 * checked too: 0 for an accepted file, 1 for a rejected one, never a crash.
 * Input: the CSV file.  Run it with -close_fd_mask=3 (make fuzz does). */
#include "core/err.h"
#include "experiments/commands.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p;
    if (!p)
        p = fz_path("result.csv");
    fz_write(p, data, size);
    char a0[] = "recount", a2[] = "--iou-threshold", a3[] = "0.04";
    char *argv[] = {a0, p, a2, a3, NULL};
    fz_mute();
    int rc = cmd_recount(4, argv);
    fz_unmute();
    ND_ASSERT(rc == 0 || rc == 1);
    fz_done();
    return 0;
}
