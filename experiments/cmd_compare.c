/* cmd_compare.c - `dissect compare A B`: are two results the same within tolerances?
 *
 * A and B are two sweep run folders (sweep.csv, summary.csv and every
 * points/<point>/ folder), two `dissect layers` run folders (layers.json,
 * layers.csv, layers_plot.csv, and per network counts.csv and every layer's
 * result folder), two point or `dissect units` folders (result.csv,
 * summary.json, thresholds.npy), or two files (.csv, .json, .npy).  B is the
 * reference: a number matches when |a - b| <= atol + rtol * |b| (NaN matches
 * only NaN); any other text must be equal.  CSV files are compared cell by
 * cell, rows matched on their key (unit in result tables, alpha and draw in
 * sweep tables, alpha in summary.csv, net, layer and category in layers.csv,
 * layer and category in counts.csv; else by position), and identifiers and
 * labels (unit, alpha, draw, seed, n, category, net, layer, index, units,
 * *label) exactly; JSON files member by member
 * through their flattened paths ("counts.detectors", "list[2]"), skipping
 * members that record when or how fast a run went (names containing
 * "seconds", "time", "elapsed", "date", "pid", "host", "version") and
 * string members that are absolute paths on both sides (where the inputs
 * were on that machine).
 * Outputs of different format versions (core/format.h: "format_version" in
 * each JSON summary, sweep.json / layers.json for a run folder; none before
 * versions) are not compared: one error line naming both, exit 1.
 * Every difference is printed on stdout, one per line; the exit status is 1
 * when any difference is beyond tolerance, 0 when none.
 */
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/format.h"
#include "core/json.h"
#include "core/npy.h"
#include "experiments/cli.h"
#include "experiments/commands.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    double rtol, atol;
    long max_print; /* differences printed in full */
    long n_files, n_values, n_diffs, n_printed;
    double max_abs, max_rel; /* over all numeric pairs */
} cmp_state;

