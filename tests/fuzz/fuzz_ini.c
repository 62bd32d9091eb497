/* fuzz_ini.c - the sweep configuration reader (experiments/config.c on
 * libinih) on arbitrary bytes.  When a config is accepted, its effective
 * form (config_effective) must load again - config.h promises that - so the
 * writer and the reader are fuzzed against each other.
 *
 * Input: the .ini file.  It sits in the fuzzer's folder beside a file
 * "f.npy" and a folder "ds", so configs naming them (relative paths are
 * relative to the config's folder) get past the existence checks. */
#include "core/err.h"
#include "experiments/config.h"
#include "tests/fuzz/fuzz_util.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p, *p2;
    if (!p) {
        p = fz_path("f.ini");
        p2 = fz_path("again.ini");
        char *n = fz_path("f.npy"), *d = fz_path("ds");
        fz_write_str(n, "not read by config_load");
        mkdir(d, 0755);
        free(n);
        free(d);
    }
    fz_write(p, data, size);
    config c;
    if (config_load(&c, p) == 0) {
        ND_ASSERT(c.dataset && c.out_dir && c.npy && c.n_alphas >= 1);
        for (int i = 1; i < c.n_alphas; i++)
            ND_ASSERT(c.alphas[i - 1] < c.alphas[i]);
        char buf[256];
        (void)config_title(&c, buf, sizeof buf);
        char *e = config_effective(&c);
        if (e) {
            fz_write_str(p2, e);
            config c2;
            if (config_load(&c2, p2) != 0) {
                fprintf(stderr, "effective config does not load again: %s\n%s", nd_errmsg(), e);
                abort();
            }
            ND_ASSERT(c2.n_alphas == c.n_alphas && c2.draws == c.draws && c2.base_seed == c.base_seed);
            for (int i = 0; i < c.n_alphas; i++)
                ND_ASSERT(c2.alphas[i] == c.alphas[i]);
            ND_ASSERT(!strcmp(c2.dataset, c.dataset) && !strcmp(c2.out_dir, c.out_dir));
            config_free(&c2);
            free(e);
        }
        config_free(&c);
    }
    fz_done();
    return 0;
}
