/* fuzz_dcnet.c - the Deep Compression weight reader (models/dcnet.c) on
 * arbitrary bytes, against a fixed two-layer table (layer a: 2 biases, 24
 * dense weights; layer b: 3 biases, 30 dense weights).  A file of the right
 * length is 8 + 2*1024 + 20 + the stored entries and steps, so the seeds are
 * about 2.1 kB.  Input: the weight file. */
#include "core/err.h"
#include "models/dcnet.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p;
    if (!p)
        p = fz_path("w.net");
    fz_write(p, data, size);
    float wa[24], ba[2], wb[30], bb[3];
    dcnet_layer L[2] = {{"a", 2, 24, wa, ba, 0, 0}, {"b", 3, 30, wb, bb, 0, 0}};
    if (dcnet_read(p, L, 2) == 0) {
        ND_ASSERT(L[0].stored <= 24 && L[1].stored <= 30);
        ND_ASSERT(L[0].nonzero <= L[0].stored && L[1].nonzero <= L[1].stored);
    }
    fz_done();
    return 0;
}
