/* cli.c - helpers shared by the subcommands (see cli.h): usage errors,
 * strict numbers, the progress line and its one quiet rule. */
#include "experiments/cli.h"
#include "core/err.h"
#include "core/jobs.h"
#include "linalg/rotation.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dissect %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'dissect %s --help')\n", cmd);
    return ND_EXIT_USAGE;
}

int cli_fail(void)
{
    cli_progress_done();
    fprintf(stderr, "dissect: %s\n", nd_errmsg());
    return ND_EXIT_FAIL;
}

int cli_finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        cli_progress_done();
        fprintf(stderr, "dissect: standard output: write failed: %s\n", strerror(e ? e : EIO));
        return rc ? rc : ND_EXIT_FAIL;
    }
    return rc;
}

int cli_reject_empty(const char *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (n == 0)
            return cli_usage_error(cmd, "empty argument%s%s%s (an empty path would mean the current folder)",
                                   i > 1 ? " after '" : "", i > 1 ? argv[i - 1] : "", i > 1 ? "'" : "");
        if (n > 2 && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][n - 1] == '=')
            return cli_usage_error(cmd, "'%s': empty value", argv[i]);
    }
    return 0;
}

int cli_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cli_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* the range strings of cli.h spell these constants */
_Static_assert(ND_MAX_THREADS == 64, "CLI_THREADS_RANGE");
_Static_assert(ROT_SEED_MAX == 4294967294UL, "CLI_SEED_RANGE");

int cli_threads(const char *s, int *out)
{
    long v;
    if (cli_long(s, &v) || v < 0 || v > ND_MAX_THREADS)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_seed(const char *s, long *out)
{
    long v;
    if (cli_long(s, &v) || v < 0 || (unsigned long)v > ROT_SEED_MAX)
        return -1;
    *out = v;
    return 0;
}

int cli_double_list(const char *s, double **out, int *n)
{
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    double *v = nd_malloc(sizeof *v * (size_t)cap);
    char *copy = strdup(s);
    if (!v || !copy) {
        free(v);
        free(copy);
        return -1;
    }
    int k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ')
            *--e = 0;
        if (cli_double(tok, &v[k])) {
            free(v);
            free(copy);
            return -1;
        }
        k++;
    }
    free(copy);
    if (k == 0) {
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static int progress_open;
static int quiet = -1; /* -1: not decided yet */

void cli_set_quiet(int q) { quiet = q != 0; }

int cli_quiet(void)
{
    if (quiet < 0) { /* the one place ND_QUIET is read */
        const char *q = getenv("ND_QUIET");
        quiet = q && *q && *q != '0';
    }
    return quiet;
}

void cli_progress(const char *fmt, ...)
{
    if (cli_quiet())
        return;
    int tty = isatty(2);
    va_list ap;
    if (tty)
        fputs("\r\033[K", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty)
        fputc('\n', stderr);
    progress_open = tty;
    fflush(stderr);
}

void cli_progress_done(void)
{
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = 0;
    }
}

void cli_fmt_double(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}
