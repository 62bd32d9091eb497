/* extract.c - a network layer's activations over a Broden-format dataset.
 *
 * The runner keeps one forward workspace per CPU.  Each call spreads its
 * images over that many threads (image t goes to thread t mod T); each
 * thread decodes, preprocesses and runs its images with OpenBLAS set to one
 * thread, so decoding parallelises too and small late-layer products do not
 * pay threading overhead.  Results do not depend on the thread count: every
 * image is computed independently, and single-threaded sgemm is
 * deterministic.
 *
 * mdl_extract reads index.csv minimally (the image column; ih/iw are only
 * checked to be numbers), streams [N, K, h, w] float32 to the .npy in index
 * order through npy_writer (atomic), then writes the geometry JSON
 * (atomic).  The .npy is committed before the JSON, so a JSON present means
 * its .npy is complete.
 */
#include "models/extract.h"

#include "core/blas.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "models/image.h"
#include "models/squeezenet.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* workspaces are a few MB each: more threads than this would cost memory
 * for little gain on a forward pass */
#define MDL_MAX_THREADS 16

struct mdl_runner {
    net_t net;
    int layer;             /* the deepest output: the forward pass stops there */
    int nout;              /* outputs, in the order asked */
    int out[MDL_MAX_OUTPUTS];
    int nthreads;
    net_ws *ws[MDL_MAX_THREADS];
    int borrowed; /* a trained network (mdl_extract_net): not ours to free; its input
                     convention is NET_TRAINED_PIXEL instead of SqueezeNet's */
};

/* "unknown layer" message with the layer names that can be asked for */
static int unknown_layer(const net_t *net, const char *model, const char *layer)
{
    char list[2048] = "";
    size_t len = 0;
    int inner = 0;
    for (int i = 0; i < net->nlayers && len + 64 < sizeof list; i++) {
        const char *nm = net->layers[i].def->name;
        if (strchr(nm, '/')) { /* inner layers of a module: still valid, not listed */
            inner = 1;
            continue;
        }
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", nm);
    }
    return nd_fail("%s: unknown layer '%s' (layers: %s%s)", model, layer, list,
                   inner ? ", and fireN/conv1x1_1 etc." : "");
}

static int model_create(net_t *net, const char *model)
{
    if (strcmp(model, "squeezenet") != 0)
        return nd_fail("unknown model '%s' (known: squeezenet)", model);
    return sqz_create(net);
}

int mdl_layer_field(const char *model, const char *layer, int *offset, int *size, int *stride)
{
    net_t net;
    if (model_create(&net, model))
        return -1;
    int i = net_find(&net, layer);
    if (i < 0) {
        unknown_layer(&net, model, layer);
        net_free(&net);
        return -1;
    }
    *offset = net.layers[i].field_off;
    *size = net.layers[i].field_size;
    *stride = net.layers[i].field_stride;
    net_free(&net);
    return 0;
}

void mdl_runner_close(mdl_runner *r)
{
    if (!r)
        return;
    for (int t = 0; t < MDL_MAX_THREADS; t++)
        net_ws_free(r->ws[t]);
    if (!r->borrowed)
        net_free(&r->net);
    free(r);
}

/* "a,b,c" or "all" (the model's dissection layers) into r->out[]; the
 * deepest becomes r->layer.  A layer named twice is an error. */
static int parse_layers(mdl_runner *r, const char *model, const char *list)
{
    if (!strcmp(list, "all"))
        list = SQZ_DISSECT_LAYERS;
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return nd_fail("out of memory");
    int rc = 0;
    r->nout = 0;
    r->layer = -1;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        int li = net_find(&r->net, tok);
        if (li < 0) {
            rc = unknown_layer(&r->net, model, tok);
            break;
        }
        for (int k = 0; k < r->nout; k++)
            if (r->out[k] == li)
                rc = nd_fail("%s: layer '%s' asked for twice", model, tok);
        if (!rc && r->nout == MDL_MAX_OUTPUTS)
            rc = nd_fail("%s: more than %d layers asked for", model, MDL_MAX_OUTPUTS);
        if (!rc) {
            r->out[r->nout++] = li;
            if (li > r->layer)
                r->layer = li;
        }
    }
    if (!rc && r->nout == 0)
        rc = nd_fail("%s: no layer named in '%s'", model, list);
    free(copy);
    return rc;
}

