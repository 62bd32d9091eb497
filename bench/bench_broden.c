/* bench_broden.c - dissection at Broden scale on synthetic data.
 *
 * Generates (once, cached under results/bench-cache/) a deterministic
 * dataset of AlexNet-conv5 shape: N images, K = 256 units of 13 x 13,
 * 113 x 113 label maps with 3-6 blob-shaped pixel layers and 0-2
 * image-level labels per image, about 1,200 labels in six categories, as a
 * real Broden-format folder (CSV files + label PNGs), and post-ReLU
 * activations with spatially correlated, sparse maps (.npy, float32).
 * NPLANT of the units are planted detectors: unit planted_unit(q) responds
 * to label planted_label(q) (common labels of the object, part, color,
 * material and scene categories) wherever that label lies under its cells,
 * so a realistic share of maps cross the threshold, the mask path is
 * exercised as on real layers, and the dissection must find them: the
 * benchmark checks that every planted unit's best label in the planted
 * category is the planted one with IoU above the detector threshold
 * (self-check; the benchmark fails if it does not hold).
 *
 * Then times each stage - label preparation (PNG decoding into the
 * prepared store), thresholds, tally, IoU, rotation, one whole alpha point,
 * optionally a 6-point sweep - and reports throughput, peak anonymous
 * resident memory (mapped input pages excluded), and the fraction of the
 * machine's limits reached: memory bandwidth for passes over activations,
 * sgemm peak for the rotation, both measured in the same run.
 *
 * Every figure that issue 18 sets a goal for is printed as a "goal" line:
 * the measured value, the limit it is measured against in the same run
 * (read bandwidth as measure_limits() measures it, the 2048^3 sgemm peak,
 * NetDissect-Lite's time for the same work) and the ratio.  `dissect units`
 * is timed as a user runs it (build/dissect, or $ND_BIN), at N <= 2,000.
 *
 * usage: bench_broden [--images N] [--scales N1,N2,...] [--sweep] [--cache DIR]
 *   make bench       -> 6,000 images generated, measured at 400, 2,000 and 6,000
 *   make bench-full  -> 63,305 images (and scales 4,000 and 16,000), with the sweep
 *   --point-only R: only the rotated alpha point, R times, at the first scale
 *   --sweep runs at the last of the scales (each scale uses the first N of the
 *   --images dataset, so --images 63305 --scales 16000 --sweep needs no new data)
 */
#include "core/blas.h"
#include "core/afile.h"
#include "core/broden.h"
#include "core/dissect.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "core/onepass.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "bench/bench_clock.h"
#include "bench/bench_readbw.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* Planted detectors: q = 0..NPLANT-1 on units 5q + 2, over the five
 * categories in turn, each at the q/5-th most common label (Zipf rank). */
enum { NPLANT = 50 };
static const int plant_cat[5] = {1, 2, 0, 3, 4}; /* object, part, color, material, scene */
static int planted_unit(int q) { return 5 * q + 2; }
static int planted_cat(int q) { return plant_cat[q % 5]; }
static int planted_label(int q) { return first_label(planted_cat(q)) + q / 5; }
/* planted index of unit u, or -1 */
static int plant_of(int u) { return u % 5 == 2 && u / 5 < NPLANT ? u / 5 : -1; }

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
 * fine noise, shifted down so that about two thirds of the values are 0.
 * A planted unit adds 1.2 times the share of its label's pixels in each
 * cell's footprint on the label map (the ND geometry of AlexNet conv5:
 * cell j is centred on label pixel 8.75 + 8j), or 0.6 everywhere if its
 * label is the image's scene; `maps` holds the image's pixel layers. */
static void unit_map(size_t i, int u, const image_plan *pl, uint16_t (*maps)[SH * SW], float *out)
{
    rng r = {mix(((uint64_t)i << 9) ^ (uint64_t)u ^ 0xabcdefull)};
    double g[16];
    double gain = 0.5 + (double)(mix((uint64_t)u) % 1000) / 1000.0;
    for (int k = 0; k < 16; k++)
        g[k] = runif(&r) + runif(&r) - 1.0;
    int q = plant_of(u), scene = 0, want = q < 0 ? 0 : planted_label(q);
    for (int k = 0; q >= 0 && k < pl->nimg; k++)
        scene |= pl->img_label[k] == want;
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
            if (q >= 0) {
                int hit = 0, tot = 0;
                for (int k = 0; k < pl->nlayers; k++)
                    if (pl->layer_cat[k] == planted_cat(q))
                        for (int py = 8 * y + 5; py < 8 * y + 13 && py < SH; py++)
                            for (int px = 8 * x + 5; px < 8 * x + 13 && px < SW; px++)
                                hit += maps[k][py * SW + px] == want, tot++;
                v = 0.5 * v + (tot ? 1.2 * hit / tot : 0) + (scene ? 0.6 : 0);
            }
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
    uint16_t(*maps)[SH * SW] = malloc(6 * sizeof *maps);
    char path[4096];
    if (!maps) {
        g->rc = -1;
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&g->mu);
        size_t i = g->next++;
        pthread_mutex_unlock(&g->mu);
        if (i >= g->n) {
            free(maps);
            return NULL;
        }
        image_plan p;
        plan_image(i, &p);
        for (int k = 0; k < p.nlayers; k++) {
            draw_layer(i, k, p.layer_cat[k], maps[k]);
            snprintf(path, sizeof path, "%s/images/s/%06zu_%d.png", g->dir, i, k);
            if (write_png(path, maps[k]))
                g->rc = -1;
        }
        for (int u = 0; u < K; u++)
            unit_map(i, u, &p, maps, g->feat + ((size_t)i * K + (size_t)u) * H * W);
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

/* One "Key:  N kB" line of /proc/self/status, in kB (0 if absent). */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n))
            v = atol(line + n);
    if (f)
        fclose(f);
    return v;
}

