/* test_colornames.c - Broden's colour naming, label filter and texture-set
 * scanning (datasets/).
 *
 * The colour checks read ../shared/data/colornames/w2color.npy twice: once
 * through cn_load() (the .npy reader's Fortran-order support) and once by
 * the README's byte formula straight from the file's bytes, so a wrong
 * axis order in either fails.  A copy of the table whose header lies about
 * the order (C order declared over Fortran bytes) is shown to fail the
 * README's checks: that is what a swapped axis order does. */
#include "core/err.h"
#include "core/npy.h"
#include "datasets/colornames.h"
#include "datasets/labelfilter.h"
#include "datasets/textures.h"
#include "models/image.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* The README's formula on the raw file: byte R/8 + 32*(G/8) + 1024*(B/8)
 * after the v1.0 header (10 bytes + the little-endian length at 8..9). */
static int raw_name(const unsigned char *file, int r, int g, int b)
{
    size_t data = 10 + (file[8] | (size_t)file[9] << 8);
    return file[data + r / 8 + 32 * (g / 8) + 1024 * (b / 8)];
}

/* The README's three checks; returns how many hold. */
static int readme_checks(const cn_table *t)
{
    return (cn_name(t, 255, 0, 0) == 8) + (cn_name(t, 0, 0, 255) == 1) +
           (cn_name(t, 128, 128, 128) == 3);
}

static void test_table(const unsigned char *file, size_t flen, cn_table *t)
{
    test_group("w2color.npy: README checks, Fortran order, validation");
    const char *path = test_shared_path("data/colornames/w2color.npy");
    CHECK(cn_load(t, path) == 0, "load: %s", nd_errmsg());
    CHECK(cn_name(t, 255, 0, 0) == 8 && !strcmp(cn_names[8], "red"), "(255,0,0) -> %d",
          cn_name(t, 255, 0, 0));
    CHECK(cn_name(t, 0, 0, 255) == 1 && !strcmp(cn_names[1], "blue"), "(0,0,255) -> %d",
          cn_name(t, 0, 0, 255));
    CHECK(cn_name(t, 128, 128, 128) == 3 && !strcmp(cn_names[3], "grey"), "(128,128,128) -> %d",
          cn_name(t, 128, 128, 128));
    CHECK(flen == 80 + 32768 && file[6] == 1, "file layout as the README says: %zu bytes", flen);

    char p[4200];
    unsigned char *copy = malloc(flen);
    /* wrong axis order: the same bytes declared C order, i.e. read as
     * table[B/8, G/8, R/8]; it loads (values are valid) but must fail */
    memcpy(copy, file, flen);
    char *fo = memmem(copy, 80, "True", 4);
    CHECK(fo != NULL, "header has fortran_order True");
    if (fo) /* "True, " -> "False," keeps the header length */
        memcpy(fo, "False,", 6);
    snprintf(p, sizeof p, "%s/swapped.npy", test_tmpdir());
    cn_table sw;
    spit(p, copy, flen);
    int ok_sw = cn_load(&sw, p) == 0;
    CHECK(ok_sw && readme_checks(&sw) < 3, "swapped axes pass only %d of the 3 README checks",
          ok_sw ? readme_checks(&sw) : -1);

    /* a genuine C-order copy (bytes transposed) names every bin the same */
    unsigned char *c = malloc(32768);
    for (int r = 0; r < 32; r++)
        for (int g = 0; g < 32; g++)
            for (int b = 0; b < 32; b++)
                c[r * 1024 + g * 32 + b] = file[80 + r + 32 * g + 1024 * b];
    size_t shape[3] = {32, 32, 32};
    snprintf(p, sizeof p, "%s/corder.npy", test_tmpdir());
    cn_table ct;
    CHECK(npy_save(p, NPY_U8, 3, shape, c) == 0 && cn_load(&ct, p) == 0 &&
              !memcmp(ct.bin, t->bin, sizeof ct.bin), "C-order copy gives the same table");

    /* wrong shape, wrong dtype, value out of range: one line naming the file */
    size_t s2[2] = {32, 1024};
    CHECK(npy_save(p, NPY_U8, 2, s2, c) == 0 && cn_load(&ct, p) != 0 && strstr(nd_errmsg(), p) &&
              strstr(nd_errmsg(), "shape"), "shape (32, 1024): %s", nd_errmsg());
    float *fl = calloc(32768, sizeof *fl);
    CHECK(npy_save(p, NPY_F32, 3, shape, fl) == 0 && cn_load(&ct, p) != 0 &&
              strstr(nd_errmsg(), "dtype"), "float32 table: %s", nd_errmsg());
    c[5] = 11;
    CHECK(npy_save(p, NPY_U8, 3, shape, c) == 0 && cn_load(&ct, p) != 0 &&
              strstr(nd_errmsg(), "= 11"), "value 11: %s", nd_errmsg());
    free(fl);
    free(c);
    free(copy);
}

