/* test_regress.c - replays every fuzz seed (tests/fuzz/corpus/<target>/)
 * and every crash or hang input found by fuzzing (tests/regress/<target>/)
 * through the same target code that libFuzzer runs, built here with the
 * ordinary compiler (so `make test` and `make asan` need no clang).
 *
 * Each tests/fuzz/fuzz_<x>.c is included with its entry point renamed.  An
 * input that crashes, aborts (the targets' ND_ASSERT invariants) or trips a
 * sanitizer kills this program, which the test runner reports as broken; the
 * name of the input being replayed is printed by a signal handler (and, with
 * ND_REGRESS_VERBOSE=1, before each input - which also keeps the commands'
 * own output visible).
 */
#define LLVMFuzzerTestOneInput fz_csv_one
#include "tests/fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_index_one
#include "tests/fuzz/fuzz_index.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_png_one
#include "tests/fuzz/fuzz_png.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_jpeg_one
#include "tests/fuzz/fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_npy_one
#include "tests/fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_ini_one
#include "tests/fuzz/fuzz_ini.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_dcnet_one
#include "tests/fuzz/fuzz_dcnet.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_result_csv_one
#include "tests/fuzz/fuzz_result_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_compare_one
#include "tests/fuzz/fuzz_compare.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_store_one
#include "tests/fuzz/fuzz_store.c"
#undef LLVMFuzzerTestOneInput

#include "experiments/cli.h"
#include "tests/testutil.h"

#include <dirent.h>
#include <signal.h>

static const struct {
    const char *name;
    int (*run)(const uint8_t *, size_t);
} targets[] = {
    {"fuzz_csv", fz_csv_one},     {"fuzz_index", fz_index_one},
    {"fuzz_png", fz_png_one},     {"fuzz_jpeg", fz_jpeg_one},
    {"fuzz_npy", fz_npy_one},     {"fuzz_ini", fz_ini_one},
    {"fuzz_dcnet", fz_dcnet_one}, {"fuzz_result_csv", fz_result_csv_one},
    {"fuzz_compare", fz_compare_one}, {"fuzz_store", fz_store_one},
};

static char current[1024];

static void on_crash(int sig)
{
    static const char m[] = "test_regress: crashed while replaying ";
    if (write(2, m, sizeof m - 1) < 0 || write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0) {
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Replay every regular file of dir (sorted); returns how many, -1 if no dir. */
static long replay_dir(const char *dir, int (*run)(const uint8_t *, size_t), int verbose)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README") || !strcmp(e->d_name, "README.md"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    long done = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(current, sizeof current, "%s/%s", dir, names[i]);
        FILE *f = fopen(current, "rb");
        CHECK(f != NULL, "cannot open %s", current);
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        size_t got = fread(buf, 1, (size_t)len, f);
        fclose(f);
        if (verbose)
            fprintf(stderr, "replay %s (%zu bytes)\n", current, got);
        run(buf, got);
        free(buf);
        free(names[i]);
        done++;
    }
    free(names);
    return done;
}

int main(void)
{
    int verbose = getenv("ND_REGRESS_VERBOSE") && *getenv("ND_REGRESS_VERBOSE") == '1';
    if (!verbose)
        setenv("ND_FUZZ_MUTE", "1", 1);
    cli_set_quiet(1);
    signal(SIGSEGV, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    long total_seed = 0, total_regress = 0;
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        char dir[256];
        test_group(targets[t].name);
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", targets[t].name);
        long s = replay_dir(dir, targets[t].run, verbose);
        CHECK(s > 0, "%s: no seeds in %s", targets[t].name, dir);
        snprintf(dir, sizeof dir, "tests/regress/%s", targets[t].name);
        long r = replay_dir(dir, targets[t].run, verbose);
        if (r < 0)
            r = 0;
        printf("  %-16s %3ld seeds, %3ld regression inputs replayed\n", targets[t].name, s, r);
        CHECK(1, "%s replayed", targets[t].name);
        total_seed += s > 0 ? s : 0;
        total_regress += r;
    }
    printf("replayed %ld seeds and %ld regression inputs without a crash\n", total_seed, total_regress);
    fz_rm_root();
    return test_summary();
}
