/* cli.h - small helpers shared by the subcommands. */
#ifndef ND_CLI_H
#define ND_CLI_H

#include <stddef.h>

#define ND_VERSION "0.1.0"

/* Print "dissect CMD: msg" and a hint to stderr; returns ND_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "dissect: <nd_errmsg()>" to stderr; returns ND_EXIT_FAIL. */
int cli_fail(void);

/* Strict number parsing: whole string, finite, in range. 0 ok, -1 bad. */
int cli_double(const char *s, double *out);
int cli_long(const char *s, long *out);
/* Comma-separated list of doubles into a malloc'd array. */
int cli_double_list(const char *s, double **out, int *n);

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
