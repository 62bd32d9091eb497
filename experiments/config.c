/* config.c - strict INI reading for sweep configs (see config.h for the keys).
 *
 * libinih does the tokenising; its handler does not see line numbers (the
 * Debian build has INI_HANDLER_LINENO off), so we feed it through our own
 * line reader, which counts physical lines and also checks section headers
 * (inih never reports a section that has no keys, and an unknown empty
 * section must still be an error).  The first problem found is kept; the
 * handler then returns 0 so inih stops caring, and config_load reports it.
 */
#include "experiments/config.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "experiments/cli.h"
#include "linalg/rotation.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The known keys; `line` records where each was seen (0 = absent). */
enum {
    K_DS_PATH, K_DS_CATEGORIES, K_DS_NAME,
    K_ACT_NPY, K_ACT_MODEL, K_ACT_LAYER, K_ACT_WEIGHTS, K_ACT_SEED, K_ACT_CKPT,
    K_DI_PROFILE, K_DI_QUANTILE, K_DI_IOU, K_DI_FIELD,
    K_RO_ALPHAS, K_RO_EXTRAP, K_RO_DRAWS, K_RO_SEED,
    K_LA_LAYERS, K_LA_SEED, K_LA_BATCH,
    K_OUT_DIR, K_OUT_TITLE,
    K_PR_ENABLED, K_PR_ALPHAS, K_PR_DRAWS, K_PR_FRACTION, K_PR_SEED, K_PR_UNITS,
    K_COUNT
};
static const struct {
    const char *section, *key;
} keys[K_COUNT] = {
    {"dataset", "path"}, {"dataset", "categories"}, {"dataset", "name"},
    {"activations", "npy"}, {"activations", "model"}, {"activations", "layer"},
    {"activations", "weights"}, {"activations", "random_seed"},
    {"activations", "checkpoint"},
    {"dissect", "profile"}, {"dissect", "quantile"}, {"dissect", "iou_threshold"},
    {"dissect", "field"},
    {"rotation", "alphas"}, {"rotation", "allow_extrapolation"}, {"rotation", "draws"},
    {"rotation", "base_seed"},
    {"layers", "layers"}, {"layers", "random_seed"}, {"layers", "batch"},
    {"output", "dir"}, {"output", "title"},
    {"probes", "enabled"}, {"probes", "alphas"}, {"probes", "draws"}, {"probes", "train_fraction"},
    {"probes", "split_seed"}, {"probes", "units_needed"},
};
static const char *sections[] = {"dataset", "activations", "dissect", "rotation", "layers", "output", "probes"};
#define S_LAYERS 4 /* index of "layers" above */
#define N_SECTIONS (sizeof sections / sizeof *sections)

typedef struct {
    config *c;
    const char *path;  /* config file */
    char *dir;         /* its folder, absolute */
    FILE *f;
    int line;          /* physical lines read so far */
    int key_line[K_COUNT];
    int section_line[N_SECTIONS];
    int failed;
    int npy_default;
} parser;

static int perr(parser *p, int line, int k, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record the first error: "FILE:LINE: [section] key: msg". */
static int perr(parser *p, int line, int k, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k >= 0)
        return nd_fail("%s:%d: [%s] %s: %s", p->path, line, keys[k].section, keys[k].key, msg);
    return nd_fail("%s:%d: %s", p->path, line, msg);
}

/* ---- line reader: whole physical lines, counted, section headers checked ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

static char *reader(char *str, int num, void *stream)
{
    parser *p = stream;
    int c, n = 0, too_long = 0;
    while ((c = fgetc(p->f)) != EOF) {
        if (n < num - 1)
            str[n++] = (char)c;
        else
            too_long = 1;
        if (c == '\n')
            break;
    }
    if (n == 0 && c == EOF)
        return NULL;
    str[n] = 0;
    p->line++;
    if (p->line == 1 && str != nd_skip_bom(str)) /* inih skips it too */
        memmove(str, str + 3, (size_t)n - 2);
    if (too_long)
        perr(p, p->line, -1, "line longer than %d characters", num - 2);
    /* Section header check (inih only reports sections through their keys). */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", str);
    char *t = trim(tmp);
    if (*t == '[') {
        char *e = strchr(t, ']');
        if (e) {
            *e = 0;
            char *name = trim(t + 1);
            size_t s;
            for (s = 0; s < N_SECTIONS; s++)
                if (!strcmp(name, sections[s]))
                    break;
            if (s == N_SECTIONS)
                perr(p, p->line, -1, "[%s]: unknown section (known: [dataset] [activations] [dissect] [rotation] [layers] [output])", name);
            else if (p->section_line[s])
                perr(p, p->line, -1, "[%s]: section given twice (first at line %d)", name, p->section_line[s]);
            else
                p->section_line[s] = p->line;
        } else
            perr(p, p->line, -1, "section header without a closing ']'");
    }
    return str;
}

