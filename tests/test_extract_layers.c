/* test_extract_layers.c - several layers in one forward pass: each layer's
 * file equals, byte for byte, what a one-layer extraction writes (so the
 * workspace copies are the layer outputs), the geometry JSON of each layer
 * is written, and the float16 option stores npy_float_to_half of the
 * float32 values.  Four DTD photographs imported as a texture set. */
#include "core/err.h"
#include "core/npy.h"
#include "datasets/import.h"
#include "models/extract.h"
#include "tests/testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *weights(void)
{
    return test_shared_path("models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net");
}

int main(void)
{
    const char *tmp = test_tmpdir();
    char root[4200], cls[4300], ds[4200], lnk[4400], src[PATH_MAX];
    snprintf(root, sizeof root, "%s/tex", tmp);
    snprintf(cls, sizeof cls, "%s/banded", root);
    mkdir(root, 0777), mkdir(cls, 0777);
    const char *files[4] = {"banded_0002", "banded_0004", "banded_0005", "banded_0006"};
    for (int i = 0; i < 4; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "data/dtd-10/images/banded/%s.jpg", files[i]);
        if (!realpath(test_shared_path(rel), src))
            snprintf(src, sizeof src, "%s", test_shared_path(rel));
        snprintf(lnk, sizeof lnk, "%s/%s.jpg", cls, files[i]);
        CHECK(symlink(src, lnk) == 0, "link %s", lnk);
    }
    snprintf(ds, sizeof ds, "%s/ds", tmp);
    imp_opts o = imp_defaults();
    o.textures[o.ntextures++] = root;
    o.filter.min_images = 1;
    o.out_dir = ds;
    imp_stats st;
    if (imp_run(&o, &st)) {
        CHECK(0, "import: %s", nd_errmsg());
        return test_summary();
    }
    test_group("conv1,fire5,fire9 in one pass equal one-layer extractions");
    char dir[4200], dir16[4200];
    snprintf(dir, sizeof dir, "%s/multi", tmp);
    snprintf(dir16, sizeof dir16, "%s/multi16", tmp);
    nd_progress none = {0};
    CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, "fire9,conv1,fire5", dir, 0, 3, none) == 0,
          "multi: %s", nd_errmsg());
    CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, "conv1,fire5,fire9", dir16, 1, 4, none) == 0,
          "multi float16: %s", nd_errmsg());
    const char *layers[3] = {"conv1", "fire5", "fire9"};
    for (int k = 0; k < 3; k++) {
        char one[4300], many[4300], m16[4300], js[4300];
        snprintf(one, sizeof one, "%s/one_%s.npy", tmp, layers[k]);
        snprintf(many, sizeof many, "%s/%s.npy", dir, layers[k]);
        snprintf(m16, sizeof m16, "%s/%s.npy", dir16, layers[k]);
        snprintf(js, sizeof js, "%s/%s.json", dir, layers[k]);
        CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, layers[k], one, 0, 2, none) == 0,
              "single %s: %s", layers[k], nd_errmsg());
        npy_t a, b, h;
        if (npy_open(&a, one) || npy_open(&b, many) || npy_open(&h, m16)) {
            CHECK(0, "open: %s", nd_errmsg());
            continue;
        }
        CHECK(a.count == b.count && !memcmp(a.data, b.data, a.count * 4),
              "%s: one pass of three layers equals the one-layer file (%zu values)", layers[k], a.count);
        size_t bad = 0;
        const float *f = a.data;
        const uint16_t *q = h.data;
        for (size_t i = 0; i < a.count && h.dtype == NPY_F16; i++)
            bad += q[i] != npy_float_to_half(f[i]);
        CHECK(h.dtype == NPY_F16 && h.count == a.count && bad == 0, "%s float16: %zu values differ",
              layers[k], bad);
        CHECK(access(js, R_OK) == 0, "%s geometry JSON written", layers[k]);
        npy_close(&a), npy_close(&b), npy_close(&h);
    }
    test_group("errors");
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/x.npy", tmp);
    CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, "conv1,fire5", bad, 0, 2, none) != 0 &&
              strstr(nd_errmsg(), "folder"), "several layers into one .npy: %s", nd_errmsg());
    CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, "conv1,conv1", dir, 0, 2, none) != 0 &&
              strstr(nd_errmsg(), "twice"), "a layer twice: %s", nd_errmsg());
    CHECK(mdl_extract_layers("squeezenet", weights(), -1, ds, "conv1,fire10", dir, 0, 2, none) != 0 &&
              strstr(nd_errmsg(), "fire10"), "unknown layer: %s", nd_errmsg());
    return test_summary();
}
