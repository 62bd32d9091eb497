/* test_image.c - decoding, writing and resizing of images and label maps. */
#include "core/err.h"
#include "models/image.h"
#include "tests/testutil.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* a 16-bit greyscale PNG written with libpng directly (our writer is RGB8) */
static int write_gray16(const char *path, const uint16_t *v, int w, int h)
{
    FILE *f = fopen(path, "wb");
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (!f || !p || !info || setjmp(png_jmpbuf(p)))
        return -1;
    png_init_io(p, f);
    png_set_IHDR(p, info, w, h, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    unsigned char row[64];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            row[2 * x] = (unsigned char)(v[y * w + x] >> 8); /* PNG is big-endian */
            row[2 * x + 1] = (unsigned char)(v[y * w + x] & 255);
        }
        png_write_row(p, row);
    }
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return 0;
}

static void test_resize(void)
{
    test_group("antialiased bilinear resize");
    /* 4 -> 2 along x: scale 2, triangle of half-width 2 around source
     * centres 1.0 and 3.0 gives weights (3,3,1)/7 and (1,3,3)/7 */
    float row[4] = {0, 70, 140, 210}, out[2], want[2] = {50, 160};
    CHECK(img_resize_f32(out, 2, 1, row, 4, 1, 1) == 0, "resize");
    double g[2] = {out[0], out[1]}, wd[2] = {want[0], want[1]};
    check_close("4 -> 2 hand-computed", g, wd, 2, 1e-4, 0);

    /* a 1-pixel checkerboard shrunk 4x: aliasing bilinear (2 taps) would
     * give 0 or 255 depending on phase; the antialiased filter averages */
    enum { N = 64, M = 16 };
    static unsigned char cb[N * N * 3], sm[M * M * 3];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            for (int c = 0; c < 3; c++)
                cb[(y * N + x) * 3 + c] = (x + y) % 2 ? 255 : 0;
    CHECK(img_resize_u8(sm, M, M, cb, N, N, 3) == 0, "resize checkerboard");
    int lo = 255, hi = 0;
    for (int i = 0; i < M * M * 3; i++) {
        lo = sm[i] < lo ? sm[i] : lo;
        hi = sm[i] > hi ? sm[i] : hi;
    }
    printf("  checkerboard 64 -> 16: values in [%d, %d]\n", lo, hi);
    CHECK(lo >= 120 && hi <= 135, "checkerboard averages to ~127, got [%d, %d]", lo, hi);

    /* same size: identity; constant image: constant */
    static unsigned char ramp[20 * 13 * 3], id[20 * 13 * 3];
    for (int i = 0; i < 20 * 13 * 3; i++)
        ramp[i] = (unsigned char)(i * 7 % 256);
    CHECK(img_resize_u8(id, 20, 13, ramp, 20, 13, 3) == 0 && !memcmp(id, ramp, sizeof ramp),
          "same-size resize is the identity");
    float cst[7 * 5], up[23 * 17];
    for (int i = 0; i < 35; i++)
        cst[i] = 3.25f;
    img_resize_f32(up, 23, 17, cst, 7, 5, 1);
    double worst = 0;
    for (int i = 0; i < 23 * 17; i++)
        worst = fmax(worst, fabs(up[i] - 3.25));
    printf("  constant 7x5 -> 23x17: max deviation %.3g\n", worst);
    CHECK(worst < 1e-6, "constant stays constant (weights normalised), deviation %g", worst);

    test_group("nearest label resize");
    uint16_t src[4 * 4], dst[2 * 2];
    for (int i = 0; i < 16; i++)
        src[i] = (uint16_t)(i + 300);
    img_resize_labels(dst, 2, 2, src, 4, 4);
    /* centres of destination pixels 0, 1 sit over source pixels 1, 3 */
    CHECK(dst[0] == 305 && dst[1] == 307 && dst[2] == 313 && dst[3] == 315,
          "4x4 -> 2x2 picks the pixel under each centre: %d %d %d %d", dst[0], dst[1], dst[2],
          dst[3]);
    uint16_t src3[3] = {1, 2, 3}, dst7[7];
    img_resize_labels(dst7, 7, 1, src3, 3, 1);
    uint16_t want7[7] = {1, 1, 2, 2, 2, 3, 3}; /* floor((x + 0.5) * 3 / 7) */
    CHECK(!memcmp(dst7, want7, sizeof want7), "3 -> 7: %d %d %d %d %d %d %d", dst7[0], dst7[1],
          dst7[2], dst7[3], dst7[4], dst7[5], dst7[6]);
}

