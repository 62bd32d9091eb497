/* loop.c - the training loop (see loop.h). */
#include "train/loop.h"

#include "core/afile.h"
#include "core/err.h"
#include "train/ckpt.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const tr_opts *o;
    tr_table tab;   /* of the resumed/initial checkpoint (owned) */
    net_t net;
    tr_net t;
    gsl_rng *aug;
    float *x;
    int *labels, *perm;
    long perm_epoch;
} run;

static void snap_dir(char *buf, size_t cap, const char *out, long it)
{
    snprintf(buf, cap, "%s/snap-%08ld", out, it);
}

/* The schedule's rate at iteration it (0-based), times the warmup ramp. */
static double lr_at(const tr_opts *o, long it)
{
    double lr = tr_lr(o->schedule, o->lr, it, o->iterations, o->step_size, o->gamma);
    return it < o->warmup ? lr * (double)(it + 1) / (double)o->warmup : lr;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* snapshots.csv from the snapshot folders up to iteration upto */
static int write_log(const tr_opts *o, long upto)
{
    char *txt = NULL, dir[4096];
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f)
        return nd_fail("out of memory");
    fprintf(f, "iteration,lr,train_loss,train_acc,val_acc\n");
    for (int s = 0; s <= o->nsnapshots; s++) {
        long it = s < o->nsnapshots ? o->snapshots[s] : o->iterations;
        if (it > upto || (s == o->nsnapshots && s > 0 && o->snapshots[s - 1] == it))
            continue;
        snap_dir(dir, sizeof dir, o->out, it);
        tr_ckpt_info info;
        if (tr_ckpt_info_read(dir, &info)) {
            fclose(f);
            free(txt);
            return -1;
        }
        double lr = lr_at(o, it - 1);
        fprintf(f, "%ld,%.9g,%.9g,%.9g,%.9g\n", it, lr, info.train_loss, info.train_acc,
                info.val_acc);
    }
    fclose(f);
    char *p = nd_path_join(o->out, "snapshots.csv");
    int rc = !p || afile_write_all(p, txt, len);
    free(p);
    free(txt);
    return rc ? -1 : 0;
}

static char *table_text(const tr_table *t)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f)
        return NULL;
    tr_table_write(f, t->defs, t->n);
    fclose(f);
    return txt;
}

static int same_table(const tr_table *a, const tr_table *b)
{
    char *x = table_text(a), *y = table_text(b);
    int same = x && y && !strcmp(x, y);
    free(x), free(y);
    return same;
}

/* the latest snapshot of this run present in out, or 0 */
static long latest_snapshot(const tr_opts *o)
{
    char dir[4096];
    long best = 0;
    for (int s = 0; s <= o->nsnapshots; s++) {
        long it = s < o->nsnapshots ? o->snapshots[s] : o->iterations;
        snap_dir(dir, sizeof dir, o->out, it);
        if (it > best && exists(dir))
            best = it;
    }
    return best;
}

static int setup(run *r, const tr_table *tab, int classes, tr_status *st)
{
    const tr_opts *o = r->o;
    char dir[4096];
    tr_ckpt_clean_stale(o->out); /* a snapshot half-written when a run was killed */
    long from = latest_snapshot(o);
    const char *src = o->init;
    if (from > 0) {
        snap_dir(dir, sizeof dir, o->out, from);
        src = dir;
    }
    tr_ckpt_info info = {0, NAN, NAN, NAN};
    if (src) {
        if (tr_ckpt_load(src, &r->tab, &r->net, &info, NULL))
            return -1;
        if (from > 0 && !same_table(tab, &r->tab))
            return nd_fail("%s: was trained with another [architecture] than the config's "
                           "(use a new output folder)", src);
        if (r->net.in_c != 3 || r->net.in_h != o->crop || r->net.in_w != o->crop)
            return nd_fail("%s: input %dx%dx%d, the run needs 3x%dx%d", src, r->net.in_c,
                           r->net.in_h, r->net.in_w, o->crop, o->crop);
    } else {
        if (net_create(&r->net, "net", tab->defs, tab->n, 3, o->crop, o->crop) ||
            net_init_he(&r->net, o->seed))
            return -1;
    }
    const net_layer *last = &r->net.layers[r->net.nlayers - 1];
    if (tr_layer_size(last) != (size_t)classes)
        return nd_fail("%s: the last layer (%s) has %zu outputs, the data has %d classes",
                       src ? src : "[architecture]", last->def->name, tr_layer_size(last),
                       classes);
    if (tr_alloc(&r->t, &r->net, (int)o->batch, 0) || !(r->aug = gsl_rng_alloc(gsl_rng_mt19937)))
        return nd_fail_prefix("%s", o->out);
    r->t.dropout = o->dropout;
    if (o->threads > 0 && o->threads < r->t.threads)
        r->t.threads = o->threads;
    /* distinct streams for dropout and augmentation, both from the seed */
    gsl_rng_set(r->t.rng, o->seed * 2 + 1);
    gsl_rng_set(r->aug, o->seed * 2 + 2);
    /* a resumed run continues the snapshot's state; an --init checkpoint
     * gives only the weights (and its momentum, for step-for-step checks) */
    if (src && tr_ckpt_load_state(src, &r->t, from > 0 ? r->aug : NULL))
        return -1;
    st->start = st->it = from > 0 ? info.iteration : 0;
    st->val_acc = info.val_acc;
    r->x = nd_malloc(sizeof(float) * o->batch * 3 * o->crop * o->crop);
    r->labels = nd_malloc(sizeof(int) * o->batch);
    r->perm_epoch = -1;
    return r->x && r->labels ? 0 : -1;
}