/* Every pixel of a real photograph named by cn_name and by the README's
 * byte formula; the swapped table must disagree on many of them. */
static void test_photo(const unsigned char *file, const cn_table *t)
{
    test_group("a real photograph named pixel by pixel, and as a label map");
    img_u8 im;
    const char *ph = test_shared_path("data/msrc-v2/images/1_10_s.jpg");
    if (img_load_rgb(&im, ph)) {
        CHECK(0, "load %s: %s", ph, nd_errmsg());
        return;
    }
    size_t n = (size_t)im.w * im.h, wrong = 0, swapped_differs = 0, hist[CN_NAMES] = {0};
    unsigned char *names = malloc(n);
    cn_name_pixels(t, im.px, n, names);
    for (size_t p = 0; p < n; p++) {
        const unsigned char *q = im.px + 3 * p;
        int want = raw_name(file, q[0], q[1], q[2]);
        wrong += names[p] != want;
        swapped_differs += raw_name(file, q[2], q[1], q[0]) != want;
        hist[want]++;
    }
    int distinct = 0;
    for (int k = 0; k < CN_NAMES; k++)
        distinct += hist[k] > 0;
    CHECK(wrong == 0, "%zu of %zu pixels named differently from the README formula", wrong, n);
    CHECK(distinct >= 3, "%d distinct colour names in the photograph", distinct);
    CHECK(swapped_differs > n / 20, "axis order matters here: swapped names differ on %zu of %zu pixels",
          swapped_differs, n);

    /* label map: full-resolution counts and the nearest shrink */
    int dw = 113, dh = 113;
    uint16_t *map = malloc(sizeof *map * dw * dh);
    uint64_t cnt[CN_NAMES] = {0};
    CHECK(cn_label_map(t, im.px, im.w, im.h, map, dw, dh, cnt) == 0, "label map");
    size_t bad_cnt = 0, bad_px = 0;
    for (int k = 0; k < CN_NAMES; k++)
        bad_cnt += cnt[k] != hist[k];
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            /* the source pixel under the destination pixel's centre */
            size_t sx = (size_t)((2 * x + 1) * (size_t)im.w / (2 * (size_t)dw));
            size_t sy = (size_t)((2 * y + 1) * (size_t)im.h / (2 * (size_t)dh));
            const unsigned char *q = im.px + 3 * (sy * im.w + sx);
            bad_px += map[y * dw + x] != raw_name(file, q[0], q[1], q[2]) + 1;
        }
    CHECK(bad_cnt == 0, "full-resolution counts differ for %zu names", bad_cnt);
    CHECK(bad_px == 0, "%zu of %d shrunk pixels differ from the nearest source pixel's name + 1",
          bad_px, dw * dh);
    free(map);
    free(names);
    img_free(&im);
}