static int alloc_workspaces(mdl_runner *r)
{
    int ncpu = nd_threads(0);
    r->nthreads = ncpu < MDL_MAX_THREADS ? ncpu : MDL_MAX_THREADS;
    for (int t = 0; t < r->nthreads; t++)
        if (!(r->ws[t] = net_ws_alloc(&r->net, r->layer)))
            return -1;
    return 0;
}

int mdl_runner_open(mdl_runner **out, const char *model, const char *weights,
                    long random_seed, const char *layer)
{
    *out = NULL;
    mdl_runner *r = nd_calloc(1, sizeof *r);
    if (!r)
        return -1;
    if (model_create(&r->net, model)) {
        free(r);
        return -1;
    }
    if (parse_layers(r, model, layer))
        goto fail;
    if (weights) {
        if (sqz_load_dc(&r->net, weights, NULL, NULL))
            goto fail;
    } else if (random_seed >= 0) {
        if (net_init_he(&r->net, (unsigned long)random_seed))
            goto fail;
    } else {
        nd_fail("%s: no weight file and no random seed given", model);
        goto fail;
    }
    if (alloc_workspaces(r))
        goto fail;
    *out = r;
    return 0;
fail:
    mdl_runner_close(r);
    return -1;
}

void mdl_runner_shape(const mdl_runner *r, int *c, int *h, int *w)
{
    mdl_runner_output(r, 0, c, h, w);
}

int mdl_runner_outputs(const mdl_runner *r) { return r->nout; }

const char *mdl_runner_output(const mdl_runner *r, int k, int *c, int *h, int *w)
{
    ND_ASSERT(k >= 0 && k < r->nout);
    const net_layer *L = &r->net.layers[r->out[k]];
    *c = L->c;
    *h = L->h;
    *w = L->w;
    return L->def->name;
}

void mdl_runner_field(const mdl_runner *r, int k, int *offset, int *size, int *stride)
{
    ND_ASSERT(k >= 0 && k < r->nout);
    const net_layer *L = &r->net.layers[r->out[k]];
    *offset = L->field_off;
    *size = L->field_size;
    *stride = L->field_stride;
}

double mdl_runner_macs(const mdl_runner *r) { return net_macs(&r->net, r->layer); }

/* A trained network's input: the whole image squash-resized to its input
 * size, planes R, G, B as NET_TRAINED_PIXEL. */
static int trained_preprocess(float *dst, const img_u8 *im, const net_t *net)
{
    int W = net->in_w, H = net->in_h;
    unsigned char *sq = nd_malloc((size_t)W * H * 3);
    if (!sq || img_resize_u8(sq, W, H, im->px, im->w, im->h, 3)) {
        free(sq);
        return -1;
    }
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < (size_t)W * H; p++)
            dst[(size_t)c * W * H + p] = NET_TRAINED_PIXEL(sq[p * 3 + c]);
    free(sq);
    return 0;
}

typedef struct {
    mdl_runner *r;
    const char *const *paths;
    int n, t, T;
    float *const *out; /* [nout] */
    int rc;
    char err[1024];
} job;

/* Image i's outputs: the deepest straight from the forward pass, the
 * others copied from the workspace's per-layer buffers. */