/* the images of iteration it */
static int batch_indices(run *r, const tr_data *d, long it, int **idx)
{
    const tr_opts *o = r->o;
    if (!r->perm && !(r->perm = nd_malloc(sizeof(int) * d->n)))
        return -1;
    long per_epoch = d->n / o->batch, epoch = o->full_batch ? 0 : it / per_epoch;
    if (epoch != r->perm_epoch) {
        for (int i = 0; i < d->n; i++)
            r->perm[i] = i;
        if (!o->full_batch) {
            gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
            if (!g)
                return nd_fail("cannot allocate a random generator");
            gsl_rng_set(g, o->seed + (unsigned long)epoch);
            gsl_ran_shuffle(g, r->perm, (size_t)d->n, sizeof(int));
            gsl_rng_free(g);
        }
        r->perm_epoch = epoch;
    }
    *idx = r->perm + (o->full_batch ? 0 : (it % per_epoch) * o->batch);
    return 0;
}

static int snapshot(run *r, const tr_data *val, long it, double loss, double acc,
                    tr_status *st)
{
    char dir[4096];
    snap_dir(dir, sizeof dir, r->o->out, it);
    tr_ckpt_info info = {it, loss, acc, val ? tr_accuracy(&r->net, val, r->o->crop) : NAN};
    if (tr_ckpt_save(dir, &r->net, &r->t, r->aug, &info) || write_log(r->o, it))
        return -1;
    st->val_acc = info.val_acc;
    return 0;
}

static int is_snapshot(const tr_opts *o, long it)
{
    for (int s = 0; s < o->nsnapshots; s++)
        if (o->snapshots[s] == it)
            return 1;
    return it == o->iterations;
}

int tr_train(const tr_opts *o, const tr_table *tab, const tr_data *train, const tr_data *val,
             tr_status *st, nd_progress prog)
{
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    memset(st, 0, sizeof *st);
    st->total = o->iterations;
    if (o->batch < 1 || o->batch > train->n)
        return nd_fail("batch %ld: the training set has %d images", o->batch, train->n);
    if (train->size < o->crop)
        return nd_fail("crop %d is larger than the stored images (%d)", o->crop, train->size);
    int rc = setup(&r, tab, train->classes, st) || nd_mkdirs(o->out);
    double sum_loss = 0, sum_acc = 0;
    long nb = 0;
    for (long it = st->it; !rc && it < o->iterations; it++) {
        int *idx = NULL;
        if (batch_indices(&r, train, it, &idx)) {
            rc = -1;
            break;
        }
        int n = (int)o->batch, hits;
        tr_make_batch(train, idx, n, o->crop, o->augment && !o->full_batch, r.aug, r.x,
                      r.labels);
        tr_forward(&r.t, r.x, n, 1);
        double loss = tr_loss(&r.t, r.labels, n, &hits);
        tr_backward(&r.t, r.x, n);
        tr_sgd(&r.t, lr_at(o, it), o->momentum, o->weight_decay);
        sum_loss += loss, sum_acc += (double)hits / n, nb++;
        st->it = it + 1, st->loss = loss, st->acc = (double)hits / n;
        if (!isfinite(loss))
            rc = nd_fail("%s: iteration %ld: the loss is %g (diverged; lower the lr)", o->out,
                         it + 1, loss);
        nd_report(prog, "train", (size_t)(it + 1), (size_t)o->iterations);
        if (!rc && is_snapshot(o, it + 1)) {
            rc = snapshot(&r, val, it + 1, sum_loss / nb, sum_acc / nb, st);
            sum_loss = sum_acc = 0, nb = 0;
            nd_report(prog, "snapshot", (size_t)(it + 1), (size_t)o->iterations);
        }
        if (!rc && afile_interrupted())
            rc = nd_fail("%s: interrupted", o->out);
    }
    free(r.x), free(r.labels), free(r.perm);
    if (r.aug)
        gsl_rng_free(r.aug);
    tr_free(&r.t);
    net_free(&r.net);
    tr_table_free(&r.tab);
    return rc ? -1 : 0;
}
