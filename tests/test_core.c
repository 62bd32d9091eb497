/* test_core.c - the dissector's pieces on cases small enough to compute by
 * hand: quantiles, both upsampling rules, the tally and IoU of a 2-image
 * dataset with pixel and image-level labels, the primary-category tie rule,
 * and label PNG decoding. */
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "core/quantile.h"
#include "core/upsample.h"
#include "tests/testutil.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* labels[sh*sw] -> RGB PNG with R = l % 256, G = l / 256 */
static void write_label_png(const char *path, const int *labels, int sh, int sw)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)sw;
    im.height = (png_uint_32)sh;
    im.format = PNG_FORMAT_RGB;
    unsigned char *buf = calloc((size_t)sh * (size_t)sw * 3, 1);
    for (int i = 0; i < sh * sw; i++)
        buf[3 * i] = (unsigned char)(labels[i] % 256), buf[3 * i + 1] = (unsigned char)(labels[i] / 256);
    png_image_write_to_file(&im, path, 0, buf, 0, NULL);
    free(buf);
}

static void test_quantile(void)
{
    test_group("quantile");
    float a[] = {3, 1, 2, 5, 4};
    CHECK(qt_select(a, 5, 0.5) == 3.0, "median of 5");
    float b[] = {1, 2, 3, 4};
    CHECK(qt_select(b, 4, 0.5) == 2.5, "median of 4 interpolates");
    float c[] = {0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(qt_select(c, 8, 0.995) == 0.0, "all-zero unit has threshold 0");
    float d[] = {7};
    CHECK(qt_select(d, 1, 0.995) == 7.0, "single value");
    float e[] = {0, 0, 0, 1, 1, 1, 2, 2};
    /* pos = 0.995 * 7 = 6.965: between v[6] = 2 and v[7] = 2 */
    CHECK(qt_select(e, 8, 0.995) == 2.0, "ties at the top");
    /* n = 100 < 1/0.005: pos = 98.505, between the two largest */
    float f[100], g[1000];
    for (int i = 0; i < 100; i++)
        f[i] = (float)((i * 37) % 100);
    double want = 98 + 0.505 * (99 - 98);
    double got = qt_select(f, 100, 0.995);
    CHECK(fabs(got - want) < 1e-12, "n=100 below 1/q: got %.15g want %.15g", got, want);
    /* n = 1000 > 1/q: pos = 994.005 */
    for (int i = 0; i < 1000; i++)
        g[i] = (float)((i * 7919) % 1000);
    want = 994 + 0.005 * 1;
    got = qt_select(g, 1000, 0.995);
    CHECK(fabs(got - want) < 1e-9, "n=1000 above 1/q: got %.15g want %.15g", got, want);
    /* fast selection against the sorting reference on random data with many ties */
    unsigned s = 12345;
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(trial * 97 % 5000);
        float *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            v[i] = (s >> 16) % 4 == 0 ? 0.0f : (float)((s >> 8) % 1000) / 7.0f;
        }
        memcpy(w, v, n * sizeof *v);
        double p = (trial % 10) / 10.0 + 0.05;
        if (qt_sorted(w, n, p) != qt_select(v, n, p) || qt_sorted(w, n, 0.995) != qt_select(w, n, 0.995))
            bad++;
        free(v), free(w);
    }
    CHECK(bad == 0, "quickselect equals full sort on 200 random arrays (%d differ)", bad);

    /* two-pass streaming quantiles (3 units, negative values, ties, two
     * parts merged as two threads would) against the sorting reference */
    bad = 0;
    for (int trial = 0; trial < 20; trial++) {
        size_t K = 3, n = 7 + (size_t)trial * 13, hw = 5;
        float *x = malloc(n * K * hw * sizeof *x), *col = malloc(n * hw * sizeof *col);
        for (size_t i = 0; i < n * K * hw; i++) {
            s = s * 1103515245u + 12345u;
            x[i] = (s >> 16) % 5 == 0 ? 0.0f : ((float)((s >> 6) % 20001) - 10000.0f) / 333.0f;
        }
        double lev = trial % 2 ? 0.995 : 0.3, got[3];
        qt_stream *q = qt_stream_new(K, n * hw, lev);
        for (int pass = 1; pass <= 2; pass++) {
            qt_part *a = qt_part_new(q, pass), *b = qt_part_new(q, pass);
            qt_part_add(q, a, pass, x, n / 2, hw);
            qt_part_add(q, b, pass, x + n / 2 * K * hw, n - n / 2, hw);
            qt_part_merge(q, a, pass);
            qt_part_merge(q, b, pass);
            qt_stream_end_pass(q, pass);
        }
        qt_stream_result(q, got);
        qt_stream_free(q);
        for (size_t u = 0; u < K; u++) {
            for (size_t i = 0; i < n; i++)
                memcpy(col + i * hw, x + (i * K + u) * hw, hw * sizeof *col);
            if (got[u] != qt_sorted(col, n * hw, lev))
                bad++;
        }
        free(x), free(col);
    }
    CHECK(bad == 0, "streaming two-pass quantiles equal the sorted reference (%d of 60 differ)", bad);
}

