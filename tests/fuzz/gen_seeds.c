/* gen_seeds.c - writes the seed corpus of every fuzz target into
 * tests/fuzz/corpus/<target>/ (run from the repository root:
 * `make fuzz-seeds`).  The seeds are tiny, valid (or nearly valid) inputs
 * made here from scratch - nothing is copied from the shared data - so that
 * the fuzzer starts deep inside each parser.  The generated files are
 * committed; `make test` replays them together with tests/regress/. */
#include "core/broden.h"
#include "models/image.h"
#include "tests/fuzz/fuzz_png_util.h"

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void put(const char *target, const char *name, const void *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "tests/fuzz/corpus/%s", target);
    mkdir("tests/fuzz/corpus", 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "tests/fuzz/corpus/%s/%s", target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        perror(p);
        exit(1);
    }
}
static void puts_(const char *target, const char *name, const char *s) { put(target, name, s, strlen(s)); }

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    unsigned char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* ---- PNGs with libpng: every colour type, depth and interlacing the readers handle ---- */
static void png_seed(const char *target, const char *name, int w, int h, int ctype, int depth,
                     int interlace)
{
    char tmp[] = "/tmp/ndseedXXXXXX";
    int fd = mkstemp(tmp);
    FILE *f = fdopen(fd, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png)))
        exit(1);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 1, 0}};
        png_set_PLTE(png, info, pal, 4);
    }
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGBA ? 4
             : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    unsigned char *img = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc(sizeof *rows * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = img + (size_t)y * rowbytes;
        for (size_t b = 0; b < rowbytes; b++) {
            unsigned v = (unsigned)((y * 3 + (int)b) % 5);
            if (depth < 8)
                v = (unsigned)((y + (int)b) & 1 ? 0x55 : 0x00);
            if (ctype == PNG_COLOR_TYPE_PALETTE && depth == 8)
                v %= 4;
            if (ch >= 3 && depth == 8 && b % (size_t)ch == 1)
                v = 0; /* G = 0 keeps labels small */
            rows[y][b] = (unsigned char)v;
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    size_t n;
    unsigned char *b = slurp(tmp, &n);
    put(target, name, b, n);
    free(b);
    free(img);
    free(rows);
    remove(tmp);
}

/* ---- .npy ---- */
static size_t npy(unsigned char *out, const char *descr, const char *fortran, const char *shape,
                  const void *data, size_t n, int version)
{
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                      fortran, shape);
    size_t pre = version == 1 ? 10 : 12;
    size_t total = (pre + (size_t)dl + 1 + 63) / 64 * 64, hl = total - pre;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)version;
    out[7] = 0;
    out[8] = (unsigned char)(hl & 255);
    out[9] = (unsigned char)(hl >> 8);
    if (version != 1)
        out[10] = out[11] = 0;
    memcpy(out + pre, dict, (size_t)dl);
    memset(out + pre + dl, ' ', hl - (size_t)dl - 1);
    out[total - 1] = '\n';
    memcpy(out + total, data, n);
    return total + n;
}

/* ---- Deep Compression file for fuzz_dcnet's table (a: 2 biases, 24 weights; b: 3, 30) ---- */
static size_t dcnet(unsigned char *o, int with_filler)
{
    size_t p = 0;
    uint32_t nz[2] = {5, with_filler ? 3 : 4};
    memcpy(o, nz, 8);
    p = 8;
    int cout[2] = {2, 3};
    for (int l = 0; l < 2; l++) {
        float book[256];
        for (int k = 0; k < 256; k++)
            book[k] = k ? (float)(k - 128) / 64.0f : 0.0f;
        memcpy(o + p, book, sizeof book);
        p += sizeof book;
        for (int k = 0; k < cout[l]; k++) {
            float b = 0.25f * (float)(k + 1);
            memcpy(o + p, &b, 4);
            p += 4;
        }
        unsigned char idx[5] = {130, 140, 100, 200, 129};
        unsigned char steps[5] = {0, 2, 1, 3, 0};
        if (l == 1 && with_filler) { /* 16+ gap bridged by a stored zero (entry 0, step 15) */
            idx[0] = 131, idx[1] = 0, idx[2] = 150;
            steps[0] = 1, steps[1] = 15, steps[2] = 4;
        }
        memcpy(o + p, idx, nz[l]);
        p += nz[l];
        for (uint32_t j = 0; j < nz[l]; j += 2)
            o[p++] = (unsigned char)(steps[j] | (j + 1 < nz[l] ? steps[j + 1] << 4 : 0));
    }
    return p;
}

