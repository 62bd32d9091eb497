/* fuzz_jpeg.c - photograph decoding for `dissect features` / `classify` /
 * `import` (img_load_rgb in models/image.c, libjpeg behind it): a truncated
 * or corrupt JPEG must give one error line, never a crash or a hang.
 * Input: the image file (JPEG, or anything else: the magic bytes decide). */
#include "core/err.h"
#include "models/image.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p;
    if (!p)
        p = fz_path("x.jpg");
    fz_write(p, data, size);
    img_u8 im;
    if (img_load_rgb(&im, p) == 0) {
        ND_ASSERT(im.c == 3 && im.w > 0 && im.h > 0);
        for (size_t q = 0; q < (size_t)im.w * (size_t)im.h * 3; q++)
            fz_sink += im.px[q];
        img_free(&im);
    }
    fz_done();
    return 0;
}