/* ---- value parsers ---- */

/* Expand ${VAR}; *from_env is set when the result starts with an expansion
 * (then a relative result is relative to the current directory). */
static char *expand(parser *p, int k, const char *v, int *from_env)
{
    size_t cap = strlen(v) + 1, n = 0;
    char *out = nd_malloc(cap);
    if (!out) {
        perr(p, p->line, k, "out of memory");
        return NULL;
    }
    *from_env = !strncmp(v, "${", 2);
    for (const char *s = v; *s;) {
        if (s[0] == '$' && s[1] == '{') {
            const char *e = strchr(s, '}');
            if (!e) {
                perr(p, p->line, k, "'%s': unterminated ${", v);
                free(out);
                return NULL;
            }
            char name[128];
            size_t len = (size_t)(e - s - 2);
            if (len == 0 || len >= sizeof name) {
                perr(p, p->line, k, "'%s': bad variable name", v);
                free(out);
                return NULL;
            }
            memcpy(name, s + 2, len);
            name[len] = 0;
            const char *val = getenv(name);
            if (!val || !*val) {
                if (!strcmp(name, "DATA"))
                    val = "../shared";
                else if (!strcmp(name, "RESULTS"))
                    val = "results";
                else {
                    perr(p, p->line, k, "'%s': environment variable %s is not set", v, name);
                    free(out);
                    return NULL;
                }
            }
            size_t vl = strlen(val);
            char *bigger = realloc(out, cap + vl);
            if (!bigger) {
                free(out);
                perr(p, p->line, k, "out of memory");
                return NULL;
            }
            out = bigger;
            cap += vl;
            memcpy(out + n, val, vl);
            n += vl;
            s = e + 1;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = 0;
    return out;
}

/* Absolute path: relative to base (the config folder or the cwd). */
static char *absolute(const char *path, const char *base)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!base) {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        base = cwd;
    }
    /* Fold leading "./" and "../" so stored paths read cleanly. */
    char *b = strdup(base);
    if (!b)
        return NULL;
    const char *r = path;
    for (;;) {
        if (!strncmp(r, "./", 2)) {
            r += 2;
        } else if (!strcmp(r, ".")) {
            r += 1;
        } else if (!strncmp(r, "../", 3) || !strcmp(r, "..")) {
            char *slash = strrchr(b, '/');
            if (!slash || slash == b)
                break; /* keep it as is at the root */
            *slash = 0;
            r += r[2] ? 3 : 2;
        } else {
            break;
        }
    }
    size_t n = strlen(b) + strlen(r) + 2;
    char *out = nd_malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", b, *r ? "/" : "", r);
    free(b);
    return out;
}