static void diff(cmp_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(cmp_state *s, const char *fmt, ...)
{
    s->n_diffs++;
    if (s->n_printed >= s->max_print)
        return;
    s->n_printed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("DIFF ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}



/* Whole-string number (CSV cell or JSON number). */
static int as_number(const char *s, double *v)
{
    if (!*s)
        return 0;
    char *e;
    *v = strtod(s, &e);
    return *e == 0 && !isspace((unsigned char)*s);
}

/* Compare two cells / scalars; returns 1 if they differ beyond tolerance. */
static int cmp_scalar(cmp_state *s, const char *a, const char *b, double *abs_err, double *rel_err)
{
    double x, y;
    *abs_err = *rel_err = 0;
    s->n_values++;
    if (as_number(a, &x) && as_number(b, &y)) {
        if (isnan(x) || isnan(y))
            return !(isnan(x) && isnan(y));
        if (x == y)
            return 0;
        double d = fabs(x - y);
        *abs_err = d;
        *rel_err = y != 0 ? d / fabs(y) : INFINITY;
        if (isfinite(d)) {
            s->max_abs = d > s->max_abs ? d : s->max_abs;
            if (y != 0)
                s->max_rel = *rel_err > s->max_rel ? *rel_err : s->max_rel;
        }
        return !(d <= s->atol + s->rtol * fabs(y));
    }
    return strcmp(a, b) != 0;
}

/* ------------------------------------------------------------------ CSV */

typedef struct {
    char ***cells; /* [rows][cols] */
    int *ncol;
    int nrow;
} csv_t;

static void csv_free(csv_t *c)
{
    for (int r = 0; r < c->nrow; r++) {
        for (int k = 0; k < c->ncol[r]; k++)
            free(c->cells[r][k]);
        free(c->cells[r]);
    }
    free(c->cells);
    free(c->ncol);
}

/* Add one row (copies of n fields) to c. */
static int csv_add(csv_t *c, char *const *f, int n, int *caprow, const char *path)
{
    if (c->nrow == *caprow) {
        int cap = *caprow ? 2 * *caprow : 64;
        char ***nc = realloc(c->cells, sizeof *nc * (size_t)cap);
        if (nc)
            c->cells = nc;
        int *nn = realloc(c->ncol, sizeof *nn * (size_t)cap);
        if (nn)
            c->ncol = nn;
        if (!nc || !nn)
            return nd_fail("%s: out of memory", path);
        *caprow = cap;
    }
    char **row = nd_calloc((size_t)n, sizeof *row);
    if (!row)
        return nd_fail_prefix("%s", path);
    c->cells[c->nrow] = row;
    c->ncol[c->nrow++] = n;
    for (int k = 0; k < n; k++)
        if (!(row[k] = strdup(f[k])))
            return nd_fail("%s: out of memory", path);
    return 0;
}

/* The whole file through core/csv (header as row 0), cells copied. */
static int csv_read(csv_t *c, const char *path)
{
    memset(c, 0, sizeof *c);
    csv_file f;
    if (csv_open(&f, path))
        return -1;
    int caprow = 0, r = csv_add(c, f.hdr, f.nh, &caprow, path);
    while (r == 0 && (r = csv_next(&f)) > 0)
        r = csv_add(c, f.f, f.nf, &caprow, path);
    csv_close(&f);
    if (r < 0) {
        csv_free(c);
        return -1;
    }
    return 0;
}

#define CMP_MAX_KEYS 4

/* Tables whose rows are keyed by named columns, recognised by the start of
 * their header: the layers experiment's layers.csv (net, layer, category)
 * and <net>/counts.csv (layer, category). */
static const struct {
    const char *header;
    const char *keys[CMP_MAX_KEYS];
} named_tables[] = {
    {"net,layer,index,units,category,", {"net", "layer", "category"}},
    {"layer,index,units,category,", {"layer", "category"}},
};

static int named_key_cols(const csv_t *c, int *k)
{
    char head[256];
    size_t len = 0;
    for (int j = 0; j < c->ncol[0] && len < sizeof head; j++)
        len += (size_t)snprintf(head + len, sizeof head - len, "%s,", c->cells[0][j]);
    for (size_t t = 0; t < sizeof named_tables / sizeof *named_tables; t++) {
        if (strncmp(head, named_tables[t].header, strlen(named_tables[t].header)))
            continue;
        int nk = 0;
        for (; nk < CMP_MAX_KEYS && named_tables[t].keys[nk]; nk++)
            for (k[nk] = 0; strcmp(c->cells[0][k[nk]], named_tables[t].keys[nk]);)
                k[nk]++; /* present: the header matched */
        return nk;
    }
    return 0;
}

/* Key columns of a table (header row 0): rows are matched on them, not by
 * position, because result.csv is sorted by score and near-ties swap order.
 * Sweep tables: alpha, draw; result tables: unit; summary.csv: alpha;
 * the named tables above.
 * Returns how many (0: match by position). */
/* The probes' tables (issue 13), up to PR_KEYS key columns by name:
 * per point probes.csv by label; the sweep's probes.csv by alpha, draw and
 * label; probe_summary.csv by alpha and category; ibd.csv by class, basis
 * and rank.  0 when the header is none of them. */
#define PR_KEYS 3
static int probe_key_cols(const csv_t *c, int *k)
{
    static const char *tables[][PR_KEYS + 1] = {
        {"alpha,draw,seed,label", "alpha", "draw", "label"},
        {"alpha,category,n", "alpha", "category", NULL},
        {"class,name,basis,rank", "class", "basis", "rank"},
        {"label,name,category,unit", "label", NULL, NULL},
    };
    char **h = c->cells[0];
    int n = c->ncol[0];
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        char lead[128] = "";
        size_t len = 0;
        for (int j = 0; j < n && len < sizeof lead - 1; j++) { /* the header's first columns */
            len += (size_t)snprintf(lead + len, sizeof lead - len, "%s%s", j ? "," : "", h[j]);
            if (!strcmp(lead, tables[t][0]))
                break;
        }
        if (strcmp(lead, tables[t][0]))
            continue;
        int nk = 0;
        for (int i = 1; i <= PR_KEYS && tables[t][i]; i++)
            for (int j = 0; j < n; j++)
                if (!strcmp(h[j], tables[t][i]))
                    k[nk++] = j;
        return nk;
    }
    return 0;
}

static int key_cols(const csv_t *c, int *k)
{
    if (c->nrow == 0)
        return 0;
    char **h = c->cells[0];
    int n = c->ncol[0], nk = probe_key_cols(c, k);
    if (!nk)
        nk = named_key_cols(c, k);
    if (nk)
        return nk;
    if (n >= 2 && !strcmp(h[0], "alpha") && !strcmp(h[1], "draw")) {
        k[0] = 0, k[1] = 1;
        return 2;
    }
    for (int j = 0; j < n; j++)
        if (!strcmp(h[j], "unit")) {
            k[0] = j;
            return 1;
        }
    if (n >= 1 && !strcmp(h[0], "alpha")) {
        k[0] = 0;
        return 1;
    }
    return 0;
}

/* Identifiers and labels compare exactly, whatever the tolerance. */
static int exact_col(const char *name)
{
    static const char *ids[] = {"unit", "alpha", "draw", "seed", "n", "category", "net", "layer", "index", "units"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (!strcmp(name, ids[i]))
            return 1;
    size_t l = strlen(name);
    return l >= 5 && !strcmp(name + l - 5, "label");
}

/* Same key: numbers by value ("0.50" is "0.5"), other text exactly. */
static int same_key(const csv_t *a, int ra, const csv_t *b, int rb, const int *k, int nk)
{
    for (int i = 0; i < nk; i++) {
        if (k[i] >= a->ncol[ra] || k[i] >= b->ncol[rb])
            return 0;
        const char *x = a->cells[ra][k[i]], *y = b->cells[rb][k[i]];
        double u, v;
        if (as_number(x, &u) && as_number(y, &v) ? u != v : strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

static void row_label(char *buf, size_t cap, const csv_t *c, int r, const int *k, int nk)
{
    size_t n = (size_t)snprintf(buf, cap, "row %d (", r + 1);
    int shown[CMP_MAX_KEYS + 1] = {0};
    for (int i = 0; i < nk; i++)
        shown[i] = k[i];
    if (nk == 0) /* no key: name it by its first column */
        nk = 1;
    else if (nk == 2 && k[0] == 0 && k[1] == 1 && c->ncol[0] > 2 && !strcmp(c->cells[0][2], "seed"))
        shown[2] = 2, nk = 3; /* sweep rows: the seed too */
    k = shown;
    for (int i = 0; i < nk && k[i] < c->ncol[r] && k[i] < c->ncol[0] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", i ? ", " : "", c->cells[0][k[i]], c->cells[r][k[i]]);
    if (n < cap)
        snprintf(buf + n, cap - n, ")");
}

/* Row pa of A against row rb of B, cell by cell. */
static void cmp_row(cmp_state *s, const char *name, const csv_t *a, int ra, const csv_t *b, int rb, const char *lab)
{
    if (a->ncol[ra] != b->ncol[rb]) {
        diff(s, "%s: %s: %d columns vs %d", name, lab, a->ncol[ra], b->ncol[rb]);
        return;
    }
    for (int k = 0; k < a->ncol[ra]; k++) {
        double ae, re;
        const char *col = rb > 0 && k < b->ncol[0] ? b->cells[0][k] : NULL;
        int d = cmp_scalar(s, a->cells[ra][k], b->cells[rb][k], &ae, &re);
        if (!d && ae > 0 && col && exact_col(col))
            d = 1; /* an id within tolerance is still another id */
        if (!d)
            continue;
        char colname[128];
        if (col)
            snprintf(colname, sizeof colname, "column %s", col);
        else
            snprintf(colname, sizeof colname, "column %d", k + 1);
        if (ae > 0)
            diff(s, "%s: %s, %s: %s vs %s (abs %.3g, rel %.3g)", name, rb == 0 ? "header" : lab, colname,
                 a->cells[ra][k], b->cells[rb][k], ae, re);
        else
            diff(s, "%s: %s, %s: '%s' vs '%s'", name, rb == 0 ? "header" : lab, colname, a->cells[ra][k],
                 b->cells[rb][k]);
    }
}

static int cmp_csv(cmp_state *s, const char *name, const char *pa, const char *pb)
{
    csv_t a, b;
    if (csv_read(&a, pa))
        return -1;
    if (csv_read(&b, pb)) {
        csv_free(&a);
        return -1;
    }
    s->n_files++;
    int ka[CMP_MAX_KEYS], kb[CMP_MAX_KEYS], nk = key_cols(&b, kb);
    if (nk != key_cols(&a, ka) || memcmp(ka, kb, sizeof *ka * (size_t)nk))
        nk = 0; /* different layouts: the header difference says it, rows go by position */
    char lab[256];
    if (nk == 0) {
        if (a.nrow != b.nrow)
            diff(s, "%s: %d rows vs %d rows", name, a.nrow, b.nrow);
        int nr = a.nrow < b.nrow ? a.nrow : b.nrow;
        for (int r = 0; r < nr; r++) {
            row_label(lab, sizeof lab, &b, r, kb, 0);
            cmp_row(s, name, &a, r, &b, r, lab);
        }
    } else {
        /* by key: the same position first (the usual case), else a search */
        char *used = a.nrow ? nd_calloc((size_t)a.nrow, 1) : NULL;
        if (a.nrow && !used) {
            csv_free(&a), csv_free(&b);
            return -1;
        }
        if (a.nrow && b.nrow) {
            used[0] = 1;
            cmp_row(s, name, &a, 0, &b, 0, "header");
        }
        for (int r = 1; r < b.nrow; r++) {
            int m = r < a.nrow && !used[r] && same_key(&a, r, &b, r, kb, nk) ? r : -1;
            for (int q = 1; m < 0 && q < a.nrow; q++)
                if (!used[q] && same_key(&a, q, &b, r, kb, nk))
                    m = q;
            row_label(lab, sizeof lab, &b, r, kb, nk);
            if (m < 0) {
                diff(s, "%s: %s only in B", name, lab);
                continue;
            }
            used[m] = 1;
            cmp_row(s, name, &a, m, &b, r, lab);
        }
        for (int q = 1; q < a.nrow; q++)
            if (!used[q]) {
                row_label(lab, sizeof lab, &a, q, ka, nk);
                diff(s, "%s: %s only in A", name, lab);
            }
        free(used);
    }
    csv_free(&a);
    csv_free(&b);
    return 0;
}

/* ----------------------------------------------------------------- JSON */

/* Members about the run's timing or host, not its result. */
static int volatile_member(const char *path)
{
    static const char *words[] = {"seconds", "time", "elapsed", "date", "pid", "host", "version"};
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(last, words[i]))
            return 1;
    /* members of an object of timings ("seconds.linear" in probe_summary.json) */
    return !strncmp(path, "seconds.", 8) || strstr(path, ".seconds.") != NULL;
}

/* The format version of a JSON file (core/format.h): "format_version",
 * else a numeric "format" (world.json's), else "none" (written before
 * format versions). */
static const char *json_version(const nd_json *j)
{
    const char *v = nd_json_get(j, ND_FORMAT_KEY);
    double x;
    if (!v && (v = nd_json_get(j, "format")) && !as_number(v, &x))
        v = NULL;
    return v ? v : "none";
}

/* Outputs of two formats are not compared: -1 and one line naming both. */
static int same_version(const char *pa, const char *va, const char *pb, const char *vb)
{
    if (!strcmp(va, vb))
        return 0;
    return nd_fail("%s has format version %s, %s has %s: outputs of different formats are not compared "
                   "(make both with one version of dissect)", pa, va, pb, vb);
}

/* The same for two run folders, by the JSON summary at their top (a folder
 * without it predates format versions). */
static int same_folder_version(const char *da, const char *db, const char *file)
{
    char va[64], vb[64], *p[2] = {nd_path_join(da, file), nd_path_join(db, file)}, *v[2] = {va, vb};
    int rc = p[0] && p[1] ? 0 : nd_fail("out of memory");
    for (int i = 0; i < 2 && !rc; i++) {
        nd_json j;
        snprintf(v[i], 64, "none");
        if (is_file(p[i]) && !(rc = nd_json_read(&j, p[i]))) {
            snprintf(v[i], 64, "%s", json_version(&j));
            nd_json_free(&j);
        }
    }
    if (!rc)
        rc = same_version(p[0], va, p[1], vb);
    free(p[0]), free(p[1]);
    return rc;
}

static int cmp_json(cmp_state *s, const char *name, const char *pa, const char *pb)
{
    nd_json a, b;
    if (nd_json_read(&a, pa))
        return -1;
    if (nd_json_read(&b, pb)) {
        nd_json_free(&a);
        return -1;
    }
    if (same_version(pa, json_version(&a), pb, json_version(&b))) {
        nd_json_free(&a), nd_json_free(&b);
        return -1;
    }
    s->n_files++;
    for (int i = 0; i < b.n; i++) {
        if (volatile_member(b.path[i]))
            continue;
        int k;
        for (k = 0; k < a.n; k++)
            if (!strcmp(a.path[k], b.path[i]))
                break;
        if (k == a.n) {
            diff(s, "%s: %s: missing in A (B has %s)", name, b.path[i], b.val[i]);
            continue;
        }
        /* absolute paths name where the inputs were on that machine, not a result */
        if (!strncmp(a.val[k], "\"/", 2) && !strncmp(b.val[i], "\"/", 2))
            continue;
        double ae, re;
        if (cmp_scalar(s, a.val[k], b.val[i], &ae, &re)) {
            if (ae > 0)
                diff(s, "%s: %s: %s vs %s (abs %.3g, rel %.3g)", name, b.path[i], a.val[k], b.val[i], ae, re);
            else
                diff(s, "%s: %s: %s vs %s", name, b.path[i], a.val[k], b.val[i]);
        }
    }
    for (int k = 0; k < a.n; k++) {
        if (volatile_member(a.path[k]))
            continue;
        int i;
        for (i = 0; i < b.n; i++)
            if (!strcmp(a.path[k], b.path[i]))
                break;
        if (i == b.n)
            diff(s, "%s: %s: missing in B (A has %s)", name, a.path[k], a.val[k]);
    }
    nd_json_free(&a);
    nd_json_free(&b);
    return 0;
}

/* ------------------------------------------------------------------ NPY */

static int cmp_npy(cmp_state *s, const char *name, const char *pa, const char *pb)
{
    npy_t a, b;
    if (npy_open(&a, pa))
        return -1;
    if (npy_open(&b, pb)) {
        npy_close(&a);
        return -1;
    }
    s->n_files++;
    int same_shape = a.ndim == b.ndim;
    for (int d = 0; same_shape && d < a.ndim; d++)
        same_shape = a.shape[d] == b.shape[d];
    if (!same_shape) {
        diff(s, "%s: shape differs (%zu vs %zu elements, %d vs %d dims)", name, a.count, b.count, a.ndim, b.ndim);
    } else {
        size_t bad = 0, worst = 0;
        double wa = 0, wb = 0, worst_excess = -1;
        double x, y;
        for (size_t i = 0; i < a.count; i++) {
            npy_to_f64(&a, i, 1, &x);
            npy_to_f64(&b, i, 1, &y);
            s->n_values++;
            if (isnan(x) || isnan(y)) {
                if (!(isnan(x) && isnan(y)) && bad++ == 0)
                    worst = i, wa = x, wb = y, worst_excess = INFINITY;
                continue;
            }
            double d = fabs(x - y), tol = s->atol + s->rtol * fabs(y);
            s->max_abs = d > s->max_abs ? d : s->max_abs;
            if (y != 0 && d / fabs(y) > s->max_rel)
                s->max_rel = d / fabs(y);
            if (!(d <= tol)) {
                bad++;
                if (d - tol > worst_excess)
                    worst = i, wa = x, wb = y, worst_excess = d - tol;
            }
        }
        if (bad)
            diff(s, "%s: %zu of %zu values beyond tolerance; worst at flat index %zu: %.17g vs %.17g", name, bad,
                 a.count, worst, wa, wb);
    }
    npy_close(&a);
    npy_close(&b);
    return 0;
}

/* ---------------------------------------------------------------- walkers */

static int cmp_file(cmp_state *s, const char *name, const char *pa, const char *pb)
{
    const char *ext = strrchr(pb, '.');
    if (ext && !strcmp(ext, ".json"))
        return cmp_json(s, name, pa, pb);
    if (ext && !strcmp(ext, ".npy"))
        return cmp_npy(s, name, pa, pb);
    return cmp_csv(s, name, pa, pb);
}

/* Compare dir/<file> on both sides; a file on one side only is a difference
 * unless `optional` (then it is compared only when both have it). */
static int cmp_member(cmp_state *s, const char *prefix, const char *da, const char *db, const char *file,
                      int optional)
{
    char *pa = nd_path_join(da, file), *pb = nd_path_join(db, file), *name = nd_path_join(prefix, file);
    int rc = 0;
    if (!pa || !pb || !name) {
        rc = nd_fail("out of memory");
    } else {
        int ia = is_file(pa), ib = is_file(pb);
        const char *shown = name[0] == '/' ? name + 1 : name;
        if (ia && ib)
            rc = cmp_file(s, shown, pa, pb);
        else if ((ia || ib) && !optional)
            diff(s, "%s: only in %s", shown, ia ? "A" : "B");
    }
    free(pa), free(pb), free(name);
    return rc;
}

static int is_point(const char *d)
{
    char *r = nd_path_join(d, "result.csv"), *j = nd_path_join(d, "summary.json");
    int ok = r && j && (is_file(r) || is_file(j));
    free(r), free(j);
    return ok;
}

/* A point's probe outputs (the sweep's [probes], `dissect probe`), when both have them. */
static int cmp_probe_files(cmp_state *s, const char *prefix, const char *da, const char *db)
{
    static const char *files[] = {"probes.csv", "probe_summary.json", "probe_weights.npy", "ibd.csv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (cmp_member(s, prefix, da, db, files[i], 1))
            return -1;
    return 0;
}

/* a `dissect probe` folder */
static int is_probe_dir(const char *d)
{
    char *j = nd_path_join(d, "probe_summary.json");
    int ok = j && is_file(j);
    free(j);
    return ok;
}

static int is_layers_run(const char *d)
{
    char *p = nd_path_join(d, "layers.csv");
    int ok = p && is_file(p);
    free(p);
    return ok;
}

static int cmp_point(cmp_state *s, const char *prefix, const char *da, const char *db)
{
    if (cmp_member(s, prefix, da, db, "summary.json", 0) || cmp_member(s, prefix, da, db, "result.csv", 0) ||
        cmp_member(s, prefix, da, db, "point.csv", 1) || cmp_member(s, prefix, da, db, "thresholds.npy", 1) ||
        cmp_member(s, prefix, da, db, "maxact.npy", 1) || cmp_probe_files(s, prefix, da, db))
        return -1;
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted subfolder names of dir (NULL-safe: a missing dir has none). */
static char **subdirs(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = nd_path_join(dir, e->d_name);
        int ok = p && is_dir(p);
        free(p);
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v)
        qsort(v, (size_t)*n, sizeof *v, cmp_names);
    return v;
}

typedef int (*cmp_folder_fn)(cmp_state *s, const char *prefix, const char *da, const char *db);

/* Every subfolder of da and db by name (skip: a name not compared, or
 * NULL): one on one side only is a difference ("<prefix>/<name>: <what>
 * only in A"), a pair goes to each(prefix/name). */
static int cmp_subdirs(cmp_state *s, const char *prefix, const char *da, const char *db, const char *what,
                       const char *skip, cmp_folder_fn each)
{
    int na, nb, rc = 0;
    char **la = subdirs(da, &na), **lb = subdirs(db, &nb);
    int i = 0, k = 0;
    while (rc == 0 && (i < na || k < nb)) {
        int c = i == na ? 1 : k == nb ? -1 : strcmp(la[i], lb[k]);
        const char *name = c <= 0 ? la[i] : lb[k];
        char *pre = nd_path_join(prefix, name);
        const char *shown = pre && pre[0] == '/' ? pre + 1 : pre;
        if (!pre)
            rc = nd_fail("out of memory");
        else if (skip && !strcmp(name, skip))
            ;
        else if (c)
            diff(s, "%s: %s only in %s", shown, what, c < 0 ? "A" : "B");
        else {
            char *fa = nd_path_join(da, name), *fb = nd_path_join(db, name);
            rc = fa && fb ? each(s, shown, fa, fb) : nd_fail("out of memory");
            free(fa), free(fb);
        }
        free(pre);
        i += c <= 0, k += c >= 0;
    }
    for (int j = 0; j < na; j++)
        free(la[j]);
    for (int j = 0; j < nb; j++)
        free(lb[j]);
    free(la), free(lb);
    return rc;
}

static int cmp_run(cmp_state *s, const char *a, const char *b)
{
    if (same_folder_version(a, b, "sweep.json") || cmp_member(s, "", a, b, "sweep.json", 1) ||
        cmp_member(s, "", a, b, "sweep.csv", 0) || cmp_member(s, "", a, b, "summary.csv", 0) ||
        cmp_member(s, "", a, b, "probes.csv", 1) || cmp_member(s, "", a, b, "probe_summary.csv", 1))
        return -1;
    char *pa = nd_path_join(a, "points"), *pb = nd_path_join(b, "points");
    int rc = pa && pb ? cmp_subdirs(s, "points", pa, pb, "point", NULL, cmp_point) : nd_fail("out of memory");
    free(pa), free(pb);
    return rc;
}

/* ------------------------------------------------------- layers run folders */

/* One network of a layers run: counts.csv, then every layer as a result folder. */
static int cmp_layers_net(cmp_state *s, const char *prefix, const char *da, const char *db)
{
    if (cmp_member(s, prefix, da, db, "counts.csv", 0))
        return -1;
    return cmp_subdirs(s, prefix, da, db, "layer", NULL, cmp_point);
}

/* A `dissect layers` run folder: layers.json, layers.csv, layers_plot.csv,
 * and per network (trained, random) counts.csv and its layers. */
static int cmp_layers_run(cmp_state *s, const char *a, const char *b)
{
    if (same_folder_version(a, b, "layers.json") || cmp_member(s, "", a, b, "layers.json", 0) ||
        cmp_member(s, "", a, b, "layers.csv", 0) ||
        cmp_member(s, "", a, b, "layers_plot.csv", 1))
        return -1;
    return cmp_subdirs(s, "", a, b, "network", "figures", cmp_layers_net);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect compare [options] A B\n\n"
               "Compare two results, B being the reference:\n"
               "  two sweep run folders   sweep.json (if both), sweep.csv, summary.csv, and per point\n"
               "                          summary.json, result.csv (point.csv, thresholds.npy if both)\n"
               "  two layers run folders  layers.json, layers.csv (layers_plot.csv if both), per network\n"
               "                          counts.csv and every layer as a point/units folder\n"
               "  two point/units folders summary.json, result.csv (thresholds.npy, point.csv if both)\n"
               "  two probe folders       probe_summary.json, probes.csv (probe_weights.npy, ibd.csv if both;\n"
               "                          also in points and, probes.csv and probe_summary.csv, in sweeps)\n"
               "  two files               .csv cell by cell, .json member by member, .npy value by value\n"
               "CSV rows are matched on their key (unit; alpha and draw; alpha; net, layer and category;\n"
               "layer and category), not by position; identifiers and labels (unit, alpha, draw, seed,\n"
               "n, category, net, layer, index, units, *label) compare exactly.\n"
               "Numbers match when |a - b| <= atol + rtol*|b|; other text must be equal. JSON members\n"
               "naming timings or hosts (seconds, time, elapsed, date, pid, host, version) and\n"
               "absolute paths (string values starting with / on both sides) are skipped.\n"
               "Outputs of different format versions (\"format_version\" in summary.json, sweep.json,\n"
               "layers.json; none in files written before versions) are refused with one line.\n\n"
               "options:\n"
               "  --rtol R         relative tolerance (default 1e-9)\n"
               "  --atol A         absolute tolerance (default 1e-12)\n"
               "  --max-diffs N    print at most N differences (default 50; all are counted)\n"
               "  -h, --help       this help\n\n"
               "exit status: 0 equal within tolerance, 1 different (or unreadable), 2 usage error\n");
}

int cmd_compare(int argc, char **argv)
{
    static const struct option longopts[] = {{"rtol", required_argument, 0, 'r'},
                                             {"atol", required_argument, 0, 'a'},
                                             {"max-diffs", required_argument, 0, 'm'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    cmp_state s;
    memset(&s, 0, sizeof s);
    s.rtol = 1e-9;
    s.atol = 1e-12;
    s.max_print = 50;
    int ch;
    optind = 1;
    opterr = 0; /* one line of our own instead of getopt's */
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (cli_double(optarg, &s.rtol) || s.rtol < 0)
                return cli_usage_error("compare", "--rtol '%s': expected a number >= 0", optarg);
            break;
        case 'a':
            if (cli_double(optarg, &s.atol) || s.atol < 0)
                return cli_usage_error("compare", "--atol '%s': expected a number >= 0", optarg);
            break;
        case 'm':
            if (cli_long(optarg, &s.max_print) || s.max_print < 0)
                return cli_usage_error("compare", "--max-diffs '%s': expected an integer >= 0", optarg);
            break;
        case 'h':
            usage(stdout);
            return ND_EXIT_OK;
        default:
            return cli_usage_error("compare", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("compare", "expected two paths A B, got %d", argc - optind);
    const char *a = argv[optind], *b = argv[optind + 1];
    int rc;
    if (is_dir(a) && is_dir(b)) {
        char *sa = nd_path_join(a, "sweep.csv"), *sb = nd_path_join(b, "sweep.csv");
        int run = sa && sb && (is_file(sa) || is_file(sb));
        free(sa), free(sb);
        if (is_layers_run(a) || is_layers_run(b))
            rc = cmp_layers_run(&s, a, b);
        else if (run)
            rc = cmp_run(&s, a, b);
        else if (is_point(a) || is_point(b))
            rc = cmp_point(&s, "", a, b);
        else if (is_probe_dir(a) || is_probe_dir(b))
            rc = cmp_member(&s, "", a, b, "probe_summary.json", 0) || cmp_member(&s, "", a, b, "probes.csv", 0) ||
                 cmp_probe_files(&s, "", a, b);
        else {
            nd_fail("%s, %s: neither holds sweep.csv, layers.csv, result.csv, summary.json or probe_summary.json", a, b);
            rc = -1;
        }
    } else if (is_file(a) && is_file(b)) {
        const char *n = strrchr(b, '/');
        rc = cmp_file(&s, n ? n + 1 : b, a, b);
    } else {
        nd_fail("%s: %s", is_dir(a) || is_file(a) ? b : a,
                (is_dir(a) || is_file(a)) && (is_dir(b) || is_file(b)) ? "one path is a folder, the other a file"
                                                                        : "no such file or folder");
        rc = -1;
    }
    if (rc)
        return cli_fail();
    if (s.n_diffs > s.n_printed)
        printf("... %ld more differences not shown (--max-diffs)\n", s.n_diffs - s.n_printed);
    printf("compare: %ld files, %ld values; %s%ld difference%s beyond rtol %g, atol %g "
           "(max abs err %.3g, max rel err %.3g over numeric values)\n",
           s.n_files, s.n_values, s.n_diffs ? "" : "equal: ", s.n_diffs, s.n_diffs == 1 ? "" : "s", s.rtol, s.atol,
           s.max_abs, s.max_rel);
    return s.n_diffs ? ND_EXIT_FAIL : ND_EXIT_OK;
}