static long anon_kb(void)
{
    return status_kb("RssAnon:");
}

/* VmHWM: peak resident memory, mapped activations' pages included */
static long hwm_kb(void)
{
    return status_kb("VmHWM:");
}

/* Set while the benchmark measures a limit beside a figure (its buffers,
 * 1 GiB for the read bandwidth, are not the dissection's memory); the
 * generation changes at each start and end, so a sample taken across a
 * measurement is dropped too. */
static volatile int limits_measuring;
static volatile unsigned limits_gen;

static void *sampler(void *arg)
{
    (void)arg;
    while (sampling) {
        unsigned g = limits_gen;
        long v = limits_measuring ? 0 : anon_kb();
        if (!limits_measuring && g == limits_gen && v > peak_anon_kb)
            peak_anon_kb = v;
        usleep(20000);
    }
    return NULL;
}

static void limits_begin(void)
{
    limits_measuring = 1, limits_gen++;
}

static void limits_end(void)
{
    limits_gen++, limits_measuring = 0;
}

static double bw_gbs; /* measured read bandwidth, 2 threads (bench_readbw.h) */
static int bw_width; /* bytes per load that reached it */

/* The 2048^3 sgemm on all of OpenBLAS's threads, best of 6 (GFLOP/s);
 * a rotated source holds OpenBLAS at one thread while it lives
 * (core/blas.h), so the count is the one it had at the start. */
static int blas_threads;

static double sgemm_gflops(void)
{
    int m = 2048, was = openblas_get_num_threads();
    openblas_set_num_threads(blas_threads);
    limits_begin();
    float *A = malloc(sizeof(float) * (size_t)m * (size_t)m), *B = malloc(sizeof(float) * (size_t)m * (size_t)m),
          *C = malloc(sizeof(float) * (size_t)m * (size_t)m);
    for (size_t i = 0; i < (size_t)m * (size_t)m; i++)
        A[i] = (float)(i % 13) * 0.1f, B[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, A, m, B, m, 0, C, m);
        double g = 2.0 * m * m * (double)m / (now() - t0) / 1e9;
        if (g > best)
            best = g;
    }
    free(A), free(B), free(C);
    limits_end();
    openblas_set_num_threads(was);
    return best;
}

static void measure_limits(double *sgemm)
{
    bw_gbs = read_bandwidth_gbs(&bw_width);
    blas_threads = openblas_get_num_threads();
    *sgemm = sgemm_gflops();
}

/* A figure judged against a limit is judged against the limit measured
 * beside it, the higher of a reading just before and one just after: on
 * the shared VMs the speed drifts by up to 2x within minutes (2026-12-03,
 * EPYC host: sgemm 88 GFLOP/s at a run's start, 171 in the next
 * benchmark), and a limit from another minute gave ratios above 100%. */
static double bandwidth_beside(void)
{
    int width;
    limits_begin();
    double g = read_bandwidth_gbs(&width);
    limits_end();
    return g;
}

static double higher(double a, double b)
{
    return a > b ? a : b;
}

/* One pass of a source on 2 kept workers (core/jobs.c), in blocks of 8
 * images dealt out in turn, a rotated source's as the sieve reads them
 * (nd_features_units, one group per block); each
 * worker writes into its own buffer, made once by rot_pass_bufs (a fresh
 * one would add its first-touch faults to every pass). */
enum { PASS_BLOCK = 8, PASS_THREADS = 2 };
typedef struct {
    const nd_features *f;
    float *buf;
    int tid;
} pass_job;
static void *pass_worker(void *arg)
{
    pass_job *j = arg;
    const nd_features *f = j->f;
    size_t g = 0;
    nd_units_fn units = nd_features_units(f, &g); /* the sieve's read, if the source has it */
    for (size_t i = (size_t)j->tid * PASS_BLOCK; i < f->N; i += PASS_THREADS * PASS_BLOCK) {
        const float *x;
        size_t n = f->N - i < PASS_BLOCK ? f->N - i : PASS_BLOCK;
        if (units && g == PASS_BLOCK)
            units(f->ctx, i, n, j->buf, &x);
        else
            f->get(f->ctx, i, n, j->buf, &x);
    }
    return NULL;
}
static float *rot_pass_bufs(const nd_features *f)
{
    size_t n = PASS_THREADS * PASS_BLOCK * f->K * f->h * f->w;
    float *b = malloc(n * sizeof *b);
    if (b)
        memset(b, 0, n * sizeof *b);
    return b;
}
static void rot_pass(const nd_features *f, float *bufs)
{
    pass_job jobs[PASS_THREADS];
    for (int t = 0; t < PASS_THREADS; t++)
        jobs[t] = (pass_job){f, bufs + (size_t)t * PASS_BLOCK * f->K * f->h * f->w, t};
    nd_run_jobs(pass_worker, jobs, sizeof jobs[0], PASS_THREADS);
}

/* the first n images of a source */
static nd_features prefix(const nd_features *f, size_t n)
{
    nd_features g = *f;
    g.N = n;
    return g;
}

/* ------------------------------------------------------------------ checks and goals */

