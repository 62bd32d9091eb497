/* test_broden.c - the dataset reader (core/broden.h): the primary-category
 * tie rule, label PNG decoding (R + 256*G; core/labelpng.h) and its errors,
 * and the prepared label store (core/labelstore.h): built, mapped again
 * with the same layers, rebuilt when the dataset changes, and refused when
 * damaged; the run counter of label pixels (core/labelruns.h) against a
 * count per pixel. */
#include "core/broden.h"
#include "core/err.h"
#include "core/labelruns.h"
#include "tests/testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *make_tie_dataset(char *dir, size_t n, int *lab)
{
    char img[4300], p[4400];
    snprintf(dir, n, "%s/tie", test_tmpdir());
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(dir, 0777);
    mkdir(img, 0777);
    int rc = test_write_text(dir, "category.csv",
                             "name,first,last,count,frequency\nobject,1,1,1,1\npart,1,1,1,1\nmaterial,1,1,1,1\n");
    /* 1: equal coverage in object and part -> part (later);
     * 2: coverage nowhere -> material (last); 300 (R=44, G=1): object */
    rc |= test_write_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,tie,object(1),1,1,\n"
                                            "2,none,object(1),1,1,\n300,big,object(1),1,1,\n");
    rc |= test_write_text(dir, "c_object.csv", "code,number,name,frequency,coverage\n1,1,tie,1,0.5\n2,300,big,1,2\n");
    rc |= test_write_text(dir, "c_part.csv", "code,number,name,frequency,coverage\n1,1,tie,1,0.5\n");
    rc |= test_write_text(dir, "c_material.csv", "code,number,name,frequency,coverage\n");
    rc |= test_write_text(dir, "index.csv", "image,split,ih,iw,sh,sw,object,part,material\nx.jpg,train,4,4,2,2,x.png,,\n");
    snprintf(p, sizeof p, "%s/x.png", img);
    rc |= test_write_label_png(p, lab, 2, 2);
    return rc ? NULL : dir;
}

static int layer_is(const broden *ds, const int *lab)
{
    const broden_layer *ly;
    size_t n;
    broden_image_layers(ds, 0, &ly, &n);
    return n == 1 && ly[0].map[0] == lab[0] && ly[0].map[1] == lab[1] && ly[0].map[2] == lab[2] &&
           ly[0].map[3] == lab[3];
}

static void test_primary_and_png(void)
{
    test_group("primary category tie rule and PNG decoding");
    char dir[4200], p[4400];
    int lab[4] = {300, 0, 1, 2};
    if (!make_tie_dataset(dir, sizeof dir, lab))
        return;
    broden *ds;
    CHECK(broden_open(&ds, dir, NULL) == 0, "open: %s", nd_errmsg());
    if (!ds)
        return;
    CHECK(broden_primary(ds, 1) == 1, "equal coverage -> later category (part)");
    CHECK(broden_primary(ds, 2) == 2, "no coverage -> last category (material)");
    CHECK(broden_primary(ds, 300) == 0, "label 300 -> object");
    CHECK(layer_is(ds, lab), "R + 256*G decoding (300 = 44 + 256*1)");
    broden_free(ds);
    /* an unknown label number in a PNG is an error naming the file and pixel */
    snprintf(p, sizeof p, "%s/images/x.png", dir);
    lab[1] = 301;
    if (test_write_label_png(p, lab, 2, 2) == 0)
        CHECK(broden_open(&ds, dir, NULL) != 0 && strstr(nd_errmsg(), "x.png") && strstr(nd_errmsg(), "301"),
              "unknown label: %s", nd_errmsg());
    /* a PNG of the wrong size names both sizes */
    if (test_write_label_png(p, lab, 1, 4) == 0)
        CHECK(broden_open(&ds, dir, NULL) != 0 && strstr(nd_errmsg(), "4x1") && strstr(nd_errmsg(), "2x2"),
              "wrong size: %s", nd_errmsg());
    /* a file that is not a PNG */
    if (test_write_text(dir, "images/x.png", "not a png at all") == 0)
        CHECK(broden_open(&ds, dir, NULL) != 0 && strstr(nd_errmsg(), "not a PNG"), "not a PNG: %s", nd_errmsg());
    lab[1] = 0;
    CHECK(test_write_label_png(p, lab, 2, 2) == 0, "restore x.png");
}