static void test_upsample(void)
{
    test_group("upsampling");
    float m[4] = {0, 4, 8, 12}, out[16], tmp[64];
    up_plan p;
    /* NDL 2x2 -> 4x4: weights (1, 0), (.75, .25), (.25, .75), (0, 1) per axis */
    up_plan_lite(&p, 2, 2, 4, 4);
    up_apply(&p, m, out, tmp);
    float want_l[16] = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
    CHECK(!memcmp(out, want_l, sizeof out), "NDL 2x2 -> 4x4 by hand");
    up_plan_free(&p);
    /* ND: iw 8, sw 4 -> r = 2; size 4, offset 0 -> first node (4/2+0)/2 = 1;
     * stride 4 -> step 2: nodes at 1 and 3; clamped outside */
    up_plan_nd(&p, 2, 2, 4, 4, 8, 0, 4, 4);
    up_apply(&p, m, out, tmp);
    float want_n[16] = {0, 0, 2, 4, 0, 0, 2, 4, 4, 4, 6, 8, 8, 8, 10, 12};
    CHECK(!memcmp(out, want_n, sizeof out), "ND 2x2 -> 4x4 by hand");
    up_plan_free(&p);
    /* 3x3 maps: NDL 3x3 -> 3x3 is the identity; ND with nodes 0, 2, 4 on 5 */
    float m3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, o3[25];
    up_plan_lite(&p, 3, 3, 3, 3);
    up_apply(&p, m3, o3, tmp);
    CHECK(!memcmp(o3, m3, sizeof m3), "NDL 3x3 -> 3x3 identity");
    up_plan_free(&p);
    up_plan_nd(&p, 3, 3, 5, 5, 10, -1, 2, 4); /* r 2, first (1-1)/2 = 0, step 2 */
    up_apply(&p, m3, o3, tmp);
    float want3[25] = {1, 1.5, 2, 2.5, 3, 2.5, 3, 3.5, 4, 4.5, 4, 4.5, 5, 5.5, 6,
                       5.5, 6, 6.5, 7, 7.5, 7, 7.5, 8, 8.5, 9};
    CHECK(!memcmp(o3, want3, sizeof want3), "ND 3x3 -> 5x5 nodes and midpoints");
    int idx[25];
    float tmp2[64];
    CHECK(up_mask_dense(&p, m3, 7.5f, idx, o3, tmp2) == 3 && up_mask(&p, m3, 7.5f, idx) == 3, "mask is strict > (7.5 excluded: 8, 8.5, 9)");
    up_plan_free(&p);

    /* the sparse mask (only around nodes above threshold) against the dense
     * one, on random maps with few and many hot nodes, both rules */
    unsigned s = 777;
    int bad = 0, total = 0;
    for (int rule = 0; rule < 2; rule++) {
        if (rule)
            up_plan_nd(&p, 13, 13, 113, 113, 227, -64, 163, 16);
        else
            up_plan_lite(&p, 13, 13, 113, 113);
        float map[169], outd[113 * 113], tmpd[13 * 113];
        int i1[113 * 113], i2[113 * 113];
        for (int trial = 0; trial < 300; trial++) {
            for (int k = 0; k < 169; k++) {
                s = s * 1103515245u + 12345u;
                map[k] = (s >> 9) % 3 ? 0.0f : (float)((s >> 12) % 10000) / 1000.0f;
            }
            float thr = (float)(trial % 100) / 10.0f;
            int n1 = up_mask_dense(&p, map, thr, i1, outd, tmpd), n2 = up_mask(&p, map, thr, i2);
            total += n1;
            if (n1 != n2 || memcmp(i1, i2, sizeof(int) * (size_t)n1))
                bad++;
        }
        up_plan_free(&p);
    }
    CHECK(bad == 0, "sparse mask equals dense mask on 600 random maps (%d differ, %d mask pixels)", bad, total);
}

