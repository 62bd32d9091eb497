/* ablate.c - `dissect ablate`'s steps: open (network, activations, intact
 * outputs), dissect (plain and rotated), concepts; the effects and classes
 * steps are in ablate_effects.c and ablate_classes.c. */
#include "experiments/ablate_internal.h"

#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "core/result.h"
#include "experiments/cli.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"
#include "train/ckpt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 32
#define ROT_BUDGET ((size_t)1 << 30)

int abl_parse_units(const char *list, int K, int **units, int *k, const char *what)
{
    *units = NULL;
    *k = 0;
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    int *u = nd_malloc(sizeof(int) * (size_t)n), m = 0;
    if (!u)
        return -1;
    const char *p = list;
    while (*p) {
        char *e;
        errno = 0;
        long v = strtol(p, &e, 10);
        if (e == p || errno || (*e && *e != ','))
            break;
        if (v < 1 || v > K) {
            free(u);
            return nd_fail("%s: unit %ld is out of range (the layer has units 1..%d)", what, v, K);
        }
        u[m++] = (int)(v - 1);
        p = *e ? e + 1 : e;
    }
    abl_set s;
    int rc = *p || m == 0 ? nd_fail("%s: '%s' is not a list of unit numbers (from 1)", what, list)
                          : abl_units(&s, K, u, m, what);
    if (rc) {
        free(u);
        return -1;
    }
    abl_free(&s);
    *units = u;
    *k = m;
    return 0;
}

double abl_iou(const nd_result *r, int u, int l) { return r->iou[(size_t)u * r->L + (size_t)l]; }

