/* bench_broden.c - dissection at Broden scale on synthetic data.
 *
 * Generates (once, cached under results/bench-cache/) a deterministic
 * dataset of AlexNet-conv5 shape: N images, K = 256 units of 13 x 13,
 * 113 x 113 label maps with 3-6 blob-shaped pixel layers and 0-2
 * image-level labels per image, about 1,200 labels in six categories, as a
 * real Broden-format folder (CSV files + label PNGs), and post-ReLU
 * activations with spatially correlated, sparse maps (.npy, float32).
 *
 * Then times each stage - label preparation (PNG decoding into the
 * prepared store), thresholds, tally, IoU, rotation, one whole alpha point,
 * optionally a 6-point sweep - and reports throughput, peak anonymous
 * resident memory (mapped input pages excluded), and the fraction of the
 * machine's limits reached: memory bandwidth for passes over activations,
 * sgemm peak for the rotation, both measured in the same run.
 *
 * usage: bench_broden [--images N] [--scales N1,N2,...] [--sweep] [--cache DIR]
 *   make bench       -> 6,000 images
 *   make bench-full  -> 63,305 images (and scales 4,000 and 16,000), with the sweep
 */
#include "core/afile.h"
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/npy.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { K = 256, H = 13, W = 13, SH = 113, SW = 113, IH = 227 };

static const struct {
    const char *name;
    int nlabels, image_level;
} cats[] = {{"color", 11, 0}, {"object", 584, 0}, {"part", 234, 0},
            {"material", 32, 0}, {"scene", 285, 1}, {"texture", 47, 1}};
