/* test_probe.c - the probes: the upsampling adjoint, the loss gradient
 * against finite differences, a concept planted along a direction spread
 * over many units (the linear probe finds it, no single unit does, units
 * needed is large), rotation equivariance in double precision (linear probe
 * unchanged, binary probe and single units changed), and IBD on a case
 * solvable by hand. */
#include "core/broden.h"
#include "core/err.h"
#include "core/ibd.h"
#include "core/probe.h"
#include "core/softplusf.h"
#include "core/probe_bins.h"
#include "core/upsample.h"
#include "core/upsample_adjoint.h"
#include "core/npy.h"
#include "linalg/rotation.h"
#include "models/image.h"
#include "tests/testutil.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_adjoint(void)
{
    test_group("upsampling adjoint: <U x, r> = <x, U^T r>");
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    for (int rule = 0; rule < 2; rule++) {
        up_plan p;
        int h = 13, w = 13, sh = 113, sw = 113;
        if (rule ? up_plan_nd(&p, h, w, sh, sw, 227, -60, 155, 16) : up_plan_lite(&p, h, w, sh, sw)) {
            CHECK(0, "plan: %s", nd_errmsg());
            continue;
        }
        double *x = malloc(sizeof *x * (size_t)(h * w)), *ux = malloc(sizeof *ux * (size_t)(sh * sw));
        double *r = malloc(sizeof *r * (size_t)(sh * sw)), *utr = malloc(sizeof *utr * (size_t)(h * w));
        double *tmp = malloc(sizeof *tmp * (size_t)(h * sw));
        float *xf = malloc(sizeof *xf * (size_t)(h * w)), *of = malloc(sizeof *of * (size_t)(sh * sw));
        float *tf = malloc(sizeof *tf * (size_t)(h * sw));
        for (int i = 0; i < h * w; i++)
            x[i] = gsl_ran_gaussian(g, 1), xf[i] = (float)x[i];
        for (int i = 0; i < sh * sw; i++)
            r[i] = gsl_ran_gaussian(g, 1);
        up_apply_double(&p, x, ux, tmp);
        up_adjoint(&p, r, utr, tmp);
        double a = 0, b = 0, scale = 0, worst = 0;
        for (int i = 0; i < sh * sw; i++)
            a += ux[i] * r[i], scale += fabs(ux[i] * r[i]);
        for (int i = 0; i < h * w; i++)
            b += x[i] * utr[i];
        /* the double map is the float one before rounding: agree to float precision */
        up_apply(&p, xf, of, tf);
        for (int i = 0; i < sh * sw; i++)
            worst = fmax(worst, fabs(of[i] - ux[i]) / (1 + fabs(ux[i])));
        /* two sums of the same 12769 products: agree to rounding (1e-12 of their size) */
        CHECK(fabs(a - b) <= 1e-12 * scale, "%s: <Ux,r> %.15g vs <x,U^T r> %.15g (diff %.3g)",
              rule ? "ND" : "NDL", a, b, fabs(a - b));
        CHECK(worst <= 1e-6, "%s: up_apply_double vs up_apply: worst rel %.3g", rule ? "ND" : "NDL", worst);
        printf("  %s: |<Ux,r> - <x,U^T r>| = %.3g (scale %.3g); double vs float upsampling %.3g\n",
               rule ? "ND" : "NDL", fabs(a - b), scale, worst);
        free(x), free(ux), free(r), free(utr), free(tmp), free(xf), free(of), free(tf);
        up_plan_free(&p);
    }
    gsl_rng_free(g);
}

