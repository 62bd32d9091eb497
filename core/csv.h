/* csv.h - a small reader for the comma-separated files of Broden datasets
 * and result files: one header row, fields optionally double-quoted ("" is
 * a quote inside quotes), LF or CRLF line ends.  The whole file is read
 * into memory; rows are split on demand.
 *
 *     csv_file c;
 *     if (csv_open(&c, path)) return -1;
 *     while (csv_next(&c) > 0)  use c.nf fields c.f[0..nf-1] of line c.line
 *     csv_close(&c);
 */
#ifndef ND_CSV_H
#define ND_CSV_H

#include <stddef.h>

typedef struct {
    char *path;
    char *buf;        /* whole file, NUL-terminated */
    size_t len, pos;
    int line;         /* 1-based line number of the current row */
    char **f;         /* fields of the current row (point into a row copy) */
    int nf, cap;
    char *row;        /* decoded copy of the current row */
    size_t rowcap;
    char **hdr;       /* header fields (copies) */
    int nh;
} csv_file;

/* Opens and reads the header row (an empty file is an error). */
int csv_open(csv_file *c, const char *path);
/* The same for DIR/NAME; c->path holds the joined path for messages. */
int csv_open_in(csv_file *c, const char *dir, const char *name);
/* Next data row: 1 if a row was read, 0 at end, -1 on error (unterminated
 * quote).  Blank lines are skipped. */
int csv_next(csv_file *c);
void csv_close(csv_file *c);
/* Index of a header column, or -1. */
int csv_col(const csv_file *c, const char *name);

/* Past a UTF-8 byte-order mark at the start of a text (editors on Windows
 * write one): the one rule every text reader applies (CSV, JSON, INI,
 * threshold and class lists). */
const char *nd_skip_bom(const char *s);

/* Strict number parsing of a field; 0 ok, -1 bad. */
int csv_long(const char *s, long *out);
int csv_double(const char *s, double *out);

#endif