/* Two images, label maps 4x4 (images 8x8), categories object (pixel) and
 * scene (image-level).  See the comments for the hand counts. */
static const char *make_dataset(int dup_scene)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/hand%d", test_tmpdir(), dup_scene);
    char img[4300];
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(dir, 0777);
    mkdir(img, 0777);
    write_text(dir, "category.csv", "name,first,last,count,frequency\nobject,1,2,2,2\nscene,3,3,1,1\n");
    write_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,cat,object(1),1,0.5,\n"
                                 "2,dog,object(1),1,0.5,\n3,beach-s,scene(1),1,1.0,\n");
    write_text(dir, "c_object.csv", "code,number,name,frequency,coverage\n1,1,cat,1,0.5\n2,2,dog,1,0.5\n");
    write_text(dir, "c_scene.csv", "code,number,name,frequency,coverage\n1,3,beach-s,1,1.0\n");
    write_text(dir, "index.csv", dup_scene ? "image,split,ih,iw,sh,sw,object,scene\n"
                                             "a.jpg,train,8,8,4,4,a_obj.png,3;3\n"
                                             "b.jpg,train,8,8,4,4,b_obj.png,\n"
                                           : "image,split,ih,iw,sh,sw,object,scene\n"
                                             "a.jpg,train,8,8,4,4,a_obj.png,3\n"
                                             "b.jpg,train,8,8,4,4,b_obj.png,\n");
    /* image a: left half cat (1); image b: left half dog (2); right halves 0 */
    int la[16], lb[16];
    for (int i = 0; i < 16; i++)
        la[i] = (i % 4) < 2 ? 1 : 0, lb[i] = (i % 4) < 2 ? 2 : 0;
    char p[4400];
    snprintf(p, sizeof p, "%s/a_obj.png", img);
    write_label_png(p, la, 4, 4);
    snprintf(p, sizeof p, "%s/b_obj.png", img);
    write_label_png(p, lb, 4, 4);
    return dir;
}