static void test_gradient(void)
{
    test_group("loss gradient vs central differences");
    size_t P = 300, K = 7, C = 3, K1 = K + 1;
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    double *X = malloc(sizeof *X * P * K), *W = malloc(sizeof *W * C * K1), *G = malloc(sizeof *G * C * K1);
    double f[3], fp[3], fm[3], *Gs = malloc(sizeof *Gs * C * K1);
    float *T = malloc(sizeof *T * P * C);
    uint64_t *present = malloc(sizeof *present * P);
    int cat[3] = {0, 1, 0};
    for (size_t i = 0; i < P * K; i++)
        X[i] = gsl_ran_gaussian(g, 1);
    for (size_t i = 0; i < P * C; i++)
        T[i] = (float)gsl_rng_uniform(g) * (gsl_rng_uniform(g) < 0.3f);
    for (size_t i = 0; i < P; i++)
        present[i] = gsl_rng_uniform(g) < 0.8 ? 3 : 1; /* some pixels without category 1 */
    for (size_t i = 0; i < C * K1; i++)
        W[i] = gsl_ran_gaussian(g, 0.7);
    pr_problem pb = {P, K, C, NULL, X, T, present, cat, NULL, NULL, 2, NULL};
    double l2 = 0.05, worst = 0;
    CHECK(pr_problem_weights(&pb) == 0, "weights");
    CHECK(pr_eval(&pb, l2, W, f, G) == 0, "eval");
    for (size_t j = 0; j < C * K1; j++) {
        double h = 1e-5, w0 = W[j];
        W[j] = w0 + h;
        pr_eval(&pb, l2, W, fp, Gs);
        W[j] = w0 - h;
        pr_eval(&pb, l2, W, fm, Gs);
        W[j] = w0;
        size_t c = j / K1;
        double fd = (fp[c] - fm[c]) / (2 * h);
        /* central differences of a smooth loss: error O(h^2 f''') ~ 1e-10, plus
         * rounding eps f / h ~ 1e-11; 1e-7 absolute leaves room for both */
        worst = fmax(worst, fabs(fd - G[j]));
        /* the other concepts' losses do not move */
        CHECK(fp[(c + 1) % C] == f[(c + 1) % C], "concept %zu's loss moved with concept %zu's weight",
              (c + 1) % C, c);
    }
    CHECK(worst <= 1e-7, "gradient vs central differences: worst abs error %.3g", worst);
    printf("  gradient vs central differences: worst abs error %.3g over %zu entries\n", worst, C * K1);
    /* the float path (sgemm, vectorised softplus) against the double one on
     * the same (float-exact) design: float rounding, ~1e-6 relative */
    float *Xf = malloc(sizeof *Xf * P * K);
    for (size_t i = 0; i < P * K; i++)
        Xf[i] = (float)X[i], X[i] = Xf[i];
    pr_problem pf = pb;
    pf.Xd = NULL, pf.Xf = Xf;
    double ff[3], *Gf = malloc(sizeof *Gf * C * K1), wf = 0, wg = 0, gs = 0;
    pr_eval(&pb, l2, W, f, G);
    CHECK(pr_eval(&pf, l2, W, ff, Gf) == 0, "float eval");
    for (size_t c = 0; c < C; c++)
        wf = fmax(wf, fabs(ff[c] - f[c]) / f[c]);
    for (size_t j = 0; j < C * K1; j++)
        wg = fmax(wg, fabs(Gf[j] - G[j])), gs = fmax(gs, fabs(G[j]));
    CHECK(wf <= 1e-6 && wg <= 1e-5 * gs, "float vs double loss: rel %.3g, gradient %.3g of %.3g", wf, wg, gs);
    printf("  float vs double evaluation: loss rel %.3g, gradient abs %.3g (largest entry %.3g)\n", wf, wg, gs);
    free(Xf), free(Gf);
    free(X), free(W), free(G), free(Gs), free(T), free(present), free(pb.wpos), free(pb.wneg);
    gsl_rng_free(g);
}

/* ---- a synthetic Broden dataset with concepts planted along directions ---- */
#define SN 80  /* images */
#define SK 24  /* units */
#define SH 8   /* feature map h = w */
#define SL 16  /* label map sh = sw (image 32 x 32) */

