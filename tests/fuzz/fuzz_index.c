/* fuzz_index.c - the Broden dataset reader (core/broden.c, broden_open) on
 * fuzzed CSV files: index.csv, label.csv, category.csv, c_a.csv, c_b.csv
 * and the --categories argument.
 *
 * Input format: the six parts separated by NUL bytes, in that order; a part
 * that is missing (fewer NULs) takes its default below, which together form
 * a valid two-category, three-label, two-image dataset whose label PNGs are
 * written once at start-up.  (CSV files with a NUL byte are rejected by the
 * reader anyway, so NUL is free to use as a separator.)
 *
 * After a successful open every accessor is walked and the invariants the
 * dissector relies on are checked: layer maps hold only known labels,
 * image-level labels are known, primaries are in range.
 */
#include "core/broden.h"
#include "core/err.h"
#include "tests/fuzz/fuzz_png_util.h"
#include "tests/fuzz/fuzz_util.h"

#include <sys/stat.h>

static const char *idx_defaults[6] = {
    "image,split,ih,iw,sh,sw,a,b\nx1.jpg,train,8,8,4,4,p1.png,2\nx2.jpg,val,8,8,4,4,,p2.png;3\n",
    "number,name\n0,-\n1,red\n2,sky\n3,dog\n",
    "name\na\nb\n",
    "number,coverage\n1,0.5\n",
    "number,coverage\n2,0.5\n3,0.2\n",
    "",
};
static const char *idx_names[5] = {"index.csv", "label.csv", "category.csv", "c_a.csv", "c_b.csv"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *dir, *files[5];
    if (!dir) {
        dir = fz_path("ds");
        mkdir(dir, 0755);
        char *img = fz_path("ds/images");
        mkdir(img, 0755);
        for (int i = 0; i < 5; i++) {
            char n[64];
            snprintf(n, sizeof n, "ds/%s", idx_names[i]);
            files[i] = fz_path(n);
        }
        uint16_t l1[16] = {0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1};
        uint16_t l2[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 0, 0, 3, 3, 0, 0};
        char *p1 = fz_path("ds/images/p1.png"), *p2 = fz_path("ds/images/p2.png");
        fz_write_label_png(p1, 4, 4, l1);
        fz_write_label_png(p2, 4, 4, l2);
        free(p1);
        free(p2);
        free(img);
    }
    const uint8_t *part[6];
    size_t len[6];
    int k = fz_split(data, size, part, len, 6);
    for (int i = 0; i < 5; i++) {
        if (i < k)
            fz_write(files[i], part[i], len[i]);
        else
            fz_write_str(files[i], idx_defaults[i]);
    }
    char cats[256];
    const char *catarg = NULL;
    if (k == 6 && len[5] > 0) {
        size_t n = len[5] < sizeof cats - 1 ? len[5] : sizeof cats - 1;
        memcpy(cats, part[5], n);
        cats[n] = 0;
        catarg = cats;
    }
    broden *ds;
    if (broden_open(&ds, dir, catarg) == 0) {
        size_t N = broden_num_images(ds), C = broden_num_categories(ds), L = broden_num_labels(ds);
        ND_ASSERT(N > 0 && C > 0 && L > 1);
        for (size_t c = 0; c < C; c++)
            ND_ASSERT(broden_category_name(ds, c) != NULL);
        for (int l = 0; l < (int)L; l++) {
            int p = broden_primary(ds, l);
            ND_ASSERT(p >= -1 && p < (int)C);
            (void)broden_label_name(ds, l);
        }
        for (size_t i = 0; i < N; i++) {
            int ih, iw, sh, sw;
            broden_image_size(ds, i, &ih, &iw, &sh, &sw);
            ND_ASSERT(ih > 0 && iw > 0 && sh > 0 && sw > 0);
            (void)broden_image_name(ds, i);
            const broden_layer *ly;
            size_t nl;
            broden_image_layers(ds, i, &ly, &nl);
            for (size_t j = 0; j < nl; j++) {
                ND_ASSERT(ly[j].category >= 0 && ly[j].category < (int)C);
                for (size_t q = 0; q < (size_t)sh * (size_t)sw; q++)
                    ND_ASSERT(ly[j].map[q] < L);
            }
            const broden_imglabel *il;
            size_t ni;
            broden_image_labels(ds, i, &il, &ni);
            for (size_t j = 0; j < ni; j++)
                ND_ASSERT(il[j].label > 0 && il[j].label < (int)L && il[j].category >= 0 &&
                          il[j].category < (int)C);
        }
        broden_free(ds);
    }
    fz_done();
    return 0;
}