void abl_units_str(char *buf, size_t cap, const int *u, int k)
{
    size_t n = 0;
    buf[0] = 0;
    for (int j = 0; j < k && n + 12 < cap; j++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", j ? " " : "", u[j] + 1);
}

/* ---------- open ---------- */

static int open_net(abl_ctx *c)
{
    const abl_args *a = c->a;
    if (a->checkpoint) {
        if (tr_ckpt_load(a->checkpoint, &c->tab, &c->own, NULL, NULL))
            return -1;
        c->have_own = 1;
        if (mdl_runner_open_net(&c->run, &c->own, a->checkpoint, a->layer))
            return -1;
    } else if (mdl_runner_open(&c->run, "squeezenet", a->weights, -1, a->layer))
        return -1;
    c->net = mdl_runner_net(c->run);
    c->layer = net_find(c->net, a->layer);
    c->last = c->net->nlayers - 1;
    if (c->layer == c->last)
        return nd_fail("%s: layer %s is the output layer: nothing runs after it", c->net->name, a->layer);
    const net_layer *L = &c->net->layers[c->layer], *O = &c->net->layers[c->last];
    c->K = L->c;
    c->hw = (size_t)L->h * L->w;
    c->C = O->c * O->h * O->w;
    int bad = net_reads_only_from(c->net, c->layer);
    if (bad >= 0)
        return nd_fail("%s: layer %s reads a layer before %s: ablate a layer the rest starts from",
                       c->net->name, c->net->layers[bad].def->name, a->layer);
    return 0;
}

static int act_from_npy(abl_ctx *c)
{
    npy_t f;
    if (npy_open(&f, c->a->features))
        return -1;
    const net_layer *L = &c->net->layers[c->layer];
    int rc = 0;
    if (f.ndim != 4 || f.shape[0] != c->N || f.shape[1] != (size_t)L->c || f.shape[2] != (size_t)L->h ||
        f.shape[3] != (size_t)L->w)
        rc = nd_fail("%s: shape is not [%zu, %d, %d, %d] (%s at %s over the dataset)", c->a->features,
                     c->N, L->c, L->h, L->w, c->net->name, c->a->layer);
    else
        npy_to_f32(&f, 0, f.count, c->act);
    npy_close(&f);
    return rc;
}

static int act_from_images(abl_ctx *c)
{
    char **paths;
    size_t n;
    if (mdl_dataset_images(c->a->dataset, &paths, &n))
        return -1;
    int rc = n == c->N ? 0 : nd_fail("%s: index.csv changed while reading", c->a->dataset);
    size_t per = (size_t)c->K * c->hw;
    for (size_t i = 0; !rc && i < n; i += BATCH) {
        int b = n - i < BATCH ? (int)(n - i) : BATCH;
        rc = mdl_runner_run(c->run, (const char *const *)paths + i, b, c->act + i * per);
        cli_progress("ablate: %s activations %zu/%zu images, %.1f images/s", c->a->layer, i + b, n,
                     (double)(i + b) / (nd_now() - c->t0 + 1e-9));
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

/* The top class *b of outputs v (first of ties) and the softmax's
 * normaliser relative to it, sum exp(v - v[b]): p(k) = exp(v[k] - v[b]) / z. */
static double top_class(const float *v, int C, int *b)
{
    int t = 0;
    for (int k = 1; k < C; k++)
        t = v[k] > v[t] ? k : t;
    double z = 0;
    for (int k = 0; k < C; k++)
        z += exp((double)v[k] - v[t]);
    *b = t;
    return z;
}

/* Intact outputs: the rest of the network from the unchanged activations
 * (the same bytes as a full forward pass, test_ablate.c). */
static int intact(abl_ctx *c)
{
    abl_set none;
    abl_units(&none, c->K, NULL, 0, "none");
    abl_runner r = {c->net, c->layer, c->last, c->N, c->act, c->a->o.threads};
    if (abl_run(&r, &none, c->intact))
        return -1;
    for (size_t i = 0; i < c->N; i++) {
        double z = top_class(c->intact + i * (size_t)c->C, c->C, &c->top[i]);
        c->ptop[i] = 1 / z;
    }
    return 0;
}

int abl_measure(abl_ctx *c, const abl_set *s)
{
    abl_runner r = {c->net, c->layer, c->last, c->N, c->act, c->a->o.threads};
    if (c->done == 0)
        c->tc = nd_now();
    if (abl_run(&r, s, c->scratch))
        return -1;
    for (size_t i = 0; i < c->N; i++) {
        const float *v = c->scratch + i * (size_t)c->C;
        int b;
        double z = top_class(v, c->C, &b);
        c->pred[i] = b;
        c->changed[i] = b != c->top[i];
        c->drop[i] = c->ptop[i] - exp((double)v[c->top[i]] - v[b]) / z;
    }
    c->done++;
    double dt = nd_now() - c->tc;
    cli_progress("ablate: condition %d/%d, %.1f s elapsed, ~%.0f s left", c->done, c->total,
                 nd_now() - c->t0, c->total > c->done ? dt / c->done * (c->total - c->done) : 0.0);
    return 0;
}

static int find_label(const broden *ds, const char *name);

/* Choices that need the network and dataset but no work yet: a usage
 * error (exit 2) when wrong. */
static int validate(const abl_ctx *c)
{
    const abl_args *a = c->a;
    int *u = NULL, k;
    if (a->units && abl_parse_units(a->units, c->K, &u, &k, "--units"))
        return -1;
    free(u);
    for (int i = 0; i < a->nk; i++)
        if (a->ks[i] > c->K)
            return nd_fail("--k: %d units asked for, %s has %d", a->ks[i], a->layer, c->K);
    int found = !a->category;
    for (size_t j = 0; !found && j < broden_num_categories(c->ds); j++)
        found = !strcmp(broden_category_name(c->ds, j), a->category);
    if (!found)
        return nd_fail("--category: '%s' is not a category of %s", a->category, a->dataset);
    char *cp = a->concepts ? strdup(a->concepts) : NULL, *sv = NULL;
    int rc = 0;
    for (char *t = cp ? strtok_r(cp, ",", &sv) : NULL; t && !rc; t = strtok_r(NULL, ",", &sv))
        if (find_label(c->ds, t) < 0)
            rc = nd_fail("--concepts: '%s' is not a label of %s", t, a->dataset);
    free(cp);
    return rc;
}

static int open_all(abl_ctx *c, int *usage)
{
    const abl_args *a = c->a;
    if (broden_open(&c->ds, a->dataset, NULL) || open_net(c))
        return -1;
    if (validate(c)) {
        *usage = 1;
        return -1;
    }
    c->N = broden_num_images(c->ds);
    size_t per = (size_t)c->K * c->hw;
    c->act = nd_malloc(sizeof(float) * per * (c->N ? c->N : 1));
    c->intact = nd_malloc(sizeof(float) * (size_t)c->C * c->N);
    c->scratch = nd_malloc(sizeof(float) * (size_t)c->C * c->N);
    c->top = nd_malloc(sizeof(int) * c->N), c->pred = nd_malloc(sizeof(int) * c->N);
    c->ptop = nd_malloc(sizeof(double) * c->N), c->drop = nd_malloc(sizeof(double) * c->N);
    c->changed = nd_malloc(c->N);
    if (!c->act || !c->intact || !c->scratch || !c->top || !c->pred || !c->ptop || !c->drop ||
        !c->changed || nd_mkdirs(a->out))
        return -1;
    int rc = a->features ? act_from_npy(c) : act_from_images(c);
    cli_progress_done();
    return rc ? -1 : intact(c);
}

/* ---------- dissect ---------- */

typedef struct {
    const float *act;
    size_t per;
} mem_src;

static int mem_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    (void)n, (void)buf;
    const mem_src *m = ctx;
    *out = m->act + i0 * m->per;
    return 0;
}

static int dissect_one(abl_ctx *c, const nd_features *f, nd_result *r, const char *name,
                       const char *extra)
{
    nd_options o = c->a->o;
    const net_layer *L = &c->net->layers[c->layer];
    if (!o.have_field) {
        o.field_offset = L->field_off, o.field_size = L->field_size;
        o.field_stride = L->field_stride, o.have_field = 1;
    }
    char *dir = nd_path_join(c->a->out, name);
    int rc = !dir || nd_dissect(c->ds, f, &o, r);
    r->features = c->a->features;
    if (!rc)
        rc = nd_write_result(r, c->ds, dir, extra);
    free(dir);
    return rc ? -1 : 0;
}

static int dissect_all(abl_ctx *c)
{
    const net_layer *L = &c->net->layers[c->layer];
    mem_src m = {c->act, (size_t)c->K * c->hw};
    nd_features f = {c->N, (size_t)c->K, (size_t)L->h, (size_t)L->w, mem_get, &m};
    cli_progress("ablate: dissecting %s", c->a->layer);
    if (dissect_one(c, &f, &c->res, "dissection", NULL))
        return -1;
    int D = c->a->rot_draws;
    size_t KK = (size_t)c->K * c->K;
    c->rot = nd_calloc((size_t)(D ? D : 1), sizeof *c->rot);
    c->Q = nd_malloc(sizeof(double) * KK * (size_t)(D ? D : 1));
    if (!c->rot || !c->Q)
        return -1;
    for (int d = 0; d < D; d++) {
        unsigned long seed = c->a->rot_seed + (unsigned long)d;
        cli_progress("ablate: dissecting %s rotated by Q = rot_haar(%d, %lu)", c->a->layer, c->K, seed);
        double *Q = c->Q + (size_t)d * KK;
        nd_features rf, mf;
        /* alpha = 1: R = Q^1 = Q exactly (rot_power's endpoint) */
        if (rot_haar(Q, (size_t)c->K, seed) || rot_features(&rf, &f, Q))
            return -1;
        int held = nd_features_memory(&mf, &rf, ROT_BUDGET, c->a->o.threads);
        char name[64], extra[160];
        snprintf(name, sizeof name, "dissection-rot-d%d", d);
        snprintf(extra, sizeof extra, "\"alpha\": 1, \"draw\": %d, \"seed\": %lu, \"rotation\": "
                 "\"Q^alpha, Q = rot_haar(K, seed)\"", d, seed);
        int rc = held < 0 || dissect_one(c, held ? &mf : &rf, &c->rot[d], name, extra);
        if (held > 0)
            nd_features_memory_free(&mf);
        rot_features_free(&rf);
        if (rc)
            return -1;
    }
    cli_progress_done();
    return 0;
}

/* ---------- concepts ---------- */

static int find_label(const broden *ds, const char *name)
{
    for (size_t l = 1; l < broden_num_labels(ds); l++)
        if (!strcmp(broden_label_name(ds, (int)l), name))
            return (int)l;
    return -1;
}

static void mark_present(abl_ctx *c)
{
    memset(c->present, 0, (size_t)c->nc * c->N);
    for (size_t i = 0; i < c->N; i++) {
        const broden_layer *ly;
        const broden_imglabel *il;
        size_t nl, ni;
        broden_image_layers(c->ds, i, &ly, &nl);
        broden_image_labels(c->ds, i, &il, &ni);
        int sh, sw, ih, iw;
        broden_image_size(c->ds, i, &ih, &iw, &sh, &sw);
        for (int k = 0; k < c->nc; k++) {
            unsigned char *p = &c->present[(size_t)k * c->N + i];
            for (size_t t = 0; t < ni && !*p; t++)
                *p = il[t].label == c->clabel[k];
            for (size_t t = 0; t < nl && !*p; t++)
                for (size_t q = 0; ly[t].map && q < (size_t)sh * sw && !*p; q++)
                    *p = ly[t].map[q] == c->clabel[k];
        }
    }
}

/* The named concepts, or the top_concepts labels with the highest IoU of
 * any unit (labels of a selected category only). */
static int pick_concepts(abl_ctx *c)
{
    const abl_args *a = c->a;
    size_t L = c->res.L;
    c->clabel = nd_malloc(sizeof(int) * (L + 1));
    if (!c->clabel)
        return -1;
    if (a->concepts) {
        char *cp = strdup(a->concepts), *sv = NULL;
        int rc = cp ? 0 : nd_fail("out of memory");
        for (char *t = cp ? strtok_r(cp, ",", &sv) : NULL; t && !rc; t = strtok_r(NULL, ",", &sv)) {
            int l = find_label(c->ds, t);
            rc = l < 0 ? nd_fail("--concepts: '%s' is not a label of %s", t, a->dataset) : 0;
            c->clabel[c->nc++] = l;
        }
        free(cp);
        return rc;
    }
    double *best = nd_calloc(L, sizeof(double));
    if (!best)
        return -1;
    for (size_t l = 1; l < L; l++)
        for (int u = 0; u < c->K && broden_primary(c->ds, (int)l) >= 0; u++)
            best[l] = fmax(best[l], abl_iou(&c->res, u, (int)l));
    best[0] = -1;
    int want = a->top_concepts < (int)L - 1 ? a->top_concepts : (int)L - 1;
    int *tmp = nd_malloc(sizeof(int) * L);
    if (tmp) {
        abl_top_units(best, (int)L, want, tmp);
        for (int k = 0; k < want; k++)
            if (best[tmp[k]] > 0)
                c->clabel[c->nc++] = tmp[k];
    }
    free(best);
    free(tmp);
    return tmp ? 0 : -1;
}

static void ctx_free(abl_ctx *c)
{
    mdl_runner_close(c->run);
    if (c->have_own) {
        net_free(&c->own);
        tr_table_free(&c->tab);
    }
    broden_free(c->ds);
    nd_result_free(&c->res);
    for (int d = 0; c->rot && d < c->a->rot_draws; d++)
        nd_result_free(&c->rot[d]);
    free(c->rot), free(c->Q), free(c->act), free(c->intact), free(c->scratch);
    free(c->top), free(c->pred), free(c->ptop), free(c->drop), free(c->changed);
    free(c->clabel), free(c->present);
}

int abl_experiment(const abl_args *a)
{
    abl_ctx c;
    memset(&c, 0, sizeof c);
    c.a = a;
    c.t0 = nd_now();
    int usage = 0;
    int rc = open_all(&c, &usage) || dissect_all(&c) || pick_concepts(&c);
    if (!rc && c.nc == 0)
        rc = nd_fail("%s: no concept has a unit with IoU above 0", a->dataset);
    if (!rc && !(c.present = nd_malloc((size_t)c.nc * c.N)))
        rc = -1;
    if (!rc) {
        mark_present(&c);
        rc = abl_effects(&c) || (a->classes && abl_classes(&c));
    }
    cli_progress_done();
    ctx_free(&c);
    return usage ? ABL_USAGE : rc ? -1 : 0;
}
