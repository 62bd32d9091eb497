/* test_import.c - `dissect import` of MSRC-v2 read back with the core
 * Broden reader: 591 images, 22 labels (horse dropped), per-label pixel
 * totals equal to a direct count on the source label maps, per-label image
 * counts equal to the dataset README's; determinism and errors on a small
 * subset. */
#include "core/broden.h"
#include "core/err.h"
#include "models/image.h"
#include "datasets/import.h"
#include "tests/testutil.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* absolute, so that symbolic links to it work from any folder */
static const char *msrc(const char *rel)
{
    static char buf[4][4200], root[4096];
    static int k;
    if (!root[0] && !realpath(test_shared_path("data/msrc-v2"), root))
        snprintf(root, sizeof root, "%s", test_shared_path("data/msrc-v2"));
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

/* 1 if the two folders hold the same files with the same bytes */
static int same_tree(const char *a, const char *b, const char *sub)
{
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s%s", a, sub);
    DIR *d = opendir(pa);
    if (!d)
        return 0;
    struct dirent *e;
    int same = 1, files = 0;
    while (same && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(pa, sizeof pa, "%s%s/%s", a, sub, e->d_name);
        snprintf(pb, sizeof pb, "%s%s/%s", b, sub, e->d_name);
        struct stat st;
        stat(pa, &st);
        if (S_ISDIR(st.st_mode)) {
            char s2[300];
            snprintf(s2, sizeof s2, "%s/%s", sub, e->d_name);
            same = same_tree(a, b, s2);
            continue;
        }
        size_t na, nb;
        unsigned char *ba = slurp(pa, &na), *bb = slurp(pb, &nb);
        same = ba && bb && na == nb && !memcmp(ba, bb, na);
        if (!same)
            printf("  differs: %s\n", pa);
        free(ba);
        free(bb);
        files++;
    }
    closedir(d);
    return same && files > 0;
}

/* Progress calls seen by an import: per stage, the last done/total and
 * whether done ever went backwards. */
typedef struct {
    size_t maps_done, maps_total, imgs_done, imgs_total, calls;
    int order_ok, stage_ok;
} seen_progress;

static void count_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    seen_progress *p = ctx;
    p->calls++;
    if (!strcmp(stage, "label maps")) {
        p->order_ok &= done == p->maps_done + 1 && p->imgs_done == 0;
        p->maps_done = done, p->maps_total = total;
    } else if (!strcmp(stage, "images")) {
        p->order_ok &= done == p->imgs_done + 1 && p->maps_done == p->maps_total;
        p->imgs_done = done, p->imgs_total = total;
    } else {
        p->stage_ok = 0;
    }
}