/* Goal 1: every planted unit's best label in its planted category is the
 * planted label, with IoU above the detector threshold.  Returns the number
 * found; *mean_iou is their mean IoU, *others the unplanted detectors. */
static int check_planted(const broden *ds, const nd_result *r, int verbose, double *mean_iou, int *others)
{
    int found = 0;
    double sum = 0;
    for (int q = 0; q < NPLANT; q++) {
        size_t u = (size_t)planted_unit(q), c = 0;
        while (c < r->C && strcmp(broden_category_name(ds, c), cats[planted_cat(q)].name))
            c++;
        int ok = c < r->C && r->cat_label[u * r->C + c] == planted_label(q) &&
                 r->cat_iou[u * r->C + c] > r->opt.iou_threshold;
        found += ok;
        sum += c < r->C ? r->cat_iou[u * r->C + c] : 0;
        if (!ok && verbose)
            printf("  planted unit %zu (%s) NOT found: best %s label %d at IoU %.3f\n", u,
                   broden_label_name(ds, planted_label(q)), cats[planted_cat(q)].name,
                   c < r->C ? r->cat_label[u * r->C + c] : -1, c < r->C ? r->cat_iou[u * r->C + c] : 0);
    }
    *others = 0;
    for (size_t u = 0; u < r->K; u++)
        *others += plant_of((int)u) < 0 && r->unit_score[u] > r->opt.iou_threshold;
    *mean_iou = sum / NPLANT;
    return found;
}

/* Share of (image, unit) maps with a value above the unit's threshold -
 * the maps whose mask the tally must evaluate - planted units and others. */
static void crossing_share(const nd_features *f, const double *thr, double *planted, double *other)
{
    size_t hw = f->h * f->w, np = 0, no = 0;
    float *buf = malloc(f->K * hw * sizeof *buf);
    for (size_t i = 0; i < f->N && buf; i++) {
        const float *x;
        if (f->get(f->ctx, i, 1, buf, &x))
            break;
        for (size_t u = 0; u < f->K; u++) {
            int hot = 0;
            for (size_t p = 0; p < hw; p++)
                hot |= x[u * hw + p] > (float)thr[u];
            if (plant_of((int)u) >= 0)
                np += (size_t)hot;
            else
                no += (size_t)hot;
        }
    }
    free(buf);
    *planted = (double)np / ((double)f->N * NPLANT);
    *other = (double)no / ((double)f->N * (double)(f->K - NPLANT));
}

static void goal(const char *id, const char *what, double measured, const char *unit, const char *limit, double ratio,
                 const char *ratio_unit, double target, int higher_better)
{
    int met = higher_better ? ratio >= target : ratio <= target;
    printf("goal %-3s %-52s %9.3f %-4s  limit %-34s ratio %7.2f%s  (goal %s %g%s)  %s\n", id, what, measured, unit,
           limit, ratio, ratio_unit, higher_better ? ">=" : "<=", target, ratio_unit, met ? "met" : "NOT met");
}

/* NetDissect-Lite's quantile + tally per image, from the 120-image
 * fixture's meta.json (measured by the fixture's maker on this machine). */
static double ndl_per_image(void)
{
    const char *sh = getenv("ND_SHARED") ? getenv("ND_SHARED") : "../shared";
    char p[4096];
    snprintf(p, sizeof p, "%s/fixtures/netdissect-lite-mini/meta.json", sh);
    char *t = nd_read_text(p);
    if (!t)
        return 0;
    const char *q = strstr(t, "\"quantile_s\""), *y = strstr(t, "\"tally_s\""), *n = strstr(t, "\"n_images\"");
    double v = 0;
    if (q && y && n) {
        double qs = atof(strchr(q, ':') + 1), ts = atof(strchr(y, ':') + 1), ni = atof(strchr(n, ':') + 1);
        v = ni > 0 ? (qs + ts) / ni : 0;
    }
    free(t);
    return v;
}

/* The issue's own NetDissect-Lite timings on this machine at 400 and 2,000
 * images (quantile + tally), 0 for other N. */
static double ndl_issue_seconds(size_t n) { return n == 400 ? 4.0 : n == 2000 ? 18.5 : 0; }

/* CPU seconds (user + system) of the finished child processes so far */
static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* `dissect units` as a user runs it, wall time (*cpu: its CPU seconds);
 * store NULL = decode the PNGs */
static double time_units_cli(const char *sub, const char *store, double *cpu)
{
    const char *bin = getenv("ND_BIN") ? getenv("ND_BIN") : "build/dissect";
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' units --dataset '%s' --features '%s/features.npy' --field -64,163,16 --out '%s/units-out' "
             "%s%s%s >/dev/null 2>&1",
             bin, sub, sub, sub, store ? "--label-store '" : "", store ? store : "", store ? "'" : "");
    double t0 = now(), c0 = children_cpu();
    int rc = system(cmd);
    double t = now() - t0;
    *cpu = children_cpu() - c0;
    if (rc != 0) {
        printf("  dissect units failed (exit %d): %s\n", rc, cmd);
        return -1;
    }
    return t;
}

