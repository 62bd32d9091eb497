/* test_config.c - the sweep config reader: values, defaults, path rules, and
 * one precise error (file, line, section, key) for each kind of mistake. */
#include "core/err.h"
#include "experiments/config.h"
#include "tests/testutil.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char ini_path[4096];
static int n_written;

/* Write a config into the temp folder; %s in text is replaced by the fixture folder. */
static const char *write_ini(const char *text)
{
    const char *fx = test_shared_path("fixtures/netdissect-lite-mini");
    snprintf(ini_path, sizeof ini_path, "%s/c%d.ini", test_tmpdir(), n_written++);
    FILE *f = fopen(ini_path, "w");
    if (!f) {
        perror(ini_path);
        exit(1);
    }
    for (const char *p = text; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            fputs(fx, f);
            p++;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
    return ini_path;
}

static int matches(const char *s, const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
        return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* The config must fail with a message matching pattern (after "FILE:"). */
static void expect_error(const char *what, const char *text, const char *pattern)
{
    config c;
    const char *p = write_ini(text);
    int r = config_load(&c, p);
    const char *m = nd_errmsg();
    char full[600];
    snprintf(full, sizeof full, "^%s:%s", p, pattern);
    CHECK(r == -1, "%s: config_load returned %d, expected -1", what, r);
    CHECK(r == -1 && matches(m, full), "%s: message '%s' does not match /%s/", what, m, full);
    CHECK(r == -1 && !strchr(m, '\n'), "%s: message has a newline: '%s'", what, m);
    if (r == 0)
        config_free(&c);
    else
        printf("  %s -> %s\n", what, m);
}

#define GOOD_DS "[dataset]\npath = %s/dataset\n"
#define GOOD_ACT "[activations]\nnpy = %s/features.npy\n"
#define GOOD_ROT "[rotation]\nalphas = 0, 0.5, 1\n"
#define GOOD_OUT "[output]\ndir = out\n"

static void test_valid(void)
{
    test_group("valid config: values, defaults, paths");
    config c;
    const char *p = write_ini("; a comment\n# another\n" GOOD_DS "categories = color,object\n\n" GOOD_ACT
                              "[dissect]\nprofile = netdissect\nfield = -64,163,16\nquantile = 0.01\n"
                              "[rotation]\nalphas = 1, 0.25,0.5 ; inline comment\ndraws = 3\nbase_seed = 7\n" GOOD_OUT);
    int r = config_load(&c, p);
    CHECK(r == 0, "load: %s", nd_errmsg());
    if (r)
        return;
    CHECK(c.n_alphas == 4 && c.alphas[0] == 0 && c.alphas[1] == 0.25 && c.alphas[2] == 0.5 && c.alphas[3] == 1,
          "alphas sorted with 0 added: n=%d", c.n_alphas);
    CHECK(c.draws == 3 && c.base_seed == 7, "draws %d base_seed %lu", c.draws, c.base_seed);
    CHECK(c.quantile == 0.01 && c.iou_threshold == 0.04, "quantile %g iou %g", c.quantile, c.iou_threshold);
    CHECK(c.have_field && c.field_offset == -64 && c.field_size == 163 && c.field_stride == 16, "field");
    CHECK(c.categories && !strcmp(c.categories, "color,object"), "categories");
    char want[4096];
    snprintf(want, sizeof want, "%s/out", test_tmpdir());
    CHECK(c.out_dir[0] == '/' && strstr(c.out_dir, "/out") && !strcmp(strrchr(c.out_dir, '/'), "/out"),
          "relative dir is under the config folder: %s", c.out_dir);
    CHECK(!strcmp(c.dataset_name, "dataset"), "default dataset name: %s", c.dataset_name);

    /* the effective config loads again to the same effective config */
    char *e1 = config_effective(&c);
    config_free(&c);
    CHECK(e1 != NULL, "effective");
    FILE *f = fopen(write_ini(""), "w");
    fputs(e1, f);
    fclose(f);
    r = config_load(&c, ini_path);
    CHECK(r == 0, "effective config reloads: %s", nd_errmsg());
    if (r == 0) {
        char *e2 = config_effective(&c);
        /* equal after the "; from:" line, which names the file */
        const char *a = strstr(e1, "\n[dataset]"), *b = strstr(e2, "\n[dataset]");
        CHECK(a && b && !strcmp(a, b), "effective config round trip differs:\n%s\n---\n%s", e1, e2);
        CHECK(strstr(e1, "program_version") && strstr(e1, "seeds of the draws: 7..9"), "version and seeds recorded");
        free(e2);
        config_free(&c);
    }
    free(e1);

    /* ${DATA} expansion: relative to the current directory, from the environment */
    setenv("DATA", test_shared(), 1);
    p = write_ini("[dataset]\npath = ${DATA}/fixtures/netdissect-lite-mini/dataset\n"
                  "[activations]\nnpy = ${DATA}/fixtures/netdissect-lite-mini/features.npy\n"
                  "[dissect]\nprofile = netdissect-lite\n[rotation]\nalphas = 0,1\nallow_extrapolation = false\n"
                  "[output]\ndir = ${RESULTS}/x\n");
    r = config_load(&c, p);
    CHECK(r == 0, "${DATA}: %s", nd_errmsg());
    if (r == 0) {
        CHECK(c.profile == ND_PROFILE_LITE, "profile lite");
        CHECK(c.dataset[0] == '/', "absolute dataset path: %s", c.dataset);
        config_free(&c);
    }
    /* the short profile names of the command line (core's nd_profile_parse);
     * the effective config spells the profile out */
    static const char *const shorts[][2] = {{"ndl", "netdissect-lite"}, {"lite", "netdissect-lite"}};
    for (int i = 0; i < 2; i++) {
        char text[600];
        snprintf(text, sizeof text,
                 "[dataset]\npath = ${DATA}/fixtures/netdissect-lite-mini/dataset\n"
                 "[activations]\nnpy = ${DATA}/fixtures/netdissect-lite-mini/features.npy\n"
                 "[dissect]\nprofile = %s\n[rotation]\nalphas = 0,1\n[output]\ndir = ${RESULTS}/x\n",
                 shorts[i][0]);
        p = write_ini(text);
        r = config_load(&c, p);
        CHECK(r == 0 && c.profile == ND_PROFILE_LITE, "profile = %s: %s", shorts[i][0],
              r ? nd_errmsg() : "lite");
        if (r == 0) {
            char *eff = config_effective(&c);
            char want[64];
            snprintf(want, sizeof want, "profile = %s\n", shorts[i][1]);
            CHECK(eff && strstr(eff, want), "effective config says '%s'", shorts[i][1]);
            free(eff);
            config_free(&c);
        }
    }
    /* extrapolation with opt-in, written after the alphas */
    p = write_ini(GOOD_DS GOOD_ACT "[rotation]\nalphas = -0.5, 1.5\nallow_extrapolation = true\n" GOOD_OUT);
    r = config_load(&c, p);
    CHECK(r == 0 && c.n_alphas == 3 && c.alphas[0] == -0.5 && c.alphas[1] == 0, "extrapolation opt-in: %s",
          nd_errmsg());
    if (r == 0)
        config_free(&c);
}

static void test_errors(void)
{
    test_group("config errors: one line with file, line, section and key");
    expect_error("unknown key", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0,1\nalpahs = 0,1\n" GOOD_OUT,
                 "7: \\[rotation\\] alpahs: unknown key");
    expect_error("unknown section", GOOD_DS GOOD_ACT GOOD_ROT "[outptu]\ndir = x\n",
                 "7: \\[outptu\\]: unknown section");
    expect_error("unknown empty section", GOOD_DS "[extra]\n" GOOD_ACT GOOD_ROT GOOD_OUT,
                 "3: \\[extra\\]: unknown section");
    expect_error("malformed alpha list", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0, 0.5,, 1\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: '0, 0.5,, 1': expected a comma-separated list");
    expect_error("alpha not a number", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0, half, 1\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: .*expected a comma-separated list");
    expect_error("alpha list trailing comma", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0,1,\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: ");
    expect_error("missing dataset section", GOOD_ACT GOOD_ROT GOOD_OUT,
                 "6: \\[dataset\\] path: required key missing");
    expect_error("missing dataset path key", "[dataset]\ncategories = color\n" GOOD_ACT GOOD_ROT GOOD_OUT,
                 "1: \\[dataset\\] path: required key missing");
    expect_error("dataset folder absent", "[dataset]\npath = nowhere/at/all\n" GOOD_ACT GOOD_ROT GOOD_OUT,
                 "2: \\[dataset\\] path: .*nowhere/at/all: no such folder");
    expect_error("alpha above 1", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0, 0.5, 1.5\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: alpha 1.5 is outside \\[0, 1\\].*allow_extrapolation");
    expect_error("alpha below 0", GOOD_DS GOOD_ACT "[rotation]\nalphas = -0.1, 1\nallow_extrapolation = false\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: alpha -0.1 is outside \\[0, 1\\]");
    expect_error("duplicate alpha", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0, 1, 1.0\n" GOOD_OUT,
                 "6: \\[rotation\\] alphas: alpha 1 given twice");
    expect_error("duplicate key", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0,1\ndraws = 2\ndraws = 3\n" GOOD_OUT,
                 "8: \\[rotation\\] draws: given twice \\(first at line 7");
    expect_error("bad draws", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0,1\ndraws = 0\n" GOOD_OUT,
                 "7: \\[rotation\\] draws: '0': expected an integer");
    expect_error("bad profile", GOOD_DS GOOD_ACT "[dissect]\nprofile = litee\n" GOOD_ROT GOOD_OUT,
                 "6: \\[dissect\\] profile: 'litee': expected netdissect \\(or nd\\) or netdissect-lite");
    expect_error("bad quantile", GOOD_DS GOOD_ACT "[dissect]\nquantile = 1.5\n" GOOD_ROT GOOD_OUT,
                 "6: \\[dissect\\] quantile: '1.5': expected a number in \\(0, 1\\)");
    expect_error("bad field", GOOD_DS GOOD_ACT "[dissect]\nfield = -64,163\n" GOOD_ROT GOOD_OUT,
                 "6: \\[dissect\\] field: '-64,163': expected OFFSET,SIZE,STRIDE");
    expect_error("field with lite profile", GOOD_DS GOOD_ACT "[dissect]\nprofile = netdissect-lite\nfield = -64,163,16\n" GOOD_ROT GOOD_OUT,
                 "7: \\[dissect\\] field: only used by profile = netdissect");
    expect_error("missing activations", GOOD_DS GOOD_ROT GOOD_OUT,
                 "[0-9]+: \\[activations\\] npy: required key missing");
    expect_error("activations file absent", GOOD_DS "[activations]\nnpy = %s/nothere.npy\n" GOOD_ROT GOOD_OUT,
                 "4: \\[activations\\] npy: .*nothere.npy: No such file");
    expect_error("compute without layer", GOOD_DS "[activations]\nmodel = squeezenet\nrandom_seed = 3\n" GOOD_ROT GOOD_OUT,
                 "3: \\[activations\\] layer: required to compute");
    expect_error("missing alphas", GOOD_DS GOOD_ACT "[rotation]\ndraws = 2\n" GOOD_OUT,
                 "5: \\[rotation\\] alphas: required key missing");
    expect_error("missing output dir", GOOD_DS GOOD_ACT GOOD_ROT,
                 "6: \\[output\\] dir: required key missing");
    expect_error("bad boolean", GOOD_DS GOOD_ACT "[rotation]\nalphas = 0,1\nallow_extrapolation = maybe\n" GOOD_OUT,
                 "7: \\[rotation\\] allow_extrapolation: 'maybe': expected true or false");
    unsetenv("NO_SUCH_VAR_ND");
    expect_error("unset variable", "[dataset]\npath = ${NO_SUCH_VAR_ND}/x\n" GOOD_ACT GOOD_ROT GOOD_OUT,
                 "2: \\[dataset\\] path: .*NO_SUCH_VAR_ND is not set");
    expect_error("key outside a section", "alphas = 0,1\n" GOOD_DS GOOD_ACT GOOD_ROT GOOD_OUT,
                 "1: alphas: key outside any section");
    expect_error("syntax error", GOOD_DS "this is not ini\n" GOOD_ACT GOOD_ROT GOOD_OUT, "3: syntax error");

    config c;
    int r = config_load(&c, "/nonexistent/dir/x.ini");
    CHECK(r == -1 && strstr(nd_errmsg(), "/nonexistent/dir/x.ini: cannot read config"), "missing file: %s",
          nd_errmsg());
}

int main(void)
{
    test_valid();
    test_errors();
    return test_summary();
}