/* fuzz_compare's input: type byte, length of A (2 bytes LE), A, B */
static void pair(const char *name, int type, const void *a, size_t na, const void *b, size_t nb)
{
    unsigned char buf[8192];
    buf[0] = (unsigned char)type;
    buf[1] = (unsigned char)(na & 255);
    buf[2] = (unsigned char)(na >> 8);
    memcpy(buf + 3, a, na);
    memcpy(buf + 3 + na, b, nb);
    put("fuzz_compare", name, buf, 3 + na + nb);
}

int main(void)
{
    /* fuzz_csv */
    puts_("fuzz_csv", "plain.csv", "number,name,coverage\n1,red,0.5\n2,sky,1e-3\n");
    puts_("fuzz_csv", "quoted.csv", "a,\"b,c\",d\r\n\"x \"\"q\"\" y\",\"multi\nline\",3\r\n\r\n4,, 5 \r\n");
    puts_("fuzz_csv", "bom.csv", "\xef\xbb\xbfname\n  \ncolor\n\nobject");
    puts_("fuzz_csv", "thresholds.txt", "# per-unit thresholds\n0.125\n  -3.5e2\n\n7\n");
    puts_("fuzz_csv", "numbers.csv", "x\n0x10\n-0\ninf\nnan\n1e400\n99999999999999999999\n");
    /* fuzz_index: index \0 label \0 category \0 c_a \0 c_b \0 categories */
    {
        const char *parts[][6] = {
            {"image,split,ih,iw,sh,sw,a,b\nx1.jpg,train,8,8,4,4,p1.png,2\nx2.jpg,val,8,8,4,4,,p2.png;3\n",
             "number,name\n0,-\n1,red\n2,sky\n3,dog\n", "name\na\nb\n", "number,coverage\n1,0.5\n",
             "number,coverage\n2,0.5\n3,0.2\n", ""},
            {"image,split,ih,iw,sh,sw,a,b\nx1.jpg,train,8,8,4,4,p1.png;p1.png,\n\"x2.jpg\",val,8,8,4,4,1,2;3\n",
             "number,name,category\n1,red,a\n2,sky,b\n3,\"dog, big\",b\n", "name,first,last\nb,1,1\na,2,2\n",
             "code,number,name,frequency,coverage\n1,1,red,1,0.5\n",
             "code,number,name,frequency,coverage\n1,2,sky,1,0.5\n2,3,dog,1,0.2\n", "b"},
            {"image,split,ih,iw,sh,sw,a,b\r\nx1.jpg,train,8,8,4,4,,2;3\r\n",
             "number,name\r\n1,red\r\n2,sky\r\n3,dog\r\n", "name\r\na\r\nb\r\n", "number,coverage\r\n1,0.5\r\n",
             "number,coverage\r\n2,0.5\r\n3,0.2\r\n", "a,b"},
        };
        for (int s = 0; s < 3; s++) {
            char buf[2048];
            size_t n = 0;
            for (int i = 0; i < 6; i++) {
                size_t l = strlen(parts[s][i]);
                memcpy(buf + n, parts[s][i], l);
                n += l;
                if (i < 5)
                    buf[n++] = 0;
            }
            char name[32];
            snprintf(name, sizeof name, "dataset%d", s + 1);
            put("fuzz_index", name, buf, n);
        }
    }
    /* fuzz_png (and PNGs for fuzz_jpeg's magic dispatch) */
    png_seed("fuzz_png", "rgb4x4.png", 4, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "gray5x3.png", 5, 3, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "gray1bit.png", 9, 2, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "gray16.png", 3, 3, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "palette.png", 4, 2, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "rgba.png", 3, 4, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "grayalpha.png", 2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE);
    png_seed("fuzz_png", "adam7.png", 8, 8, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7);
    png_seed("fuzz_png", "rgb16.png", 2, 2, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE);
    png_seed("fuzz_jpeg", "rgb4x4.png", 4, 4, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE);
    /* fuzz_jpeg */
    {
        unsigned char rgb[16 * 12 * 3];
        for (int i = 0; i < 16 * 12 * 3; i++)
            rgb[i] = (unsigned char)(i * 37 % 251);
        const char *tmp = "/tmp/ndseed.jpg";
        size_t n;
        unsigned char *b;
        if (img_save_jpeg(tmp, rgb, 16, 12, 75))
            return 1;
        b = slurp(tmp, &n);
        put("fuzz_jpeg", "rgb16x12.jpg", b, n);
        put("fuzz_jpeg", "truncated.jpg", b, n / 2);
        free(b);
        if (img_save_jpeg(tmp, rgb, 5, 3, 30))
            return 1;
        b = slurp(tmp, &n);
        put("fuzz_jpeg", "rgb5x3.jpg", b, n);
        free(b);
        remove(tmp);
    }
    /* fuzz_npy */
    {
        unsigned char o[4096];
        float f4[24];
        for (int i = 0; i < 24; i++)
            f4[i] = (float)(i % 7) - 2.5f;
        put("fuzz_npy", "f4_4d.npy", o, npy(o, "<f4", "False", "(2, 3, 2, 2)", f4, sizeof f4, 1));
        uint16_t f2[8] = {0x3c00, 0x4000, 0, 0x8000, 0x7bff, 0x0001, 0x3555, 0xbc00};
        put("fuzz_npy", "f2_4d.npy", o, npy(o, "<f2", "False", "(2, 2, 1, 2)", f2, sizeof f2, 1));
        double rot[4] = {0.6, -0.8, 0.8, 0.6};
        put("fuzz_npy", "rot2.npy", o, npy(o, "<f8", "False", "(2, 2)", rot, sizeof rot, 1));
        double r3[9] = {0, -1, 0, 1, 0, 0, 0, 0, 1};
        put("fuzz_npy", "rot3.npy", o, npy(o, "<f8", "False", "(3, 3)", r3, sizeof r3, 1));
        double thr[3] = {0.5, 1.5, -2};
        put("fuzz_npy", "thr_v2.npy", o, npy(o, "<f8", "False", "(3,)", thr, sizeof thr, 2));
        unsigned char u1[6] = {1, 2, 3, 4, 5, 255};
        put("fuzz_npy", "u1.npy", o, npy(o, "|u1", "False", "(6,)", u1, sizeof u1, 1));
        int64_t i8[3] = {-1, 0, 1};
        put("fuzz_npy", "i8.npy", o, npy(o, "<i8", "False", "(3,)", i8, sizeof i8, 3));
        put("fuzz_npy", "fortran.npy", o, npy(o, "<f4", "True", "(2, 3)", f4, 24, 1));
        put("fuzz_npy", "scalar.npy", o, npy(o, "<f4", "False", "()", f4, 4, 1));
        put("fuzz_npy", "empty.npy", o, npy(o, "<f4", "False", "(0, 3, 1, 1)", f4, 0, 1));
    }
    /* fuzz_ini (the target's folder holds f.npy and ds/) */
    puts_("fuzz_ini", "minimal.ini",
          "[dataset]\npath = ds\n[activations]\nnpy = f.npy\n[rotation]\nalphas = 0, 0.5, 1\n[output]\ndir = out\n");
    puts_("fuzz_ini", "full.ini",
          "; a comment\n[dataset]\npath = ds\ncategories = object,color\nname = Mini set\n\n"
          "[activations]\nnpy = f.npy\nmodel = alexnet\nlayer = conv5\n\n"
          "[dissect]\nprofile = netdissect\nfield = -64,163,16\nquantile = 0.01\niou_threshold = 0.05\n\n"
          "[rotation]\nalphas = 1, 0.25\nallow_extrapolation = false\ndraws = 3\nbase_seed = 7\n\n"
          "[output]\ndir = ${RESULTS}/run\ntitle = A title # not a comment?\n");
    puts_("fuzz_ini", "compute.ini",
          "[dataset]\npath = ds\n[activations]\nmodel = squeezenet\nlayer = fire9\nrandom_seed = 5\n"
          "[dissect]\nprofile = netdissect-lite\n[rotation]\nalphas = -0.5, 2\nallow_extrapolation = true\n"
          "[output]\ndir = out\n");
    /* fuzz_dcnet */
    {
        unsigned char o[4096];
        put("fuzz_dcnet", "two_layers.net", o, dcnet(o, 0));
        put("fuzz_dcnet", "gap_filler.net", o, dcnet(o, 1));
    }
    /* fuzz_result_csv: the references' layout */
    puts_("fuzz_result_csv", "result.csv",
          "unit,category,label,score,color-label,color-truth,color-activation,color-intersect,color-iou,"
          "object-label,object-truth,object-activation,object-intersect,object-iou\n"
          "3,object,grass,0.25,red,100,50,10,0.0714285714285714,grass,40,60,20,0.25\n"
          "1,color,red,0.1,red,100,10,10,0.1,grass,40,5,1,0.0227272727272727\n"
          "2,color,\"blue, dark\",0,blue,1,0,0,0,sky,0,0,0,0\n");
    /* fuzz_compare: type byte, A, NUL, B */
    {
        const char *csv = "unit,score,label\n1,0.5,a\n2,1e-3,\"b,c\"\n";
        const char *csv2 = "unit,score,label\n1,0.5000001,a\n2,nan,\"b,c\"\n";
        const char *js = "{\"a\": 1, \"b\": [1, 2.5, {\"c\": \"x\\\"y\"}], \"seconds\": 3, \"n\": null, \"t\": true}";
        const char *js2 = "{\"a\": 1.0, \"b\": [1, 2.5, {\"c\": \"x\\\"y\"}], \"seconds\": 4, \"n\": null, \"t\": false}";
        unsigned char o[512], o2[512];
        float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3.5f, 4};
        size_t na = npy(o, "<f4", "False", "(2, 2)", a, sizeof a, 1);
        size_t nb = npy(o2, "<f4", "False", "(2, 2)", b, sizeof b, 1);
        pair("csv_pair", 0, csv, strlen(csv), csv2, strlen(csv2));
        pair("json_pair", 1, js, strlen(js), js2, strlen(js2));
        pair("npy_pair", 2, o, na, o2, nb);
    }
    /* fuzz_store: the store broden_open_store builds for fz_make_dataset's dataset */
    {
        char dir[] = "/tmp/ndseedsXXXXXX";
        if (!mkdtemp(dir))
            return 1;
        fz_make_dataset(dir);
        char sp[64];
        snprintf(sp, sizeof sp, "%s/labels.store", dir);
        broden *ds;
        if (broden_open_store(&ds, dir, NULL, sp))
            return 1;
        broden_free(ds);
        size_t n;
        unsigned char *b = slurp(sp, &n);
        put("fuzz_store", "valid.store", b, n);
        b[8] ^= 1; /* another dataset's signature */
        put("fuzz_store", "stale.store", b, n);
        free(b);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd))
            return 1;
    }
    printf("seeds written to tests/fuzz/corpus/\n");
    return 0;
}