static void forward_one(job *j, const float *x, int i)
{
    const mdl_runner *r = j->r;
    const net_t *net = &r->net;
    float *deepest = NULL;
    for (int k = 0; k < r->nout; k++)
        if (r->out[k] == r->layer) {
            const net_layer *L = &net->layers[r->layer];
            deepest = j->out[k] + (size_t)i * L->c * L->h * L->w;
        }
    net_forward(net, r->ws[j->t], x, 1, r->layer, deepest);
    for (int k = 0; k < r->nout; k++) {
        if (r->out[k] == r->layer)
            continue;
        const net_layer *L = &net->layers[r->out[k]];
        size_t sz = (size_t)L->c * L->h * L->w;
        memcpy(j->out[k] + (size_t)i * sz, net_ws_output(r->ws[j->t], r->out[k]), sizeof(float) * sz);
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    const net_t *net = &j->r->net;
    size_t in_sz = (size_t)net->in_c * net->in_h * net->in_w;
    float *x = nd_malloc(sizeof(float) * in_sz);
    if (!x)
        goto fail;
    for (int i = j->t; i < j->n; i += j->T) {
        img_u8 im;
        if (img_load_rgb(&im, j->paths[i]))
            goto fail;
        int rc = j->r->borrowed ? trained_preprocess(x, &im, net) : sqz_preprocess(x, &im);
        img_free(&im);
        if (rc) {
            nd_fail_prefix("%s", j->paths[i]);
            goto fail;
        }
        forward_one(j, x, i);
    }
    free(x);
    j->rc = 0;
    return NULL;
fail:
    /* the error message is thread-local: hand it to the caller */
    snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
    free(x);
    j->rc = -1;
    return NULL;
}

int mdl_runner_run(mdl_runner *r, const char *const *paths, int n, float *out)
{
    ND_ASSERT(r->nout == 1);
    float *const outs[1] = {out};
    return mdl_runner_run_layers(r, paths, n, outs);
}

int mdl_runner_run_layers(mdl_runner *r, const char *const *paths, int n, float *const *out)
{
    int T = r->nthreads < n ? r->nthreads : n;
    if (T < 1)
        return 0;
    job jobs[MDL_MAX_THREADS];
    /* single-threaded BLAS even when T == 1: threaded sgemm may sum in
     * another order, and results must not depend on the number of CPUs */
    int blas = nd_blas_serial_begin();
    for (int t = 0; t < T; t++)
        jobs[t] = (job){r, paths, n, t, T, out, 0, ""};
    nd_run_jobs(worker, jobs, sizeof jobs[0], T);
    nd_blas_serial_end(blas);
    for (int t = 0; t < T; t++)
        if (jobs[t].rc)
            return nd_fail("%s", jobs[t].err);
    return 0;
}

/* ---------- dataset ---------- */

/* Image paths (DIR/images/<image>) of index.csv, in row order. */
static int read_index(const char *dir, char ***paths_out, size_t *n_out)
{
    *paths_out = NULL;
    *n_out = 0;
    char *idx = nd_path_join(dir, "index.csv");
    char *imgdir = nd_path_join(dir, "images");
    csv_file f;
    if (!idx || !imgdir || csv_open(&f, idx)) {
        free(idx);
        free(imgdir);
        return -1;
    }
    size_t n = 0, ncap = 0;
    char **paths = NULL;
    int col_img = csv_col(&f, "image"), col_ih = csv_col(&f, "ih"), col_iw = csv_col(&f, "iw");
    int rc = -1, r;
    if (col_img < 0 || col_ih < 0 || col_iw < 0) {
        nd_fail("%s: header lacks an image, ih or iw column", idx);
        goto done;
    }
    while ((r = csv_next(&f)) > 0) {
        long ih, iw;
        if (f.nf <= col_img || f.nf <= col_ih || f.nf <= col_iw || !*f.f[col_img] ||
            csv_long(f.f[col_ih], &ih) || csv_long(f.f[col_iw], &iw) || ih < 1 || iw < 1) {
            nd_fail("%s: line %d: expected an image name and positive ih, iw", idx, f.line);
            goto done;
        }
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 256;
            char **np = realloc(paths, sizeof *paths * ncap);
            if (!np) {
                nd_fail("%s: out of memory", idx);
                goto done;
            }
            paths = np;
        }
        if (!(paths[n] = nd_path_join(imgdir, f.f[col_img])))
            goto done;
        n++;
    }
    if (r < 0)
        goto done;
    if (n == 0) {
        nd_fail("%s: no image rows", idx);
        goto done;
    }
    rc = 0;
done:
    csv_close(&f);
    free(idx);
    free(imgdir);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
        return -1;
    }
    *paths_out = paths;
    *n_out = n;
    return 0;
}

char *mdl_geometry_path(const char *npy)
{
    size_t len = strlen(npy);
    char *path = nd_malloc(len + 6);
    if (!path)
        return NULL;
    memcpy(path, npy, len + 1);
    if (len > 4 && !strcmp(path + len - 4, ".npy"))
        path[len - 4] = 0;
    strcat(path, ".json");
    return path;
}