static void test_store(void)
{
    test_group("prepared label store");
    char dir[4200], store[4400];
    int lab[4] = {300, 0, 1, 2};
    if (!make_tie_dataset(dir, sizeof dir, lab))
        return;
    snprintf(store, sizeof store, "%s/labels.store", test_tmpdir());
    broden *ds;
    CHECK(broden_open_store(&ds, dir, NULL, store) == 0 && layer_is(ds, lab), "built on first open: %s", nd_errmsg());
    uint64_t sig = ds ? broden_signature(ds) : 0, sig2 = 0;
    broden_free(ds);
    struct stat st;
    CHECK(stat(store, &st) == 0 && st.st_size == 64 + 4 * 2, "store file: 64-byte header + 4 uint16");
    CHECK(broden_dataset_signature(dir, NULL, &sig2) == 0 && sig2 == sig && sig != 0,
          "signature without opening equals the store's");
    /* mapped: the PNG may go (a decode would fail now) */
    char png[4400], moved[4400];
    snprintf(png, sizeof png, "%s/images/x.png", dir);
    snprintf(moved, sizeof moved, "%s/images/x.moved", dir);
    CHECK(rename(png, moved) == 0, "move the PNG away");
    CHECK(broden_open_store(&ds, dir, NULL, store) == 0 && layer_is(ds, lab), "mapped, no PNG read: %s", nd_errmsg());
    broden_free(ds);
    /* damage: a label number absent from label.csv */
    FILE *f = fopen(store, "r+b");
    unsigned char bad[2] = {0x2d, 0x01}; /* 301 */
    int ok = f && fseek(f, 64 + 2, SEEK_SET) == 0 && fwrite(bad, 1, 2, f) == 2;
    ok = f && fclose(f) == 0 && ok;
    CHECK(ok, "damage the store");
    CHECK(broden_open_store(&ds, dir, NULL, store) != 0 && strstr(nd_errmsg(), "301"), "damaged store refused: %s",
          nd_errmsg());
    CHECK(rename(moved, png) == 0, "restore the PNG");
}

/* Maps of every length 0..70 (runs across the 8-pixel groups and the
 * scalar tail) with runs of 1..40 pixels of 5 labels, one unknown label
 * (4) planted at a random place in some: counts, category bits and the
 * unknown number against a plain per-pixel loop. */
static void test_runs(void)
{
    test_group("label runs");
    unsigned char known[65536] = {0};
    known[0] = known[1] = known[2] = known[3] = known[65535] = 1;
    uint64_t catbit[65536] = {0};
    catbit[1] = 1, catbit[2] = 2, catbit[3] = 2, catbit[65535] = 4;
    const uint16_t vals[5] = {0, 1, 2, 3, 65535};
    uint16_t map[80];
    int worst = 0, wrong_bad = 0, maps = 0;
    unsigned s = 12345;
    for (int rep = 0; rep < 40; rep++)
        for (size_t n = 0; n <= 70; n++, maps++) {
            for (size_t p = 0; p < n;) {
                s = s * 1103515245u + 12345u;
                size_t len = 1 + (s >> 16) % (rep % 2 ? 40 : 3);
                uint16_t v = vals[(s >> 8) % 5];
                for (; len-- && p < n; p++)
                    map[p] = v;
            }
            size_t badat = n && rep % 3 == 0 ? (size_t)(s >> 4) % n : n;
            if (badat < n)
                map[badat] = 4;
            int64_t got[65536 / 1024 + 8] = {0}, want[65536 / 1024 + 8] = {0}, g0 = 0, w0 = 0;
            uint64_t gp = 0, wp = 0;
            static int64_t cnt[65536];
            memset(cnt, 0, sizeof cnt);
            long bad = nd_label_runs(map, n, cnt, catbit, known, &gp), wbad = -1;
            for (size_t p = 0; p < n && wbad < 0; p++) {
                if (!known[map[p]])
                    wbad = map[p];
                else
                    want[map[p] % 64]++, w0 += map[p] == 65535, wp |= catbit[map[p]];
            }
            for (int l = 0; l < 4; l++)
                got[l] = cnt[l];
            g0 = cnt[65535];
            wrong_bad += bad != wbad;
            if (wbad < 0) /* counts only when all are known (an unknown stops the count) */
                for (int l = 0; l < 4; l++)
                    worst += got[l] != want[l];
            if (wbad < 0)
                worst += (g0 != w0) + (gp != wp);
            /* without the table nothing is checked and everything counted */
            if (badat >= n) {
                memset(cnt, 0, sizeof cnt);
                gp = 0;
                worst += nd_label_runs(map, n, cnt, catbit, NULL, &gp) != -1 || cnt[1] != want[1] || gp != wp;
            }
        }
    CHECK(worst == 0, "%d maps: counts and category bits equal the per-pixel count (%d wrong)", maps, worst);
    CHECK(wrong_bad == 0, "%d maps: the first unknown label number found (%d wrong)", maps, wrong_bad);
}

int main(void)
{
    test_primary_and_png();
    test_store();
    test_runs();
    return test_summary();
}
