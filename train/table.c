/* table.c - text <-> net.h layer tables (see table.h). */
#include "train/table.h"

#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[] = {"conv", "maxpool", "concat", "gap",
                                   "batchnorm", "relu", "dropout", "fc"};
#define NKINDS ((int)(sizeof kind_names / sizeof *kind_names))

const char *tr_kind_name(net_kind k)
{
    return (int)k < NKINDS ? kind_names[k] : "?";
}

static char *keep(tr_table *t, const char *s, size_t len)
{
    if (t->nstr == t->capstr) {
        int cap = t->capstr ? 2 * t->capstr : 16;
        char **p = realloc(t->strs, sizeof *p * (size_t)cap);
        if (!p)
            return NULL;
        t->strs = p, t->capstr = cap;
    }
    char *c = nd_malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len);
    c[len] = 0;
    return t->strs[t->nstr++] = c;
}

static int parse_int(const char *name, const char *key, const char *v, int lo, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > 1000000)
        return nd_fail("layer %s: %s=%s is not an integer >= %d", name, key, v, lo);
    *out = (int)x;
    return 0;
}

/* one key=value token into d */
static int parse_token(tr_table *t, net_def *d, const char *tok)
{
    const char *eq = strchr(tok, '=');
    if (!eq)
        return nd_fail("layer %s: '%s' is not key=value", d->name, tok);
    size_t kl = (size_t)(eq - tok);
    const char *v = eq + 1;
#define KEY(s) (kl == strlen(s) && !strncmp(tok, s, kl))
    if (KEY("in")) {
        const char *comma = strchr(v, ',');
        size_t l0 = comma ? (size_t)(comma - v) : strlen(v);
        d->in[0] = l0 == 1 && v[0] == '-' ? NULL : keep(t, v, l0);
        d->in[1] = comma ? keep(t, comma + 1, strlen(comma + 1)) : NULL;
        return 0;
    }
    if (KEY("cout"))
        return parse_int(d->name, "cout", v, 1, &d->cout);
    if (KEY("k"))
        return parse_int(d->name, "k", v, 1, &d->k);
    if (KEY("stride"))
        return parse_int(d->name, "stride", v, 1, &d->stride);
    if (KEY("pad"))
        return parse_int(d->name, "pad", v, 0, &d->pad);
    if (KEY("relu"))
        return parse_int(d->name, "relu", v, 0, &d->relu);
#undef KEY
    return nd_fail("layer %s: unknown key '%.*s'", d->name, (int)kl, tok);
}

int tr_table_add(tr_table *t, const char *name, const char *spec)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        net_def *p = realloc(t->defs, sizeof *p * (size_t)cap);
        if (!p)
            return nd_fail("out of memory");
        t->defs = p, t->cap = cap;
    }
    net_def d = {0, NULL, {NULL, NULL}, 0, 1, 1, 0, 0};
    if (!(d.name = keep(t, name, strlen(name))))
        return -1;
    d.in[0] = t->n ? t->defs[t->n - 1].name : NULL;
    char buf[512];
    if (strlen(spec) >= sizeof buf)
        return nd_fail("layer %s: description too long", name);
    strcpy(buf, spec);
    char *save = NULL, *tok = strtok_r(buf, " \t", &save);
    if (!tok)
        return nd_fail("layer %s: no kind (one of conv maxpool concat gap batchnorm relu "
                       "dropout fc)", name);
    int kind = -1;
    for (int k = 0; k < NKINDS; k++)
        if (!strcmp(tok, kind_names[k]))
            kind = k;
    if (kind < 0)
        return nd_fail("layer %s: unknown kind '%s' (conv maxpool concat gap batchnorm relu "
                       "dropout fc)", name, tok);
    d.kind = (net_kind)kind;
    while ((tok = strtok_r(NULL, " \t", &save)))
        if (parse_token(t, &d, tok))
            return -1;
    if ((d.kind == NET_CONV || d.kind == NET_FC) && d.cout < 1)
        return nd_fail("layer %s: %s needs cout=N", name, kind_names[kind]);
    if (d.kind == NET_CONCAT && !d.in[1])
        return nd_fail("layer %s: concat needs in=A,B", name);
    t->defs[t->n++] = d;
    return 0;
}

void tr_table_drop_kind(tr_table *t, net_kind kind)
{
    int w = 0;
    for (int i = 0; i < t->n; i++) {
        net_def *d = &t->defs[i];
        if (d->kind != kind) {
            t->defs[w++] = *d;
            continue;
        }
        for (int j = i + 1; j < t->n; j++)
            for (int s = 0; s < 2; s++)
                if (t->defs[j].in[s] && !strcmp(t->defs[j].in[s], d->name))
                    t->defs[j].in[s] = d->in[0];
    }
    t->n = w;
}

void tr_table_free(tr_table *t)
{
    for (int i = 0; i < t->nstr; i++)
        free(t->strs[i]);
    free(t->strs);
    free(t->defs);
    memset(t, 0, sizeof *t);
}

void tr_table_write(FILE *f, const net_def *defs, int n)
{
    for (int i = 0; i < n; i++) {
        const net_def *d = &defs[i];
        fprintf(f, "%s %s in=%s", d->name, tr_kind_name(d->kind), d->in[0] ? d->in[0] : "-");
        if (d->in[1])
            fprintf(f, ",%s", d->in[1]);
        if (d->kind == NET_CONV)
            fprintf(f, " cout=%d k=%d stride=%d pad=%d relu=%d", d->cout, d->k, d->stride,
                    d->pad, d->relu);
        else if (d->kind == NET_MAXPOOL)
            fprintf(f, " k=%d stride=%d pad=%d", d->k, d->stride, d->pad);
        else if (d->kind == NET_FC)
            fprintf(f, " cout=%d", d->cout);
        fputc('\n', f);
    }
}
