#include "tests/testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
