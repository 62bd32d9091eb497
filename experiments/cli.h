/* cli.h - small helpers shared by the subcommands. */
#ifndef ND_CLI_H
#define ND_CLI_H

#include <stddef.h>

#define ND_VERSION "0.1.0"

/* Print "dissect CMD: msg" and a hint to stderr; returns ND_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "dissect: <nd_errmsg()>" to stderr; returns ND_EXIT_FAIL. */
int cli_fail(void);

/* The one rule against empty arguments, for every command (main.c calls it
 * before the command parses its options): an empty path would silently mean
 * the current folder, so '' and '--opt=' are usage errors.  Returns 0, or
 * ND_EXIT_USAGE after printing the error. */
int cli_reject_empty(const char *cmd, int argc, char **argv);

/* Strict number parsing: whole string, finite, in range. 0 ok, -1 bad. */
int cli_double(const char *s, double *out);
int cli_long(const char *s, long *out);
/* The one range of the options several commands share (and their config
 * keys): threads 0..ND_MAX_THREADS (0 = all cores); seeds 0..ROT_SEED_MAX
 * (the random generators keep 32 bits: larger seeds would repeat smaller
 * ones).  0 ok, -1 out of range; CLI_THREADS_RANGE / CLI_SEED_RANGE name the
 * range in messages and help. */
int cli_threads(const char *s, int *out);
int cli_seed(const char *s, long *out);
#define CLI_THREADS_RANGE "0..64"
#define CLI_SEED_RANGE "0..4294967294"

/* Comma-separated list of doubles into a malloc'd array. */
int cli_double_list(const char *s, double **out, int *n);

/* A command's exit status after flushing stdout: results that could not be
 * written (a full disk, /dev/full) turn a 0 into ND_EXIT_FAIL with one line. */
int cli_finish(int rc);

/* Progress line on stderr (overwritten in place when stderr is a tty).
 * The one quiet rule: progress lines are silenced by `dissect --quiet
 * COMMAND ...` (main.c calls cli_set_quiet) or by the environment variable
 * ND_QUIET set to anything but "" or "0" (read here, nowhere else).  Results,
 * summaries and errors are never silenced.  Library code reports through an
 * nd_progress (core/progress.h) that the command turns into these lines. */
void cli_set_quiet(int q);
int cli_quiet(void);
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_progress_done(void);

/* The shortest decimal that reads back to v (integers without exponent):
 * deterministic and readable, for configs and result tables. */
void cli_fmt_double(char *buf, size_t cap, double v);

#endif
