/* fuzz_compare.c - `dissect compare A B` (experiments/cmd_compare.c) on two
 * fuzzed files: its own CSV splitter, its JSON flattener and its .npy
 * comparison.
 *
 * Input: one byte choosing the file type (value % 3: 0 .csv, 1 .json,
 * 2 .npy), two bytes giving the length of A (little-endian), file A, then
 * file B (when the length runs past the end, A is the rest and B a copy).
 * Exit status must be 0 (equal), 1 (different or unreadable); never a crash.
 * Run it with -close_fd_mask=3 (make fuzz does). */
#include "core/err.h"
#include "experiments/commands.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *pa[3], *pb[3];
    static const char *ext[3] = {"csv", "json", "npy"};
    if (!pa[0])
        for (int i = 0; i < 3; i++) {
            char n[32];
            snprintf(n, sizeof n, "a.%s", ext[i]);
            pa[i] = fz_path(n);
            snprintf(n, sizeof n, "b.%s", ext[i]);
            pb[i] = fz_path(n);
        }
    if (size < 3)
        return 0;
    int t = data[0] % 3;
    size_t la = (size_t)data[1] | (size_t)data[2] << 8, rest = size - 3;
    const uint8_t *a = data + 3;
    if (la <= rest) {
        fz_write(pa[t], a, la);
        fz_write(pb[t], a + la, rest - la);
    } else {
        fz_write(pa[t], a, rest);
        fz_write(pb[t], a, rest);
    }
    char a0[] = "compare", a1[] = "--max-diffs", a2[] = "3";
    char *argv[] = {a0, a1, a2, pa[t], pb[t], NULL};
    fz_mute();
    int rc = cmd_compare(5, argv);
    fz_unmute();
    ND_ASSERT(rc == 0 || rc == 1);
    fz_done();
    return 0;
}
