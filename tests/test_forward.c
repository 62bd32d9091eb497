/* test_forward.c - SqueezeNet v1.0 forward pass against the independent
 * reference (fixtures/squeezenet-forward), the fast convolution against the
 * naive one, Caffe pooling sizes, receptive fields, and top-1 classes of the
 * three original JPEGs through our own decoder and resizer. */
#include "core/afile.h"
#include "core/err.h"
#include "core/npy.h"
#include "models/extract.h"
#include "models/image.h"
#include "models/net.h"
#include "models/squeezenet.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *weights(void)
{
    return test_shared_path("models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net");
}

/* max |got - want| / max |want|, the acceptance measure */
static double rel_err(const float *got, const float *want, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= e))
            e = d; /* NaN sticks */
        if (fabs(want[i]) > m)
            m = fabs(want[i]);
    }
    return e / (m > 0 ? m : 1);
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static void top5(const float *v, int n, int *out)
{
    for (int k = 0; k < 5; k++) {
        int b = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int j = 0; j < k; j++)
                used |= out[j] == i;
            if (!used && (b < 0 || v[i] > v[b]))
                b = i;
        }
        out[k] = b;
    }
}

/* top5.txt: "name.jpg: 919 street sign; 409 analog clock; ..." */
static int read_top5(int want[3][5], char names[3][64])
{
    FILE *f = fopen(test_shared_path("fixtures/squeezenet-forward/top5.txt"), "r");
    if (!f)
        return -1;
    char line[1024];
    int r = 0;
    while (r < 3 && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            break;
        *colon = 0;
        snprintf(names[r], 64, "%.60s", line);
        char *p = colon + 1;
        for (int k = 0; k < 5; k++) {
            want[r][k] = (int)strtol(p, &p, 10);
            p = strchr(p, ';');
            if (!p && k < 4)
                break;
            p = p ? p + 1 : p;
        }
        r++;
    }
    fclose(f);
    return r == 3 ? 0 : -1;
}

