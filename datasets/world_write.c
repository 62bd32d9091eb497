/* world_write.c - a rendered world written as a Broden-format dataset.
 *
 * Images are rendered and written in chunks: job t of nt renders images
 * i0 + t, i0 + t + nt, ... of the chunk and writes their PNGs; the calling
 * thread then adds the chunk's full-resolution label counts to the totals
 * in image order (so coverage sums are the same for every thread count)
 * and appends the index.csv rows.  Everything is built in OUT.tmp.<pid>
 * (plain files, one afile_sync_dir) and renamed to OUT at the end; on any
 * error nothing is left.
 */
#include "datasets/world.h"
#include "datasets/world_internal.h"

#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "models/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_PER_THREAD 32

world_write_opts world_write_defaults(void)
{
    world_write_opts o = {.world = world_defaults(), .images = 1000, .val_every = 5, .samples = 8};
    return o;
}

void world_shrink(const world_canvas *cv, int c, uint16_t *dst)
{
    img_resize_labels(dst, cv->size / 2, cv->size / 2, cv->map[c], cv->size, cv->size);
}

/* ---------- the render-and-write jobs ---------- */

typedef struct {
    const world_write_opts *o;
    const cn_table *colors;
    const char *imgdir;
    size_t i0, i1;      /* the chunk */
    int t, nt;
    world_canvas *cv;
    uint16_t *small;    /* (S/2)^2 */
    unsigned char *lrgb;
    uint32_t *count;    /* per chunk image: L + 1 full-resolution pixel counts */
    uint8_t *filled;    /* per chunk image: bit c = category c has a label file */
    int write;          /* 0: render and count only (benchmarks) */
    double seconds;     /* rendering time */
    int rc;
    char err[512];
} wjob;

static void image_name(char *buf, size_t cap, size_t i, const char *cat)
{
    if (cat)
        snprintf(buf, cap, "w%06zu_%s.png", i, cat);
    else
        snprintf(buf, cap, "w%06zu.png", i);
}

/* A PNG inside the temporary folder: a plain file, no per-file fsync - the
 * folder is synced once and renamed whole (world_write), so it is still
 * complete or absent.  zlib level 1: several times faster than the
 * default on noisy images, and the same bytes every run. */
