/* test_dcnet.c - the Deep Compression reader: a hand-made file decoded by
 * hand, the real SqueezeNet file (counts agree with its header), and
 * rejection of truncated, extended and corrupted files. */
#include "core/err.h"
#include "models/dcnet.h"
#include "models/squeezenet.h"
#include "tests/testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}

/* One layer, cout 2, 2x2x1 kernels (8 weights), 3 stored weights with
 * codebook indices 1, 2, 1 and steps 0, 2, s3: positions 0, 3, 4 + s3. */
static size_t make_tiny(unsigned char *b, int s3)
{
    size_t n = 0;
    put_u32(b, 3), n += 4;
    for (int k = 0; k < 256; k++)
        put_f32(b + n + 4 * k, k == 1 ? 0.5f : k == 2 ? -1.25f : 0.0f);
    n += 1024;
    put_f32(b + n, 0.125f), put_f32(b + n + 4, -2.0f), n += 8;
    b[n++] = 1, b[n++] = 2, b[n++] = 1;
    b[n++] = 0x20;               /* steps 0 (low nibble) and 2 */
    b[n++] = (unsigned char)s3;  /* (3 - 1) / 2 + 1 = 2 step bytes */
    return n;
}

int main(void)
{
    char path[4200];
    const char *tmp = test_tmpdir();

    test_group("hand-made file decoded by hand");
    unsigned char b[2048];
    size_t n = make_tiny(b, 3);
    snprintf(path, sizeof path, "%s/tiny.net", tmp);
    write_bytes(path, b, n);
    float wt[8], bias[2];
    dcnet_layer L = {"tiny", 2, 8, wt, bias, 0, 0};
    CHECK(dcnet_read(path, &L, 1) == 0, "read: %s", nd_errmsg());
    float want[8] = {0.5f, 0, 0, -1.25f, 0, 0, 0, 0.5f};
    CHECK(!memcmp(wt, want, sizeof want), "weights at positions 0, 3, 7: %g %g %g %g %g %g %g %g",
          wt[0], wt[1], wt[2], wt[3], wt[4], wt[5], wt[6], wt[7]);
    CHECK(bias[0] == 0.125f && bias[1] == -2.0f, "biases");
    CHECK(L.stored == 3 && L.nonzero == 3, "stored %zu nonzero %zu", L.stored, L.nonzero);
    n = make_tiny(b, 4); /* last position 8: past the 8 weights */
    write_bytes(path, b, n);
    CHECK(dcnet_read(path, &L, 1) == -1 && strstr(nd_errmsg(), "tiny") &&
              strstr(nd_errmsg(), "past"), "position past the end: %s", nd_errmsg());
    printf("  %s\n", nd_errmsg());
    n = make_tiny(b, 3);
    b[4 + 1024 + 8 + 1] = 0; /* second stored weight -> codebook 0 with step 2 */
    write_bytes(path, b, n);
    CHECK(dcnet_read(path, &L, 1) == -1 && strstr(nd_errmsg(), "not a gap filler"),
          "stored zero with a short step: %s", nd_errmsg());
    n = make_tiny(b, 3);
    b[4] = 0x3f; /* codebook entry 0 no longer 0.0 */
    write_bytes(path, b, n);
    CHECK(dcnet_read(path, &L, 1) == -1 && strstr(nd_errmsg(), "codebook entry 0"),
          "nonzero codebook entry 0: %s", nd_errmsg());

    test_group("compressed_SqueezeNet.net");
    const char *real =
        test_shared_path("models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net");
    size_t fn = 0;
    unsigned char *file = slurp(real, &fn);
    CHECK(file && fn == 675763, "file of 675,763 bytes, got %zu", fn);
    uint64_t hdr_sum = 0;
    for (int i = 0; file && i < 26; i++)
        hdr_sum += (uint32_t)(file[4 * i] | file[4 * i + 1] << 8 | file[4 * i + 2] << 16 |
                              (uint32_t)file[4 * i + 3] << 24);
    net_t net;
    size_t stored = 0, nonzero = 0;
    CHECK(sqz_create(&net) == 0, "table");
    CHECK(sqz_load_dc(&net, real, &stored, &nonzero) == 0, "read: %s", nd_errmsg());
    size_t dense = 0;
    for (int i = 0; i < net.nlayers; i++)
        dense += net.layers[i].nweights;
    printf("  %zu dense weights, %zu stored (header sum %llu), %zu nonzero (%.1f%%)\n", dense,
           stored, (unsigned long long)hdr_sum, nonzero, 100.0 * nonzero / dense);
    CHECK(stored == hdr_sum, "stored weights %zu = header sum %llu", stored,
          (unsigned long long)hdr_sum);
    /* counted independently beforehand: 6162 stored zeros, all gap fillers */
    CHECK(stored - nonzero == 6162, "stored %zu - nonzero %zu = 6162 gap fillers", stored,
          nonzero);
    /* per layer: every nonzero weight came from a stored entry */
    size_t nz_dense = 0;
    for (int i = 0; i < net.nlayers; i++)
        for (size_t j = 0; net.layers[i].wt && j < net.layers[i].nweights; j++)
            nz_dense += net.layers[i].wt[j] != 0.0f;
    CHECK(nz_dense == nonzero, "nonzero dense weights %zu = decoded nonzero %zu", nz_dense,
          nonzero);

    test_group("truncated and extended files are rejected");
    if (file) {
        snprintf(path, sizeof path, "%s/short.net", tmp);
        write_bytes(path, file, fn - 1);
        CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1 && strstr(nd_errmsg(), path) &&
                  strstr(nd_errmsg(), "conv_final") && strstr(nd_errmsg(), "675763") &&
                  strstr(nd_errmsg(), "675762"),
              "one byte short: %s", nd_errmsg());
        printf("  %s\n", nd_errmsg());
        write_bytes(path, file, 200000);
        CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1 && strstr(nd_errmsg(), "fire"),
              "cut in the middle names a fire layer: %s", nd_errmsg());
        printf("  %s\n", nd_errmsg());
        write_bytes(path, file, 50);
        CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1 && strstr(nd_errmsg(), "header"),
              "cut in the header: %s", nd_errmsg());
        snprintf(path, sizeof path, "%s/long.net", tmp);
        unsigned char *longer = malloc(fn + 1);
        memcpy(longer, file, fn);
        longer[fn] = 0;
        write_bytes(path, longer, fn + 1);
        CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1 && strstr(nd_errmsg(), path) &&
                  strstr(nd_errmsg(), "1 extra byte") && strstr(nd_errmsg(), "675764"),
              "one extra byte: %s", nd_errmsg());
        printf("  %s\n", nd_errmsg());
        /* an altered count makes the sizes disagree too */
        memcpy(longer, file, fn);
        longer[0] ^= 1;
        write_bytes(path, longer, fn);
        CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1, "altered header count: %s",
              nd_errmsg());
        printf("  %s\n", nd_errmsg());
        free(longer);
    }
    snprintf(path, sizeof path, "%s/none.net", tmp);
    CHECK(sqz_load_dc(&net, path, NULL, NULL) == -1 && strstr(nd_errmsg(), path),
          "missing file: %s", nd_errmsg());
    net_free(&net);
    free(file);
    return test_summary();
}