static void test_filter(void)
{
    test_group("label filter: frequency >= 10 images, coverage >= 0.5");
    lf_rule r = lf_defaults();
    CHECK(r.min_images == 10 && r.min_coverage == 0.5, "defaults 10 and 0.5");
    lf_count a = {0}, b = {0}, c = {0}, d = {0};
    for (int i = 0; i < 10; i++) {
        lf_add(&a, 49, 1000); /* 10 images, coverage 0.49: dropped */
        lf_add(&b, 1, 20);    /* 10 images at 1/20: 0.49999999999999994 in double, is 0.5 */
        lf_add(&d, 0, 20);    /* absent: counts nothing */
    }
    for (int i = 0; i < 9; i++)
        lf_add(&c, 20, 20); /* 9 images, coverage 9: too few images */
    CHECK(a.frequency == 10 && !lf_keep(&a, &r), "coverage %.17g dropped", a.coverage);
    CHECK(b.frequency == 10 && lf_keep(&b, &r), "coverage %.17g kept", b.coverage);
    CHECK(c.frequency == 9 && !lf_keep(&c, &r), "9 images dropped");
    CHECK(d.frequency == 0 && d.coverage == 0 && !lf_keep(&d, &r), "absent label");
    lf_rule loose = {9, 0.49};
    CHECK(lf_keep(&a, &loose) && lf_keep(&c, &loose), "both options are honoured");
}

static void touch(const char *dir, const char *name)
{
    char p[8800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    spit(p, "x", 1);
}

static void test_textures(void)
{
    test_group("texture sets: one folder per class, strict");
    char root[4200], p[4300];
    snprintf(root, sizeof root, "%s/tex", test_tmpdir());
    mkdir(root, 0777);
    const char *cls[2] = {"zig", "banded"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", root, cls[k]);
        mkdir(p, 0777);
        touch(p, "b.jpg");
        touch(p, "a.PNG");
        touch(p, ".hidden");
    }
    tex_set s;
    CHECK(tex_scan(&s, root) == 0, "scan: %s", nd_errmsg());
    CHECK(s.nclass == 2 && !strcmp(s.classes[0], "banded") && s.n == 4 &&
              !strcmp(s.rel[0], "banded/a.PNG") && !strcmp(s.file[1], "b.jpg") && s.cls[2] == 1 &&
              !strcmp(s.rel[3], "zig/b.jpg"), "sorted classes and files, one class each");
    tex_free(&s);

    snprintf(p, sizeof p, "%s/zig/notes.txt", root);
    spit(p, "x", 1);
    CHECK(tex_scan(&s, root) != 0 && strstr(nd_errmsg(), p) && strstr(nd_errmsg(), "not a photograph"),
          "non-image file: %s", nd_errmsg());
    remove(p);
    snprintf(p, sizeof p, "%s/empty", root);
    mkdir(p, 0777);
    CHECK(tex_scan(&s, root) != 0 && strstr(nd_errmsg(), p) && strstr(nd_errmsg(), "empty"),
          "empty class folder: %s", nd_errmsg());
    remove(p);
    touch(root, "README.md");
    CHECK(tex_scan(&s, root) != 0 && strstr(nd_errmsg(), "README.md"), "stray file: %s", nd_errmsg());
    snprintf(p, sizeof p, "%s/README.md", root);
    remove(p);
    snprintf(p, sizeof p, "%s/bad,name", root);
    mkdir(p, 0777);
    touch(p, "a.jpg");
    CHECK(tex_scan(&s, root) != 0 && strstr(nd_errmsg(), "class name"), "bad class name: %s", nd_errmsg());
    snprintf(p, sizeof p, "%s/missing", root);
    CHECK(tex_scan(&s, p) != 0 && strstr(nd_errmsg(), p), "missing folder: %s", nd_errmsg());

    /* the real set: 10 classes of 120 */
    CHECK(tex_scan(&s, test_shared_path("data/dtd-10/images")) == 0 && s.nclass == 10 && s.n == 1200 &&
              !strcmp(s.classes[0], "banded") && !strcmp(s.classes[9], "crystalline"),
          "DTD-10: %zu classes, %zu photographs: %s", s.nclass, s.n, nd_errmsg());
    tex_free(&s);
}

int main(void)
{
    size_t flen = 0;
    unsigned char *file = test_slurp(test_shared_path("data/colornames/w2color.npy"), &flen);
    if (!file || flen < 80 + 32768) {
        CHECK(0, "cannot read w2color.npy under %s", test_shared());
        return test_summary();
    }
    cn_table t;
    test_table(file, flen, &t);
    test_photo(file, &t);
    test_filter();
    test_textures();
    free(file);
    return test_summary();
}