static void put_text(const char *dir, const char *name, const char *text)
{
    char p[8400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* labels: per image a rectangle of feature cells of concept 1 ("blob") and
 * one of concept 2 ("bar"), each cell 2 x 2 label pixels; activations:
 * N(0,1) noise per unit plus 3 y_c(x) d_c with d_c = random signs / sqrt(24),
 * so each unit carries 3/sqrt(24) = 0.6 noise sds of either concept */
static const char *make_planted(double *d, float *acts, unsigned char *cells)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/planted", test_tmpdir());
    char img[4300], p[4400];
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(dir, 0777);
    mkdir(img, 0777);
    put_text(dir, "category.csv", "name,first,last,count,frequency\nobject,1,2,2,80\n");
    put_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,blob,object(80),80,1,\n"
                               "2,bar,object(80),80,1,\n");
    put_text(dir, "c_object.csv", "code,number,name,frequency,coverage\n1,1,blob,80,1\n2,2,bar,80,1\n");
    snprintf(p, sizeof p, "%s/index.csv", dir);
    FILE *idx = fopen(p, "w");
    fprintf(idx, "image,split,ih,iw,sh,sw,object\n");
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 11);
    for (int c = 0; c < 2; c++) {
        /* random signs, equal magnitudes: spread evenly over every unit */
        for (int k = 0; k < SK; k++)
            d[c * SK + k] = (gsl_rng_uniform(g) < 0.5 ? -1 : 1) / sqrt((double)SK);
    }
    unsigned char rgb[SL * SL * 3];
    for (int i = 0; i < SN; i++) {
        unsigned char *cl = cells + i * SH * SH;
        memset(cl, 0, SH * SH);
        for (int c = 1; c <= 2; c++) {
            int y0 = (int)gsl_rng_uniform_int(g, 5), x0 = (int)gsl_rng_uniform_int(g, 5);
            int hh = 2 + (int)gsl_rng_uniform_int(g, 3), ww = 2 + (int)gsl_rng_uniform_int(g, 3);
            for (int y = y0; y < y0 + hh && y < SH; y++)
                for (int x = x0; x < x0 + ww && x < SH; x++)
                    cl[y * SH + x] = (unsigned char)c;
        }
        memset(rgb, 0, sizeof rgb);
        for (int q = 0; q < SL * SL; q++)
            rgb[3 * q] = cl[(q / SL / 2) * SH + (q % SL) / 2];
        snprintf(p, sizeof p, "%s/im%d_object.png", img, i);
        img_save_png_rgb(p, rgb, SL, SL);
        fprintf(idx, "im%d.jpg,train,32,32,%d,%d,im%d_object.png\n", i, SL, SL, i);
        for (int k = 0; k < SK; k++)
            for (int q = 0; q < SH * SH; q++) {
                int c = cl[q];
                acts[((size_t)i * SK + (size_t)k) * SH * SH + (size_t)q] =
                    (float)(gsl_ran_gaussian(g, 1) + (c ? 3.0 * d[(c - 1) * SK + k] : 0));
            }
    }
    fclose(idx);
    gsl_rng_free(g);
    return dir;
}

static void options(pr_options *o)
{
    pr_options_default(o);
    /* 8 x 8 map on a 16 x 16 label grid: nodes at 1, 3, ..., 15 */
    o->field_offset = 0, o->field_size = 4, o->field_stride = 4, o->have_field = 1;
    o->double_precision = 1;
    o->gtol = 1e-10, o->ftol = 0, o->max_iter = 500; /* converge to the double-precision floor */
    o->threads = 2;
}

/* The obvious reference: the planted direction d as the probe, its best
 * train threshold over 400 levels, its test IoU (ND rule: every pixel of
 * every image counts toward A; labels at 16 x 16). */
static double planted_iou(const broden *ds, const float *acts, const double *dk, int label,
                          const unsigned char *train)
{
    up_plan pl;
    up_plan_nd(&pl, SH, SH, SL, SL, 32, 0, 4, 4);
    float *up = malloc(sizeof *up * SN * SL * SL), map[SH * SH];
    float lo = 1e30f, hi = -1e30f;
    for (int i = 0; i < SN; i++) {
        for (int q = 0; q < SH * SH; q++) {
            double s = 0;
            for (int k = 0; k < SK; k++)
                s += dk[k] * acts[((size_t)i * SK + (size_t)k) * SH * SH + (size_t)q];
            map[q] = (float)s;
        }
        up_apply(&pl, map, up + (size_t)i * SL * SL, NULL);
        for (int q = 0; q < SL * SL; q++)
            lo = fminf(lo, up[i * SL * SL + q]), hi = fmaxf(hi, up[i * SL * SL + q]);
    }
    double best = -1, bt = 0, test = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < (pass ? 1 : 400); j++) {
            double t = pass ? bt : lo + (hi - lo) * j / 400.0, I = 0, A = 0, G = 0;
            for (int i = 0; i < SN; i++) {
                if (train[i] != !pass)
                    continue;
                const broden_layer *ly;
                size_t nl;
                broden_image_layers(ds, (size_t)i, &ly, &nl);
                for (int q = 0; q < SL * SL; q++) {
                    int pos = ly[0].map[q] == label, m = up[i * SL * SL + q] > (float)t;
                    I += pos && m, A += m, G += pos;
                }
            }
            double v = I / (A + G - I);
            if (!pass && v > best)
                best = v, bt = t;
            if (pass)
                test = v;
        }
    free(up);
    up_plan_free(&pl);
    return test;
}

