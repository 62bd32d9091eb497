/* fuzz_png.c - label PNG decoding: Broden's reader inside broden_open
 * (core/broden.c) and the importer's img_load_labels / img_load_rgb
 * (models/image.c), all on the same fuzzed bytes.
 *
 * Input: the PNG file itself.  The dataset around it is fixed (one image,
 * one category, labels 1..300 known) except index.csv, whose sw x sh is
 * taken from the input's IHDR when it is small (<= 64), so that fuzzed
 * images get past the size check and into the pixel loop.
 */
#include "core/broden.h"
#include "core/err.h"
#include "models/image.h"
#include "tests/fuzz/fuzz_util.h"

#include <sys/stat.h>

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *dir, *png, *index;
    if (!dir) {
        dir = fz_path("pds");
        mkdir(dir, 0755);
        char *img = fz_path("pds/images"), *f;
        mkdir(img, 0755);
        free(img);
        png = fz_path("pds/images/x.png");
        index = fz_path("pds/index.csv");
        fz_write_str(f = fz_path("pds/category.csv"), "name\na\n");
        free(f);
        fz_write_str(f = fz_path("pds/c_a.csv"), "number,coverage\n1,1\n");
        free(f);
        char lab[8192];
        int n = snprintf(lab, sizeof lab, "number,name\n");
        for (int i = 1; i <= 300; i++)
            n += snprintf(lab + n, sizeof lab - (size_t)n, "%d,l%d\n", i, i);
        fz_write_str(f = fz_path("pds/label.csv"), lab);
        free(f);
    }
    unsigned w = 4, h = 4;
    if (size >= 24) {
        uint32_t W = be32(data + 16), H = be32(data + 20);
        if (W >= 1 && W <= 64 && H >= 1 && H <= 64)
            w = W, h = H;
    }
    char idx[256];
    snprintf(idx, sizeof idx, "image,split,ih,iw,sh,sw,a\nx.jpg,train,%u,%u,%u,%u,x.png\n", h, w, h, w);
    fz_write_str(index, idx);
    fz_write(png, data, size);

    broden *ds;
    if (broden_open(&ds, dir, NULL) == 0) {
        const broden_layer *ly;
        size_t nl;
        broden_image_layers(ds, 0, &ly, &nl);
        ND_ASSERT(nl == 1);
        for (size_t q = 0; q < (size_t)w * h; q++)
            ND_ASSERT(ly[0].map[q] <= 300);
        broden_free(ds);
    }
    fz_done();

    uint16_t *lab;
    int lw, lh;
    if (img_load_labels(&lab, &lw, &lh, png) == 0) {
        ND_ASSERT(lw > 0 && lh > 0);
        for (size_t q = 0; q < (size_t)lw * (size_t)lh; q++)
            fz_sink += lab[q];
        free(lab);
    }
    fz_done();
    img_u8 im;
    if (img_load_rgb(&im, png) == 0) {
        ND_ASSERT(im.c == 3 && im.w > 0 && im.h > 0);
        img_free(&im);
    }
    fz_done();
    return 0;
}