static void test_conv_naive(void)
{
    test_group("im2col + sgemm convolution = naive 7-loop convolution");
    /* odd sizes, stride 2, pad 2: exercises every im2col border branch */
    int cin = 3, h = 11, w = 9, cout = 5, k = 3;
    struct { int stride, pad; } cases[] = {{1, 0}, {2, 2}, {1, 1}, {3, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int s = cases[c].stride, p = cases[c].pad;
        int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
        size_t nin = (size_t)cin * h * w, nw = (size_t)cout * cin * k * k, no = (size_t)cout * oh * ow;
        float *in = malloc(4 * nin), *wt = malloc(4 * nw), b[5], *o1 = malloc(4 * no),
              *o2 = malloc(4 * no), *col = malloc(4 * (size_t)cin * k * k * oh * ow);
        for (size_t i = 0; i < nin; i++)
            in[i] = (float)sin(0.37 * i) * 2;
        for (size_t i = 0; i < nw; i++)
            wt[i] = (float)cos(0.11 * i);
        for (int i = 0; i < cout; i++)
            b[i] = 0.1f * i - 0.2f;
        net_conv(o1, in, wt, b, cin, h, w, cout, k, s, p, 1, col);
        net_conv_naive(o2, in, wt, b, cin, h, w, cout, k, s, p, 1);
        double g[512], r[512];
        for (size_t i = 0; i < no; i++)
            g[i] = o1[i], r[i] = o2[i];
        char lab[64];
        snprintf(lab, sizeof lab, "conv stride %d pad %d", s, p);
        /* 27 products of magnitude <= 2 in float: well under 1e-5 */
        check_close(lab, g, r, no, 1e-5, 1e-5);
        free(in), free(wt), free(o1), free(o2), free(col);
    }
    int o1 = net_pool_size(111, 3, 2, 0), o2 = net_pool_size(54, 3, 2, 0),
        o3 = net_pool_size(6, 3, 2, 1);
    CHECK(o1 == 55, "Caffe pool 111 -> 55, got %d", o1);
    CHECK(o2 == 27, "Caffe pool 54 -> 27 (rounded up), got %d", o2);
    CHECK(o3 == 4, "pad 1: 6 -> ceil(5/2)+1 = 4 (last window starts inside), got %d", o3);
}

static void test_fields(void)
{
    test_group("receptive fields from the table");
    int off, size, stride, rc;
    /* expected values worked by hand with the recurrence in net.c */
    struct { const char *layer; int off, size, stride; } f[] = {
        {"conv1", 0, 7, 2}, {"pool1", 0, 11, 4}, {"fire2", -4, 19, 4}, {"pool4", -12, 43, 8},
        {"fire5", -20, 59, 8}, {"pool8", -44, 123, 16}, {"fire9", -60, 155, 16}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        rc = mdl_layer_field("squeezenet", f[i].layer, &off, &size, &stride);
        CHECK(rc == 0 && off == f[i].off && size == f[i].size && stride == f[i].stride,
              "%s: want (%d,%d,%d), got (%d,%d,%d)", f[i].layer, f[i].off, f[i].size,
              f[i].stride, off, size, stride);
    }
    printf("  fire9 field: offset %d, size %d, stride %d\n", off, size, stride);
    CHECK(mdl_layer_field("squeezenet", "fire10", &off, &size, &stride) == -1 &&
              strstr(nd_errmsg(), "fire10"), "unknown layer rejected: %s", nd_errmsg());
    CHECK(mdl_layer_field("alexnet", "conv5", &off, &size, &stride) == -1 &&
              strstr(nd_errmsg(), "alexnet"), "unknown model rejected: %s", nd_errmsg());
    /* the paper's AlexNet conv5 geometry, from a table of the same kinds */
    static const net_def alex[] = {
        {NET_CONV, "conv1", {NULL, NULL}, 4, 11, 4, 0, 1},
        {NET_MAXPOOL, "pool1", {"conv1", NULL}, 0, 3, 2, 0, 0},
        {NET_CONV, "conv2", {"pool1", NULL}, 4, 5, 1, 2, 1},
        {NET_MAXPOOL, "pool2", {"conv2", NULL}, 0, 3, 2, 0, 0},
        {NET_CONV, "conv3", {"pool2", NULL}, 4, 3, 1, 1, 1},
        {NET_CONV, "conv4", {"conv3", NULL}, 4, 3, 1, 1, 1},
        {NET_CONV, "conv5", {"conv4", NULL}, 4, 3, 1, 1, 1},
    };
    net_t a;
    CHECK(net_create(&a, "alexnet", alex, 7, 3, 227, 227) == 0, "alexnet table: %s", nd_errmsg());
    const net_layer *c5 = &a.layers[6];
    CHECK(c5->field_off == -64 && c5->field_size == 163 && c5->field_stride == 16 && c5->h == 13,
          "AlexNet conv5 (-64,163,16) 13x13, got (%d,%d,%d) %dx%d", c5->field_off,
          c5->field_size, c5->field_stride, c5->h, c5->w);
    net_free(&a);
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, n, b) == n;
    if (a)
        fclose(a);
    if (b && fclose(b))
        ok = 0;
    return ok ? 0 : -1;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* index.csv is CSV: an image name with a comma is quoted.  The same image
 * under a plain name and under a quoted "x,y.jpg" name must give the same
 * activations (random weights, conv1: fast). */
static void test_quoted_index(void)
{
    test_group("mdl_extract reads index.csv as CSV (quoted image names)");
    const char *tmp = test_tmpdir();
    char dir[4200], img[4250], a[4300], b[4300], idx[4300], na[4300], nb[4300];
    snprintf(dir, sizeof dir, "%s/quoted", tmp);
    snprintf(img, sizeof img, "%s/images", dir);
    CHECK(nd_mkdirs(img) == 0, "mkdir %s: %s", img, nd_errmsg());
    const char *src = test_shared_path("data/msrc-v2/images/10_10_s.jpg");
    snprintf(a, sizeof a, "%s/plain.jpg", img);
    snprintf(b, sizeof b, "%s/odd, name.jpg", img);
    CHECK(copy_file(src, a) == 0 && copy_file(src, b) == 0, "copy %s", src);
    snprintf(idx, sizeof idx, "%s/index.csv", dir);
    CHECK(write_text(idx, "image,split,ih,iw,sh,sw,object\n"
                          "plain.jpg,train,213,320,107,160,\n"
                          "\"odd, name.jpg\",train,213,320,107,160,\n") == 0,
          "write %s", idx);
    snprintf(na, sizeof na, "%s/q.npy", tmp);
    int rc = mdl_extract("squeezenet", NULL, 1, dir, "conv1", na, 2, (nd_progress){0});
    CHECK(rc == 0, "mdl_extract with a quoted image name: %s", rc ? nd_errmsg() : "ok");
    npy_t q;
    int qr = rc == 0 ? npy_open(&q, na) : -1;
    CHECK(rc != 0 || qr == 0, "read %s: %s", na, qr ? nd_errmsg() : "ok");
    if (qr == 0) {
        size_t per = q.count / 2;
        CHECK(q.shape[0] == 2 && !memcmp(q.data, (const float *)q.data + per, per * sizeof(float)),
              "both rows (plain and quoted name of one image) are the same activations");
        npy_close(&q);
    }
    int f[3] = {-1, -1, -1};
    int fr = mdl_read_field(na, f);
    CHECK(fr == 1 && f[0] == 0 && f[1] == 7 && f[2] == 2,
          "field read back from q.json: [%d, %d, %d], conv1 [0, 7, 2]", f[0], f[1], f[2]);
    snprintf(nb, sizeof nb, "%s/none.npy", tmp);
    CHECK(mdl_read_field(nb, f) == 0, "no .json beside: 0 (not found)");
}

int main(void)
{
    test_conv_naive();
    test_fields();
    test_quoted_index();

    test_group("Deep Compression weights");
    net_t net;
    size_t stored = 0, nonzero = 0;
    CHECK(sqz_create(&net) == 0, "create: %s", nd_errmsg());
    CHECK(sqz_load_dc(&net, weights(), &stored, &nonzero) == 0, "load: %s", nd_errmsg());
    printf("  %zu parameters, %zu stored weights, %zu nonzero\n", net.nparams, stored, nonzero);

    test_group("forward pass vs reference (fixtures/squeezenet-forward)");
    npy_t in;
    CHECK(npy_open(&in, test_shared_path("fixtures/squeezenet-forward/input.npy")) == 0, "input: %s",
          nd_errmsg());
    CHECK(in.ndim == 4 && in.shape[0] == 3 && in.shape[1] == 3 && in.shape[2] == 227, "input shape");
    float *x = malloc(sizeof(float) * in.count);
    npy_to_f32(&in, 0, in.count, x);
    struct { const char *layer, *file; double tol; } cmp[] = {
        /* float32 sums of up to 2304 products in a different order from the
         * reference: relative errors ~1e-6 expected; acceptance 1e-4 / 1e-3 */
        {"fire2", "fire2.npy", 1e-4}, {"fire5", "fire5.npy", 1e-4},
        {"fire9", "fire9.npy", 1e-4}, {"pool10", "logits.npy", 1e-3}};
    float *logits = NULL;
    for (int c = 0; c < 4; c++) {
        int li = net_find(&net, cmp[c].layer);
        CHECK(li >= 0, "layer %s in the table", cmp[c].layer);
        const net_layer *L = &net.layers[li];
        size_t per = (size_t)L->c * L->h * L->w;
        npy_t ref;
        char rel[128];
        snprintf(rel, sizeof rel, "fixtures/squeezenet-forward/%s", cmp[c].file);
        if (npy_open(&ref, test_shared_path(rel))) {
            CHECK(0, "%s", nd_errmsg());
            continue;
        }
        CHECK(ref.count == 3 * per, "%s: reference has %zu values, we have 3 x %zu", cmp[c].layer,
              ref.count, per);
        float *want = malloc(sizeof(float) * ref.count), *got = malloc(sizeof(float) * 3 * per);
        npy_to_f32(&ref, 0, ref.count, want);
        net_ws *ws = net_ws_alloc(&net, li);
        net_forward(&net, ws, x, 3, li, got);
        net_ws_free(ws);
        double e = ref.count == 3 * per ? rel_err(got, want, ref.count) : INFINITY;
        printf("  %-7s [3,%d,%d,%d]: max abs error / max abs value = %.3g (limit %g)\n",
               cmp[c].layer, L->c, L->h, L->w, e, cmp[c].tol);
        CHECK(e <= cmp[c].tol, "%s relative error %.3g > %g", cmp[c].layer, e, cmp[c].tol);
        if (c == 3) {
            logits = got;
            got = NULL;
        }
        free(want);
        free(got);
        npy_close(&ref);
    }

    test_group("top-5 classes = top5.txt");
    int want5[3][5];
    char names[3][64];
    CHECK(read_top5(want5, names) == 0, "read top5.txt");
    for (int i = 0; logits && i < 3; i++) {
        int got5[5];
        top5(logits + i * 1000, 1000, got5);
        int same = memcmp(got5, want5[i], sizeof got5) == 0;
        CHECK(same, "%s: top-5 %d %d %d %d %d, want %d %d %d %d %d", names[i], got5[0], got5[1],
              got5[2], got5[3], got5[4], want5[i][0], want5[i][1], want5[i][2], want5[i][3],
              want5[i][4]);
    }

    test_group("original JPEGs through our decoder and resizer: same top-1");
    int li = net_find(&net, "pool10");
    net_ws *ws = net_ws_alloc(&net, li);
    double worst_px = 0, sum_px = 0;
    float single[3][1000];
    for (int i = 0; i < 3; i++) {
        char rel[160];
        snprintf(rel, sizeof rel, "data/msrc-v2/images/%.64s", names[i]);
        img_u8 im;
        if (img_load_rgb(&im, test_shared_path(rel))) {
            CHECK(0, "%s", nd_errmsg());
            continue;
        }
        unsigned char sq[227 * 227 * 3];
        CHECK(img_resize_u8(sq, 227, 227, im.px, im.w, im.h, 3) == 0, "resize");
        float *t = malloc(sizeof(float) * 3 * 227 * 227), lg[1000];
        for (int c = 0; c < 3; c++) /* RGB -> BGR planes minus mean */
            for (int p = 0; p < 227 * 227; p++)
                t[c * 227 * 227 + p] = sq[p * 3 + (2 - c)] - sqz_mean_bgr[c];
        for (int p = 0; p < 3 * 227 * 227; p++) {
            double d = fabs(t[p] - x[i * 3 * 227 * 227 + p]);
            sum_px += d;
            if (d > worst_px)
                worst_px = d;
        }
        net_forward(&net, ws, t, 1, li, lg);
        memcpy(single[i], lg, sizeof lg);
        int top = argmax(lg, 1000);
        printf("  %s (%dx%d): top-1 %d (reference %d)\n", names[i], im.w, im.h, top, want5[i][0]);
        CHECK(top == want5[i][0], "%s: top-1 %d, want %d", names[i], top, want5[i][0]);
        free(t);
        img_free(&im);
    }
    printf("  our preprocessing vs input.npy: max abs diff %.0f, mean %.3f (0..255 scale)\n",
           worst_px, sum_px / (3.0 * 3 * 227 * 227));
    net_ws_free(ws);

    test_group("threaded runner: same logits, independent of how images are grouped");
    mdl_runner *r;
    const char *paths[3];
    char pbuf[3][4200];
    for (int i = 0; i < 3; i++) {
        snprintf(pbuf[i], sizeof pbuf[i], "%s/data/msrc-v2/images/%.64s", test_shared(), names[i]);
        paths[i] = pbuf[i];
    }
    float multi[3][1000];
    CHECK(mdl_runner_open(&r, "squeezenet", weights(), -1, "pool10") == 0, "runner: %s",
          nd_errmsg());
    CHECK(mdl_runner_run(r, paths, 3, &multi[0][0]) == 0, "run: %s", nd_errmsg());
    /* net_forward above used multi-threaded sgemm, the runner single-threaded
     * ones: same sums in another order, float32 rounding only */
    double gm[3000], gs[3000];
    for (int i = 0; i < 3000; i++)
        gm[i] = multi[i / 1000][i % 1000], gs[i] = single[i / 1000][i % 1000];
    check_close("runner vs net_forward logits", gm, gs, 3000, 1e-4, 1e-4);
    float one[1000];
    int same = 1;
    for (int i = 0; i < 3; i++) {
        CHECK(mdl_runner_run(r, &paths[i], 1, one) == 0, "run one: %s", nd_errmsg());
        same &= !memcmp(one, multi[i], sizeof one);
    }
    CHECK(same, "one image per call = three per call, bit for bit");
    mdl_runner_close(r);
    free(logits);
    free(x);
    npy_close(&in);
    net_free(&net);
    return test_summary();
}
