#include "core/csv.h"

#include "core/afile.h"
#include "core/err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int split_row(csv_file *c)
{
    /* find the end of this record (newlines inside quotes belong to it) */
    size_t p = c->pos, need = 0;
    int inq = 0;
    while (p < c->len) {
        char ch = c->buf[p];
        if (ch == '"')
            inq = !inq;
        else if (ch == '\n' && !inq)
            break;
        p++;
        need++;
    }
    if (inq)
        return nd_fail("%s:%d: unterminated quoted field", c->path, c->line);
    if (need + 1 > c->rowcap) {
        char *r = realloc(c->row, need + 1);
        if (!r)
            return nd_fail("%s: out of memory", c->path);
        c->row = r;
        c->rowcap = need + 1;
    }
    const char *s = c->buf + c->pos;
    size_t n = need;
    if (n && s[n - 1] == '\r')
        n--;
    c->pos = p < c->len ? p + 1 : p;
    /* decode fields in place into row */
    c->nf = 0;
    char *o = c->row;
    size_t i = 0;
    for (;;) {
        if (c->nf == c->cap) {
            int nc = c->cap ? 2 * c->cap : 16;
            char **f = realloc(c->f, sizeof *f * (size_t)nc);
            if (!f)
                return nd_fail("%s: out of memory", c->path);
            c->f = f;
            c->cap = nc;
        }
        c->f[c->nf++] = o;
        if (i < n && s[i] == '"') {
            i++;
            while (i < n) {
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        *o++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *o++ = s[i++];
            }
            while (i < n && s[i] != ',')
                *o++ = s[i++];
        } else {
            while (i < n && s[i] != ',')
                *o++ = s[i++];
        }
        *o++ = 0;
        if (i >= n)
            break;
        i++; /* the comma */
    }
    return 0;
}

static int blank_line(const csv_file *c)
{
    size_t p = c->pos;
    while (p < c->len && (c->buf[p] == '\r' || c->buf[p] == ' '))
        p++;
    return p >= c->len || c->buf[p] == '\n';
}

int csv_next(csv_file *c)
{
    for (;;) {
        if (c->pos >= c->len)
            return 0;
        c->line++;
        if (blank_line(c)) {
            while (c->pos < c->len && c->buf[c->pos] != '\n')
                c->pos++;
            c->pos++;
            continue;
        }
        return split_row(c) ? -1 : 1;
    }
}

int csv_open_in(csv_file *c, const char *dir, const char *name)
{
    memset(c, 0, sizeof *c);
    char *p = nd_path_join(dir, name);
    if (!p)
        return -1;
    int rc = csv_open(c, p);
    free(p);
    return rc;
}

const char *nd_skip_bom(const char *s) { return strncmp(s, "\xef\xbb\xbf", 3) ? s : s + 3; }

int csv_open(csv_file *c, const char *path)
{
    memset(c, 0, sizeof *c);
    struct stat st;
    if (stat(path, &st) != 0)
        return nd_fail("%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return nd_fail("%s: is a directory, expected a CSV file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot open: %s", path, strerror(errno));
    c->path = strdup(path);
    c->buf = nd_malloc((size_t)st.st_size + 1);
    if (!c->path || !c->buf) {
        fclose(f);
        csv_close(c);
        return nd_fail("%s: out of memory", path);
    }
    c->len = fread(c->buf, 1, (size_t)st.st_size, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        csv_close(c);
        return nd_fail("%s: read error", path);
    }
    c->buf[c->len] = 0;
    if (memchr(c->buf, 0, c->len)) {
        csv_close(c);
        return nd_fail("%s: binary data (NUL byte) in a CSV file", path);
    }
    c->pos = (size_t)(nd_skip_bom(c->buf) - c->buf);
    int r = csv_next(c);
    if (r <= 0) {
        if (r == 0)
            nd_fail("%s: empty file, expected a header row", path);
        csv_close(c);
        return -1;
    }
    c->nh = c->nf;
    c->hdr = nd_calloc((size_t)c->nh, sizeof *c->hdr);
    if (!c->hdr) {
        csv_close(c);
        return nd_fail("%s: out of memory", path);
    }
    for (int i = 0; i < c->nh; i++)
        if (!(c->hdr[i] = strdup(c->f[i]))) {
            csv_close(c);
            return nd_fail("%s: out of memory", path);
        }
    return 0;
}

void csv_close(csv_file *c)
{
    if (c->hdr)
        for (int i = 0; i < c->nh; i++)
            free(c->hdr[i]);
    free(c->hdr);
    free(c->path);
    free(c->buf);
    free(c->f);
    free(c->row);
    memset(c, 0, sizeof *c);
}

int csv_col(const csv_file *c, const char *name)
{
    for (int i = 0; i < c->nh; i++)
        if (!strcmp(c->hdr[i], name))
            return i;
    return -1;
}

int csv_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    while (*s == ' ')
        s++;
    long v = strtol(s, &end, 10);
    while (*end == ' ')
        end++;
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

int csv_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    while (*s == ' ')
        s++;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (!*s || *end || (errno && errno != ERANGE) || isnan(v))
        return -1;
    *out = v;
    return 0;
}
