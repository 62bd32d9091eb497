/* test_npy.c - .npy round trips, float16, and rejection of broken files. */
#include "core/err.h"
#include "core/npy.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

int main(void)
{
    char path[4200], bad[4200];
    snprintf(path, sizeof path, "%s/a.npy", test_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.npy", test_tmpdir());

    test_group("round trip float32 [2,3,4,5]");
    size_t shape[4] = {2, 3, 4, 5};
    float v[120];
    for (int i = 0; i < 120; i++)
        v[i] = (float)i * 0.25f - 3.0f;
    CHECK(npy_save(path, NPY_F32, 4, shape, v) == 0, "save: %s", nd_errmsg());
    npy_t a;
    CHECK(npy_open(&a, path) == 0, "open: %s", nd_errmsg());
    CHECK(a.ndim == 4 && a.shape[0] == 2 && a.shape[3] == 5 && a.dtype == NPY_F32, "shape and dtype");
    CHECK(memcmp(a.data, v, sizeof v) == 0, "data bit-identical");
    CHECK(((size_t)a.data - (size_t)a.map) % 64 == 0, "data 64-byte aligned in the file");
    npy_close(&a);

    test_group("1-D shape has trailing comma");
    size_t s1 = 3;
    double d[3] = {1, 2, 3};
    CHECK(npy_save(path, NPY_F64, 1, &s1, d) == 0, "save 1-D");
    double *back;
    size_t n;
    CHECK(npy_load_f64(path, &back, &n) == 0 && n == 3 && back[2] == 3.0, "load_f64");
    free(back);

    test_group("float16");
    CHECK(npy_half_to_float(0x3c00) == 1.0f, "half 1.0");
    CHECK(npy_half_to_float(0xc000) == -2.0f, "half -2.0");
    CHECK(npy_half_to_float(0x0001) == ldexpf(1, -24), "smallest subnormal");
    CHECK(npy_half_to_float(0x7bff) == 65504.0f, "largest finite");
    CHECK(isinf(npy_half_to_float(0x7c00)), "inf");
    CHECK(isnan(npy_half_to_float(0x7e00)), "nan");

    test_group("float -> half: round trip, ties to even, overflow, subnormals");
    {
        int bad_rt = 0, bad_tie = 0, bad_near = 0;
        for (uint32_t h = 0; h < 0x10000; h++) {
            float f = npy_half_to_float((uint16_t)h);
            if (isnan(f))
                continue;
            bad_rt += npy_float_to_half(f) != h;
            /* the midpoint to the next half up (same sign) rounds to the even one */
            if ((h & 0x7fff) < 0x7bff) {
                float g = npy_half_to_float((uint16_t)(h + 1));
                float mid = (float)(((double)f + (double)g) / 2); /* exact in float */
                uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
                bad_tie += npy_float_to_half(mid) != want;
                bad_near += npy_float_to_half(nextafterf(mid, f)) != h ||
                            npy_float_to_half(nextafterf(mid, g)) != h + 1;
            }
        }
        CHECK(bad_rt == 0 && bad_tie == 0 && bad_near == 0,
              "all halves round trip (%d wrong), midpoints tie to even (%d), near-midpoints (%d)",
              bad_rt, bad_tie, bad_near);
        CHECK(npy_float_to_half(65519.0f) == 0x7bff && npy_float_to_half(65520.0f) == 0x7c00 &&
                  npy_float_to_half(1e10f) == 0x7c00 && npy_float_to_half(-1e10f) == 0xfc00,
              "overflow: 65519 -> 65504, 65520 -> inf");
        CHECK(npy_float_to_half(ldexpf(1, -25)) == 0 && npy_float_to_half(ldexpf(1.0001f, -25)) == 1 &&
                  npy_float_to_half(1e-30f) == 0 && isnan(npy_half_to_float(npy_float_to_half(NAN))),
              "below the smallest subnormal; NaN stays NaN");
    }

    test_group("broken files are rejected with the file named");
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(bad, buf, len - 1);
    CHECK(npy_open(&a, bad) != 0 && strstr(nd_errmsg(), "truncated") && strstr(nd_errmsg(), bad),
          "truncated: %s", nd_errmsg());
    buf[len] = 0;
    write_bytes(bad, buf, len + 1);
    CHECK(npy_open(&a, bad) != 0 && strstr(nd_errmsg(), "trailing"), "extra byte: %s", nd_errmsg());
    write_bytes(bad, "", 0);
    CHECK(npy_open(&a, bad) != 0, "empty file: %s", nd_errmsg());
    write_bytes(bad, "hello world, not numpy", 22);
    CHECK(npy_open(&a, bad) != 0 && strstr(nd_errmsg(), "magic"), "bad magic: %s", nd_errmsg());
    CHECK(npy_open(&a, test_tmpdir()) != 0, "directory: %s", nd_errmsg());
    memcpy(buf + 10, "{'descr': '>f4'", 15);
    write_bytes(bad, buf, len);
    CHECK(npy_open(&a, bad) != 0 && strstr(nd_errmsg(), "dtype"), "big-endian dtype: %s", nd_errmsg());
    unlink(bad);

    test_group("Fortran order: npy_open refuses, npy_open_any indexes it");
    {
        /* a (2, 3) u1 array whose element (i, j) is 10*i + j, stored with
         * the first index fastest: bytes 0 10 1 11 2 12 */
        char h[64];
        int hl = snprintf(h, sizeof h, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }");
        unsigned char fb[256] = "\x93NUMPY\x01\x00";
        size_t hdr = 128; /* magic 8 + length 2 + dict padded with spaces, ends in newline */
        fb[8] = (unsigned char)(hdr - 10);
        fb[9] = 0;
        memset(fb + 10, ' ', hdr - 10);
        memcpy(fb + 10, h, (size_t)hl);
        fb[hdr - 1] = '\n';
        const unsigned char fdata[6] = {0, 10, 1, 11, 2, 12};
        memcpy(fb + hdr, fdata, 6);
        write_bytes(bad, fb, hdr + 6);
        CHECK(npy_open(&a, bad) != 0 && strstr(nd_errmsg(), "Fortran"), "npy_open: %s", nd_errmsg());
        CHECK(npy_open_any(&a, bad) == 0 && a.fortran == 1 && a.ndim == 2 && a.shape[0] == 2 &&
                  a.shape[1] == 3, "npy_open_any: %s", nd_errmsg());
        int bad_el = 0;
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 3; j++) {
                size_t idx[2] = {i, j};
                bad_el += ((const unsigned char *)a.data)[npy_offset(&a, idx)] != 10 * i + j;
            }
        CHECK(bad_el == 0, "Fortran (i, j) -> 10 i + j: %d wrong", bad_el);
        npy_close(&a);
        /* the same values in C order: bytes 0 1 2 10 11 12 */
        const unsigned char cdata[6] = {0, 1, 2, 10, 11, 12};
        size_t s2[2] = {2, 3};
        CHECK(npy_save(bad, NPY_U8, 2, s2, cdata) == 0 && npy_open_any(&a, bad) == 0 && a.fortran == 0,
              "C-order file through npy_open_any");
        bad_el = 0;
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 3; j++) {
                size_t idx[2] = {i, j};
                bad_el += ((const unsigned char *)a.data)[npy_offset(&a, idx)] != 10 * i + j;
            }
        CHECK(bad_el == 0, "C (i, j) -> 10 i + j: %d wrong", bad_el);
        npy_close(&a);
        memcpy(fb + 10 + 34, "Maybe", 5); /* 'fortran_order': Maybe */
        write_bytes(bad, fb, hdr + 6);
        CHECK(npy_open_any(&a, bad) != 0 && strstr(nd_errmsg(), "fortran_order"), "bad order value: %s",
              nd_errmsg());
        unlink(bad);
    }
    unlink(path);
    return test_summary();
}
