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
    int layer;
    int nthreads;
    net_ws *ws[MDL_MAX_THREADS];
};

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
    r->layer = net_find(&r->net, layer);
    if (r->layer < 0) {
        unknown_layer(&r->net, model, layer);
        goto fail;
    }
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
    int ncpu = nd_threads(0);
    r->nthreads = ncpu < MDL_MAX_THREADS ? ncpu : MDL_MAX_THREADS;
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
    const net_layer *L = &r->net.layers[r->layer];
    *c = L->c;
    *h = L->h;
    *w = L->w;
}

double mdl_runner_macs(const mdl_runner *r) { return net_macs(&r->net, r->layer); }

typedef struct {
    mdl_runner *r;
    const char *const *paths;
    int n, t, T;
    float *out;
    int rc;
    char err[1024];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    const net_t *net = &j->r->net;
    size_t in_sz = (size_t)net->in_c * net->in_h * net->in_w;
    const net_layer *L = &net->layers[j->r->layer];
    size_t out_sz = (size_t)L->c * L->h * L->w;
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
        net_forward(net, j->r->ws[j->t], x, 1, j->r->layer, j->out + (size_t)i * out_sz);
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
    int T = r->nthreads < n ? r->nthreads : n;
    if (T < 1)
        return 0;
    job jobs[MDL_MAX_THREADS];
    /* single-threaded BLAS even when T == 1: threaded sgemm may sum in
     * another order, and results must not depend on the number of CPUs */
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int t = 0; t < T; t++)
        jobs[t] = (job){r, paths, n, t, T, out, 0, ""};
    nd_run_jobs(worker, jobs, sizeof jobs[0], T);
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
                          const net_t *net, int li, size_t N, const char *weights,
                          long seed)
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
    if (weights) {
        nd_json_str(a.f, weights);
    } else {
        fprintf(a.f, "\"random-he seed %ld\"", seed);
    }
    fputs("}\n", a.f);
    free(path);
    return afile_commit(&a);
}

int mdl_extract(const char *model, const char *weights, long random_seed,
                const char *dataset_dir, const char *layer, const char *out_npy, int batch,
                nd_progress progress)
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
    for (size_t i = 0; i < N; i += batch) {
        int n = (int)(N - i < (size_t)batch ? N - i : (size_t)batch);
        if (mdl_runner_run(r, (const char *const *)paths + i, n, buf))
            goto done;
        if (npy_writer_put(&w, buf, sizeof(float) * per * n))
            goto done;
        nd_report(progress, "features", i + n, N);
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