/* the first n images' activations as sub/features.npy (for the CLI runs) */
static int write_prefix_npy(const char *sub, const nd_features *f, size_t n)
{
    char p[4200], tmp[4300];
    snprintf(p, sizeof p, "%s/features.npy", sub);
    size_t shape[4] = {n, f->K, f->h, f->w}, per = f->K * f->h * f->w;
    struct stat st;
    char hdr[256];
    size_t hl = npy_header(hdr, sizeof hdr, NPY_F32, 4, shape);
    if (stat(p, &st) == 0 && (size_t)st.st_size == hl + n * per * sizeof(float))
        return 0;
    snprintf(tmp, sizeof tmp, "%s.partial", p);
    FILE *o = fopen(tmp, "wb");
    int ok = o && fwrite(hdr, 1, hl, o) == hl;
    float *buf = malloc(256 * per * sizeof *buf);
    for (size_t i = 0; ok && buf && i < n; i += 256) {
        size_t m = n - i < 256 ? n - i : 256;
        const float *x;
        ok = f->get(f->ctx, i, m, buf, &x) == 0 && fwrite(x, sizeof(float), m * per, o) == m * per;
    }
    free(buf);
    if (o && fclose(o))
        ok = 0;
    if (!ok || !buf || rename(tmp, p))
        return nd_fail("%s: cannot write", p);
    return 0;
}

/* a dataset folder holding the first n rows of dir's index (sharing its PNGs) */
static int make_subset(const char *dir, const char *sub, size_t n)
{
    if (nd_mkdirs(sub))
        return -1;
    const char *files[] = {"category.csv", "label.csv", "c_color.csv", "c_object.csv", "c_part.csv",
                           "c_material.csv", "c_scene.csv", "c_texture.csv", "images"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s/%s", dir, files[k]);
        snprintf(b, sizeof b, "%s/%s", sub, files[k]);
        unlink(b);
        if (symlink(a, b) && errno != EEXIST)
            return nd_fail("%s: %s", b, strerror(errno));
    }
    char a[4300], b[4300], line[4096];
    snprintf(a, sizeof a, "%s/index.csv", dir);
    snprintf(b, sizeof b, "%s/index.csv", sub);
    FILE *in = fopen(a, "r"), *out = fopen(b, "w");
    if (!in || !out)
        return nd_fail("%s: cannot copy the index", b);
    for (size_t k = 0; k <= n && fgets(line, sizeof line, in); k++)
        fputs(line, out);
    fclose(in);
    return fclose(out) ? nd_fail("%s: write failed", b) : 0;
}

/* Bring the activations into the page cache first and time that on its
 * own: a cold first pass measures the disk, not the dissector. */
static void warm_pages(const nd_features *f, size_t n)
{
    double t0 = now(), bytes = (double)n * K * H * W * 4;
    const float *x;
    float dummy[1];
    volatile unsigned acc = 0; /* volatile: the reads must happen */
    for (size_t i = 0; i < n; i += 256) {
        f->get(f->ctx, i, 1, dummy, &x);
        size_t m = n - i < 256 ? n - i : 256;
        const unsigned char *b = (const unsigned char *)x;
        for (size_t off = 0; off < m * K * H * W * 4; off += 4096)
            acc += b[off];
    }
    printf("first read of the activations (page cache):   %8.2f s  (%.2f GB/s)\n", now() - t0,
           bytes / (now() - t0) / 1e9);
}

/* Goal 2: the thresholds, best of 5 (one call is short at small N), and
 * that they equal the histogram method's.  Also the CPU seconds of the
 * best call, which load does not inflate: bytes / (CPU / 2) is the rate
 * two idle cores would reach if the pass scaled perfectly - an upper
 * bound, printed beside the wall-clock goal.  Seconds, or -1; thr[K]. */
/* Best of at least 5 calls and 0.25 s of calls (at N = 400 a call is ~3 ms,
 * and two threads' start-up jitters by 1.5-2x from call to call), with that
 * call's CPU seconds; the median is printed beside it. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double time_thresholds(const nd_features *f, size_t n, double *thr)
{
    enum { MAXREP = 200 };
    double bytes = (double)n * K * H * W * 4, t_thr = 1e30, t_thr_worst = 0, c_thr = 0, l0 = load1(), ts[MAXREP];
    double bw_before = bandwidth_beside();
    nd_thr_method method = ND_THR_AUTO;
    int reps = 0;
    for (double spent = 0; reps < MAXREP && (reps < 5 || spent < 0.25); reps++) {
        double t0 = now(), c0 = cpu_seconds();
        if (nd_thresholds_by(f, 0.005, 0, ND_THR_AUTO, (nd_progress){0}, thr, &method))
            return -1;
        double dt = now() - t0, dc = cpu_seconds() - c0;
        if (dt < t_thr)
            t_thr = dt, c_thr = dc;
        t_thr_worst = dt > t_thr_worst ? dt : t_thr_worst;
        ts[reps] = dt, spent += dt;
    }
    double bw = higher(bw_before, bandwidth_beside());
    qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
    int passes = method == ND_THR_STREAM ? 1 : 2;
    printf("thresholds (%-9s):                       %8.3f s  (%.2f GB/s per pass; best of %d, median %.3f s, worst %.3f s; "
           "CPU %.3f s; load %.1f)\n",
           nd_thr_method_name(method), t_thr, passes * bytes / t_thr / 1e9, reps, ts[reps / 2], t_thr_worst, c_thr, l0);
    double thr2[K];
    nd_thresholds_by(f, 0.005, 0, ND_THR_HISTOGRAM, (nd_progress){0}, thr2, NULL);
    printf("  thresholds identical to the two-pass histogram method: %s\n",
           memcmp(thr, thr2, K * sizeof *thr) ? "NO" : "yes");
    char lim[128], what[128];
    snprintf(lim, sizeof lim, "%.1f ms = 1 pass at %.1f GB/s", 1e3 * bytes / (bw * 1e9), bw);
    snprintf(what, sizeof what, "thresholds, exact, N=%zu (ms)", n);
    goal("2", what, 1e3 * t_thr, "ms", lim, 100 * bytes / (bw * 1e9) / t_thr, "%", 60, 1);
    printf("  read bandwidth beside it: %.1f GB/s before, %.1f after the timed calls (limit: the higher)%s\n", bw_before,
           bw, drifted(bw_before, bw));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  from CPU time: %.1f GB/s per CPU second, %.1f GB/s on %ld idle cores if perfectly parallel "
           "(<= %.0f%% of the measured bandwidth)\n",
           bytes / c_thr / 1e9, bytes / c_thr * (double)ncpu / 1e9, ncpu, 100 * bytes / c_thr * (double)ncpu / 1e9 / bw);
    return t_thr;
}

/* `dissect units` best of `reps` runs (wall), with the CPU seconds of that
 * run; store NULL = PNGs decoded.  -1 on failure. */
