/* json.c - a small JSON reader that flattens a document into (path, value)
 * pairs: members as "a.b", array elements as "list[2]"; values are kept as
 * written (strings with their quotes and escapes, so "\"12\"" and 12 stay
 * distinct), empty containers as "{}" / "[]".  Enough for our own
 * summary.json files and for comparing them member by member. */
#include "core/json.h"
#include "core/afile.h"
#include "core/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int jadd(nd_json *j, const char *path, const char *v, size_t vlen)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 64;
        char **np = realloc(j->path, sizeof *np * (size_t)j->cap);
        if (np)
            j->path = np;
        char **nv = realloc(j->val, sizeof *nv * (size_t)j->cap);
        if (nv)
            j->val = nv;
        if (!np || !nv)
            return nd_fail("%s: out of memory", j->file);
    }
    j->path[j->n] = strdup(path);
    j->val[j->n] = strndup(v, vlen);
    j->n++; /* counted even when a copy failed, so nd_json_free frees what exists */
    if (!j->path[j->n - 1] || !j->val[j->n - 1])
        return nd_fail("%s: out of memory", j->file);
    return 0;
}

static void jws(nd_json *j)
{
    while (isspace((unsigned char)*j->p))
        j->p++;
}

/* A JSON string at j->p into a malloc'd copy (escapes kept as written). */
static char *jstring(nd_json *j)
{
    const char *s = ++j->p;
    while (*j->p && *j->p != '"')
        j->p += *j->p == '\\' && j->p[1] ? 2 : 1;
    if (*j->p != '"') {
        nd_fail("%s: unterminated string", j->file);
        return NULL;
    }
    char *out = strndup(s, (size_t)(j->p - s));
    j->p++;
    return out;
}

/* After a member or element: 1 at ',' (another follows), 0 at the closing
 * bracket, -1 otherwise. */
static int jnext(nd_json *j, char close, const char *after)
{
    jws(j);
    if (*j->p == ',' || *j->p == close)
        return *j->p++ == ',';
    return nd_fail("%s: expected ',' or '%c' after %s", j->file, close, after);
}

static int jvalue(nd_json *j, const char *path, int depth)
{
    char sub[1024];
    jws(j);
    if (depth > 64)
        return nd_fail("%s: nesting too deep at %s", j->file, path);
    if (*j->p == '{') {
        j->p++;
        jws(j);
        if (*j->p == '}') {
            j->p++;
            return jadd(j, path, "{}", 2);
        }
        for (;;) {
            jws(j);
            if (*j->p != '"')
                return nd_fail("%s: expected a member name in %s", j->file, *path ? path : "the top object");
            char *key = jstring(j);
            if (!key)
                return -1;
            jws(j);
            if (*j->p != ':') {
                nd_fail("%s: expected ':' after \"%s\"", j->file, key);
                free(key);
                return -1;
            }
            j->p++;
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            free(key);
            int r = jvalue(j, sub, depth + 1) ? -1 : jnext(j, '}', sub);
            if (r <= 0)
                return r;
        }
    }
    if (*j->p == '[') {
        j->p++;
        jws(j);
        if (*j->p == ']') {
            j->p++;
            return jadd(j, path, "[]", 2);
        }
        for (int i = 0;; i++) {
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
            int r = jvalue(j, sub, depth + 1) ? -1 : jnext(j, ']', sub);
            if (r <= 0)
                return r;
        }
    }
    if (*j->p == '"') {
        char *s = jstring(j);
        if (!s)
            return -1;
        /* keep strings distinguishable from numbers: "\"12\"" vs 12 */
        size_t n = strlen(s);
        char *q = nd_malloc(n + 3);
        if (!q) {
            free(s);
            return nd_fail("out of memory");
        }
        q[0] = '"';
        memcpy(q + 1, s, n);
        q[n + 1] = '"';
        q[n + 2] = 0;
        int r = jadd(j, path, q, n + 2);
        free(q);
        free(s);
        return r;
    }
    const char *s = j->p;
    while (*j->p && !strchr(",]} \t\r\n", *j->p))
        j->p++;
    if (j->p == s)
        return nd_fail("%s: expected a value at %s", j->file, *path ? path : "top level");
    return jadd(j, path, s, (size_t)(j->p - s));
}

void nd_json_free(nd_json *j)
{
    for (int i = 0; i < j->n; i++) {
        free(j->path[i]);
        free(j->val[i]);
    }
    free(j->path);
    free(j->val);
}

int nd_json_read(nd_json *j, const char *path)
{
    memset(j, 0, sizeof *j);
    j->file = path;
    char *text = nd_read_text(path);
    if (!text)
        return -1;
    j->p = text;
    int r = jvalue(j, "", 0);
    if (!r) {
        jws(j);
        if (*j->p)
            r = nd_fail("%s: trailing text after the JSON value", path);
    }
    free(text);
    if (r)
        nd_json_free(j);
    return r;
}

const char *nd_json_get(const nd_json *j, const char *path)
{
    for (int i = 0; i < j->n; i++)
        if (!strcmp(j->path[i], path))
            return j->val[i];
    return NULL;
}

char *nd_json_string(const nd_json *j, const char *path)
{
    const char *v = nd_json_get(j, path);
    size_t n = v ? strlen(v) : 0;
    if (!v || n < 2 || v[0] != '"') {
        nd_fail("%s: field \"%s\": %s", j->file, path, v ? "expected a string" : "missing");
        return NULL;
    }
    char *out = nd_malloc(n);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char ch = v[i];
        if (ch == '\\' && i + 2 < n) {
            ch = v[++i];
            /* \uXXXX is kept as written: our writer never emits it for paths */
            ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch;
        }
        out[k++] = ch;
    }
    out[k] = 0;
    return out;
}

int nd_json_number(const nd_json *j, const char *path, double *out)
{
    const char *v = nd_json_get(j, path);
    if (!v)
        return nd_fail("%s: field \"%s\": missing", j->file, path);
    char *e;
    *out = strtod(v, &e);
    if (!*v || *e || isspace((unsigned char)*v))
        return nd_fail("%s: field \"%s\": expected a number, got %s", j->file, path, v);
    return 0;
}