int mdl_read_field(const char *npy, int field[3])
{
    char *path = mdl_geometry_path(npy);
    if (!path)
        return -1;
    if (access(path, F_OK) != 0) {
        free(path);
        return 0;
    }
    char *text = nd_read_text(path);
    if (!text) {
        free(path);
        return -1;
    }
    const char *q = strstr(text, "\"field\"");
    int rc = 0, a, b, c;
    if (q) {
        q = strchr(q, '[');
        if (!q || sscanf(q, "[ %d , %d , %d ]", &a, &b, &c) != 3 || b < 1 || c < 1)
            rc = nd_fail("%s: expected \"field\": [offset, size, stride] with size, stride >= 1",
                         path);
        else
            field[0] = a, field[1] = b, field[2] = c, rc = 1;
    }
    free(text);
    free(path);
    return rc;
}

static int write_geometry(const char *out_npy, const char *model, const char *layer,
                          const net_t *net, int li, size_t N, const char *weights)
{
    char *path = mdl_geometry_path(out_npy);
    if (!path)
        return -1;
    afile a;
    if (afile_open(&a, path)) {
        free(path);
        return -1;
    }
    const net_layer *L = &net->layers[li];
    fputs("{\"model\": ", a.f);
    nd_json_str(a.f, model);
    fputs(", \"layer\": ", a.f);
    nd_json_str(a.f, layer);
    fprintf(a.f, ", \"field\": [%d, %d, %d], \"input\": %d, \"images\": %zu, \"weights\": ",
            L->field_off, L->field_size, L->field_stride, net->in_w, N);
    nd_json_str(a.f, weights);
    fputs("}\n", a.f);
    free(path);
    return afile_commit(&a);
}

/* Output k's file: `out` itself for one layer and a name ending in .npy,
 * else out/<layer>.npy ('/' of inner layers as '_'). */
static char *layer_path(const char *out, const char *layer, int single)
{
    if (single)
        return strdup(out);
    char name[256];
    snprintf(name, sizeof name, "%s.npy", layer);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';
    return nd_path_join(out, name);
}

typedef struct {
    int nl, single, f16;
    char *path[MDL_MAX_OUTPUTS];
    float *buf[MDL_MAX_OUTPUTS];
    size_t per[MDL_MAX_OUTPUTS];
    npy_writer w[MDL_MAX_OUTPUTS];
    int open[MDL_MAX_OUTPUTS];
    uint16_t *half;
} multi_out;

static void multi_free(multi_out *m)
{
    for (int k = 0; k < m->nl; k++) {
        if (m->open[k])
            npy_writer_abort(&m->w[k]);
        free(m->path[k]);
        free(m->buf[k]);
    }
    free(m->half);
}

static int multi_open(multi_out *m, const mdl_runner *r, const char *out, size_t N, int batch)
{
    size_t maxper = 0;
    for (int k = 0; k < m->nl; k++) {
        int c, h, w;
        const char *name = mdl_runner_output(r, k, &c, &h, &w);
        m->per[k] = (size_t)c * h * w;
        maxper = m->per[k] > maxper ? m->per[k] : maxper;
        size_t shape[4] = {N, (size_t)c, (size_t)h, (size_t)w};
        if (!(m->path[k] = layer_path(out, name, m->single)) ||
            !(m->buf[k] = nd_malloc(sizeof(float) * m->per[k] * batch)) ||
            npy_writer_open(&m->w[k], m->path[k], m->f16 ? NPY_F16 : NPY_F32, 4, shape))
            return -1;
        m->open[k] = 1;
    }
    if (m->f16 && !(m->half = nd_malloc(sizeof(uint16_t) * maxper * batch)))
        return -1;
    return 0;
}

static int multi_put(multi_out *m, int n)
{
    for (int k = 0; k < m->nl; k++) {
        size_t cnt = m->per[k] * n;
        if (m->f16) {
            for (size_t i = 0; i < cnt; i++)
                m->half[i] = npy_float_to_half(m->buf[k][i]);
            if (npy_writer_put(&m->w[k], m->half, sizeof(uint16_t) * cnt))
                return m->open[k] = 0, -1; /* put aborts the writer itself */
        } else if (npy_writer_put(&m->w[k], m->buf[k], sizeof(float) * cnt)) {
            return m->open[k] = 0, -1;
        }
    }
    return 0;
}

/* An opened runner's outputs over the dataset; single: exactly one layer,
 * written to `out` whatever its name.  model and weights label the JSON. */