enum { NCAT = 6 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct {
    uint64_t s;
} rng;
static inline uint64_t rnext(rng *r) { return r->s = mix(r->s); }
static inline double runif(rng *r) { return (double)(rnext(r) >> 11) * 0x1.0p-53; }

static int first_label(int c)
{
    int f = 1;
    for (int k = 0; k < c; k++)
        f += cats[k].nlabels;
    return f;
}

/* Zipf-like choice of a label of category c: a few labels are common */
static int pick_label(rng *r, int c)
{
    double u = runif(r);
    int n = cats[c].nlabels;
    int k = (int)floor(pow((double)n, u)) - 1;
    if (k >= n)
        k = n - 1;
    return first_label(c) + k;
}

/* ------------------------------------------------------------------ dataset */

typedef struct {
    int nlayers;        /* pixel layers */
    int layer_cat[6];
    int nimg;           /* image-level labels */
    int img_cat[2], img_label[2];
} image_plan;

static void plan_image(size_t i, image_plan *p)
{
    rng r = {mix(i * 7919 + 1)};
    memset(p, 0, sizeof *p);
    p->nlayers = 3 + (int)(rnext(&r) % 4);
    static const int order[6] = {1, 0, 3, 2, 2, 2}; /* object, color, material, parts */
    for (int k = 0; k < p->nlayers; k++)
        p->layer_cat[k] = order[k];
    p->nimg = (int)(rnext(&r) % 3);
    for (int k = 0; k < p->nimg; k++) {
        p->img_cat[k] = k == 0 ? 4 : 5;
        p->img_label[k] = pick_label(&r, p->img_cat[k]);
    }
}

/* Blob-shaped label regions: 1-4 ellipses per layer. */
static void draw_layer(size_t i, int k, int c, uint16_t *map)
{
    rng r = {mix((i << 8) ^ (uint64_t)k ^ 0x5bd1e995u)};
    memset(map, 0, sizeof(uint16_t) * SH * SW);
    int nb = 1 + (int)(rnext(&r) % 4);
    for (int b = 0; b < nb; b++) {
        double cy = runif(&r) * SH, cx = runif(&r) * SW, ry = 6 + runif(&r) * 40, rx = 6 + runif(&r) * 40;
        int l = pick_label(&r, c);
        for (int y = (int)fmax(0, cy - ry); y < (int)fmin(SH, cy + ry + 1); y++)
            for (int x = (int)fmax(0, cx - rx); x < (int)fmin(SW, cx + rx + 1); x++) {
                double dy = (y - cy) / ry, dx = (x - cx) / rx;
                if (dy * dy + dx * dx <= 1)
                    map[y * SW + x] = (uint16_t)l;
            }
    }
}

static int write_png(const char *path, const uint16_t *map)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_compression_level(png, 1);
    png_set_IHDR(png, info, SW, SH, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char row[SW * 3];
    for (int y = 0; y < SH; y++) {
        for (int x = 0; x < SW; x++) {
            uint16_t l = map[y * SW + x];
            row[3 * x] = (unsigned char)(l & 255), row[3 * x + 1] = (unsigned char)(l >> 8), row[3 * x + 2] = 0;
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

/* Post-ReLU maps: a 4x4 random field, bilinearly smoothed to 13x13, plus
 * fine noise, shifted down so that about two thirds of the values are 0. */
static void unit_map(size_t i, int u, float *out)
{
    rng r = {mix(((uint64_t)i << 9) ^ (uint64_t)u ^ 0xabcdefull)};
    double g[16];
    double gain = 0.5 + (double)(mix((uint64_t)u) % 1000) / 1000.0;
    for (int k = 0; k < 16; k++)
        g[k] = runif(&r) + runif(&r) - 1.0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double fy = y * 3.0 / (H - 1), fx = x * 3.0 / (W - 1);
            int y0 = (int)fy, x0 = (int)fx;
            if (y0 > 2) y0 = 2;
            if (x0 > 2) x0 = 2;
            double ty = fy - y0, tx = fx - x0;
            double v = (1 - ty) * ((1 - tx) * g[y0 * 4 + x0] + tx * g[y0 * 4 + x0 + 1]) +
                       ty * ((1 - tx) * g[(y0 + 1) * 4 + x0] + tx * g[(y0 + 1) * 4 + x0 + 1]);
            v = gain * (v + 0.15 * (runif(&r) - 0.5)) - 0.2;
            out[y * W + x] = v > 0 ? (float)v : 0.0f;
        }
}

typedef struct {
    const char *dir;
    size_t n, next;
    pthread_mutex_t mu;
    float *feat; /* mapped output */
    int rc;
} gen_ctx;

static void *gen_worker(void *arg)
{
    gen_ctx *g = arg;
    uint16_t map[SH * SW];
    char path[4096];
    for (;;) {
        pthread_mutex_lock(&g->mu);
        size_t i = g->next++;
        pthread_mutex_unlock(&g->mu);
        if (i >= g->n)
            return NULL;
        image_plan p;
        plan_image(i, &p);
        for (int k = 0; k < p.nlayers; k++) {
            draw_layer(i, k, p.layer_cat[k], map);
            snprintf(path, sizeof path, "%s/images/s/%06zu_%d.png", g->dir, i, k);
            if (write_png(path, map))
                g->rc = -1;
        }
        for (int u = 0; u < K; u++)
            unit_map(i, u, g->feat + ((size_t)i * K + (size_t)u) * H * W);
    }
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Writes the CSV files, the label PNGs under images/s/ and features.npy into dir. */
static int generate(const char *dir, size_t n)
{
    char p[4096], tmp[4200];
    snprintf(p, sizeof p, "%s/complete", dir);
    if (file_exists(p))
        return 0;
    printf("generating %zu synthetic images in %s (once) ...\n", n, dir);
    fflush(stdout);
    double t0 = now();
    snprintf(p, sizeof p, "%s/images/s", dir);
    if (nd_mkdirs(p))
        return -1;
    FILE *f;
    snprintf(p, sizeof p, "%s/category.csv", dir);
    f = fopen(p, "w");
    fprintf(f, "name,first,last,count,frequency\n");
    for (int c = 0; c < NCAT; c++)
        fprintf(f, "%s,%d,%d,%d,%zu\n", cats[c].name, first_label(c), first_label(c) + cats[c].nlabels - 1,
                cats[c].nlabels, n);
    fclose(f);
    snprintf(p, sizeof p, "%s/label.csv", dir);
    f = fopen(p, "w");
    fprintf(f, "number,name,category,frequency,coverage,syns\n");
    for (int c = 0; c < NCAT; c++)
        for (int k = 0; k < cats[c].nlabels; k++)
            fprintf(f, "%d,%s-%d,%s(1),1,1.0,\n", first_label(c) + k, cats[c].name, k, cats[c].name);
    fclose(f);
    for (int c = 0; c < NCAT; c++) {
        snprintf(p, sizeof p, "%s/c_%s.csv", dir, cats[c].name);
        f = fopen(p, "w");
        fprintf(f, "code,number,name,frequency,coverage\n");
        for (int k = 0; k < cats[c].nlabels; k++)
            fprintf(f, "%d,%d,%s-%d,1,1.0\n", k + 1, first_label(c) + k, cats[c].name, k);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/index.csv", dir);
    f = fopen(p, "w");
    fprintf(f, "image,split,ih,iw,sh,sw");
    for (int c = 0; c < NCAT; c++)
        fprintf(f, ",%s", cats[c].name);
    fprintf(f, "\n");
    for (size_t i = 0; i < n; i++) {
        image_plan pl;
        plan_image(i, &pl);
        fprintf(f, "s/%06zu.jpg,train,%d,%d,%d,%d", i, IH, IH, SH, SW);
        for (int c = 0; c < NCAT; c++) {
            fputc(',', f);
            int first = 1;
            for (int k = 0; k < pl.nlayers; k++)
                if (pl.layer_cat[k] == c)
                    fprintf(f, "%ss/%06zu_%d.png", first ? "" : ";", i, k), first = 0;
            for (int k = 0; k < pl.nimg; k++)
                if (pl.img_cat[k] == c)
                    fprintf(f, "%s%d", first ? "" : ";", pl.img_label[k]), first = 0;
        }
        fprintf(f, "\n");
    }
    fclose(f);
    /* activations: write a header, then fill the mapped file in parallel */
    snprintf(p, sizeof p, "%s/features.npy", dir);
    snprintf(tmp, sizeof tmp, "%s/features.npy.partial", dir);
    size_t shape[4] = {n, K, H, W};
    char hdr[256];
    size_t hl = npy_header(hdr, sizeof hdr, NPY_F32, 4, shape);
    size_t bytes = n * K * H * W * sizeof(float);
    float *feat = malloc(bytes);
    if (!feat)
        return nd_fail("out of memory generating %zu bytes of activations", bytes);
    gen_ctx g = {.dir = dir, .n = n, .feat = feat};
    pthread_mutex_init(&g.mu, NULL);
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, gen_worker, &g);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    if (g.rc)
        return nd_fail("%s: writing label PNGs failed", dir);
    f = fopen(tmp, "wb");
    if (!f || fwrite(hdr, 1, hl, f) != hl || fwrite(feat, 1, bytes, f) != bytes || fclose(f))
        return nd_fail("%s: write failed: %s", tmp, strerror(errno));
    free(feat);
    rename(tmp, p);
    snprintf(p, sizeof p, "%s/complete", dir);
    f = fopen(p, "w");
    fclose(f);
    printf("  generated in %.1f s\n", now() - t0);
    return 0;
}

/* ------------------------------------------------------------------ measurement */

static volatile int sampling;
static long peak_anon_kb;

static long anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssAnon:", 8))
            v = atol(line + 8);
    if (f)
        fclose(f);
    return v;
}

static void *sampler(void *arg)
{
    (void)arg;
    while (sampling) {
        long v = anon_kb();
        if (v > peak_anon_kb)
            peak_anon_kb = v;
        usleep(20000);
    }
    return NULL;
}

static double bw_gbs; /* measured read bandwidth, 2 threads */
typedef struct {
    const float *p;
    size_t n;
    double s;
} bw_job;
static void *bw_worker(void *a)
{
    bw_job *j = a;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= j->n; i += 4)
        s0 += j->p[i], s1 += j->p[i + 1], s2 += j->p[i + 2], s3 += j->p[i + 3];
    j->s = s0 + s1 + s2 + s3;
    return NULL;
}

static void measure_limits(double *sgemm_gflops)
{
    size_t n = (size_t)1 << 28; /* 1 GiB */
    float *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++)
        b[i] = (float)(i & 7);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        bw_job j[2] = {{b, n / 2, 0}, {b + n / 2, n / 2, 0}};
        pthread_t t;
        double t0 = now();
        pthread_create(&t, NULL, bw_worker, &j[1]);
        bw_worker(&j[0]);
        pthread_join(t, NULL);
        double gbs = (double)n * 4 / (now() - t0) / 1e9;
        if (gbs > best)
            best = gbs;
    }
    bw_gbs = best;
    free(b);
    int m = 2048;
    float *A = malloc(sizeof(float) * (size_t)m * (size_t)m), *B = malloc(sizeof(float) * (size_t)m * (size_t)m),
          *C = malloc(sizeof(float) * (size_t)m * (size_t)m);
    for (size_t i = 0; i < (size_t)m * (size_t)m; i++)
        A[i] = (float)(i % 13) * 0.1f, B[i] = (float)(i % 7) * 0.1f;
    best = 0;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, A, m, B, m, 0, C, m);
        double g = 2.0 * m * m * (double)m / (now() - t0) / 1e9;
        if (g > best)
            best = g;
    }
    *sgemm_gflops = best;
    free(A), free(B), free(C);
}