static void test_full(void)
{
    test_group("import MSRC-v2, read back with broden_open");
    char out[4200];
    snprintf(out, sizeof out, "%s/msrc", test_tmpdir());
    imp_opts o = imp_defaults();
    o.images_dir = msrc("images");
    o.labels_dir = msrc("labels");
    o.classes_csv = msrc("classes.csv");
    o.out_dir = out;
    imp_stats st;
    if (imp_run(&o, &st)) {
        CHECK(0, "import: %s", nd_errmsg());
        return;
    }
    CHECK(st.images == 591 && st.kept == 22 && st.classes == 23,
          "591 images, 22 of 23 classes kept: %zu, %d of %d", st.images, st.kept, st.classes);
    broden *ds;
    if (broden_open(&ds, out, NULL)) {
        CHECK(0, "broden_open: %s", nd_errmsg());
        return;
    }
    CHECK(broden_num_images(ds) == 591, "591 rows, got %zu", broden_num_images(ds));
    CHECK(broden_num_labels(ds) == 23, "labels 1..22 (23 slots), got %zu", broden_num_labels(ds));
    CHECK(broden_num_categories(ds) == 1 && !strcmp(broden_category_name(ds, 0), "object"),
          "one category 'object'");
    /* classes.csv order minus horse (id 5): ids 1-4 keep their number,
     * ids 6-23 move down by one */
    CHECK(!strcmp(broden_label_name(ds, 4), "cow") && !strcmp(broden_label_name(ds, 5), "sheep") &&
              !strcmp(broden_label_name(ds, 22), "boat"),
          "numbering: 4 cow, 5 sheep, 22 boat; got %s, %s, %s", broden_label_name(ds, 4),
          broden_label_name(ds, 5), broden_label_name(ds, 22));

    /* direct count: source maps, nearest rule floor((x + 0.5) * sw / 113)
     * written here in floating point, independent of img_resize_labels */
    long got_px[24] = {0}, want_px[24] = {0}, got_img[24] = {0};
    char **names = NULL;
    size_t nn = 0;
    DIR *d = opendir(msrc("labels"));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".png")) {
            names = realloc(names, sizeof *names * (nn + 1));
            names[nn++] = strdup(e->d_name);
        }
    if (d)
        closedir(d);
    qsort(names, nn, sizeof *names, name_cmp);
    CHECK(nn == 591, "591 source label maps, got %zu", nn);
    int rows_ok = 1;
    for (size_t i = 0; i < nn && i < broden_num_images(ds); i++) {
        char rel[300];
        snprintf(rel, sizeof rel, "labels/%s", names[i]);
        uint16_t *src;
        int w, h;
        if (img_load_labels(&src, &w, &h, msrc(rel))) {
            CHECK(0, "%s", nd_errmsg());
            break;
        }
        for (int y = 0; y < 113; y++)
            for (int x = 0; x < 113; x++) {
                int sx = (int)((x + 0.5) * w / 113.0), sy = (int)((y + 0.5) * h / 113.0);
                int id = src[sy * w + sx];
                int num = id == 5 ? 0 : id > 5 ? id - 1 : id;
                want_px[num]++;
            }
        free(src);
        /* the row's image name matches the sorted source order */
        char stem[300];
        snprintf(stem, sizeof stem, "%s", names[i]);
        *strrchr(stem, '.') = 0;
        rows_ok &= strncmp(broden_image_name(ds, i), stem, strlen(stem)) == 0;
        const broden_layer *ly;
        size_t nl;
        broden_image_layers(ds, i, &ly, &nl);
        int ih, iw, sh, sw;
        broden_image_size(ds, i, &ih, &iw, &sh, &sw);
        rows_ok &= ih == 227 && iw == 227 && sh == 113 && sw == 113;
        int seen[24] = {0};
        for (size_t l = 0; l < nl; l++)
            for (int p = 0; p < sh * sw; p++) {
                int v = ly[l].map[p];
                if (v >= 0 && v < 24) {
                    got_px[v] += v != 0;
                    seen[v] = 1;
                }
            }
        for (int v = 1; v < 24; v++)
            got_img[v] += seen[v];
    }
    CHECK(rows_ok, "rows in sorted file-name order, 227x227 images, 113x113 label maps");
    int px_ok = 1;
    long tot = 0;
    for (int v = 1; v <= 22; v++) {
        px_ok &= got_px[v] == want_px[v];
        tot += got_px[v];
    }
    CHECK(px_ok && got_px[23] == 0, "per-label pixel totals equal the direct count");
    printf("  %ld labelled pixels of %d (%.1f%% unlabelled); building %ld/%ld, boat %ld/%ld\n",
           tot, 591 * 113 * 113, 100.0 * (591 * 113 * 113 - tot) / (591 * 113 * 113),
           got_px[1], want_px[1], got_px[22], want_px[22]);
    /* images per class from the dataset README, horse removed */
    static const long readme[23] = {0, 150, 242, 144, 45, 35, 160, 26, 30, 79, 60, 46, 32,
                                    35, 34, 38, 35, 32, 161, 24, 30, 67, 33};
    int img_ok = 1;
    for (int v = 1; v <= 22; v++)
        if (got_img[v] != readme[v]) {
            img_ok = 0;
            printf("  label %d: %ld images, README %ld\n", v, got_img[v], readme[v]);
        }
    CHECK(img_ok, "images per label equal the README's counts");
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    broden_free(ds);
}

