/* fuzz_util.h - shared helpers of the libFuzzer targets in tests/fuzz/.
 *
 * The readers under test take file names, not buffers, so each target writes
 * its input to a file in one private temporary folder made once per process
 * (under $TMPDIR, normally a tmpfs-backed /tmp) and overwrites it on every
 * execution: no per-execution directory creation, a few syscalls per run.
 * The folder is removed at exit.
 *
 * The same sources are compiled into tests/test_regress.c (with the entry
 * points renamed) so that `make test` replays the corpus seeds and every
 * input under tests/regress/ without clang.
 */
#ifndef ND_FUZZ_UTIL_H
#define ND_FUZZ_UTIL_H

#include "core/err.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_root[512];

static __attribute__((unused)) void fz_rm_root(void)
{
    if (!fz_root[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fz_root);
    fz_root[0] = 0;
}

/* The private folder (created on first use). */
static __attribute__((unused)) const char *fz_dir(void)
{
    if (fz_root[0])
        return fz_root;
    const char *t = getenv("TMPDIR");
    snprintf(fz_root, sizeof fz_root, "%s/ndfuzz.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fz_root)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_rm_root);
    return fz_root;
}

/* "<dir>/<name>" in a static buffer per call site is error-prone; return a
 * malloc'd string that the caller keeps for the life of the process. */
static __attribute__((unused)) char *fz_path(const char *name)
{
    const char *d = fz_dir();
    size_t n = strlen(d) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", d, name);
    return p;
}

/* Replace the file at path with exactly n bytes of data. */
static __attribute__((unused)) void fz_write(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

static __attribute__((unused)) void fz_write_str(const char *path, const char *s) { fz_write(path, s, strlen(s)); }

/* Split data at NUL bytes into at most max parts; returns the count.  Parts
 * point into data and have lengths len[i] (the NULs are not included). */
static __attribute__((unused)) int fz_split(const uint8_t *data, size_t n, const uint8_t **part, size_t *len, int max)
{
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && k < max; i++)
        if (i == n || (data[i] == 0 && k < max - 1)) {
            part[k] = data + start;
            len[k] = i - start;
            k++;
            start = i + 1;
        }
    return k;
}

/* Silence stdout/stderr around a call into a command (cmd_*) that prints
 * its results and its error line, when ND_FUZZ_MUTE=1 (the replay test sets
 * it; under libFuzzer, -close_fd_mask=3 does the same and keeps the
 * sanitizer reports). */
static int fz_saved_out = -1, fz_saved_err = -1;
/* reading every decoded value into it makes ASan check the whole buffer */
static volatile unsigned fz_sink;
static __attribute__((unused)) void fz_mute(void)
{
    static int want = -1;
    if (want < 0) {
        const char *e = getenv("ND_FUZZ_MUTE");
        want = e && *e == '1';
    }
    if (!want)
        return;
    fflush(stdout);
    fflush(stderr);
    int nul = open("/dev/null", O_WRONLY);
    if (nul < 0)
        return;
    fz_saved_out = dup(1);
    fz_saved_err = dup(2);
    dup2(nul, 1);
    dup2(nul, 2);
    close(nul);
}
static __attribute__((unused)) void fz_unmute(void)
{
    if (fz_saved_out < 0)
        return;
    fflush(stdout);
    fflush(stderr);
    dup2(fz_saved_out, 1);
    dup2(fz_saved_err, 2);
    close(fz_saved_out);
    close(fz_saved_err);
    fz_saved_out = fz_saved_err = -1;
}

/* End of one reader call: with ND_REGRESS_VERBOSE=1 show the error line
 * the reader recorded (to see which seeds are accepted), then clear it. */
static __attribute__((unused)) void fz_done(void)
{
    static int verbose = -1;
    if (verbose < 0) {
        const char *e = getenv("ND_REGRESS_VERBOSE");
        verbose = e && *e == '1';
    }
    if (verbose)
        fprintf(stderr, "  -> %s\n", *nd_errmsg() ? nd_errmsg() : "accepted");
    nd_clear_error();
}

#endif
