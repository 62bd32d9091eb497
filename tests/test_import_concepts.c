/* test_import_concepts.c - colour and texture categories of `dissect import`
 * read back with the core Broden reader:
 *  - every DTD-10 photograph has exactly one texture label, its folder's;
 *  - the colour label totals of an imported photograph equal a direct count
 *    (nearest source pixel under each label pixel's centre, named by the
 *    README's byte formula on the raw table file), and label.csv's colour
 *    frequency and coverage equal a direct full-resolution count;
 *  - a hand-computed IoU of a texture label on a two-image dataset. */
#include "core/broden.h"
#include "core/csv.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "datasets/colornames.h"
#include "datasets/import.h"
#include "models/image.h"
#include "tests/testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *shared_abs(const char *rel)
{
    static char buf[4][4200], root[4096];
    static int k;
    if (!root[0] && !realpath(test_shared(), root))
        snprintf(root, sizeof root, "%s", test_shared());
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static int label_number(const broden *ds, const char *name)
{
    for (size_t l = 1; l < broden_num_labels(ds); l++)
        if (!strcmp(broden_label_name(ds, (int)l), name))
            return (int)l;
    return -1;
}

static int category_index(const broden *ds, const char *name)
{
    for (size_t c = 0; c < broden_num_categories(ds); c++)
        if (!strcmp(broden_category_name(ds, c), name))
            return (int)c;
    return -1;
}

static void test_dtd(void)
{
    test_group("DTD-10: every photograph exactly one texture label, its folder's");
    char out[4200];
    snprintf(out, sizeof out, "%s/dtd", test_tmpdir());
    imp_opts o = imp_defaults();
    o.textures[o.ntextures++] = shared_abs("data/dtd-10/images");
    o.size = 32; /* small: this checks labels, not pixels */
    o.out_dir = out;
    imp_stats st;
    broden *ds;
    if (imp_run(&o, &st) || broden_open(&ds, out, NULL)) {
        CHECK(0, "import / read back: %s", nd_errmsg());
        return;
    }
    CHECK(st.images == 1200 && st.kept_texture == 10 && broden_num_categories(ds) == 1,
          "1200 images, 10 texture labels: %zu, %d", st.images, st.kept_texture);
    int tex = category_index(ds, "texture"), bad = 0;
    size_t per[64] = {0};
    for (size_t i = 0; i < broden_num_images(ds); i++) {
        const broden_imglabel *lab;
        size_t n;
        broden_image_labels(ds, i, &lab, &n);
        const char *nm = n == 1 ? broden_label_name(ds, lab[0].label) : "";
        /* DTD names are <class>_NNNN.jpg */
        size_t cl = strlen(nm);
        if (n != 1 || lab[0].category != tex || strncmp(broden_image_name(ds, i), nm, cl) ||
            broden_image_name(ds, i)[cl] != '_')
            bad++;
        else if (lab[0].label < 64)
            per[lab[0].label]++;
    }
    int all120 = 1;
    for (int l = 1; l <= 10; l++)
        all120 &= per[l] == 120;
    CHECK(bad == 0 && all120, "%d images with a wrong or missing texture label; 120 per class: %s",
          bad, all120 ? "yes" : "no");
    CHECK(!strcmp(broden_label_name(ds, 1), "banded") && !strcmp(broden_label_name(ds, 10), "crystalline"),
          "numbered in class-name order");
    broden_free(ds);
}

/* direct counts of one photograph: full-resolution names, and names of the
 * source pixel under each label pixel's centre (README byte formula) */
static void direct_count(const unsigned char *tab, const char *photo, int ls, uint64_t full[11],
                         uint64_t *npix, long shrunk[11])
{
    img_u8 im;
    if (img_load_rgb(&im, photo))
        return;
    size_t data = 10 + (tab[8] | (size_t)tab[9] << 8);
#define NAME(q) tab[data + (q)[0] / 8 + 32 * ((q)[1] / 8) + 1024 * ((q)[2] / 8)]
    for (size_t p = 0; p < (size_t)im.w * im.h; p++)
        full[NAME(im.px + 3 * p)]++;
    *npix += (uint64_t)im.w * im.h;
    for (int y = 0; y < ls; y++)
        for (int x = 0; x < ls; x++) {
            int sx = (int)((x + 0.5) * im.w / ls), sy = (int)((y + 0.5) * im.h / ls);
            shrunk[NAME(im.px + 3 * ((size_t)sy * im.w + sx))]++;
        }
#undef NAME
    img_free(&im);
}

static void test_colours(void)
{
    test_group("colour labels of imported photographs equal a direct count");
    char out[4200], im[4200], lb[4200], tx[4300];
    const char *tmp = test_tmpdir();
    snprintf(im, sizeof im, "%s/c_images", tmp);
    snprintf(lb, sizeof lb, "%s/c_labels", tmp);
    snprintf(tx, sizeof tx, "%s/c_tex/banded", tmp);
    mkdir(im, 0777), mkdir(lb, 0777);
    snprintf(out, sizeof out, "%s/c_tex", tmp);
    mkdir(out, 0777), mkdir(tx, 0777);
    const char *objs[2] = {"1_10_s", "7_3_s"};
    char src[4][4300];
    for (int i = 0; i < 2; i++) {
        char s[300], d[4400];
        snprintf(s, sizeof s, "data/msrc-v2/images/%s.jpg", objs[i]);
        snprintf(src[i], sizeof src[i], "%s", shared_abs(s));
        snprintf(d, sizeof d, "%s/%s.jpg", im, objs[i]);
        CHECK(symlink(src[i], d) == 0, "link %s", d);
        snprintf(s, sizeof s, "data/msrc-v2/labels/%s.png", objs[i]);
        snprintf(d, sizeof d, "%s/%s.png", lb, objs[i]);
        CHECK(symlink(shared_abs(s), d) == 0, "link %s", d);
    }
    snprintf(src[2], sizeof src[2], "%s", shared_abs("data/dtd-10/images/banded/banded_0002.jpg"));
    char d[4400];
    snprintf(d, sizeof d, "%s/banded_0002.jpg", tx);
    CHECK(symlink(src[2], d) == 0, "link %s", d);
    snprintf(out, sizeof out, "%s/colours", tmp);
    imp_opts o = imp_defaults();
    o.images_dir = im, o.labels_dir = lb, o.classes_csv = shared_abs("data/msrc-v2/classes.csv");
    char texroot[4300];
    snprintf(texroot, sizeof texroot, "%s/c_tex", tmp);
    o.textures[o.ntextures++] = texroot;
    o.colors = shared_abs("data/colornames/w2color.npy");
    o.filter.min_images = 1;
    o.filter.min_coverage = 0;
    o.out_dir = out;
    imp_stats st;
    broden *ds;
    if (imp_run(&o, &st) || broden_open(&ds, out, NULL)) {
        CHECK(0, "import / read back: %s", nd_errmsg());
        return;
    }
    CHECK(broden_num_categories(ds) == 3 && category_index(ds, "object") == 0 &&
              category_index(ds, "color") == 1 && category_index(ds, "texture") == 2,
          "categories object, color, texture");
    size_t tlen;
    unsigned char *tab = test_slurp(o.colors, &tlen);
    uint64_t full[11] = {0}, npix = 0;
    double cov[11] = {0};
    long imgs[11] = {0};
    int bad_img = 0;
    for (size_t i = 0; i < 3; i++) {
        uint64_t f1[11] = {0}, n1 = 0;
        long want[11] = {0}, got[11] = {0};
        direct_count(tab, src[i], 113, f1, &n1, want);
        for (int k = 0; k < 11; k++) {
            full[k] += f1[k];
            cov[k] += (double)f1[k] / (double)n1;
            imgs[k] += f1[k] > 0;
        }
        npix += n1;
        const broden_layer *ly;
        size_t nl;
        broden_image_layers(ds, i, &ly, &nl);
        for (size_t l = 0; l < nl; l++)
            if (ly[l].category == 1)
                for (int p = 0; p < 113 * 113; p++)
                    for (int k = 0; k < 11; k++) {
                        char nm[32];
                        snprintf(nm, sizeof nm, "%s-c", cn_names[k]);
                        got[k] += ly[l].map[p] == label_number(ds, nm) && ly[l].map[p] > 0;
                    }
        int same = !memcmp(got, want, sizeof got);
        bad_img += !same;
        printf("  %s: colour pixels at 113x113 %s the direct count (red %ld/%ld, grey %ld/%ld, "
               "green %ld/%ld)\n", broden_image_name(ds, i), same ? "equal" : "DIFFER from", got[8],
               want[8], got[3], want[3], got[4], want[4]);
    }
    CHECK(bad_img == 0, "%d of 3 photographs' colour totals differ from the direct count", bad_img);
    /* label.csv: frequency and coverage at full resolution */
    char lp[4300];
    snprintf(lp, sizeof lp, "%s/label.csv", out);
    csv_file c;
    int rows = 0, bad = 0;
    double worst = 0;
    if (csv_open(&c, lp) == 0) {
        int cn = csv_col(&c, "name"), cf = csv_col(&c, "frequency"), cc = csv_col(&c, "coverage");
        while (csv_next(&c) > 0)
            for (int k = 0; k < 11; k++) {
                char nm[32];
                snprintf(nm, sizeof nm, "%s-c", cn_names[k]);
                if (strcmp(c.f[cn], nm))
                    continue;
                rows++;
                double e = fabs(atof(c.f[cc]) - cov[k]);
                worst = e > worst ? e : worst;
                /* written with %.6f: 5e-7 of rounding, plus slack for the sum */
                bad += atol(c.f[cf]) != imgs[k] || e > 6e-7;
            }
        csv_close(&c);
    }
    int present = 0;
    for (int k = 0; k < 11; k++)
        present += imgs[k] > 0;
    CHECK(rows == present && bad == 0, "label.csv colour rows %d (present %d), %d wrong; worst coverage "
          "error %.2g", rows, present, bad, worst);
    free(tab);
    broden_free(ds);
}

/* Two texture photographs (banded, bubbly) imported at 8x8, label maps 4x4;
 * one unit whose 4x4 map is 1 at 3 pixels of image 0 and 5 of image 1,
 * threshold 0.5, so the mask is exactly those pixels (4x4 -> 4x4 is the
 * identity under both upsampling rules with the field below).  By hand:
 * G = 16 per texture label (a whole-image mask), A = 3 + 5 = 8 (both images
 * have texture ground truth), I(banded) = 3, I(bubbly) = 5:
 * IoU(banded) = 3 / (8 + 16 - 3) = 1/7, IoU(bubbly) = 5 / (8 + 16 - 5) = 5/19. */
static void test_texture_iou(void)
{
    test_group("hand-computed IoU of texture labels on a two-image dataset");
    const char *tmp = test_tmpdir();
    char root[4200], p[4400], out[4200];
    snprintf(root, sizeof root, "%s/two", tmp);
    mkdir(root, 0777);
    const char *cls[2] = {"banded", "bubbly"};
    const char *file[2] = {"banded/banded_0002.jpg", "bubbly/bubbly_0038.jpg"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", root, cls[k]);
        mkdir(p, 0777);
        char s[300];
        snprintf(s, sizeof s, "data/dtd-10/images/%s", file[k]);
        snprintf(p, sizeof p, "%s/%s", root, file[k]);
        if (access(shared_abs(s), R_OK)) {
            CHECK(0, "missing %s", s);
            return;
        }
        CHECK(symlink(shared_abs(s), p) == 0, "link %s", p);
    }
    snprintf(out, sizeof out, "%s/two_ds", tmp);
    imp_opts o = imp_defaults();
    o.textures[o.ntextures++] = root;
    o.size = 8;
    o.filter.min_images = 1;
    o.out_dir = out;
    imp_stats st;
    broden *ds;
    if (imp_run(&o, &st) || broden_open(&ds, out, NULL)) {
        CHECK(0, "import / read back: %s", nd_errmsg());
        return;
    }
    float x[2 * 16] = {0};
    for (int q = 0; q < 3; q++)
        x[q * 5] = 1.0f; /* image 0: pixels 0, 5, 10 */
    for (int q = 0; q < 5; q++)
        x[16 + q * 3] = 1.0f; /* image 1: pixels 0, 3, 6, 9, 12 */
    size_t shape[4] = {2, 1, 4, 4};
    snprintf(p, sizeof p, "%s/two.npy", tmp);
    npy_t a;
    nd_features f;
    if (npy_save(p, NPY_F32, 4, shape, x) || npy_open(&a, p) || nd_features_from_npy(&f, &a)) {
        CHECK(0, "features: %s", nd_errmsg());
        return;
    }
    double thr = 0.5, want[3] = {0, 1.0 / 7, 5.0 / 19};
    for (int prof = 0; prof < 2; prof++) {
        nd_options opt;
        nd_options_default(&opt);
        opt.profile = prof ? ND_PROFILE_LITE : ND_PROFILE_NETDISSECT;
        opt.thresholds = &thr;
        opt.field_offset = 0, opt.field_size = 2, opt.field_stride = 2, opt.have_field = 1;
        nd_result r;
        if (nd_dissect(ds, &f, &opt, &r)) {
            CHECK(0, "dissect: %s", nd_errmsg());
            continue;
        }
        double got[3] = {0, r.iou[1], r.iou[2]};
        /* eps (1e-20 or 1e-10) in the denominator: relative effect <= 1e-11 */
        check_close(prof ? "NDL IoU banded, bubbly" : "ND IoU banded, bubbly", got + 1, want + 1, 2,
                    0, 1e-9);
        CHECK(r.tally.G[1] == 16 && r.tally.G[2] == 16 && r.tally.A[0] == 8 && r.tally.I[1] == 3 &&
                  r.tally.I[2] == 5, "G %lld %lld, A %lld, I %lld %lld", (long long)r.tally.G[1],
              (long long)r.tally.G[2], (long long)r.tally.A[0], (long long)r.tally.I[1],
              (long long)r.tally.I[2]);
        nd_result_free(&r);
    }
    npy_close(&a);
    broden_free(ds);
}

int main(void)
{
    test_colours();
    test_texture_iou();
    test_dtd();
    return test_summary();
}