static void test_hand_dataset(void)
{
    test_group("tally and IoU on a 2-image dataset");
    broden *ds;
    const char *dir = make_dataset(0);
    if (broden_open(&ds, dir, NULL)) {
        CHECK(0, "open: %s", nd_errmsg());
        return;
    }
    /* unit 0: image a all 1 (whole mask, 16 px), image b all 0.
     * unit 1: image a [[1,0],[0,0]] -> top-left 2x2 (4 px, all cat);
     *         image b [[0,0],[0,1]] -> bottom-right, on unlabelled pixels
     *         (NDL: 4 px; ND: 1 px, the corner). */
    float x[2 * 2 * 4] = {1, 1, 1, 1, 1, 0, 0, 0, /* image a: unit 0, unit 1 */
                          0, 0, 0, 0, 0, 0, 0, 1}; /* image b */
    char fp[4300];
    snprintf(fp, sizeof fp, "%s/f.npy", dir);
    size_t shape[4] = {2, 2, 2, 2};
    npy_save(fp, NPY_F32, 4, shape, x);
    npy_t a;
    nd_features f;
    npy_open(&a, fp);
    nd_features_from_npy(&f, &a);
    double thr[2] = {0.5, 0.5};
    nd_options o;
    nd_options_default(&o);
    o.thresholds = thr;
    o.profile = ND_PROFILE_LITE;
    nd_result r;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0, "dissect lite: %s", nd_errmsg());
    size_t L = r.L;
    CHECK(r.tally.G[1] == 8 && r.tally.G[2] == 8 && r.tally.G[3] == 16, "G: cat 8, dog 8, beach 16");
    CHECK(r.tally.I[0 * L + 1] == 8 && r.tally.I[0 * L + 3] == 16 && r.tally.I[1 * L + 1] == 4 &&
              r.tally.I[1 * L + 3] == 4 && r.tally.I[1 * L + 2] == 0,
          "I by hand");
    CHECK(r.tally.A[0] == 16 && r.tally.A[1] == 16, "A unit 0: object 16, scene 16");
    CHECK(r.tally.A[2] == 4 && r.tally.A[3] == 4, "A unit 1 (NDL): object 4 (b's mask hits no label), scene 4");
    /* eps = 1e-10 in the denominator moves these by a few 1e-12 */
    CHECK(fabs(r.iou[0 * L + 1] - 0.5) < 1e-10 && fabs(r.iou[0 * L + 3] - 1.0) < 1e-10, "IoU unit 0: cat 1/2, beach 1");
    CHECK(fabs(r.iou[1 * L + 1] - 0.5) < 1e-10 && fabs(r.iou[1 * L + 3] - 0.25) < 1e-10,
          "IoU unit 1 (NDL): cat 4/8, beach 4/16");
    CHECK(r.unit_label[0] == 3 && r.unit_cat[0] == 1 && r.unit_label[1] == 1, "labels: unit 0 beach, unit 1 cat");
    /* per-category: object {cat} (both units), scene {beach} (both) = 2;
     * top-label: unit 0 beach, unit 1 cat = 2 */
    CHECK(r.counts.detectors == 2 && r.counts.unique_percat == 2 && r.counts.unique_toplabel == 2,
          "counts: 2 detectors, 2 unique per-category, 2 top-label (got %d %d %d)",
          r.counts.detectors, r.counts.unique_percat, r.counts.unique_toplabel);
    nd_result_free(&r);

    o.profile = ND_PROFILE_NETDISSECT;
    o.have_field = 1, o.field_offset = 0, o.field_size = 4, o.field_stride = 4;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0, "dissect ND: %s", nd_errmsg());
    CHECK(r.tally.M[1] == 5, "ND mask of unit 1: 4 + 1 px (got %lld)", (long long)r.tally.M[1]);
    CHECK(r.tally.A[2] == 5, "A unit 1 (ND): object counted in every image with object labels: 5");
    CHECK(fabs(r.iou[1 * L + 1] - 4.0 / 9.0) < 1e-12, "IoU unit 1 (ND): cat 4/9");
    nd_result_free(&r);
    npy_close(&a);
    broden_free(ds);

    test_group("repeated image-level label: once in ND, twice in NDL");
    dir = make_dataset(1);
    broden_open(&ds, dir, NULL);
    snprintf(fp, sizeof fp, "%s/f.npy", dir);
    npy_save(fp, NPY_F32, 4, shape, x);
    npy_open(&a, fp);
    nd_features_from_npy(&f, &a);
    CHECK(nd_dissect(ds, &f, &o, &r) == 0 && r.tally.G[3] == 16 && r.tally.I[3] == 16, "ND: G 16, I 16");
    nd_result_free(&r);
    o.profile = ND_PROFILE_LITE;
    CHECK(nd_dissect(ds, &f, &o, &r) == 0 && r.tally.G[3] == 32 && r.tally.I[3] == 32, "NDL: G 32, I 32");
    nd_result_free(&r);

    test_group("tallies add over image shards");
    nd_tally t1, t2, all;
    nd_tally_alloc(&t1, 2, L, 2), nd_tally_alloc(&t2, 2, L, 2), nd_tally_alloc(&all, 2, L, 2);
    nd_tally_run(ds, &f, &o, thr, 0, 1, &t1);
    nd_tally_run(ds, &f, &o, thr, 1, 2, &t2);
    nd_tally_run(ds, &f, &o, thr, 0, 2, &all);
    nd_tally_add(&t1, &t2);
    CHECK(!memcmp(t1.I, all.I, 2 * L * 8) && !memcmp(t1.A, all.A, 4 * 8) && !memcmp(t1.G, all.G, L * 8),
          "shard [0,1) + [1,2) equals the whole");
    nd_tally_free(&t1), nd_tally_free(&t2), nd_tally_free(&all);
    npy_close(&a);
    broden_free(ds);
}

