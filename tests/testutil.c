#include "tests/testutil.h"
#include "core/broden.h"
#include "core/err.h"

#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int n_pass, n_fail;

static int verbose(void)
{
    const char *v = getenv("ND_TEST_VERBOSE");
    return v && *v && *v != '0';
}

void test_check(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (ok)
        n_pass++;
    else
        n_fail++;
    if (ok && !verbose())
        return;
    printf("  %s %s:%d: ", ok ? "ok  " : "FAIL", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int check_close_(const char *file, int line, const char *label, const double *got,
                 const double *want, size_t n, double atol, double rtol)
{
    double max_abs = 0, max_rel = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        double r = want[i] != 0 ? d / fabs(want[i]) : (d != 0 ? INFINITY : 0);
        int ok = d <= atol + rtol * fabs(want[i]);
        if (isnan(got[i]) != isnan(want[i]) || (isnan(d) && !(isnan(got[i]) && isnan(want[i]))))
            ok = 0, d = INFINITY;
        if (!ok && !bad++)
            worst = i;
        if (d > max_abs) {
            max_abs = d;
            if (!bad)
                worst = i;
        }
        if (r > max_rel && !isinf(r))
            max_rel = r;
    }
    printf("  %-52s n=%zu max abs err %.3e, max rel err %.3e\n", label, n, max_abs, max_rel);
    if (bad)
        printf("    first bad index %zu: got %.17g want %.17g (%zu bad; atol %.1e rtol %.1e)\n",
               worst, got[worst], want[worst], bad, atol, rtol);
    test_check(!bad, file, line, "%s within atol %.1e rtol %.1e", label, atol, rtol);
    return !bad;
}

void test_group(const char *name)
{
    printf("[%s]\n", name);
    fflush(stdout);
}

int test_summary(void)
{
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

const char *test_shared(void)
{
    const char *s = getenv("ND_SHARED");
    return s && *s ? s : "../shared";
}

const char *test_shared_path(const char *rel)
{
    static char ring[8][4096];
    static int k;
    char *b = ring[k++ & 7];
    snprintf(b, 4096, "%s/%s", test_shared(), rel);
    return b;
}

const char *test_tmpdir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ndtest.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return dir;
}

int test_write_text(const char *dir, const char *name, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    int ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    CHECK(ok, "write test file %s", p);
    return ok ? 0 : -1;
}

int test_write_label_png(const char *path, const int *labels, int sh, int sw)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)sw;
    im.height = (png_uint_32)sh;
    im.format = PNG_FORMAT_RGB;
    unsigned char *buf = calloc((size_t)sh * (size_t)sw * 3, 1);
    int ok = buf != NULL;
    for (int i = 0; ok && i < sh * sw; i++)
        buf[3 * i] = (unsigned char)(labels[i] % 256), buf[3 * i + 1] = (unsigned char)(labels[i] / 256);
    ok = ok && png_image_write_to_file(&im, path, 0, buf, 0, NULL) != 0;
    free(buf);
    CHECK(ok, "write label PNG %s", path);
    return ok ? 0 : -1;
}

const char *test_hand_dataset(int dup_scene)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/hand%d", test_tmpdir(), dup_scene);
    char img[4300];
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(dir, 0777);
    mkdir(img, 0777);
    int rc = test_write_text(dir, "category.csv", "name,first,last,count,frequency\nobject,1,2,2,2\nscene,3,3,1,1\n");
    rc |= test_write_text(dir, "label.csv", "number,name,category,frequency,coverage,syns\n1,cat,object(1),1,0.5,\n"
                                            "2,dog,object(1),1,0.5,\n3,beach-s,scene(1),1,1.0,\n");
    rc |= test_write_text(dir, "c_object.csv", "code,number,name,frequency,coverage\n1,1,cat,1,0.5\n2,2,dog,1,0.5\n");
    rc |= test_write_text(dir, "c_scene.csv", "code,number,name,frequency,coverage\n1,3,beach-s,1,1.0\n");
    rc |= test_write_text(dir, "index.csv", dup_scene ? "image,split,ih,iw,sh,sw,object,scene\n"
                                                        "a.jpg,train,8,8,4,4,a_obj.png,3;3\n"
                                                        "b.jpg,train,8,8,4,4,b_obj.png,\n"
                                                      : "image,split,ih,iw,sh,sw,object,scene\n"
                                                        "a.jpg,train,8,8,4,4,a_obj.png,3\n"
                                                        "b.jpg,train,8,8,4,4,b_obj.png,\n");
    int la[16], lb[16];
    for (int i = 0; i < 16; i++)
        la[i] = (i % 4) < 2 ? 1 : 0, lb[i] = (i % 4) < 2 ? 2 : 0;
    char p[4400];
    snprintf(p, sizeof p, "%s/a_obj.png", img);
    rc |= test_write_label_png(p, la, 4, 4);
    snprintf(p, sizeof p, "%s/b_obj.png", img);
    rc |= test_write_label_png(p, lb, 4, 4);
    (void)rc; /* each write checked itself */
    return dir;
}

int test_hand_features(const char *dir, npy_t *a, nd_features *f)
{
    float x[2 * 2 * 4] = {1, 1, 1, 1, 1, 0, 0, 0,  /* image a: unit 0, unit 1 */
                          0, 0, 0, 0, 0, 0, 0, 1}; /* image b */
    char fp[4300];
    snprintf(fp, sizeof fp, "%s/f.npy", dir);
    size_t shape[4] = {2, 2, 2, 2};
    int ok = npy_save(fp, NPY_F32, 4, shape, x) == 0 && npy_open(a, fp) == 0;
    ok = ok && nd_features_from_npy(f, a) == 0;
    CHECK(ok, "hand features %s: %s", fp, ok ? "" : nd_errmsg());
    return ok ? 0 : -1;
}

int test_open_hand(int dup_scene, broden **ds, npy_t *a, nd_features *f, nd_options *o)
{
    static const double thr[2] = {0.5, 0.5};
    nd_options_default(o);
    o->thresholds = thr;
    o->have_field = 1, o->field_offset = 0, o->field_size = 4, o->field_stride = 4;
    const char *dir = test_hand_dataset(dup_scene);
    if (broden_open(ds, dir, NULL)) {
        CHECK(0, "open %s: %s", dir, nd_errmsg());
        return -1;
    }
    if (test_hand_features(dir, a, f)) {
        broden_free(*ds);
        return -1;
    }
    return 0;
}
