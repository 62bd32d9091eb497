/* data.c - training images from a Broden-format dataset (see data.h). */
#include "train/data.h"

#include "core/blas.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "models/image.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tr_data_free(tr_data *d)
{
    free(d->px);
    free(d->label);
    free(d->class_label);
    memset(d, 0, sizeof *d);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* the category's label of the current row, or 0 (none); -1 bad field */
static int row_label(const csv_file *c, int col, long *out)
{
    *out = 0;
    if (col >= c->nf || !c->f[col][0])
        return 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", c->f[col]);
    char *semi = strchr(buf, ';');
    if (semi)
        *semi = 0;
    if (csv_long(buf, out) || *out < 1)
        return nd_fail("%s: line %d: '%s' is not a label number", c->path, c->line, c->f[col]);
    return 0;
}

/* pass 1: the classes (distinct labels of the column over every row) */
static int find_classes(tr_data *d, const char *index, int col)
{
    csv_file c;
    if (csv_open(&c, index))
        return -1;
    size_t cap = 0;
    int r, rc = 0;
    while (!rc && (r = csv_next(&c)) > 0) {
        long l;
        if (row_label(&c, col, &l)) {
            rc = -1;
            break;
        }
        int seen = 0;
        for (int k = 0; k < d->classes && !seen; k++)
            seen = d->class_label[k] == l;
        if (!l || seen)
            continue;
        if ((size_t)d->classes == cap) {
            cap = cap ? 2 * cap : 16;
            long *p = realloc(d->class_label, sizeof *p * cap);
            if (!p) {
                rc = nd_fail("out of memory");
                break;
            }
            d->class_label = p;
        }
        d->class_label[d->classes++] = l;
    }
    if (!rc && r < 0)
        rc = -1;
    csv_close(&c);
    if (!rc)
        qsort(d->class_label, (size_t)d->classes, sizeof(long), cmp_long);
    return rc;
}

/* Grow the row arrays (paths, classes) by one slot. */
static int add_row(tr_data *d, char ***paths, const char *dir, const char *name, int cls, size_t *cap)
{
    if ((size_t)d->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        char **p = realloc(*paths, *cap * sizeof *p);
        int *q = realloc(d->label, sizeof(int) * *cap);
        if (p)
            *paths = p;
        if (q)
            d->label = q;
        if (!p || !q)
            return nd_fail("out of memory");
    }
    char rel[4096];
    snprintf(rel, sizeof rel, "images/%s", name);
    if (!((*paths)[d->n] = nd_path_join(dir, rel)))
        return -1;
    d->label[d->n++] = cls;
    return 0;
}

typedef struct {
    tr_data *d;
    char **paths;
    int t, T, rc;
    char err[1024];
} decode_job;

/* Images t, t + T, ... of the list: decode and squash-resize into place. */
static void *decode_worker(void *arg)
{
    decode_job *j = arg;
    size_t sz = (size_t)j->d->size * j->d->size * 3;
    for (int i = j->t; i < j->d->n && !j->rc; i += j->T) {
        img_u8 im;
        if (img_load_rgb(&im, j->paths[i])) {
            j->rc = -1;
            break;
        }
        j->rc = img_resize_u8(j->d->px + (size_t)i * sz, j->d->size, j->d->size, im.px, im.w,
                              im.h, 3);
        img_free(&im);
    }
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
    return NULL;
}

/* Decode every listed image on all cores (each image lands at its own
 * index, so the result is the same on any number of threads). */
static int decode_all(tr_data *d, char **paths)
{
    if (!(d->px = nd_malloc((size_t)d->n * d->size * d->size * 3)))
        return -1;
    int T = nd_threads(0);
    decode_job j[ND_MAX_THREADS];
    for (int t = 0; t < T; t++)
        j[t] = (decode_job){.d = d, .paths = paths, .t = t, .T = T};
    nd_run_jobs(decode_worker, j, sizeof j[0], T);
    for (int t = 0; t < T; t++)
        if (j[t].rc)
            return nd_fail("%s", j[t].err);
    return 0;
}

int tr_data_load(tr_data *d, const char *dir, const char *category, const char *split, int size,
                 nd_progress prog)
{
    memset(d, 0, sizeof *d);
    d->size = size;
    char *index = nd_path_join(dir, "index.csv");
    csv_file c;
    if (!index || csv_open(&c, index)) {
        free(index);
        return -1;
    }
    int col = csv_col(&c, category), scol = csv_col(&c, "split"), icol = csv_col(&c, "image");
    int rc = 0, r;
    if (col < 0 || icol < 0)
        rc = nd_fail("%s: no column '%s'", index, col < 0 ? category : "image");
    else if (split && *split && scol < 0)
        rc = nd_fail("%s: no column 'split' (needed for split %s)", index, split);
    if (!rc)
        rc = find_classes(d, index, col);
    size_t cap = 0;
    char **paths = NULL;
    while (!rc && (r = csv_next(&c)) > 0) {
        long l;
        if (row_label(&c, col, &l) || icol >= c.nf) {
            rc = nd_fail_prefix("%s: line %d", index, c.line);
            break;
        }
        if (!l || (split && *split && (scol >= c.nf || strcmp(c.f[scol], split))))
            continue;
        int cls = 0;
        while (d->class_label[cls] != l)
            cls++;
        rc = add_row(d, &paths, dir, c.f[icol], cls, &cap);
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && d->n == 0)
        rc = nd_fail("%s: no image of split '%s' has a '%s' label", index, split ? split : "",
                     category);
    csv_close(&c);
    if (!rc)
        rc = decode_all(d, paths);
    if (!rc)
        nd_report(prog, "images", (size_t)d->n, (size_t)d->n);
    for (int i = 0; paths && i < d->n; i++)
        free(paths[i]);
    free(paths);
    free(index);
    if (rc)
        tr_data_free(d);
    return rc;
}

void tr_make_batch(const tr_data *d, const int *idx, int n, int crop, int augment, gsl_rng *r,
                   float *x, int *labels)
{
    int S = d->size, room = S - crop;
    size_t plane = (size_t)crop * crop;
    for (int b = 0; b < n; b++) {
        int oy = room / 2, ox = room / 2, flip = 0;
        if (augment) {
            oy = (int)gsl_rng_uniform_int(r, (unsigned long)room + 1);
            ox = (int)gsl_rng_uniform_int(r, (unsigned long)room + 1);
            flip = gsl_rng_uniform(r) < 0.5;
        }
        const unsigned char *src = d->px + (size_t)idx[b] * S * S * 3;
        float *dst = x + (size_t)b * 3 * plane;
        for (int y = 0; y < crop; y++)
            for (int xx = 0; xx < crop; xx++) {
                int sx = ox + (flip ? crop - 1 - xx : xx);
                const unsigned char *p = src + ((size_t)(oy + y) * S + sx) * 3;
                for (int ch = 0; ch < 3; ch++)
                    dst[ch * plane + (size_t)y * crop + xx] = NET_TRAINED_PIXEL(p[ch]);
            }
        labels[b] = d->label[idx[b]];
    }
}

double tr_accuracy(const net_t *net, const tr_data *d, int crop)
{
    net_ws *ws = net_ws_alloc(net, net->nlayers - 1);
    const net_layer *L = &net->layers[net->nlayers - 1];
    size_t k = (size_t)L->c * L->h * L->w;
    float *x = nd_malloc(sizeof(float) * 3 * crop * crop), *z = nd_malloc(sizeof(float) * k);
    long hits = 0;
    int blas = nd_blas_serial_begin(); /* the same products whatever the machine */
    for (int i = 0; ws && x && z && i < d->n; i++) {
        int lab;
        tr_make_batch(d, &i, 1, crop, 0, NULL, x, &lab);
        net_forward(net, ws, x, 1, net->nlayers - 1, z);
        size_t arg = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > z[arg])
                arg = j;
        hits += (int)arg == lab;
    }
    nd_blas_serial_end(blas);
    int ok = ws && x && z;
    net_ws_free(ws);
    free(x), free(z);
    return ok && d->n ? (double)hits / d->n : NAN;
}