static void test_truth_lists(const broden *ds, const nd_features *f, const pr_result *r0);

static void test_planted_and_rotation(void)
{
    test_group("planted concepts: linear probe vs single units; Haar rotation in double precision");
    double d[2 * SK];
    float *acts = malloc(sizeof *acts * SN * SK * SH * SH);
    unsigned char *cells = malloc(SN * SH * SH);
    const char *dir = make_planted(d, acts, cells);
    broden *ds;
    char npyp[4300];
    snprintf(npyp, sizeof npyp, "%s/acts.npy", dir);
    size_t shape[4] = {SN, SK, SH, SH};
    npy_t npy;
    nd_features f;
    if (broden_open(&ds, dir, NULL) || npy_save(npyp, NPY_F32, 4, shape, acts) || npy_open(&npy, npyp) ||
        nd_features_from_npy(&f, &npy)) {
        CHECK(0, "synthetic dataset: %s", nd_errmsg());
        return;
    }
    pr_options o;
    options(&o);
    pr_result r0, r1;
    double *Q = malloc(sizeof *Q * SK * SK);
    rot_haar(Q, SK, 7);
    if (pr_run(ds, &f, NULL, &o, &r0) || pr_run(ds, &f, Q, &o, &r1)) {
        CHECK(0, "pr_run: %s", nd_errmsg());
        return;
    }
    test_truth_lists(ds, &f, &r0);
    CHECK(r0.C == 2 && r0.n_train == 40 && r0.n_test == 40, "2 concepts, 40 + 40 images (got %zu, %zu, %zu)",
          r0.C, r0.n_train, r0.n_test);
    double wrel = 0, dlin = 0, dbin = 0, dsingle = 0;
    for (size_t c = 0; c < r0.C; c++) {
        double planted = planted_iou(ds, acts, d + c * SK, r0.label[c], r0.train);
        double best_unit = 0;
        for (size_t u = 0; u < SK; u++) /* every unit's train IoU for this label */
            if (r0.unit_label[u] == r0.label[c])
                best_unit = fmax(best_unit, r0.unit_iou[u]);
        printf("  %s: planted direction test IoU %.4f; linear probe %.4f (train %.4f, %d iterations), "
               "binary %.4f, best single unit %zu: train %.4f test %.4f; units needed %d of %d\n",
               broden_label_name(ds, r0.label[c]), planted, r0.linear[c].test_iou, r0.linear[c].train_iou,
               r0.linear[c].iters, r0.binary[c].test_iou, (size_t)r0.unit[c] + 1, r0.single[c].train_iou,
               r0.single[c].test_iou, r0.units_needed[c], SK);
        /* the probe recovers the planted concept: within 0.03 of the direction's own IoU */
        CHECK(r0.linear[c].test_iou >= planted - 0.03, "linear %.4f vs planted %.4f", r0.linear[c].test_iou, planted);
        CHECK(r0.single[c].test_iou < 0.5 * r0.linear[c].test_iou && r0.single[c].train_iou < 0.5 * r0.linear[c].train_iou,
              "every single unit stays low: best %.4f (train %.4f) vs probe %.4f", r0.single[c].test_iou,
              r0.single[c].train_iou, r0.linear[c].test_iou);
        CHECK(r0.units_needed[c] >= SK / 3, "units needed %d of %d", r0.units_needed[c], SK);
        /* rotation: w' = Q w and the same test IoU */
        double e = 0, n = 0;
        for (size_t k = 0; k < SK; k++) {
            double qw = 0;
            for (size_t j = 0; j < SK; j++)
                qw += Q[k * SK + j] * r0.w[c * SK + j];
            e += (r1.w[c * SK + k] - qw) * (r1.w[c * SK + k] - qw), n += qw * qw;
        }
        wrel = fmax(wrel, sqrt(e / n));
        dlin = fmax(dlin, fabs(r1.linear[c].test_iou - r0.linear[c].test_iou));
        dbin = fmax(dbin, fabs(r1.binary[c].test_iou - r0.binary[c].test_iou));
        dsingle = fmax(dsingle, fabs(r1.single[c].test_iou - r0.single[c].test_iou));
        printf("  %s rotated: linear %.9f (was %.9f), binary %.4f (was %.4f), single unit %.4f (was %.4f), "
               "units needed %d (was %d)\n",
               broden_label_name(ds, r0.label[c]), r1.linear[c].test_iou, r0.linear[c].test_iou,
               r1.binary[c].test_iou, r0.binary[c].test_iou, r1.single[c].test_iou, r0.single[c].test_iou,
               r1.units_needed[c], r0.units_needed[c]);
    }
    /* double-precision fits to gtol 1e-10: the optima differ only by the
     * rounding of the float32 rotated activations (~1e-7 relative), so
     * w' = Q w within 1e-5; the scores keep a margin from the threshold, so
     * the test IoU is unchanged to 1e-6 */
    CHECK(wrel <= 1e-5, "||w' - Q w|| / ||Q w|| = %.3g (limit 1e-5)", wrel);
    CHECK(dlin < 1e-6, "linear probe test IoU changed by %.3g under rotation (limit 1e-6)", dlin);
    CHECK(dbin > 1e-3 && dsingle > 1e-3, "binary probe and single units change under rotation: %.3g, %.3g",
          dbin, dsingle);
    printf("  rotation: max ||w' - Q w||/||Q w|| %.3g, max |delta linear IoU| %.3g, max |delta binary| %.3g, "
           "max |delta single unit| %.3g\n", wrel, dlin, dbin, dsingle);
    pr_result_free(&r0), pr_result_free(&r1);
    npy_close(&npy);
    broden_free(ds);
    free(Q), free(acts), free(cells);
}