static double best_units_cli(const char *sub, const char *store, int reps, double *cpu)
{
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double c, t = time_units_cli(sub, store, &c);
        if (t < 0)
            return -1;
        if (best < 0 || t < best)
            best = t, *cpu = c;
    }
    return best;
}

/* Goal 3: `dissect units` end to end at N <= 2,000, PNGs decoded and with a
 * prepared store (best of 3 each), against NetDissect-Lite's quantile + tally. */
static int units_goals(const char *sub, const nd_features *full, size_t n)
{
    char lim[128], what[128];
    double ndl = ndl_per_image();
    if (n > 2000 || ndl <= 0)
        return 0;
    if (write_prefix_npy(sub, full, n))
        return -1;
    char cli_store[2300];
    snprintf(cli_store, sizeof cli_store, "%s/cli.store", sub);
    unlink(cli_store);
    double cu = 0, cs = 0, l0 = load1();
    double tu = best_units_cli(sub, NULL, 3, &cu);
    time_units_cli(sub, cli_store, &cs); /* prepares the store */
    double ts = best_units_cli(sub, cli_store, 3, &cs);
    printf("dissect units, N=%zu, best of 3: PNGs %.3f s (CPU %.3f s), store %.3f s (CPU %.3f s); load %.1f -> %.1f\n",
           n, tu, cu, ts, cs, l0, load1());
    double ref = ndl_issue_seconds(n) > 0 ? ndl_issue_seconds(n) : ndl * (double)n;
    snprintf(lim, sizeof lim, "NDL %.1f s (%s)", ref, ndl_issue_seconds(n) > 0 ? "issue, this machine" : "meta.json x N");
    snprintf(what, sizeof what, "dissect units, N=%zu, PNGs decoded (s)", n);
    goal("3", what, tu, "s", lim, ref / tu, "x", n >= 2000 ? 30 : 20, 1);
    /* the issue sets the store's goal at 2,000 images only */
    snprintf(what, sizeof what, "dissect units, N=%zu, prepared label store (s)", n);
    if (n >= 2000)
        goal("3", what, ts, "s", lim, ref / ts, "x", 50, 1);
    else
        printf("         %-52s %9.3f s     limit %-34s ratio %7.2fx  (no goal at this N)\n", what, ts, lim, ref / ts);
    printf("  (meta.json's NDL rate %.1f ms/image x %zu = %.1f s)\n", 1e3 * ndl, n, ndl * (double)n);
    /* CPU time is not inflated by other programs' load: CPU / cores is the
     * wall time this would take on idle cores if perfectly parallel */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  CPU: %.3f s (PNGs) and %.3f s (store) on %ld cores: >= %.3f / %.3f s wall when idle, "
           "ratios <= %.1fx / %.1fx\n",
           cu, cs, ncpu, cu / (double)ncpu, cs / (double)ncpu, ref / (cu / (double)ncpu), ref / (cs / (double)ncpu));
    return 0;
}

/* One rotated point as the sweep runs it (nd_dissect_once at the sweep's
 * budget: held in memory, or sieved in one rotation pass); prints how,
 * wall and CPU seconds and the load; wall seconds, or -1. */
static double rotated_point(const broden *ds, const nd_features *rf, const nd_options *o, const char *what,
                            nd_result *r)
{
    nd_once_stats st;
    double t0 = now(), c0 = cpu_seconds(), l0 = load1();
    long faults = major_faults();
    if (nd_dissect_once(ds, rf, o, ND_ONCE_BUDGET, NULL, r, &st))
        return -1;
    double t = now() - t0, cpu = cpu_seconds() - c0;
    faults = major_faults() - faults;
    printf("%-46s %6.2f s  (CPU %.2f s, load %.1f; %s", what, t, cpu, l0,
           st.how == ND_ONCE_HELD ? "held in memory: 1 rotation pass" : st.how == ND_ONCE_SIEVED
                                                                           ? "sieved: 1 rotation pass"
                                                                           : "streamed");
    if (st.how == ND_ONCE_SIEVED)
        printf(", %s %.2f s (sample %.2f s) + tally %.2f s; kept %.1f%% of the maps (%.1f%% of them whole, reach %d): "
               "%.3f GB in memory + %.3f GB through the temporary file",
               st.passes == 1 ? "pass" : "2 passes (a guessed floor missed)", st.seconds_pass, st.seconds_guess,
               r->seconds_tally,
               100.0 * (double)st.kept / (double)st.maps, st.kept ? 100.0 * (double)st.whole / (double)st.kept : 0.0,
               st.reach, (double)st.held / 1e9, (double)st.spilled / 1e9);
    printf("; %ld pages from disk)\n", faults);
    fflush(stdout);
    return t;
}

