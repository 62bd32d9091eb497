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
    unlink(path);
    return test_summary();
}