static int save_png(const wjob *j, size_t i, const char *cat, const unsigned char *rgb, int w)
{
    char name[64];
    image_name(name, sizeof name, i, cat);
    char *p = nd_path_join(j->imgdir, name);
    if (!p)
        return -1;
    FILE *f = fopen(p, "wb");
    int rc = f ? img_write_png_rgb(f, p, rgb, w, w, 1) : nd_fail("%s: cannot create: %s", p, strerror(errno));
    if (f && (fclose(f) != 0) && !rc)
        rc = nd_fail("%s: write failed: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* Shrink category c's map; write it unless it is all 0.  Returns 1 when
 * written, 0 when empty, -1 on error. */
static int write_map(wjob *j, size_t i, int c)
{
    int ls = j->cv->size / 2, any = 0;
    world_shrink(j->cv, c, j->small);
    for (int p = 0; p < ls * ls; p++) {
        int n = j->small[p];
        any |= n;
        j->lrgb[3 * p] = (unsigned char)(n & 255);
        j->lrgb[3 * p + 1] = (unsigned char)(n >> 8);
        j->lrgb[3 * p + 2] = 0;
    }
    if (!any)
        return 0;
    return save_png(j, i, world_category_names[c], j->lrgb, ls) ? -1 : 1;
}

static int one_image(wjob *j, size_t i)
{
    int L = world_num_labels(), S = j->o->world.size;
    double t0 = nd_now();
    world_render(&j->o->world, j->colors, i, j->cv);
    j->seconds += nd_now() - t0;
    uint32_t *cnt = j->count + (i - j->i0) * (size_t)(L + 1);
    memset(cnt, 0, (size_t)(L + 1) * sizeof *cnt);
    for (int c = 0; c < WORLD_SCENE; c++)
        for (size_t p = 0; p < (size_t)S * S; p++)
            cnt[j->cv->map[c][p]]++;
    cnt[0] = 0;
    cnt[j->cv->scene] = (uint32_t)S * (uint32_t)S;
    uint8_t *fl = j->filled + (i - j->i0);
    *fl = 0;
    if (!j->write)
        return 0;
    if (save_png(j, i, NULL, j->cv->rgb, S))
        return -1;
    for (int c = 0; c < WORLD_SCENE; c++) {
        int w = write_map(j, i, c);
        if (w < 0)
            return -1;
        *fl |= (uint8_t)(w << c);
    }
    return 0;
}

static void *job_main(void *arg)
{
    wjob *j = arg;
    j->rc = 0;
    for (size_t i = j->i0 + (size_t)j->t; i < j->i1 && !j->rc; i += (size_t)j->nt)
        j->rc = one_image(j, i);
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", nd_errmsg()); /* errors are thread-local */
    return NULL;
}

/* ---------- totals and the CSV files ---------- */

typedef struct {
    size_t *freq;   /* [L + 1] images with the label */
    double *cov;    /* [L + 1] sum of per-image fractions */
    size_t catfreq[WORLD_NCAT];
} totals;

static void add_chunk(totals *tt, const wjob *j0, size_t i0, size_t i1, int S)
{
    int L = world_num_labels();
    double npix = (double)S * S;
    for (size_t i = i0; i < i1; i++) {
        const uint32_t *cnt = j0->count + (i - i0) * (size_t)(L + 1);
        for (int l = 1; l <= L; l++)
            if (cnt[l]) {
                tt->freq[l]++;
                tt->cov[l] += cnt[l] / npix;
            }
        for (int c = 0; c < WORLD_SCENE; c++)
            tt->catfreq[c] += (j0->filled[i - i0] >> c) & 1;
        tt->catfreq[WORLD_SCENE]++;
    }
}

static void index_rows(FILE *f, const wjob *j0, size_t i0, size_t i1, const world_write_opts *o)
{
    int S = o->world.size, L = world_num_labels();
    for (size_t i = i0; i < i1; i++) {
        int val = o->val_every > 0 && i % (size_t)o->val_every == (size_t)o->val_every - 1;
        fprintf(f, "w%06zu.png,%s,%d,%d,%d,%d", i, val ? "val" : "train", S, S, S / 2, S / 2);
        for (int c = 0; c < WORLD_SCENE; c++) {
            char name[64] = "";
            if ((j0->filled[i - i0] >> c) & 1)
                image_name(name, sizeof name, i, world_category_names[c]);
            fprintf(f, ",%s", name);
        }
        /* the scene: the one label of that category with a count */
        const uint32_t *cnt = j0->count + (i - i0) * (size_t)(L + 1);
        int first = world_label(WORLD_SCENE, 0), scene = 0;
        for (int k = 0; k < world_num_concepts(WORLD_SCENE); k++)
            if (cnt[first + k])
                scene = first + k;
        fprintf(f, ",%d\n", scene);
    }
}

int world_open_in(afile *a, const char *dir, const char *name)
{
    char *p = nd_path_join(dir, name);
    int rc = p ? afile_open(a, p) : -1;
    free(p);
    return rc;
}

static int write_label_csvs(const char *dir, const totals *tt)
{
    afile a;
    int L = world_num_labels();
    if (world_open_in(&a, dir, "label.csv"))
        return -1;
    fprintf(a.f, "number,name,category,frequency,coverage,syns\n");
    for (int l = 1; l <= L; l++) {
        int c, k;
        world_label_concept(l, &c, &k);
        fprintf(a.f, "%d,%s,%s(%zu),%zu,%.6f,\n", l, world_concept_name(c, k), world_category_names[c],
                tt->freq[l], tt->freq[l], tt->cov[l]);
    }
    if (afile_commit(&a) || world_open_in(&a, dir, "category.csv"))
        return -1;
    fprintf(a.f, "name,first,last,count,frequency\n");
    for (int c = 0; c < WORLD_NCAT; c++) {
        int n = world_num_concepts(c), first = world_label(c, 0);
        fprintf(a.f, "%s,%d,%d,%d,%zu\n", world_category_names[c], first, first + n - 1, n,
                tt->catfreq[c]);
    }
    if (afile_commit(&a))
        return -1;
    for (int c = 0; c < WORLD_NCAT; c++) {
        char name[64];
        snprintf(name, sizeof name, "c_%s.csv", world_category_names[c]);
        if (world_open_in(&a, dir, name))
            return -1;
        fprintf(a.f, "code,number,name,frequency,coverage\n");
        for (int k = 0; k < world_num_concepts(c); k++) {
            int l = world_label(c, k);
            fprintf(a.f, "%d,%d,%s,%zu,%.6f\n", k + 1, l, world_concept_name(c, k), tt->freq[l],
                    tt->cov[l]);
        }
        if (afile_commit(&a))
            return -1;
    }
    return 0;
}

/* ---------- the driver ---------- */

typedef struct {
    wjob jobs[ND_MAX_THREADS];
    int nt;
    size_t chunk;
} pool;

static void pool_free(pool *p)
{
    for (int t = 0; t < p->nt; t++) {
        world_canvas_free(p->jobs[t].cv);
        free(p->jobs[t].small);
        free(p->jobs[t].lrgb);
    }
    free(p->jobs[0].count);
    free(p->jobs[0].filled);
}

static int pool_init(pool *p, const world_write_opts *o, const cn_table *colors, const char *imgdir,
                     int write)
{
    memset(p, 0, sizeof *p);
    p->nt = nd_threads(o->threads);
    p->chunk = (size_t)p->nt * CHUNK_PER_THREAD;
    int S = o->world.size, ls = S / 2;
    uint32_t *count = nd_malloc(p->chunk * (size_t)(world_num_labels() + 1) * sizeof *count);
    uint8_t *filled = nd_malloc(p->chunk);
    int ok = count && filled;
    for (int t = 0; t < p->nt; t++) {
        wjob *j = &p->jobs[t];
        j->o = o, j->colors = colors, j->imgdir = imgdir, j->t = t, j->nt = p->nt, j->write = write;
        j->count = count, j->filled = filled; /* shared: jobs touch disjoint images */
        j->cv = world_canvas_new(S);
        j->small = nd_malloc((size_t)ls * ls * sizeof *j->small);
        j->lrgb = nd_malloc((size_t)ls * ls * 3);
        ok = ok && j->cv && j->small && j->lrgb;
    }
    if (!ok) {
        pool_free(p); /* frees the shared count and filled through job 0 */
        return -1;
    }
    return 0;
}

/* Render images [0, n) through the pool; with f, append index rows. */
static int run_chunks(pool *p, const world_write_opts *o, totals *tt, FILE *f, double *render_s)
{
    for (size_t i0 = 0; i0 < o->images; i0 += p->chunk) {
        size_t i1 = i0 + p->chunk < o->images ? i0 + p->chunk : o->images;
        for (int t = 0; t < p->nt; t++)
            p->jobs[t].i0 = i0, p->jobs[t].i1 = i1;
        nd_run_jobs(job_main, p->jobs, sizeof p->jobs[0], p->nt);
        for (int t = 0; t < p->nt; t++) {
            *render_s += p->jobs[t].seconds;
            p->jobs[t].seconds = 0;
            if (p->jobs[t].rc)
                return nd_fail("%s", p->jobs[t].err);
        }
        add_chunk(tt, &p->jobs[0], i0, i1, o->world.size);
        if (f)
            index_rows(f, &p->jobs[0], i0, i1, o);
        nd_report(o->progress, "world", i1, o->images);
    }
    return 0;
}

static int write_all(const world_write_opts *o, const cn_table *colors, const char *tmp,
                     totals *tt, world_stats *st)
{
    char *imgdir = nd_path_join(tmp, "images");
    pool p;
    int rc = -1;
    afile a = {0};
    if (!imgdir || nd_mkdirs(imgdir) || pool_init(&p, o, colors, imgdir, 1)) {
        free(imgdir);
        return -1;
    }
    if (!world_open_in(&a, tmp, "index.csv")) {
        fprintf(a.f, "image,split,ih,iw,sh,sw");
        for (int c = 0; c < WORLD_NCAT; c++)
            fprintf(a.f, ",%s", world_category_names[c]);
        fputc('\n', a.f);
        if (run_chunks(&p, o, tt, a.f, &st->render_seconds))
            afile_abort(&a);
        else
            rc = afile_commit(&a);
    }
    pool_free(&p);
    free(imgdir);
    if (!rc)
        rc = write_label_csvs(tmp, tt) || world_write_extras(o, colors, tmp, tt->freq, tt->cov) ? -1 : 0;
    return rc;
}

int world_write(const world_write_opts *o, world_stats *st)
{
    memset(st, 0, sizeof *st);
    double t0 = nd_now();
    if (world_check_opts(&o->world))
        return -1;
    if (!o->out_dir || !o->colors || o->images == 0)
        return nd_fail("world: an output folder, a colour table and at least one image are needed");
    if (o->images > 999999)
        return nd_fail("%s: %zu images, at most 999999 (image names have six digits)", o->out_dir, o->images);
    if (access(o->out_dir, F_OK) == 0)
        return nd_fail("%s: already exists (the world is written to a new folder)", o->out_dir);
    cn_table *colors = nd_malloc(sizeof *colors);
    if (!colors || cn_load(colors, o->colors)) {
        free(colors);
        return -1;
    }
    int L = world_num_labels();
    totals tt = {nd_calloc((size_t)L + 1, sizeof(size_t)), nd_calloc((size_t)L + 1, sizeof(double)), {0}};
    size_t tl = strlen(o->out_dir) + 32;
    char *tmp = nd_malloc(tl);
    int rc = -1, made = 0;
    if (!tt.freq || !tt.cov || !tmp)
        goto done;
    snprintf(tmp, tl, "%s.tmp.%ld", o->out_dir, (long)getpid());
    if (nd_mkdirs(tmp))
        goto done;
    made = 1;
    afile_register_dir(tmp); /* removed by the SIGINT/SIGTERM handler */
    if (write_all(o, colors, tmp, &tt, st) || afile_sync_dir(tmp))
        goto done;
    if (rename(tmp, o->out_dir) != 0) {
        nd_fail("%s: cannot rename %s to it: %s", o->out_dir, tmp, strerror(errno));
        goto done;
    }
    made = 0;
    st->images = o->images;
    for (int l = 1; l <= L; l++)
        st->labels_present += tt.freq[l] > 0;
    rc = 0;
done:
    if (made)
        afile_remove_dir(tmp);
    if (tmp)
        afile_unregister_dir(tmp);
    free(tmp);
    free(tt.freq);
    free(tt.cov);
    free(colors);
    st->seconds = nd_now() - t0;
    return rc;
}