/* A 6-point alpha sweep of one draw (Q), each point as the sweep runs it;
 * seconds, or -1.  R: scratch K x K. */
static double sweep6(const broden *ds, const nd_features *f, const nd_options *o, const double *Q, double *R)
{
    double alphas[6] = {0, 0.2, 0.4, 0.6, 0.8, 1.0}, t0 = now(), c0 = cpu_seconds();
    for (int a = 0; a < 6; a++) {
        nd_features rf;
        nd_result r;
        char what[64];
        snprintf(what, sizeof what, "  alpha %.1f:", alphas[a]);
        if (alphas[a] > 0) {
            rot_power(R, Q, K, alphas[a]);
            rot_features(&rf, f, R);
            double t = rotated_point(ds, &rf, o, what, &r);
            rot_features_free(&rf);
            if (t < 0)
                return -1;
        } else {
            double ta = now(), ca = cpu_seconds();
            if (nd_dissect(ds, f, o, &r))
                return -1;
            printf("%-46s %6.2f s  (CPU %.2f s, load %.1f; unrotated)\n", what, now() - ta, cpu_seconds() - ca,
                   load1());
        }
        printf("    unique %d per-category  (%.1f s so far)\n", r.counts.unique_percat, now() - t0);
        fflush(stdout);
        nd_result_free(&r);
    }
    double t = now() - t0;
    printf("6-point alpha sweep, one draw:                %8.2f s  (CPU %.2f s, load %.1f)\n", t, cpu_seconds() - c0,
           load1());
    return t;
}

typedef struct {
    double thr, tally, iou, rot_pass, point, sweep; /* seconds at this N */
} scale_times;

/* Label preparation (decode the PNGs, write the store), then an open with
 * the prepared store: both timed. */
static int open_timed(const char *sub, const char *store, size_t n, broden **ds)
{
    double t0 = now();
    if (broden_open_store(ds, sub, NULL, store))
        return -1;
    double t_prep = now() - t0;
    broden_free(*ds);
    t0 = now();
    if (broden_open_store(ds, sub, NULL, store))
        return -1;
    double t_open = now() - t0;
    printf("label preparation (decode PNGs, write store): %8.2f s  (%.0f images/s)\n", t_prep, n / t_prep);
    printf("open with prepared store:                     %8.2f s\n", t_open);
    return 0;
}

/* One timed rotation pass between two sgemm readings: the pass's time
 * and the higher reading; prints both.  A short pass (under 1 s) is
 * repeated and its best counts, as a reading is the best of 6 products:
 * the first pass also pays first touches (0.06 s of 0.12 s at 400
 * images), and one 35 ms pass can fall in a slow moment of the host.  So
 * it runs at least 3 more times, and on until the repeats have taken as
 * long as a reading's 6 products (about 0.35 s), at most 12.  Returns
 * whether the readings agree (within 20%). */
static int rotation_attempt(const nd_features *rf, float *bufs, double sgemm_peak, double *t_rot, double *peak)
{
    double peak_before = sgemm_gflops();
    long faults = major_faults();
    double t0 = now();
    rot_pass(rf, bufs);
    double first = *t_rot = now() - t0, spent = 0;
    int reps = 0;
    while (first < 1.0 && reps < 12 && (reps < 3 || spent < 0.35)) {
        t0 = now();
        rot_pass(rf, bufs);
        double t = now() - t0;
        *t_rot = t < *t_rot ? t : *t_rot;
        spent += t, reps++;
    }
    faults = major_faults() - faults;
    if (*t_rot < first)
        printf("rotation pass: first %.3f s, best of %d more %.3f s", first, reps, *t_rot);
    else
        printf("rotation pass: %.3f s", *t_rot);
    printf(" (%ld pages read from disk: %s)\n", faults,
           faults ? "the page cache did not hold all the activations" : "all from the page cache");
    double peak_after = sgemm_gflops();
    *peak = higher(peak_before, peak_after);
    const char *drift = drifted(peak_before, peak_after);
    printf("  sgemm 2048^3 beside it: %.1f GFLOP/s before, %.1f after (limit: the higher; %.1f at the run's start)%s\n",
           peak_before, peak_after, sgemm_peak, drift);
    return !*drift;
}

/* Goal 5: the rotation pass against the sgemm peak beside it.  A pass
 * whose two readings disagree ran while the machine's speed changed (on
 * the shared VMs the 2-thread sgemm moves between 220 and 320 GFLOP/s
 * within seconds), so it is measured again, up to 3 attempts; the best
 * ratio counts and every attempt is printed. */
static double rotation_goal(const nd_features *rf, float *bufs, size_t n, double sgemm_peak)
{
    double flop = 2.0 * K * K * (double)n * H * W, best_ratio = 0, best_gf = 0, best_peak = 0, best_t = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        double t, peak;
        int steady = rotation_attempt(rf, bufs, sgemm_peak, &t, &peak);
        double gf = flop / t / 1e9;
        if (100 * gf / peak > best_ratio)
            best_ratio = 100 * gf / peak, best_gf = gf, best_peak = peak, best_t = t;
        if (steady)
            break;
        printf("  attempt %d: %.1f GFLOP/s = %.1f%% of %.1f%s\n", attempt + 1, gf, 100 * gf / peak, peak,
               attempt < 2 ? "; measured again" : "");
    }
    char lim[128];
    snprintf(lim, sizeof lim, "sgemm peak %.1f GFLOP/s", best_peak);
    goal("5", "rotation, one pass over the rotated source (GFLOP/s)", best_gf, "GF/s", lim, best_ratio, "%", 80, 1);
    return best_t;
}