int main(void)
{
    char p1[4200], p2[4200], bad[4200];
    const char *tmp = test_tmpdir();

    test_resize();

    test_group("PNG label maps: RGB R + 256*G round trip, 8-bit and 16-bit grey");
    enum { W = 7, H = 5 };
    unsigned char rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        int n = i * 97 % 1000; /* values above 255 use G */
        rgb[3 * i] = (unsigned char)(n & 255), rgb[3 * i + 1] = (unsigned char)(n >> 8);
        rgb[3 * i + 2] = 0;
    }
    snprintf(p1, sizeof p1, "%s/lab.png", tmp);
    CHECK(img_save_png_rgb(p1, rgb, W, H) == 0, "save png: %s", nd_errmsg());
    uint16_t *lab = NULL;
    int w = 0, h = 0, same = 1;
    CHECK(img_load_labels(&lab, &w, &h, p1) == 0 && w == W && h == H, "load labels: %s",
          nd_errmsg());
    for (int i = 0; lab && i < W * H; i++)
        same &= lab[i] == i * 97 % 1000;
    CHECK(same, "label numbers decoded as R + 256*G");
    free(lab);
    uint16_t g16[W * H];
    for (int i = 0; i < W * H; i++)
        g16[i] = (uint16_t)(i * 1237);
    snprintf(p2, sizeof p2, "%s/g16.png", tmp);
    CHECK(write_gray16(p2, g16, W, H) == 0, "write 16-bit png");
    CHECK(img_load_labels(&lab, &w, &h, p2) == 0, "load 16-bit: %s", nd_errmsg());
    CHECK(lab && !memcmp(lab, g16, sizeof g16), "16-bit grey values exact");
    free(lab);
    const char *msrc = test_shared_path("data/msrc-v2/labels/11_8_s.png");
    CHECK(img_load_labels(&lab, &w, &h, msrc) == 0 && w == 213 && h == 320, "MSRC 8-bit map: %s",
          nd_errmsg());
    int mx = 0;
    for (int i = 0; lab && i < w * h; i++)
        mx = lab[i] > mx ? lab[i] : mx;
    CHECK(mx >= 1 && mx <= 23, "MSRC class ids in 1..23, max %d", mx);
    free(lab);

    test_group("JPEG: decode, encode deterministically, round trip");
    img_u8 im;
    const char *jp = test_shared_path("data/msrc-v2/images/11_8_s.jpg");
    CHECK(img_load_rgb(&im, jp) == 0 && im.w == 213 && im.h == 320 && im.c == 3, "decode: %s",
          nd_errmsg());
    snprintf(p1, sizeof p1, "%s/a.jpg", tmp);
    snprintf(p2, sizeof p2, "%s/b.jpg", tmp);
    CHECK(img_save_jpeg(p1, im.px, im.w, im.h, 95) == 0, "encode: %s", nd_errmsg());
    CHECK(img_save_jpeg(p2, im.px, im.w, im.h, 95) == 0, "encode again");
    size_t n1 = 0, n2 = 0;
    char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && n1 > 1000 && !memcmp(b1, b2, n1),
          "same pixels, same bytes (%zu, %zu)", n1, n2);
    img_u8 back;
    CHECK(img_load_rgb(&back, p1) == 0 && back.w == im.w && back.h == im.h, "decode ours");
    double mad = 0;
    for (size_t i = 0; back.px && i < (size_t)im.w * im.h * 3; i++)
        mad += abs(back.px[i] - im.px[i]);
    mad /= (double)im.w * im.h * 3;
    printf("  quality-95 round trip: mean abs difference %.2f levels\n", mad);
    /* 4:2:0 chroma subsampling dominates the loss on a photograph; a broken
     * colour conversion or row stride gives tens of levels */
    CHECK(mad < 5, "quality 95 round trip mean abs difference %.2f < 5", mad);
    img_free(&back);
    snprintf(p2, sizeof p2, "%s/c.png", tmp);
    CHECK(img_save_png_rgb(p2, im.px, im.w, im.h) == 0 && img_load_rgb(&back, p2) == 0 &&
              !memcmp(back.px, im.px, (size_t)im.w * im.h * 3),
          "PNG RGB round trip exact");
    img_free(&back);
    img_free(&im);

    test_group("errors name the file");
    snprintf(bad, sizeof bad, "%s/trunc.jpg", tmp);
    write_bytes(bad, b1, n1 / 2);
    CHECK(img_load_rgb(&im, bad) == -1 && strstr(nd_errmsg(), bad), "truncated JPEG: %s",
          nd_errmsg());
    printf("  %s\n", nd_errmsg());
    snprintf(bad, sizeof bad, "%s/text.jpg", tmp);
    write_bytes(bad, "hello, world, not an image", 26);
    CHECK(img_load_rgb(&im, bad) == -1 && strstr(nd_errmsg(), bad) &&
              strstr(nd_errmsg(), "not a JPEG or PNG"), "not an image: %s", nd_errmsg());
    snprintf(bad, sizeof bad, "%s/missing.png", tmp);
    CHECK(img_load_labels(&lab, &w, &h, bad) == -1 && strstr(nd_errmsg(), bad),
          "missing file: %s", nd_errmsg());
    snprintf(bad, sizeof bad, "%s/trunc.png", tmp);
    size_t np = 0;
    char *pb = slurp(test_shared_path("data/msrc-v2/labels/11_8_s.png"), &np);
    write_bytes(bad, pb, np / 2);
    CHECK(img_load_labels(&lab, &w, &h, bad) == -1 && strstr(nd_errmsg(), bad),
          "truncated PNG: %s", nd_errmsg());
    printf("  %s\n", nd_errmsg());
    CHECK(img_load_labels(&lab, &w, &h, jp) == -1 && strstr(nd_errmsg(), "not a PNG"),
          "JPEG as label map: %s", nd_errmsg());
    free(pb);
    free(b1);
    free(b2);
    return test_summary();
}