/* a 12-image subset (symbolic links), for determinism and error cases */
static void test_subset(void)
{
    test_group("determinism and errors on a subset");
    const char *tmp = test_tmpdir();
    char im[4200], lb[4200], cl[4200], a[4200], b[4200];
    snprintf(im, sizeof im, "%s/sub_images", tmp);
    snprintf(lb, sizeof lb, "%s/sub_labels", tmp);
    snprintf(cl, sizeof cl, "%s/classes.csv", tmp);
    mkdir(im, 0777);
    mkdir(lb, 0777);
    const char *pick[] = {"1_1_s", "1_2_s", "2_1_s", "3_1_s", "4_1_s", "5_1_s",
                          "6_1_s", "7_1_s", "8_1_s", "9_1_s", "10_1_s", "11_1_s"};
    for (int i = 0; i < 12; i++) {
        char s[300], dst[4400];
        snprintf(s, sizeof s, "images/%s.jpg", pick[i]);
        snprintf(dst, sizeof dst, "%s/%s.jpg", im, pick[i]);
        CHECK(symlink(msrc(s), dst) == 0, "link %s", dst);
        snprintf(s, sizeof s, "labels/%s.png", pick[i]);
        snprintf(dst, sizeof dst, "%s/%s.png", lb, pick[i]);
        CHECK(symlink(msrc(s), dst) == 0, "link %s", dst);
    }
    imp_opts o = imp_defaults();
    o.images_dir = im;
    o.labels_dir = lb;
    o.classes_csv = msrc("classes.csv");
    o.min_images = 2;
    o.size = 64; /* small and even: label maps 32x32 */
    imp_stats st;
    snprintf(a, sizeof a, "%s/sub_a", tmp);
    snprintf(b, sizeof b, "%s/sub_b", tmp);
    o.out_dir = a;
    seen_progress sp = {.order_ok = 1, .stage_ok = 1};
    o.progress = (nd_progress){count_progress, &sp};
    CHECK(imp_run(&o, &st) == 0, "import a: %s", nd_errmsg());
    CHECK(sp.stage_ok && sp.order_ok && sp.maps_done == st.images && sp.maps_total == st.images &&
              sp.imgs_done == st.images && sp.imgs_total == st.images,
          "progress: every label map then every image, in order (%zu calls for %zu images)",
          sp.calls, st.images);
    o.progress = (nd_progress){0};
    o.out_dir = b;
    CHECK(imp_run(&o, &st) == 0, "import b: %s", nd_errmsg());
    CHECK(same_tree(a, b, ""), "two imports are byte-identical");
    printf("  subset: %zu images, %d classes kept with --min-images 2\n", st.images, st.kept);
    CHECK(imp_run(&o, &st) == -1 && strstr(nd_errmsg(), "already exists"),
          "existing output refused: %s", nd_errmsg());

    /* a class id missing from classes.csv */
    FILE *f = fopen(cl, "w");
    fprintf(f, "id,name\n1,building\n2,grass\n");
    fclose(f);
    o.classes_csv = cl;
    snprintf(a, sizeof a, "%s/sub_c", tmp);
    o.out_dir = a;
    CHECK(imp_run(&o, &st) == -1 && strstr(nd_errmsg(), "not in") && strstr(nd_errmsg(), ".png"),
          "unknown class id names the label map: %s", nd_errmsg());
    printf("  %s\n", nd_errmsg());
    struct stat sb;
    char tmpout[4300];
    snprintf(tmpout, sizeof tmpout, "%s.tmp.%ld", a, (long)getpid());
    CHECK(stat(a, &sb) != 0 && stat(tmpout, &sb) != 0, "failed import leaves nothing behind");
    f = fopen(cl, "w");
    fprintf(f, "id;name\n");
    fclose(f);
    CHECK(imp_run(&o, &st) == -1 && strstr(nd_errmsg(), cl), "bad header: %s", nd_errmsg());

    /* an image without its label map */
    char dst[4400];
    snprintf(dst, sizeof dst, "%s/zz_extra.jpg", im);
    CHECK(symlink(msrc("images/1_1_s.jpg"), dst) == 0, "link");
    o.classes_csv = msrc("classes.csv");
    CHECK(imp_run(&o, &st) == -1 && strstr(nd_errmsg(), "zz_extra.png"),
          "missing label map named: %s", nd_errmsg());
}

int main(void)
{
    test_subset();
    test_full();
    return test_summary();
}