/* the per-point ground-truth lists against the reference that rebuilds
 * each image's masks in every scoring call: the same scores, bit for bit,
 * under both profiles' A rules (NDL reads the category's pixels) */
static int same_scores(const pr_result *a, const pr_result *b)
{
    int same = a->C == b->C;
    for (size_t c = 0; same && c < a->C; c++) {
        const pr_score *s[4] = {&a->linear[c], &b->linear[c], &a->binary[c], &b->binary[c]};
        for (int k = 0; k < 4; k += 2)
            same &= s[k]->train_iou == s[k + 1]->train_iou && s[k]->test_iou == s[k + 1]->test_iou &&
                    s[k]->threshold == s[k + 1]->threshold;
        same &= a->units_needed[c] == b->units_needed[c];
    }
    return same;
}

static void test_truth_lists(const broden *ds, const nd_features *f, const pr_result *r0)
{
    pr_options o;
    options(&o);
    o.score_ref = 1;
    pr_result ref, fast, lref;
    CHECK(pr_run(ds, f, NULL, &o, &ref) == 0 && same_scores(r0, &ref),
          "ND: scores from the ground-truth lists equal the reference's");
    o.profile = ND_PROFILE_LITE, o.double_precision = 0, o.gtol = 1e-6, o.threads = 1;
    CHECK(pr_run(ds, f, NULL, &o, &lref) == 0, "NDL reference: %s", nd_errmsg());
    o.score_ref = 0;
    CHECK(pr_run(ds, f, NULL, &o, &fast) == 0 && same_scores(&lref, &fast),
          "NDL (float, 1 thread): scores from the ground-truth lists equal the reference's");
    printf("  ground-truth lists vs reference: ND and NDL scores identical (linear test IoU %.6f, NDL %.6f)\n",
           r0->linear[0].test_iou, fast.linear[0].test_iou);
    pr_result_free(&ref), pr_result_free(&fast), pr_result_free(&lref);
}