static int extract_run(mdl_runner *r, const char *model, const char *weights_label,
                       const char *dataset_dir, const char *layers, const char *out, int float16,
                       int batch, nd_progress progress, int single)
{
    char **paths = NULL;
    size_t N = 0;
    multi_out m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    m.nl = mdl_runner_outputs(r);
    size_t ol = strlen(out);
    m.single = single || (m.nl == 1 && ol > 4 && !strcmp(out + ol - 4, ".npy"));
    m.f16 = float16;
    if (single && m.nl != 1) {
        nd_fail("%s: one layer expected, '%s' names %d", out, layers, m.nl);
        goto done;
    }
    if (m.nl > 1 && ol > 4 && !strcmp(out + ol - 4, ".npy")) {
        nd_fail("%s: several layers are written into a folder (out/<layer>.npy), not one .npy", out);
        goto done;
    }
    if (read_index(dataset_dir, &paths, &N) || (!m.single && nd_mkdirs(out)) ||
        multi_open(&m, r, out, N, batch))
        goto done;
    for (size_t i = 0; i < N; i += batch) {
        int n = (int)(N - i < (size_t)batch ? N - i : (size_t)batch);
        if (mdl_runner_run_layers(r, (const char *const *)paths + i, n, m.buf) || multi_put(&m, n))
            goto done;
        nd_report(progress, "features", i + n, N);
    }
    /* every .npy committed before any geometry JSON: a JSON means its .npy is complete */
    for (int k = 0; k < m.nl; k++) {
        m.open[k] = 0;
        if (npy_writer_commit(&m.w[k]))
            goto done;
    }
    for (int k = 0; k < m.nl; k++) {
        int c, h, w;
        const char *name = mdl_runner_output(r, k, &c, &h, &w);
        if (write_geometry(m.path[k], model, name, &r->net, r->out[k], N, weights_label))
            goto done;
    }
    rc = 0;
done:
    multi_free(&m);
    for (size_t i = 0; i < N; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

static int extract(const char *model, const char *weights, long random_seed,
                   const char *dataset_dir, const char *layers, const char *out, int float16,
                   int batch, nd_progress progress, int single)
{
    if (batch < 1)
        return nd_fail("%s: batch size %d, expected >= 1", out, batch);
    mdl_runner *r = NULL;
    if (mdl_runner_open(&r, model, weights, weights ? -1 : random_seed, layers))
        return -1;
    char label[64];
    snprintf(label, sizeof label, "random-he seed %ld", random_seed);
    int rc = extract_run(r, model, weights ? weights : label, dataset_dir, layers, out, float16,
                         batch, progress, single);
    mdl_runner_close(r);
    return rc;
}

int mdl_extract(const char *model, const char *weights, long random_seed,
                const char *dataset_dir, const char *layer, const char *out_npy, int batch,
                nd_progress progress)
{
    return extract(model, weights, random_seed, dataset_dir, layer, out_npy, 0, batch, progress, 1);
}

int mdl_extract_layers(const char *model, const char *weights, long random_seed,
                       const char *dataset_dir, const char *layers, const char *out, int float16,
                       int batch, nd_progress progress)
{
    return extract(model, weights, random_seed, dataset_dir, layers, out, float16, batch, progress, 0);
}

int mdl_runner_open_net(mdl_runner **out, net_t *net, const char *source, const char *layers)
{
    *out = NULL;
    if (net->in_c != 3)
        return nd_fail("%s: input has %d channels, images have 3", source, net->in_c);
    mdl_runner *r = nd_calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->net = *net;
    r->borrowed = 1;
    if (parse_layers(r, source, layers) || alloc_workspaces(r)) {
        mdl_runner_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int mdl_extract_net(net_t *net, const char *source, const char *dataset_dir,
                    const char *layer, const char *out_npy, int batch, nd_progress progress)
{
    if (batch < 1)
        return nd_fail("%s: batch size %d, expected >= 1", out_npy, batch);
    mdl_runner *r;
    if (mdl_runner_open_net(&r, net, source, layer))
        return -1;
    int rc = extract_run(r, "checkpoint", source, dataset_dir, layer, out_npy, 0, batch, progress, 1);
    mdl_runner_close(r);
    return rc;
}
