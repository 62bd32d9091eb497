/* fuzz_png.c - label PNG decoding: Broden's reader inside broden_open
 * (core/broden.c) and the importer's img_load_labels / img_load_rgb
 * (models/image.c), all on the same fuzzed bytes.
 *
 * Input: the PNG file itself.  The dataset around it is fixed (one image,
 * one category, labels 1..300 known) except index.csv, whose sw x sh is
 * taken from the input's IHDR when it is small (<= 64), so that fuzzed
 * images get past the size check and into the pixel loop, and the chunk
 * CRCs are recomputed (see fix_crcs) so that mutations get past libpng's
 * CRC check.
 */
#include "core/broden.h"
#include "core/err.h"
#include "models/image.h"
#include "tests/fuzz/fuzz_util.h"

#include <sys/stat.h>

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* CRC-32 of PNG chunks (ISO 3309, as zlib's crc32). */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* libpng rejects a chunk whose CRC does not match, which would stop nearly
 * every mutation at the first chunk; so the CRCs of the input's chunks are
 * recomputed before it is written (set FUZZ_PNG_KEEP_CRC=1 to keep them). */
static void fix_crcs(uint8_t *b, size_t n)
{
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t len = be32(b + p);
        if (len > n - p - 12)
            break;
        uint32_t c = crc32_png(b + p + 4, (size_t)len + 4);
        uint8_t *q = b + p + 8 + len;
        q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8), q[3] = (uint8_t)c;
        p += (size_t)len + 12;
    }
}

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
    static int keep = -1;
    if (keep < 0)
        keep = getenv("FUZZ_PNG_KEEP_CRC") != NULL;
    uint8_t *copy = malloc(size ? size : 1);
    ND_ASSERT(copy);
    memcpy(copy, data, size);
    if (!keep)
        fix_crcs(copy, size);
    fz_write(png, copy, size);
    free(copy);

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
