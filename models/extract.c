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

#include "core/afile.h"
#include "core/err.h"
#include "core/npy.h"
#include "models/image.h"
#include "models/squeezenet.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MDL_MAX_THREADS 16
#define MDL_BATCH 32

struct mdl_runner {
    net_t net;
    int layer;             /* the deepest output: the forward pass stops there */
    int nout;              /* outputs, in the order asked */
    int out[MDL_MAX_OUTPUTS];
    int nthreads;
    net_ws *ws[MDL_MAX_THREADS];
};

static mdl_progress_fn progress_fn;

void mdl_set_progress(mdl_progress_fn fn) { progress_fn = fn; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* "unknown layer" message with the layer names that can be asked for */
static int unknown_layer(const net_t *net, const char *model, const char *layer)
{
    char list[2048] = "";
    size_t len = 0;
    for (int i = 0; i < net->nlayers && len + 64 < sizeof list; i++) {
        const char *nm = net->layers[i].def->name;
        if (strchr(nm, '/')) /* inner layers of a module: still valid, not listed */
            continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", nm);
    }
    return nd_fail("%s: unknown layer '%s' (layers: %s, and fireN/conv1x1_1 etc.)", model,
                   layer, list);
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
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r->nthreads = ncpu < 1 ? 1 : ncpu > MDL_MAX_THREADS ? MDL_MAX_THREADS : (int)ncpu;
    for (int t = 0; t < r->nthreads; t++)
        if (!(r->ws[t] = net_ws_alloc(&r->net, r->layer)))
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
        int rc = sqz_preprocess(x, &im);
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
    pthread_t th[MDL_MAX_THREADS];
    int started[MDL_MAX_THREADS] = {0};
    /* single-threaded BLAS even when T == 1: threaded sgemm may sum in
     * another order, and results must not depend on the number of CPUs */
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){r, paths, n, t, T, out, 0, ""};
        if (t == 0)
            continue; /* thread 0's share runs on the calling thread */
        started[t] = pthread_create(&th[t], NULL, worker, &jobs[t]) == 0;
        if (!started[t]) /* fall back to doing it here */
            worker(&jobs[t]);
    }
    worker(&jobs[0]);
    for (int t = 1; t < T; t++)
        if (started[t])
            pthread_join(th[t], NULL);
    openblas_set_num_threads(blas);
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
    if (!idx || !imgdir) {
        free(idx);
        free(imgdir);
        return nd_fail("%s: out of memory", dir);
    }
    FILE *f = fopen(idx, "r");
    if (!f) {
        nd_fail("%s: cannot open: %s", idx, strerror(errno));
        free(idx);
        free(imgdir);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, n = 0, ncap = 0;
    char **paths = NULL;
    int col_img = -1, col_ih = -1, col_iw = -1, rc = -1;
    long row = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        row++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (row == 1) {
            int c = 0;
            for (char *s = line, *tok; (tok = strsep(&s, ",")); c++) {
                if (!strcmp(tok, "image"))
                    col_img = c;
                else if (!strcmp(tok, "ih"))
                    col_ih = c;
                else if (!strcmp(tok, "iw"))
                    col_iw = c;
            }
            if (col_img < 0 || col_ih < 0 || col_iw < 0) {
                nd_fail("%s: header lacks an image, ih or iw column", idx);
                goto done;
            }
            continue;
        }
        if (len == 0)
            continue;
        char *img = NULL;
        int c = 0, bad = 0;
        for (char *s = line, *tok; (tok = strsep(&s, ",")); c++) {
            if (c == col_img)
                img = tok;
            if (c == col_ih || c == col_iw) {
                char *end;
                long v = strtol(tok, &end, 10);
                bad |= !*tok || *end || v < 1;
            }
        }
        if (!img || !*img || bad || c <= col_ih || c <= col_iw) {
            nd_fail("%s: row %ld: expected an image name and positive ih, iw", idx, row);
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
        if (!(paths[n] = nd_path_join(imgdir, img))) {
            nd_fail("%s: out of memory", idx);
            goto done;
        }
        n++;
    }
    if (row == 0) {
        nd_fail("%s: empty file, expected a header", idx);
        goto done;
    }
    if (n == 0) {
        nd_fail("%s: no image rows", idx);
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    free(line);
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

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int write_geometry(const char *out_npy, const char *model, const char *layer,
                          const net_t *net, int li, size_t N, const char *weights,
                          long seed)
{
    size_t len = strlen(out_npy);
    char *path = nd_malloc(len + 8);
    if (!path)
        return -1;
    memcpy(path, out_npy, len + 1);
    if (len > 4 && !strcmp(path + len - 4, ".npy"))
        path[len - 4] = 0;
    strcat(path, ".json");
    afile a;
    if (afile_open(&a, path)) {
        free(path);
        return -1;
    }
    const net_layer *L = &net->layers[li];
    fputs("{\"model\": ", a.f);
    json_string(a.f, model);
    fputs(", \"layer\": ", a.f);
    json_string(a.f, layer);
    fprintf(a.f, ", \"field\": [%d, %d, %d], \"input\": %d, \"images\": %zu, \"weights\": ",
            L->field_off, L->field_size, L->field_stride, net->in_w, N);
    if (weights) {
        json_string(a.f, weights);
    } else {
        fprintf(a.f, "\"random-he seed %ld\"", seed);
    }
    fputs("}\n", a.f);
    free(path);
    return afile_commit(&a);
}

int mdl_extract(const char *model, const char *weights, long random_seed,
                const char *dataset_dir, const char *layer, const char *out_npy, int quiet)
{
    return mdl_extract_batch(model, weights, random_seed, dataset_dir, layer, out_npy, quiet,
                             MDL_BATCH);
}

int mdl_extract_batch(const char *model, const char *weights, long random_seed,
                      const char *dataset_dir, const char *layer, const char *out_npy,
                      int quiet, int batch)
{
    if (batch < 1)
        return nd_fail("%s: batch size %d, expected >= 1", out_npy, batch);
    char **paths = NULL;
    size_t N = 0;
    mdl_runner *r = NULL;
    float *buf = NULL;
    npy_writer w;
    int wopen = 0, rc = -1;
    if (mdl_runner_open(&r, model, weights, weights ? -1 : random_seed, layer))
        return -1;
    if (read_index(dataset_dir, &paths, &N))
        goto done;
    int c, h, wd;
    mdl_runner_shape(r, &c, &h, &wd);
    size_t per = (size_t)c * h * wd;
    buf = nd_malloc(sizeof(float) * per * batch);
    if (!buf)
        goto done;
    size_t shape[4] = {N, (size_t)c, (size_t)h, (size_t)wd};
    if (npy_writer_open(&w, out_npy, NPY_F32, 4, shape))
        goto done;
    wopen = 1;
    double t0 = now();
    for (size_t i = 0; i < N; i += batch) {
        int n = (int)(N - i < (size_t)batch ? N - i : (size_t)batch);
        if (mdl_runner_run(r, (const char *const *)paths + i, n, buf))
            goto done;
        if (npy_writer_put(&w, buf, sizeof(float) * per * n))
            goto done;
        if (!quiet && progress_fn)
            progress_fn(i + n, N, now() - t0);
    }
    wopen = 0;
    if (npy_writer_commit(&w))
        goto done;
    rc = write_geometry(out_npy, model, layer, &r->net, r->layer, N, weights, random_seed);
done:
    if (wopen)
        npy_writer_abort(&w);
    for (size_t i = 0; i < N; i++)
        free(paths[i]);
    free(paths);
    free(buf);
    mdl_runner_close(r);
    return rc;
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

int mdl_extract_layers(const char *model, const char *weights, long random_seed,
                       const char *dataset_dir, const char *layers, const char *out, int float16,
                       int batch, nd_progress progress)
{
    if (batch < 1)
        return nd_fail("%s: batch size %d, expected >= 1", out, batch);
    char **paths = NULL;
    size_t N = 0;
    mdl_runner *r = NULL;
    multi_out m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    if (mdl_runner_open(&r, model, weights, weights ? -1 : random_seed, layers))
        return -1;
    m.nl = mdl_runner_outputs(r);
    size_t ol = strlen(out);
    m.single = m.nl == 1 && ol > 4 && !strcmp(out + ol - 4, ".npy");
    m.f16 = float16;
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
        if (write_geometry(m.path[k], model, name, &r->net, r->out[k], N, weights, random_seed))
            goto done;
    }
    rc = 0;
done:
    multi_free(&m);
    for (size_t i = 0; i < N; i++)
        free(paths[i]);
    free(paths);
    mdl_runner_close(r);
    return rc;
}