static void test_primary_and_png(void)
{
    test_group("primary category tie rule and PNG decoding");
    char dir[4200], img[4300], p[4400];
    snprintf(dir, sizeof dir, "%s/tie", test_tmpdir());
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(dir, 0777);
    mkdir(img, 0777);
    write_text(dir, "category.csv", "name,first,last,count,frequency\nobject,1,1,1,1\npart,1,1,1,1\nmaterial,1,1,1,1\n");
    /* 1: equal coverage in object and part -> part (later);
     * 2: coverage nowhere -> material (last); 300 (R=44, G=1): object */
    write_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,tie,object(1),1,1,\n"
                                 "2,none,object(1),1,1,\n300,big,object(1),1,1,\n");
    write_text(dir, "c_object.csv", "code,number,name,frequency,coverage\n1,1,tie,1,0.5\n2,300,big,1,2\n");
    write_text(dir, "c_part.csv", "code,number,name,frequency,coverage\n1,1,tie,1,0.5\n");
    write_text(dir, "c_material.csv", "code,number,name,frequency,coverage\n");
    write_text(dir, "index.csv", "image,split,ih,iw,sh,sw,object,part,material\nx.jpg,train,4,4,2,2,x.png,,\n");
    int lab[4] = {300, 0, 1, 2};
    snprintf(p, sizeof p, "%s/x.png", img);
    write_label_png(p, lab, 2, 2);
    broden *ds;
    CHECK(broden_open(&ds, dir, NULL) == 0, "open: %s", nd_errmsg());
    if (!ds)
        return;
    CHECK(broden_primary(ds, 1) == 1, "equal coverage -> later category (part)");
    CHECK(broden_primary(ds, 2) == 2, "no coverage -> last category (material)");
    CHECK(broden_primary(ds, 300) == 0, "label 300 -> object");
    const broden_layer *ly;
    size_t n;
    broden_image_layers(ds, 0, &ly, &n);
    CHECK(n == 1 && ly[0].map[0] == 300 && ly[0].map[1] == 0 && ly[0].map[2] == 1 && ly[0].map[3] == 2,
          "R + 256*G decoding (300 = 44 + 256*1)");
    broden_free(ds);
    /* an unknown label number in a PNG is an error naming the file and pixel */
    lab[1] = 301;
    write_label_png(p, lab, 2, 2);
    CHECK(broden_open(&ds, dir, NULL) != 0 && strstr(nd_errmsg(), "x.png") && strstr(nd_errmsg(), "301"),
          "unknown label: %s", nd_errmsg());
}

/* thresholds: the one-pass candidate stream, the two-pass histograms and
 * the sorting reference agree bit for bit (4,096 images, so the stream's
 * floors start from a sample; a distribution whose sample misleads them
 * exercises the second pass) */
static void threshold_paths(int mislead)
{
    size_t N = 4096, K = 3, hw = 4;
    float *x = malloc(N * K * hw * sizeof *x), *col = malloc(N * hw * sizeof *col);
    unsigned s = 99;
    for (size_t i = 0; i < N; i++)
        for (size_t u = 0; u < K; u++)
            for (size_t k = 0; k < hw; k++) {
                s = s * 1103515245u + 12345u;
                float v = (float)((s >> 8) % 100000) / 1000.0f - 20.0f;
                /* unit 2: the sampled images (blocks of 8 at multiples of
                 * 1,024) hold values above all others, but fewer than the
                 * tail needs, so the guessed floors are too high */
                if (u == 2 && mislead)
                    v = i % 1024 < 8 ? 1000.0f + (float)((s >> 8) % 100) / 100.0f : (float)(i % 1000);
                x[(i * K + u) * hw + k] = v > 0 ? v : 0;
            }
    char fp[4300];
    snprintf(fp, sizeof fp, "%s/thr.npy", test_tmpdir());
    size_t shape[4] = {N, K, 2, 2};
    npy_save(fp, NPY_F32, 4, shape, x);
    npy_t a;
    nd_features f;
    npy_open(&a, fp);
    nd_features_from_npy(&f, &a);
    double t1[3], t2[3];
    CHECK(nd_thresholds(&f, 0.005, 2, t1) == 0 && nd_thresholds_last_method() == (mislead ? 3 : 1),
          "%s", mislead ? "a misleading sample costs a second pass" : "one pass with floors from a sample");
    setenv("ND_NO_WINDOW", "1", 1);
    CHECK(nd_thresholds(&f, 0.005, 2, t2) == 0, "histogram path");
    unsetenv("ND_NO_WINDOW");
    int bad = 0;
    for (size_t u = 0; u < K; u++) {
        for (size_t i = 0; i < N; i++)
            memcpy(col + i * hw, x + (i * K + u) * hw, hw * sizeof *col);
        double want = qt_sorted(col, N * hw, 0.995);
        bad += t1[u] != want || t2[u] != want;
    }
    CHECK(bad == 0, "candidate stream, histograms and sorting agree bit for bit on 3 units");
    npy_close(&a);
    free(x), free(col);
}

static void test_threshold_paths(void)
{
    test_group("thresholds: candidate stream, histograms and sorting agree");
    threshold_paths(0);
    threshold_paths(1);
}

int main(void)
{
    test_threshold_paths();
    test_quantile();
    test_upsample();
    test_hand_dataset();
    test_primary_and_png();
    return test_summary();
}