static char *path_value(parser *p, int k, const char *v)
{
    if (!*v) {
        perr(p, p->line, k, "empty path");
        return NULL;
    }
    int from_env;
    char *x = expand(p, k, v, &from_env);
    if (!x)
        return NULL;
    char *a = absolute(x, from_env ? NULL : p->dir);
    free(x);
    if (!a)
        perr(p, p->line, k, "cannot make '%s' absolute", v);
    return a;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Comma list of doubles, strict: no empty items, each a whole number. */
static int parse_list(const char *v, double **out, int *n)
{
    for (const char *s = v; *s; s++)
        if (*s == ',' && (s == v || s[1] == 0 || s[1] == ','))
            return -1;
    if (!*v || cli_double_list(v, out, n))
        return -1;
    for (const char *s = v, *start = v;; s++) /* ", ," (blank item) */
        if (*s == ',' || !*s) {
            const char *q = start;
            while (q < s && isspace((unsigned char)*q))
                q++;
            if (q == s) {
                free(*out);
                return -1;
            }
            if (!*s)
                break;
            start = s + 1;
        }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The key's index, or -1 after recording why it is not accepted (unknown,
 * outside a section, given twice). */
static int key_index(parser *p, const char *section, const char *name)
{
    int k;
    for (k = 0; k < K_COUNT; k++)
        if (!strcmp(section, keys[k].section) && !strcmp(name, keys[k].key))
            break;
    if (k == K_COUNT) {
        if (!*section)
            return perr(p, p->line, -1, "%s: key outside any section", name);
        size_t s;
        for (s = 0; s < N_SECTIONS; s++)
            if (!strcmp(section, sections[s]))
                break;
        if (s == N_SECTIONS) /* already reported by the reader */
            return -1;
        char known[256] = "";
        for (int j = 0; j < K_COUNT; j++)
            if (!strcmp(keys[j].section, section)) {
                strcat(known, *known ? ", " : "");
                strcat(known, keys[j].key);
            }
        return perr(p, p->line, -1, "[%s] %s: unknown key (known in [%s]: %s)", section, name,
                    section, known);
    }
    if (p->key_line[k])
        return perr(p, p->line, k, "given twice (first at line %d; an indented line continues the value above)",
                    p->key_line[k]);
    p->key_line[k] = p->line;
    return k;
}

/* [dataset] and [activations] values (1 ok, 0 error recorded: inih's convention). */
static int set_source(parser *p, int k, const char *value)
{
    config *c = p->c;
    long l;
    switch (k) {
    case K_DS_PATH: {
        char *a = path_value(p, k, value);
        if (!a)
            return 0;
        c->dataset = a;
        struct stat st;
        char *idx = nd_path_join(a, "index.csv");
        if (!idx)
            return perr(p, p->line, k, "out of memory"), 0;
        int ok = stat(idx, &st) == 0;
        free(idx);
        if (stat(a, &st) != 0 || !S_ISDIR(st.st_mode))
            return perr(p, p->line, k, "%s: no such folder", a), 0;
        if (!ok)
            return perr(p, p->line, k, "%s: not a Broden-format dataset (no index.csv)", a), 0;
        break;
    }
    case K_DS_CATEGORIES:
        if (!*value || strchr(value, ' ') || value[0] == ',' || value[strlen(value) - 1] == ',' ||
            strstr(value, ",,"))
            return perr(p, p->line, k, "'%s': expected a comma-separated list of category names without spaces", value), 0;
        if (!(c->categories = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    case K_DS_NAME:
        if (!(c->dataset_name = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    case K_ACT_NPY:
        if (!(c->npy = path_value(p, k, value)))
            return 0;
        break;
    case K_ACT_MODEL:
        if (!*value)
            return perr(p, p->line, k, "empty value"), 0;
        if (!(c->model = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    case K_ACT_LAYER:
        if (!*value)
            return perr(p, p->line, k, "empty value"), 0;
        if (!(c->layer = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    case K_ACT_WEIGHTS: {
        char *a = path_value(p, k, value);
        if (!a)
            return 0;
        c->weights = a;
        if (access(a, R_OK) != 0)
            return perr(p, p->line, k, "%s: %s", a, strerror(errno)), 0;
        break;
    }
    case K_ACT_CKPT: {
        char *a = path_value(p, k, value);
        if (!a)
            return 0;
        c->checkpoint = a;
        char *net = nd_path_join(a, "net.txt");
        int bad = !net || access(net, R_OK) != 0;
        if (bad)
            perr(p, p->line, k, "%s: not a checkpoint folder (no readable net.txt)", a);
        free(net);
        if (bad)
            return 0;
        break;
    }
    case K_ACT_SEED:
        if (cli_seed(value, &l))
            return perr(p, p->line, k, "'%s': expected a seed in " CLI_SEED_RANGE, value), 0;
        c->random_seed = l;
        break;
    }
    return 1;
}

/* [dissect], [rotation] and [output] values (1 ok, 0 error recorded). */
static int set_method(parser *p, int k, const char *value)
{
    config *c = p->c;
    long l;
    double d;
    switch (k) {
    case K_DI_PROFILE:
        if (nd_profile_parse(value, &c->profile))
            return perr(p, p->line, k, "'%s': expected netdissect (or nd) or netdissect-lite (or ndl, lite)",
                        value), 0;
        break;
    case K_DI_QUANTILE:
        if (cli_double(value, &d) || !(d > 0 && d < 1))
            return perr(p, p->line, k, "'%s': expected a number in (0, 1)", value), 0;
        c->quantile = d;
        break;
    case K_DI_IOU:
        if (cli_double(value, &d) || !(d >= 0 && d < 1))
            return perr(p, p->line, k, "'%s': expected a number in [0, 1)", value), 0;
        c->iou_threshold = d;
        break;
    case K_DI_FIELD: {
        double *v = NULL;
        int n = 0;
        if (parse_list(value, &v, &n) || n != 3 || v[0] != floor(v[0]) || v[1] != floor(v[1]) ||
            v[2] != floor(v[2]) || v[1] < 1 || v[2] < 1 || fabs(v[0]) > 1e6 || v[1] > 1e6 || v[2] > 1e6) {
            free(v);
            return perr(p, p->line, k, "'%s': expected OFFSET,SIZE,STRIDE (integers, size and stride >= 1)", value), 0;
        }
        c->field_offset = (int)v[0];
        c->field_size = (int)v[1];
        c->field_stride = (int)v[2];
        c->have_field = 1;
        free(v);
        break;
    }
    case K_RO_ALPHAS:
        if (parse_list(value, &c->alphas, &c->n_alphas))
            return perr(p, p->line, k, "'%s': expected a comma-separated list of numbers, e.g. 0,0.5,1", value), 0;
        break;
    case K_RO_EXTRAP:
        if (parse_bool(value, &c->allow_extrapolation))
            return perr(p, p->line, k, "'%s': expected true or false", value), 0;
        break;
    case K_RO_DRAWS:
        if (cli_long(value, &l) || l < 1 || l > 100000)
            return perr(p, p->line, k, "'%s': expected an integer in [1, 100000]", value), 0;
        c->draws = (int)l;
        break;
    case K_RO_SEED:
        if (cli_seed(value, &l))
            return perr(p, p->line, k, "'%s': expected a seed in " CLI_SEED_RANGE, value), 0;
        c->base_seed = (unsigned long)l;
        break;
    case K_LA_LAYERS:
        if (!*value || strchr(value, ' ') || value[0] == ',' || value[strlen(value) - 1] == ',' ||
            strstr(value, ",,"))
            return perr(p, p->line, k, "'%s': expected all or a comma-separated list of layer names "
                        "without spaces", value), 0;
        if (!(c->layers = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    case K_LA_SEED:
        if (cli_long(value, &l) || l < 0)
            return perr(p, p->line, k, "'%s': expected an integer >= 0", value), 0;
        c->layers_random_seed = l;
        break;
    case K_LA_BATCH:
        if (cli_long(value, &l) || l < 1 || l > 4096)
            return perr(p, p->line, k, "'%s': expected an integer in [1, 4096]", value), 0;
        c->layers_batch = (int)l;
        break;
    case K_OUT_DIR:
        if (!(c->out_dir = path_value(p, k, value)))
            return 0;
        break;
    case K_OUT_TITLE:
        if (strpbrk(value, "\"\\\n"))
            return perr(p, p->line, k, "'%s': no quotes or backslashes in a title", value), 0;
        if (!(c->title = strdup(value)))
            return perr(p, p->line, k, "out of memory"), 0;
        break;
    }
    return 1;
}

/* [probes] values (1 ok, 0 error recorded). */
static int set_probes(parser *p, int k, const char *value)
{
    config *c = p->c;
    long l;
    switch (k) {
    case K_PR_ENABLED:
        if (parse_bool(value, &c->probes))
            return perr(p, p->line, k, "'%s': expected true or false", value), 0;
        break;
    case K_PR_UNITS:
        if (parse_bool(value, &c->probe_units))
            return perr(p, p->line, k, "'%s': expected true or false", value), 0;
        break;
    case K_PR_ALPHAS:
        if (parse_list(value, &c->probe_alphas, &c->n_probe_alphas))
            return perr(p, p->line, k, "'%s': expected a comma-separated list of the sweep's alphas", value), 0;
        break;
    case K_PR_DRAWS:
        if (cli_long(value, &l) || l < 1 || l > 100000)
            return perr(p, p->line, k, "'%s': expected an integer in [1, 100000]", value), 0;
        c->probe_draws = (int)l;
        break;
    case K_PR_FRACTION:
        if (cli_double(value, &c->probe_train_fraction) ||
            !(c->probe_train_fraction > 0 && c->probe_train_fraction < 1))
            return perr(p, p->line, k, "'%s': expected a number in (0, 1)", value), 0;
        break;
    case K_PR_SEED:
        if (cli_long(value, &l) || l < 0 || l > 4000000000L)
            return perr(p, p->line, k, "'%s': expected an integer in [0, 4000000000]", value), 0;
        c->probe_split_seed = (unsigned long)l;
        break;
    }
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parser *p = user;
    if (p->failed)
        return 0;
    int k = key_index(p, section, name);
    if (k < 0)
        return 0;
    return k < K_DI_PROFILE ? set_source(p, k, value) : k < K_PR_ENABLED ? set_method(p, k, value)
                                                                          : set_probes(p, k, value);
}

/* Line to blame for a missing key: its section header, else the last line. */
static int missing_line(parser *p, int k)
{
    for (size_t s = 0; s < N_SECTIONS; s++)
        if (!strcmp(sections[s], keys[k].section) && p->section_line[s])
            return p->section_line[s];
    return p->line;
}

/* A layers experiment ([layers] section): the network comes from
 * [activations] model (+ weights for the trained run), the random baseline
 * from [layers] random_seed; rotation and activation-file keys do not apply. */
static int check_layers(parser *p)
{
    config *c = p->c;
    static const int required[] = {K_DS_PATH, K_ACT_MODEL, K_LA_LAYERS, K_OUT_DIR};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!p->key_line[required[i]])
            return perr(p, missing_line(p, required[i]), required[i], "required key missing (a layers experiment)");
    static const int unused[] = {K_ACT_NPY,    K_ACT_LAYER,   K_ACT_SEED,  K_DI_FIELD,   K_RO_ALPHAS,
                                 K_RO_EXTRAP,  K_RO_DRAWS,    K_RO_SEED,   K_PR_ENABLED, K_PR_ALPHAS,
                                 K_PR_DRAWS,   K_PR_FRACTION, K_PR_SEED,   K_PR_UNITS};
    for (size_t i = 0; i < sizeof unused / sizeof *unused; i++)
        if (p->key_line[unused[i]])
            return perr(p, p->key_line[unused[i]], unused[i],
                        "not used by a layers experiment ([layers] given: layers and fields come from "
                        "the model, the random baseline from [layers] random_seed)");
    if (!c->weights && c->layers_random_seed < 0)
        return perr(p, missing_line(p, K_LA_SEED), K_LA_SEED,
                    "no network: give [activations] weights (trained) and/or [layers] random_seed");
    if (!c->dataset_name) {
        const char *s = strrchr(c->dataset, '/');
        if (!(c->dataset_name = strdup(s ? s + 1 : c->dataset)))
            return nd_fail("%s: out of memory", p->path);
    }
    return 0;
}

static int check_whole(parser *p)
{
    config *c = p->c;
    if (p->section_line[S_LAYERS] || p->key_line[K_LA_LAYERS])
        return check_layers(p);
    static const int required[] = {K_DS_PATH, K_RO_ALPHAS, K_OUT_DIR};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!p->key_line[required[i]])
            return perr(p, missing_line(p, required[i]), required[i], "required key missing");
    /* alphas: range (after allow_extrapolation, wherever it was written), duplicates */
    int la = p->key_line[K_RO_ALPHAS];
    for (int i = 0; i < c->n_alphas; i++)
        if (!c->allow_extrapolation && !(c->alphas[i] >= 0 && c->alphas[i] <= 1))
            return perr(p, la, K_RO_ALPHAS, "alpha %g is outside [0, 1] (set allow_extrapolation = true in [rotation] to allow it)",
                        c->alphas[i]);
    qsort(c->alphas, (size_t)c->n_alphas, sizeof *c->alphas, cmp_double);
    for (int i = 1; i < c->n_alphas; i++)
        if (c->alphas[i] == c->alphas[i - 1])
            return perr(p, la, K_RO_ALPHAS, "alpha %g given twice", c->alphas[i]);
    int has0 = 0;
    for (int i = 0; i < c->n_alphas; i++)
        has0 |= c->alphas[i] == 0;
    if (!has0) { /* the unrotated baseline is always part of a sweep */
        double *v = realloc(c->alphas, sizeof *v * (size_t)(c->n_alphas + 1));
        if (!v)
            return perr(p, la, K_RO_ALPHAS, "out of memory");
        v[c->n_alphas++] = 0;
        c->alphas = v;
        qsort(c->alphas, (size_t)c->n_alphas, sizeof *c->alphas, cmp_double);
    }
    if (c->base_seed + (unsigned long)c->draws - 1 > ROT_SEED_MAX)
        return perr(p, p->key_line[K_RO_SEED] ? p->key_line[K_RO_SEED] : la, K_RO_SEED,
                    "%lu: the last draw's seed base_seed + draws - 1 is beyond " CLI_SEED_RANGE, c->base_seed);
    /* activations */
    c->compute = p->key_line[K_ACT_WEIGHTS] || p->key_line[K_ACT_SEED] || p->key_line[K_ACT_CKPT];
    if (!!p->key_line[K_ACT_WEIGHTS] + !!p->key_line[K_ACT_SEED] + !!p->key_line[K_ACT_CKPT] > 1) {
        int k = p->key_line[K_ACT_CKPT] ? K_ACT_CKPT : K_ACT_SEED;
        return perr(p, p->key_line[k], k, "give one of weights, random_seed and checkpoint");
    }
    if (c->checkpoint && !c->model && !(c->model = strdup("checkpoint")))
        return nd_fail("%s: out of memory", p->path);
    if (c->compute) {
        int k = !c->model ? K_ACT_MODEL : !c->layer ? K_ACT_LAYER : -1;
        if (k >= 0)
            return perr(p, missing_line(p, k), k, "required to compute activations (weights or random_seed given)");
        if (!c->npy) {
            p->npy_default = 1;
            c->npy = nd_path_join(c->out_dir, "features.npy");
        }
    } else {
        if (!c->npy)
            return perr(p, missing_line(p, K_ACT_NPY), K_ACT_NPY,
                        "required key missing (or give model, layer and weights to compute the activations)");
        if (access(c->npy, R_OK) != 0)
            return perr(p, p->key_line[K_ACT_NPY], K_ACT_NPY, "%s: %s", c->npy, strerror(errno));
    }
    for (int i = 0; i < c->n_probe_alphas; i++) { /* probe alphas: a subset of the sweep's */
        int found = 0;
        for (int j = 0; j < c->n_alphas; j++)
            found |= c->probe_alphas[i] == c->alphas[j];
        if (!found)
            return perr(p, p->key_line[K_PR_ALPHAS], K_PR_ALPHAS, "alpha %g is not one of [rotation] alphas",
                        c->probe_alphas[i]);
    }
    if (c->have_field && c->profile == ND_PROFILE_LITE)
        return perr(p, p->key_line[K_DI_FIELD], K_DI_FIELD, "only used by profile = netdissect (this config says netdissect-lite)");
    if (!c->dataset_name) {
        const char *s = strrchr(c->dataset, '/');
        if (!(c->dataset_name = strdup(s ? s + 1 : c->dataset)))
            return nd_fail("%s: out of memory", p->path);
    }
    return 0;
}

int config_load(config *c, const char *path)
{
    memset(c, 0, sizeof *c);
    struct stat st; /* fopen "r" of a folder works and reads as empty */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nd_fail("%s: is a directory, expected a config file", path);
    if (!(c->path = strdup(path)))
        return nd_fail("%s: out of memory", path);
    c->random_seed = -1;
    c->profile = ND_PROFILE_NETDISSECT;
    c->quantile = 0.005;     /* the paper's top 0.5% */
    c->iou_threshold = 0.04; /* the paper's detector threshold */
    c->draws = 1;
    c->base_seed = 1;
    c->layers_random_seed = -1;
    c->layers_batch = 32;
    c->probe_train_fraction = 0.5;
    c->probe_split_seed = 1;
    c->probe_units = 1;
    parser p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.path = path;
    p.f = fopen(path, "r");
    if (!p.f) {
        nd_fail("%s: cannot read config: %s", path, strerror(errno));
        config_free(c);
        return -1;
    }
    char *slash = strrchr(path, '/');
    char *folder = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    p.dir = folder ? absolute(folder, NULL) : NULL;
    free(folder);
    int rc = -1;
    if (!p.dir) {
        nd_fail("%s: cannot resolve the config folder", path);
        goto done;
    }
    int r = ini_parse_stream(reader, &p, handler, &p);
    if (p.failed)
        goto done;
    if (r > 0) {
        perr(&p, r, -1, "syntax error: expected [section], key = value, or a comment (; or #)");
        goto done;
    }
    if (r < 0) {
        nd_fail("%s: cannot parse (error %d)", path, r);
        goto done;
    }
    if (check_whole(&p))
        goto done;
    c->npy_default_ = p.npy_default;
    rc = 0;
done:
    fclose(p.f);
    free(p.dir);
    if (rc)
        config_free(c);
    return rc;
}

int config_set_out_dir(config *c, const char *dir)
{
    char *a = absolute(dir, NULL);
    if (!a)
        return nd_fail("%s: cannot make the output folder absolute", dir);
    free(c->out_dir);
    c->out_dir = a;
    if (c->npy_default_) {
        free(c->npy);
        c->npy = nd_path_join(c->out_dir, "features.npy");
    }
    return 0;
}

const char *config_title(const config *c, char *buf, size_t cap)
{
    if (c->title)
        snprintf(buf, cap, "%s", c->title);
    else if (c->layers)
        snprintf(buf, cap, "%s layers %s on %s", c->model, c->layers, c->dataset_name);
    else if (c->model || c->layer)
        snprintf(buf, cap, "%s%s%s on %s", c->model ? c->model : "", c->model && c->layer ? " " : "",
                 c->layer ? c->layer : "", c->dataset_name);
    else
        snprintf(buf, cap, "activations %s on %s", strrchr(c->npy, '/') ? strrchr(c->npy, '/') + 1 : c->npy,
                 c->dataset_name);
    return buf;
}


void config_write_dissect(FILE *f, const config *c)
{
    char b[64];
    fprintf(f, "profile = %s\n", nd_profile_name(c->profile));
    cli_fmt_double(b, sizeof b, c->quantile);
    fprintf(f, "quantile = %s\n", b);
    cli_fmt_double(b, sizeof b, c->iou_threshold);
    fprintf(f, "iou_threshold = %s\n", b);
    if (c->have_field)
        fprintf(f, "field = %d,%d,%d\n", c->field_offset, c->field_size, c->field_stride);
}

static void layers_effective(FILE *f, const config *c);
static void rotation_effective(FILE *f, const config *c);
static void probes_effective(FILE *f, const config *c);

char *config_effective(const config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        nd_fail("out of memory");
        return NULL;
    }
    char title[512];
    fprintf(f, "; Effective configuration written by dissect %s.\n; from: %s\n", ND_VERSION, c->path);
    fprintf(f, "; Every key with its value in use; paths absolute.  Loadable as a config.\n");
    fprintf(f, "; program_version = %s\n\n", ND_VERSION);
    fprintf(f, "[dataset]\npath = %s\n", c->dataset);
    if (c->categories)
        fprintf(f, "categories = %s\n", c->categories);
    else
        fprintf(f, "; categories: all of category.csv\n");
    fprintf(f, "name = %s\n\n[activations]\n", c->dataset_name);
    if (c->npy)
        fprintf(f, "npy = %s\n", c->npy);
    if (c->model)
        fprintf(f, "model = %s\n", c->model);
    if (c->layer)
        fprintf(f, "layer = %s\n", c->layer);
    if (c->weights)
        fprintf(f, "weights = %s\n", c->weights);
    if (c->random_seed >= 0)
        fprintf(f, "random_seed = %ld\n", c->random_seed);
    if (c->checkpoint)
        fprintf(f, "checkpoint = %s\n", c->checkpoint);
    fprintf(f, "\n[dissect]\n");
    config_write_dissect(f, c);
    if (!c->have_field && c->profile == ND_PROFILE_NETDISSECT)
        fprintf(f, "; field: from the .json beside the activations, else the model's layer geometry\n");
    if (c->layers)
        layers_effective(f, c);
    else
        rotation_effective(f, c);
    fprintf(f, "\n[output]\ndir = %s\ntitle = %s\n", c->out_dir, config_title(c, title, sizeof title));
    if (c->probes && !c->layers)
        probes_effective(f, c);
    if (fclose(f)) {
        free(text);
        nd_fail("out of memory");
        return NULL;
    }
    return text;
}

static void layers_effective(FILE *f, const config *c)
{
    fprintf(f, "\n[layers]\nlayers = %s\n", c->layers);
    if (c->layers_random_seed >= 0)
        fprintf(f, "random_seed = %ld\n", c->layers_random_seed);
    else
        fprintf(f, "; random_seed: none (no random-weights baseline)\n");
    fprintf(f, "batch = %d\n", c->layers_batch);
}

static void rotation_effective(FILE *f, const config *c)
{
    char b[64];
    fprintf(f, "\n[rotation]\nalphas = ");
    for (int i = 0; i < c->n_alphas; i++) {
        cli_fmt_double(b, sizeof b, c->alphas[i]);
        fprintf(f, "%s%s", i ? "," : "", b);
    }
    fprintf(f, "\nallow_extrapolation = %s\ndraws = %d\nbase_seed = %lu\n", c->allow_extrapolation ? "true" : "false",
            c->draws, c->base_seed);
    fprintf(f, "; seeds of the draws: %lu", c->base_seed);
    if (c->draws > 1)
        fprintf(f, "..%lu", c->base_seed + (unsigned long)c->draws - 1);
    fprintf(f, " (Haar rotation Q_d = rot_haar(K, seed), R = Q_d^alpha)\n");
}

static void probes_effective(FILE *f, const config *c)
{
    char b[64];
    fprintf(f, "\n[probes]\nenabled = true\n");
    if (c->n_probe_alphas) {
        fprintf(f, "alphas = ");
        for (int i = 0; i < c->n_probe_alphas; i++) {
            cli_fmt_double(b, sizeof b, c->probe_alphas[i]);
            fprintf(f, "%s%s", i ? "," : "", b);
        }
        fprintf(f, "\n");
    } else
        fprintf(f, "; alphas: all of [rotation]\n");
    if (c->probe_draws)
        fprintf(f, "draws = %d\n", c->probe_draws);
    else
        fprintf(f, "; draws: all of [rotation]\n");
    cli_fmt_double(b, sizeof b, c->probe_train_fraction);
    fprintf(f, "train_fraction = %s\nsplit_seed = %lu\nunits_needed = %s\n", b, c->probe_split_seed,
            c->probe_units ? "true" : "false");
}

/* Rewritten by every run: what must match between runs is resume.key. */
int config_write_effective(const config *c)
{
    char *now = config_effective(c);
    char *path = now ? nd_path_join(c->out_dir, "config.effective.ini") : NULL;
    int rc = path && !nd_mkdirs(c->out_dir) ? afile_write_all(path, now, strlen(now)) : -1;
    free(path);
    free(now);
    return rc;
}

int config_check_kind(const config *c, const char *path, int layers)
{
    if (!c->layers == !layers)
        return 0;
    fprintf(stderr, "dissect: %s: %s; run it with 'dissect %s'\n", path,
            layers ? "no [layers] section: a rotation sweep" : "a layers experiment ([layers] section)",
            layers ? "sweep" : "layers");
    return -1;
}

int config_command_start(config *c, const char *path, int layers, const char *out, int check)
{
    if (config_load(c, path)) {
        fprintf(stderr, "dissect: %s\n", nd_errmsg());
        return ND_EXIT_USAGE;
    }
    if (config_check_kind(c, path, layers)) {
        config_free(c);
        return ND_EXIT_USAGE;
    }
    int rc = -1;
    if (out && config_set_out_dir(c, out))
        rc = cli_fail();
    else if (check) {
        char *e = config_effective(c);
        if (e)
            fputs(e, stdout);
        free(e);
        rc = e ? ND_EXIT_OK : cli_fail();
    }
    if (rc >= 0)
        config_free(c);
    return rc;
}

void config_free(config *c)
{
    free(c->path);
    free(c->dataset);
    free(c->categories);
    free(c->dataset_name);
    free(c->npy);
    free(c->model);
    free(c->layer);
    free(c->weights);
    free(c->checkpoint);
    free(c->alphas);
    free(c->layers);
    free(c->probe_alphas);
    free(c->out_dir);
    free(c->title);
    memset(c, 0, sizeof *c);
}

char *config_resolve_path(const char *cfg, const char *value)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.path = cfg;
    const char *slash = strrchr(cfg, '/');
    char *folder = slash ? strndup(cfg, (size_t)(slash - cfg + (slash == cfg))) : strdup(".");
    p.dir = folder ? absolute(folder, NULL) : NULL;
    free(folder);
    char *a = p.dir ? path_value(&p, -1, value) : NULL;
    if (!p.dir)
        nd_fail("%s: cannot resolve the config folder", cfg);
    free(p.dir);
    return a;
}