/* the float loss pieces against libm in double, and lane independence:
 * one call over the array equals one call per element, bit for bit */
static void test_softplusf(void)
{
    test_group("float softplus and sigmoid vs libm");
    enum { N = 20011 };
    float *s = malloc(sizeof *s * N), *l = malloc(sizeof *l * N), *g = malloc(sizeof *g * N);
    double wl = 0, wg = 0;
    int same = 1;
    for (int i = 0; i < N; i++) /* [-100, 100], dense near 0, and exact 0 */
        s[i] = (float)(i - N / 2) * (i % 3 ? 0.01f : 1e-5f);
    softplusf_parts(s, N, l, g);
    for (int i = 0; i < N; i++) {
        double e = exp(-fabs((double)s[i])), rl = log1p(e), rg = s[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
        if (rl > 1e-37)
            wl = fmax(wl, fabs(l[i] - rl) / rl);
        if (rg > 1e-37)
            wg = fmax(wg, fabs(g[i] - rg) / rg);
        float l1, g1;
        softplusf_parts(s + i, 1, &l1, &g1);
        same &= l1 == l[i] && g1 == g[i];
    }
    /* float results: a few ulps (6e-8 each) of the double reference */
    CHECK(wl <= 5e-7 && wg <= 5e-7, "worst relative error: log1p(e) %.3g, sigmoid %.3g (limit 5e-7)", wl, wg);
    CHECK(same, "an element's result depends on the call it was in");
    printf("  worst relative error over %d scores: log1p(exp(-|s|)) %.3g, sigmoid %.3g\n", N, wl, wg);
    free(s), free(l), free(g);
}

/* the score levels two at a time against the reference rule, including
 * values on level edges, at the ends, outside the range and an empty range */
static void test_bins(void)
{
    test_group("score levels vs the reference rule");
    enum { N = 40009 };
    float *v = malloc(sizeof *v * N);
    int *b = malloc(sizeof *b * N), bad = 0;
    double lo = -3.25, hi = 4.75; /* level width 8/4096: edges exact in float */
    unsigned s = 99;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = i % 4 == 0 ? (float)(lo + (hi - lo) * (double)((s >> 8) % (PR_BINS + 1)) / PR_BINS)
                          : (float)(lo - 0.5 + (hi - lo + 1) * (double)(s >> 8) / (1 << 24));
    }
    v[0] = (float)lo, v[1] = (float)hi, v[2] = -1e30f, v[3] = 1e30f;
    for (int r = 0; r < 2; r++) {
        double h = r ? lo : hi; /* r 1: an empty range, every level 0 */
        pr_bins(v, N, lo, h, b);
        for (int i = 0; i < N; i++)
            bad += b[i] != pr_bin_ref(v[i], lo, h);
        pr_bins(v + 1, N - 1, lo, h, b); /* the odd tail and the other pairing */
        for (int i = 1; i < N; i++)
            bad += b[i - 1] != pr_bin_ref(v[i], lo, h);
    }
    CHECK(bad == 0, "pr_bins equals pr_bin_ref on %d values (%d differ)", 4 * N, bad);
    free(v), free(b);
}

static void test_ibd(void)
{
    test_group("IBD: greedy least squares");
    /* v = 2 b0 - 1 b2 + small residual e; b1 is a decoy close to b0 */
    double B[4 * 4] = {1, 0, 0, 0, 0.9, 0.1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1};
    double v[4] = {2, 0, -1, 0.1}, coef[4], resid;
    int pick[4], n;
    CHECK(ibd_decompose(v, B, 4, 4, 2, pick, coef, &n, &resid) == 0, "ibd");
    CHECK(n == 2 && pick[0] == 0 && pick[1] == 2, "picks %d %d (n %d)", pick[0], pick[1], n);
    double want[2] = {2, -1};
    check_close("coefficients", coef, want, 2, 1e-12, 0);
    double wr = 0.1 / sqrt(5.01);
    check_close("residual share", &resid, &wr, 1, 1e-12, 0);
}

int main(void)
{
    test_adjoint();
    test_gradient();
    test_softplusf();
    test_bins();
    test_ibd();
    test_planted_and_rotation();
    return test_summary();
}