/* one pass of a source over 2 threads, as the dissector's passes read it */
typedef struct {
    const nd_features *f;
    int tid;
} pass_job;
static void *pass_worker(void *arg)
{
    pass_job *j = arg;
    const nd_features *f = j->f;
    float *buf = malloc(sizeof(float) * 16 * f->K * f->h * f->w);
    for (size_t i = (size_t)j->tid * 16; i < f->N; i += 32) {
        const float *x;
        f->get(f->ctx, i, f->N - i < 16 ? f->N - i : 16, buf, &x);
    }
    free(buf);
    return NULL;
}
static void rot_pass(const nd_features *f)
{
    pass_job a = {f, 0}, b = {f, 1};
    pthread_t t;
    pthread_create(&t, NULL, pass_worker, &b);
    pass_worker(&a);
    pthread_join(t, NULL);
}

/* the first n images of a source */
static nd_features prefix(const nd_features *f, size_t n)
{
    nd_features g = *f;
    g.N = n;
    return g;
}

static int run_scale(const char *dir, const char *store_dir, const nd_features *full, size_t n, int with_sweep,
                     double sgemm_peak)
{
    char sub[2048], store[2200];
    /* a dataset of the first n rows shares the full one's PNGs */
    snprintf(sub, sizeof sub, "%s/n%zu", store_dir, n);
    if (nd_mkdirs(sub))
        return -1;
    const char *files[] = {"category.csv", "label.csv", "c_color.csv", "c_object.csv", "c_part.csv",
                           "c_material.csv", "c_scene.csv", "c_texture.csv"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s/%s", dir, files[k]);
        snprintf(b, sizeof b, "%s/%s", sub, files[k]);
        unlink(b);
        if (symlink(a, b) && errno != EEXIST)
            return nd_fail("%s: %s", b, strerror(errno));
    }
    {
        char a[4300], b[4300], line[4096];
        snprintf(a, sizeof a, "%s/images", dir);
        snprintf(b, sizeof b, "%s/images", sub);
        unlink(b);
        symlink(a, b);
        snprintf(a, sizeof a, "%s/index.csv", dir);
        snprintf(b, sizeof b, "%s/index.csv", sub);
        FILE *in = fopen(a, "r"), *out = fopen(b, "w");
        for (size_t k = 0; k <= n && fgets(line, sizeof line, in); k++)
            fputs(line, out);
        fclose(in), fclose(out);
    }
    snprintf(store, sizeof store, "%s/labels.store", sub);
    unlink(store);
    nd_features f = prefix(full, n);
    double bytes = (double)n * K * H * W * 4;
    printf("\n== N = %zu images (activations %.2f GB)\n", n, bytes / 1e9);

    double t0 = now();
    broden *ds;
    if (broden_open_store(&ds, sub, NULL, store))
        return -1;
    double t_prep = now() - t0;
    broden_free(ds);
    t0 = now();
    if (broden_open_store(&ds, sub, NULL, store))
        return -1;
    double t_open = now() - t0;
    printf("label preparation (decode PNGs, write store): %8.2f s  (%.0f images/s)\n", t_prep, n / t_prep);
    printf("open with prepared store:                     %8.2f s\n", t_open);

    /* Bring the activations into the page cache first and time that on its
     * own: a cold first pass measures the disk, not the dissector. */
    t0 = now();
    {
        const float *x;
        float dummy[1];
        volatile unsigned acc = 0; /* volatile: the reads must happen */
        for (size_t i = 0; i < n; i += 256) {
            f.get(f.ctx, i, 1, dummy, &x);
            size_t m = n - i < 256 ? n - i : 256;
            const unsigned char *b = (const unsigned char *)x;
            for (size_t off = 0; off < m * K * H * W * 4; off += 4096)
                acc += b[off];
        }
        printf("first read of the activations (page cache):   %8.2f s  (%.2f GB/s)\n", now() - t0,
               bytes / (now() - t0) / 1e9);
    }
    nd_options o;
    nd_options_default(&o);
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
    double *thr = malloc(K * sizeof *thr);
    t0 = now();
    nd_thr_method method;
    if (nd_thresholds_by(&f, 0.005, 0, ND_THR_AUTO, (nd_progress){0}, thr, &method))
        return -1;
    double t_thr = now() - t0;
    int passes = method == ND_THR_WINDOW ? 1 : 2;
    printf("thresholds (%s):           %8.2f s  (%.2f GB/s, %.0f%% of read bandwidth)\n",
           method == ND_THR_WINDOW ? "1 pass, sampled window " : "2 histogram passes     ", t_thr, passes * bytes / t_thr / 1e9,
           100 * passes * bytes / t_thr / 1e9 / bw_gbs);
    {
        double *thr2 = malloc(K * sizeof *thr2);
        nd_thresholds_by(&f, 0.005, 0, ND_THR_HISTOGRAM, (nd_progress){0}, thr2, NULL);
        printf("  thresholds identical to the two-pass histogram method: %s\n",
               memcmp(thr, thr2, K * sizeof *thr) ? "NO" : "yes");
        free(thr2);
    }
    nd_result r;
    memset(&r, 0, sizeof r);
    r.opt = o;
    nd_tally_alloc(&r.tally, K, broden_num_labels(ds), broden_num_categories(ds));
    t0 = now();
    if (nd_tally_run(ds, &f, &o, thr, 0, n, &r.tally))
        return -1;
    double t_tally = now() - t0;
    printf("tally:                                        %8.2f s  (%.0f images/s, %.2f GB/s)\n", t_tally,
           n / t_tally, bytes / t_tally / 1e9);
    t0 = now();
    nd_score(ds, &r);
    double t_iou = now() - t0;
    printf("IoU and labels:                               %8.2f s\n", t_iou);
    printf("dissection of the unrotated layer:            %8.2f s  (target <= 30 s at 63,305)\n",
           t_thr + t_tally + t_iou);
    printf("  detectors %d, unique %d per-category / %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);
    nd_result_free(&r);

    /* rotation alone, one pass */
    double *Q = malloc(sizeof(double) * K * K), *R = malloc(sizeof(double) * K * K);
    rot_haar(Q, K, 1);
    rot_power(R, Q, K, 0.5);
    nd_features rf;
    rot_features(&rf, &f, R);
    t0 = now();
    rot_pass(&rf);
    double t_rot = now() - t0, gf = 2.0 * K * K * (double)n * H * W / t_rot / 1e9;
    printf("rotation, one pass:                           %8.2f s  (%.1f GFLOP/s, %.0f%% of sgemm peak %.1f)\n",
           t_rot, gf, 100 * gf / sgemm_peak, sgemm_peak);
    /* one rotated alpha point */
    t0 = now();
    if (nd_dissect(ds, &rf, &o, &r))
        return -1;
    double t_point = now() - t0;
    printf("one rotated alpha point (rotate+thr+tally+IoU): %6.2f s  (target <= 60 s at 63,305; %d rotation passes)\n",
           t_point, r.threshold_method == ND_THR_WINDOW ? 2 : 3);
    printf("  detectors %d, unique %d per-category / %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);
    nd_result_free(&r);
    rot_features_free(&rf);
    if (with_sweep) {
        double alphas[6] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
        t0 = now();
        for (int a = 0; a < 6; a++) {
            nd_features src = f;
            if (alphas[a] > 0) {
                rot_power(R, Q, K, alphas[a]);
                rot_features(&rf, &f, R);
                src = rf;
            }
            if (nd_dissect(ds, &src, &o, &r))
                return -1;
            printf("  alpha %.1f: unique %d per-category  (%.1f s so far)\n", alphas[a], r.counts.unique_percat,
                   now() - t0);
            fflush(stdout);
            nd_result_free(&r);
            if (alphas[a] > 0)
                rot_features_free(&rf);
        }
        printf("6-point alpha sweep, one draw:                %8.2f s  (target <= 360 s at 63,305)\n", now() - t0);
    }
    free(Q), free(R), free(thr);
    broden_free(ds);
    printf("peak anonymous resident memory so far:        %8.2f GB  (target <= 3 GB; mapped inputs excluded)\n",
           peak_anon_kb / 1e6);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = 6000;
    int sweep = 0, gen_only = 0;
    const char *cache = "results/bench-cache";
    char scales[256] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--images") && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--scales") && i + 1 < argc)
            snprintf(scales, sizeof scales, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--sweep"))
            sweep = 1;
        else if (!strcmp(argv[i], "--generate-only"))
            gen_only = 1;
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
            cache = argv[++i];
        else {
            fprintf(stderr, "usage: bench_broden [--images N] [--scales N1,N2] [--sweep] [--cache DIR] [--generate-only]\n");
            return 2;
        }
    }
    char dir[1024], absdir[1024];
    snprintf(dir, sizeof dir, "%s/broden-synth-%zu", cache, n);
    /* absolute, because the per-scale datasets link back to it */
    if (nd_mkdirs(dir) || !realpath(dir, absdir)) {
        fprintf(stderr, "bench_broden: %s: cannot create\n", dir);
        return 1;
    }
    memcpy(dir, absdir, sizeof dir);
    if (generate(dir, n)) {
        fprintf(stderr, "bench_broden: %s\n", nd_errmsg());
        return 1;
    }
    if (gen_only)
        return 0;
    sampling = 1;
    pthread_t st;
    pthread_create(&st, NULL, sampler, NULL);
    double sg;
    measure_limits(&sg);
    printf("machine limits: read bandwidth %.1f GB/s (2 threads), sgemm peak %.1f GFLOP/s (2048^3)\n", bw_gbs, sg);
    peak_anon_kb = 0; /* the measurement buffers are not part of the dissection */
    char p[4200];
    snprintf(p, sizeof p, "%s/features.npy", dir);
    npy_t a;
    nd_features f;
    if (npy_open(&a, p) || nd_features_from_npy(&f, &a)) {
        fprintf(stderr, "bench_broden: %s\n", nd_errmsg());
        return 1;
    }
    int rc = 0;
    if (scales[0]) {
        char *save, *s = strdup(scales);
        for (char *t = strtok_r(s, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
            size_t m = (size_t)atol(t);
            if (m > n)
                m = n;
            rc = run_scale(dir, dir, &f, m, sweep && m == n, sg);
        }
        free(s);
    } else
        rc = run_scale(dir, dir, &f, n, sweep, sg);
    sampling = 0;
    pthread_join(st, NULL);
    if (rc) {
        fprintf(stderr, "bench_broden: %s\n", nd_errmsg());
        return 1;
    }
    printf("\npeak anonymous resident memory: %.2f GB\n", peak_anon_kb / 1e6);
    npy_close(&a);
    return 0;
}