/* Rotation alone (one pass, goal 5), one rotated alpha point, and the
 * 6-point sweep when asked; Q and R are filled here. */
static int rotated_stages(const broden *ds, const nd_features *f, const nd_options *o, size_t n, int with_sweep,
                          double sgemm_peak, double *Q, double *R, double *t_rot, double *t_point, double *t_sweep)
{
    rot_haar(Q, K, 1);
    rot_power(R, Q, K, 0.5);
    nd_features rf;
    rot_features(&rf, f, R);
    float *bufs = rot_pass_bufs(&rf);
    if (!bufs) {
        rot_features_free(&rf);
        return -1;
    }
    *t_rot = rotation_goal(&rf, bufs, n, sgemm_peak);
    free(bufs);
    nd_result r;
    if ((*t_point = rotated_point(ds, &rf, o, "one rotated alpha point (rotate+thr+tally+IoU):", &r)) < 0)
        return -1;
    printf("  detectors %d, unique %d per-category / %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);
    nd_result_free(&r);
    rot_features_free(&rf);
    *t_sweep = with_sweep ? sweep6(ds, f, o, Q, R) : 0;
    return *t_sweep < 0 ? -1 : 0;
}

static int run_scale(const char *dir, const nd_features *full, size_t n, int with_sweep, double sgemm_peak,
                     scale_times *st)
{
    char sub[2048], store[2200];
    snprintf(sub, sizeof sub, "%s/n%zu", dir, n);
    if (make_subset(dir, sub, n))
        return -1;
    snprintf(store, sizeof store, "%s/labels.store", sub);
    unlink(store);
    nd_features f = prefix(full, n);
    double bytes = (double)n * K * H * W * 4;
    printf("\n== N = %zu images (activations %.2f GB)\n", n, bytes / 1e9);

    broden *ds;
    if (open_timed(sub, store, n, &ds))
        return -1;
    double t0;

    warm_pages(&f, n);
    nd_options o;
    nd_options_default(&o);
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
    double *thr = malloc(K * sizeof *thr);
    double t_thr = time_thresholds(&f, n, thr);
    if (t_thr < 0)
        return -1;

    nd_result r;
    memset(&r, 0, sizeof r);
    r.opt = o;
    nd_tally_alloc(&r.tally, K, broden_num_labels(ds), broden_num_categories(ds));
    t0 = now();
    if (nd_tally_run(ds, &f, &o, thr, 0, n, &r.tally))
        return -1;
    double t_tally = now() - t0;
    printf("tally:                                        %8.3f s  (%.0f images/s, %.2f GB/s)\n", t_tally,
           n / t_tally, bytes / t_tally / 1e9);
    r.thresholds = thr;
    t0 = now();
    nd_score(ds, &r);
    double t_iou = now() - t0;
    printf("IoU and labels:                               %8.3f s\n", t_iou);
    printf("dissection of the unrotated layer:            %8.3f s\n", t_thr + t_tally + t_iou);
    printf("  detectors %d, unique %d per-category / %d top-label\n", r.counts.detectors,
           r.counts.unique_percat, r.counts.unique_toplabel);
    double miou, sp, so;
    int others, found = check_planted(ds, &r, 1, &miou, &others);
    crossing_share(&f, thr, &sp, &so);
    printf("  maps above threshold: %.1f%% of planted units' (image, unit) maps, %.2f%% of the others'\n",
           100 * sp, 100 * so);
    printf("goal 1   planted detectors found: %d of %d (mean IoU %.3f), unplanted detectors %d  %s\n", found,
           NPLANT, miou, others, found == NPLANT ? "self-check ok" : "SELF-CHECK FAILED");
    r.thresholds = NULL;
    nd_result_free(&r);
    int self_ok = found == NPLANT;

    if (units_goals(sub, full, n))
        return -1;

    double *Q = malloc(sizeof(double) * K * K), *R = malloc(sizeof(double) * K * K);
    double t_rot, t_point, t_sweep;
    if (rotated_stages(ds, &f, &o, n, with_sweep, sgemm_peak, Q, R, &t_rot, &t_point, &t_sweep))
        return -1;
    free(Q), free(R), free(thr);
    broden_free(ds);
    printf("peak anonymous resident memory so far:        %8.2f GB  (mapped inputs excluded)\n", peak_anon_kb / 1e6);
    fflush(stdout);
    *st = (scale_times){t_thr, t_tally, t_iou, t_rot, t_point, t_sweep};
    return self_ok ? 0 : nd_fail("self-check failed: planted detectors not found at N = %zu", n);
}

/* --point-only: the rotated alpha point alone, reps times, on the first n
 * images (the prepared store reused when there is one), for iterating on
 * the sieve and the tally without the rest of the benchmark. */
static int point_only(const char *dir, const nd_features *full, size_t n, int reps)
{
    char sub[2048], store[2200];
    /* all of the data: the folder itself, so that runs at once do not
     * rewrite a subset's index under each other (the store is written
     * by rename, so a race there only costs time) */
    int all = n >= full->N;
    snprintf(sub, sizeof sub, all ? "%s" : "%s/n%zu", dir, n);
    snprintf(store, sizeof store, "%s/labels.store", sub);
    broden *ds;
    if ((!all && make_subset(dir, sub, n)) || broden_open_store(&ds, sub, NULL, store))
        return -1;
    nd_features f = prefix(full, n), rf;
    warm_pages(&f, n);
    nd_options o;
    nd_options_default(&o);
    o.have_field = 1, o.field_offset = -64, o.field_size = 163, o.field_stride = 16;
    double *Q = malloc(sizeof(double) * K * K), *R = malloc(sizeof(double) * K * K);
    rot_haar(Q, K, 1);
    rot_power(R, Q, K, 0.5);
    rot_features(&rf, &f, R);
    int rc = 0;
    for (int k = 0; k < reps && !rc; k++) {
        nd_result r;
        char what[64];
        snprintf(what, sizeof what, "rotated point at N = %zu (run %d):", n, k + 1);
        rc = rotated_point(ds, &rf, &o, what, &r) < 0 ? -1 : 0;
        if (!rc)
            printf("  detectors %d, unique %d per-category\n", r.counts.detectors, r.counts.unique_percat);
        nd_result_free(&r);
    }
    rot_features_free(&rf);
    free(Q), free(R);
    broden_free(ds);
    return rc;
}

/* Goal 4 at full Broden scale: measured if this run had N = 63,305,
 * otherwise extrapolated linearly from the largest N (the stages are
 * linear in N once the fixed costs are small; say so). */
static void full_scale_goals(size_t n, const scale_times *st, double peak_gb)
{
    const double NF = 63305;
    double s = NF / (double)n;
    int measured = n == 63305;
    const char *how = measured ? "measured" : "linear model from this run's largest N";
    char lim[128], what[160];
    printf("\nfull Broden scale (63,305 images; %s%s):\n", how, measured ? "" : ", not a measurement");
    double unrot = (st->thr + st->tally + st->iou) * s, point = st->point * s;
    double sweep = st->sweep > 0 ? st->sweep * s : unrot + 5 * point;
    snprintf(lim, sizeof lim, "8 s");
    snprintf(what, sizeof what, "unrotated layer at 63,305 (s, %s)", measured ? "measured" : "model");
    goal("4", what, unrot, "s", lim, unrot / 8, "x", 1, 0);
    snprintf(what, sizeof what, "one rotated alpha point at 63,305 (s, %s)", measured ? "measured" : "model");
    goal("4", what, point, "s", "15 s", point / 15, "x", 1, 0);
    snprintf(what, sizeof what, "6-point sweep at 63,305 (s, %s)",
             st->sweep > 0 ? (measured ? "measured" : "model") : "model: unrotated + 5 points");
    goal("4", what, sweep, "s", "90 s", sweep / 90, "x", 1, 0);
    goal("4", "peak anonymous memory (GB, this run)", peak_gb, "GB", "1 GB", peak_gb, "x", 1, 0);
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    size_t n = 6000;
    int sweep = 0, gen_only = 0, reps = 0;
    const char *cache = "results/bench-cache";
    char scales[256] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--images") && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--scales") && i + 1 < argc)
            snprintf(scales, sizeof scales, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--sweep"))
            sweep = 1;
        else if (!strcmp(argv[i], "--point-only") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--generate-only"))
            gen_only = 1;
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
            cache = argv[++i];
        else {
            fprintf(stderr, "usage: bench_broden [--images N] [--scales N1,N2] [--sweep] [--cache DIR] [--generate-only]\n"
                            "                    [--point-only REPS]\n");
            return 2;
        }
    }
    char dir[1024], absdir[1024];
    /* v2: with planted detectors */
    snprintf(dir, sizeof dir, "%s/broden-synth-v2-%zu", cache, n);
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
    printf("machine limits: read bandwidth %.1f GB/s (2 threads, %d-byte loads), sgemm peak %.1f GFLOP/s (2048^3)\n", bw_gbs, bw_width, sg);
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
    scale_times times = {0};
    size_t last = n;
    if (reps > 0) {
        rc = point_only(dir, &f, scales[0] ? (size_t)atol(scales) : n, reps);
        sampling = 0;
        pthread_join(st, NULL);
        if (rc)
            fprintf(stderr, "bench_broden: %s\n", nd_errmsg());
        printf("peak anonymous resident memory: %.2f GB\n", peak_anon_kb / 1e6);
        return rc ? 1 : 0;
    }
    if (!scales[0] && n == 6000)
        snprintf(scales, sizeof scales, "400,2000,6000"); /* make bench: the issue's three sizes */
    else if (!scales[0])
        snprintf(scales, sizeof scales, "%zu", n);
    char *save, *sc = strdup(scales);
    for (char *t = strtok_r(sc, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        size_t m = (size_t)atol(t);
        if (m > n)
            m = n;
        /* the sweep at the last scale listed (--images 63305 --scales 16000
         * --sweep: a 16,000-image sweep on the full-scale data) */
        rc = run_scale(dir, &f, m, sweep && !*save, sg, &times);
        last = m;
    }
    free(sc);
    if (!rc)
        full_scale_goals(last, &times, peak_anon_kb / 1e6);
    sampling = 0;
    pthread_join(st, NULL);
    if (rc) {
        fprintf(stderr, "bench_broden: %s\n", nd_errmsg());
        return 1;
    }
    printf("\npeak anonymous resident memory: %.2f GB (sampled every 20 ms; VmHWM %.2f GB counts the mapped "
           "activations' pages too)\n", peak_anon_kb / 1e6, hwm_kb() / 1e6);
    npy_close(&a);
    return 0;
}
