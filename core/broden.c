/* broden.c - reading and validating a Broden-format concept dataset:
 * index.csv, label.csv, category.csv, the c_*.csv coverage files, primary
 * categories and the unit-independent ground truth.
 *
 * All label layers of the selected categories are decoded once (core/labelpng)
 * into one uint16 buffer (sh*sw values per layer), or mapped from a prepared
 * label store (core/labelstore), so the dissector's passes never touch a PNG.
 * Every input problem is found here, before any work starts.
 *
 * Primary category of a label: the category whose c_<cat>.csv gives it the
 * largest coverage; a label absent from a category counts as coverage 0,
 * and ties go to the later category of category.csv (so a label with no
 * coverage anywhere belongs to the last category) - as both references do.
 */
#include "core/broden.h"
#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/labelpng.h"
#include "core/labeltuples.h"
#include "core/labelruns.h"
#include "core/labelstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Label numbers are uint16 (R + 256*G): a table of this size says which exist. */
#define NUM_LABEL_VALUES 65536

typedef struct {
    char *name;
    int ih, iw, sh, sw;
    size_t layer0, nlayer; /* into ds->layers */
    size_t il0, nil;       /* into ds->ils */
} image_rec;

struct broden {
    char *dir;
    int ncat;          /* categories in category.csv */
    char **cat;
    int nsel;          /* selected categories */
    int *sel;          /* selected -> category.csv index */
    int L;             /* label slots */
    char **label_name; /* [L], NULL for unknown numbers */
    unsigned char *known; /* [NUM_LABEL_VALUES]: 1 for 0 and every number in label.csv */
    int *primary;      /* [L] selected index or -1 */
    size_t N;
    image_rec *img;
    broden_layer *layers;
    size_t nlayers, caplayers;
    size_t *layer_off; /* offset of each layer's map in the whole dataset's maps */
    size_t maps_end;   /* end of the loaded images' maps (maps_len unless a shard) */
    size_t cap_off;
    uint16_t *maps;    /* allocated, or inside store.map */
    size_t maps_len;
    int64_t *truth[2]; /* [L]: 0 = repeated image-level labels count each time, 1 = once */
    int truth_nt;      /* threads that count the label pixels */
    int64_t *truth_part; /* [truth_nt][L] their pixel counts */
    uint64_t *catbit;  /* [L] bit of the label's selected primary category, 0 for none */
    uint64_t *present; /* [N] */
    nd_lstore store;   /* a prepared label store, mapped or being built */
    nd_ltuples tuples; /* the loaded images' label tuples, numbered once for every tally */
    size_t r0, r1;     /* images whose label maps are loaded (all unless opened as a shard) */
    size_t k0, k1;     /* their layers */
    size_t maps_base;  /* maps[0] is label pixel maps_base of the whole dataset */
    int mapped;        /* the store was mapped: no PNG is decoded */
    const char *store_build; /* path of the store being built (decoding writes into it) */
    uint64_t sig;
    broden_imglabel *ils;
    size_t nils, capils;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nd_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int alloc_truth(broden *ds);
static int count_store_truth(broden *ds);
static int finish_truth(broden *ds);

static int grow(void **p, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elsize);
    if (!q)
        return nd_fail("out of memory (%zu bytes)", nc * elsize);
    *p = q;
    *cap = nc;
    return 0;
}

/* ---------------------------------------------------------------- CSVs */

static int read_categories(broden *ds)
{
    csv_file c;
    if (csv_open_in(&c, ds->dir, "category.csv"))
        return -1;
    const char *p = c.path;
    int col = csv_col(&c, "name"), rc = 0, r;
    size_t cap = 0;
    if (col < 0)
        rc = nd_fail("%s: header has no 'name' column", p);
    while (!rc && (r = csv_next(&c)) > 0) {
        if (col >= c.nf || !*c.f[col]) {
            rc = nd_fail("%s:%d: empty category name", p, c.line);
            break;
        }
        for (int i = 0; i < ds->ncat; i++)
            if (!strcmp(ds->cat[i], c.f[col]))
                rc = nd_fail("%s:%d: category '%s' listed twice", p, c.line, c.f[col]);
        if (rc || grow((void **)&ds->cat, &cap, (size_t)ds->ncat + 1, sizeof *ds->cat) ||
            !(ds->cat[ds->ncat] = dup_str(c.f[col]))) {
            rc = -1;
            break;
        }
        ds->ncat++;
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && ds->ncat == 0)
        rc = nd_fail("%s: no categories listed", p);
    csv_close(&c);
    return rc;
}

static int select_categories(broden *ds, const char *want)
{
    ds->sel = nd_calloc((size_t)ds->ncat, sizeof *ds->sel);
    if (!ds->sel)
        return -1;
    if (!want || !*want) {
        for (int i = 0; i < ds->ncat; i++)
            ds->sel[ds->nsel++] = i;
        return 0;
    }
    char *copy = dup_str(want), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        int k = -1;
        for (int i = 0; i < ds->ncat; i++)
            if (!strcmp(ds->cat[i], t))
                k = i;
        if (k < 0) {
            rc = nd_fail("--categories: '%s' is not a category of %s/category.csv", t, ds->dir);
            break;
        }
        for (int j = 0; j < ds->nsel; j++)
            if (ds->sel[j] == k)
                k = -2;
        if (k >= 0)
            ds->sel[ds->nsel++] = k;
    }
    free(copy);
    /* keep category.csv order: the tie rules depend on it */
    for (int i = 1; i < ds->nsel; i++)
        for (int j = i; j > 0 && ds->sel[j - 1] > ds->sel[j]; j--) {
            int t = ds->sel[j];
            ds->sel[j] = ds->sel[j - 1];
            ds->sel[j - 1] = t;
        }
    if (!rc && ds->nsel == 0)
        rc = nd_fail("--categories: no category selected");
    if (!rc && ds->nsel > BRODEN_MAX_CATEGORIES)
        rc = nd_fail("%s/category.csv: %d categories selected, at most %d are supported", ds->dir, ds->nsel,
                     BRODEN_MAX_CATEGORIES);
    return rc;
}

static int read_labels(broden *ds)
{
    csv_file c;
    if (csv_open_in(&c, ds->dir, "label.csv"))
        return -1;
    const char *p = c.path;
    int cn = csv_col(&c, "number"), cname = csv_col(&c, "name"), rc = 0, r;
    if (cn < 0 || cname < 0)
        rc = nd_fail("%s: header needs 'number' and 'name' columns", p);
    /* first pass: the largest number */
    long maxn = 0;
    size_t save_pos = c.pos;
    int save_line = c.line;
    while (!rc && (r = csv_next(&c)) > 0) {
        long n;
        if (cn >= c.nf || csv_long(c.f[cn], &n) || n < 0 || n > 65535)
            rc = nd_fail("%s:%d: field 'number': expected an integer 0..65535, got '%s'", p,
                         c.line, cn < c.nf ? c.f[cn] : "");
        else if (n > maxn)
            maxn = n;
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc) {
        ds->L = (int)maxn + 1;
        ds->label_name = nd_calloc((size_t)ds->L, sizeof *ds->label_name);
        ds->primary = nd_malloc(sizeof *ds->primary * (size_t)ds->L);
        ds->known = nd_calloc(NUM_LABEL_VALUES, 1);
        if (!ds->label_name || !ds->primary || !ds->known)
            rc = -1;
    }
    c.pos = save_pos;
    c.line = save_line;
    while (!rc && (r = csv_next(&c)) > 0) {
        long n;
        csv_long(c.f[cn], &n);
        if (n == 0)
            continue; /* label 0 is "unlabelled" whatever its row says */
        if (ds->label_name[n]) {
            rc = nd_fail("%s:%d: label number %ld listed twice", p, c.line, n);
            break;
        }
        if (!(ds->label_name[n] = dup_str(cname < c.nf ? c.f[cname] : ""))) {
            rc = -1;
            break;
        }
        ds->known[n] = 1;
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && ds->L <= 1)
        rc = nd_fail("%s: no labels listed", p);
    if (!rc)
        ds->known[0] = 1; /* 0 = unlabelled, always allowed in a map */
    csv_close(&c);
    return rc;
}

static int read_primary(broden *ds)
{
    double *best = nd_malloc(sizeof *best * (size_t)ds->L);
    int *bestcat = nd_malloc(sizeof *bestcat * (size_t)ds->L);
    if (!best || !bestcat) {
        free(best);
        free(bestcat);
        return -1;
    }
    for (int l = 0; l < ds->L; l++)
        best[l] = -1, bestcat[l] = -1;
    int rc = 0;
    for (int ci = 0; ci < ds->ncat && !rc; ci++) {
        double *cov = nd_calloc((size_t)ds->L, sizeof *cov);
        char name[512];
        snprintf(name, sizeof name, "c_%s.csv", ds->cat[ci]);
        char *p = nd_path_join(ds->dir, name);
        csv_file c;
        if (!cov || !p || csv_open(&c, p)) {
            free(cov);
            free(p);
            rc = -1;
            break;
        }
        int cn = csv_col(&c, "number"), cc = csv_col(&c, "coverage"), r;
        if (cn < 0 || cc < 0)
            rc = nd_fail("%s: header needs 'number' and 'coverage' columns", p);
        while (!rc && (r = csv_next(&c)) > 0) {
            long n;
            double v;
            if (cn >= c.nf || csv_long(c.f[cn], &n))
                rc = nd_fail("%s:%d: field 'number': expected an integer, got '%s'", p, c.line,
                             cn < c.nf ? c.f[cn] : "");
            else if (n <= 0 || n >= ds->L || !ds->label_name[n])
                rc = nd_fail("%s:%d: label number %ld is not in label.csv", p, c.line, n);
            else if (cc >= c.nf || csv_double(c.f[cc], &v) || v < 0)
                rc = nd_fail("%s:%d: field 'coverage': expected a number >= 0, got '%s'", p,
                             c.line, cc < c.nf ? c.f[cc] : "");
            else
                cov[n] = v;
        }
        if (!rc && r < 0)
            rc = -1;
        for (int l = 1; l < ds->L && !rc; l++)
            if (cov[l] >= best[l])
                best[l] = cov[l], bestcat[l] = ci;
        csv_close(&c);
        free(p);
        free(cov);
    }
    for (int l = 0; l < ds->L && !rc; l++) {
        ds->primary[l] = -1;
        if (l == 0 || !ds->label_name[l])
            continue;
        for (int s = 0; s < ds->nsel; s++)
            if (ds->sel[s] == bestcat[l])
                ds->primary[l] = s;
    }
    /* a selected category that owns no label can never score: say so */
    for (int s = 0; s < ds->nsel && !rc; s++) {
        int any = 0;
        for (int l = 1; l < ds->L; l++)
            any |= ds->primary[l] == s;
        if (!any)
            rc = nd_fail("%s/c_%s.csv: category '%s' is the primary category of no label", ds->dir,
                         ds->cat[ds->sel[s]], ds->cat[ds->sel[s]]);
    }
    free(best);
    free(bestcat);
    return rc;
}

/* ---------------------------------------------------------------- label store */

static int signature(broden *ds)
{
    return nd_lstore_signature(ds->dir, ds->cat, ds->ncat, ds->sel, ds->nsel, &ds->sig);
}

uint64_t broden_signature(const broden *ds) { return ds->sig; }

static int write_maps(void *ctx, FILE *f)
{
    const broden *ds = ctx;
    return fwrite(ds->maps, sizeof(uint16_t), ds->maps_len, f) == ds->maps_len ? 0 : -1;
}

int broden_store_save(const broden *ds, const char *path)
{
    if (ds->r0 != 0 || ds->r1 != ds->N)
        return nd_fail("%s: a label store needs every image's labels (this dataset was opened as a shard)", path);
    return broden_store_write_raw(path, ds->sig, ds->N, ds->nlayers, ds->maps_len, write_maps, (void *)ds);
}

/* ---------------------------------------------------------------- index */

static int is_integer(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static const broden *sort_ds;
static int cmp_by_name(const void *a, const void *b)
{
    int r = strcmp(sort_ds->img[*(const size_t *)a].name, sort_ds->img[*(const size_t *)b].name);
    return r ? r : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Duplicate image rows would be counted twice; sort names to find them. */
static int check_duplicates(const broden *ds, const char *p)
{
    size_t *ix = nd_malloc(sizeof *ix * ds->N);
    if (!ix)
        return -1;
    for (size_t i = 0; i < ds->N; i++)
        ix[i] = i;
    sort_ds = ds;
    qsort(ix, ds->N, sizeof *ix, cmp_by_name);
    int rc = 0;
    for (size_t i = 1; i < ds->N && !rc; i++)
        if (!strcmp(ds->img[ix[i]].name, ds->img[ix[i - 1]].name))
            rc = nd_fail("%s: image '%s' is listed twice (data rows %zu and %zu)", p,
                         ds->img[ix[i]].name, ix[i - 1] + 1, ix[i] + 1);
    free(ix);
    return rc;
}

/* One label PNG to decode into ds->maps + off. */
typedef struct {
    char *path;
    int line, cat, sh, sw;
    size_t off, img;
} png_job;

/* One thread's share of the decoding: jobs tid, tid + nt, ... in order,
 * stopping at its first failure. */
typedef struct {
    broden *ds;
    const png_job *jobs;
    size_t n;
    int tid, nt;
    size_t first_bad; /* this thread's failing job index, n if none */
    char err[1024];
} decode_job;

/* Each decoded layer's label pixels are counted into the thread's truth
 * while they are still in cache (the decoder has already refused unknown
 * label numbers). */
static void *decode_worker(void *arg)
{
    decode_job *d = arg;
    broden *ds = d->ds;
    int64_t *cnt = ds->truth_part + (size_t)d->tid * (size_t)ds->L;
    for (size_t k = (size_t)d->tid; k < d->n; k += (size_t)d->nt) {
        const png_job *jb = &d->jobs[k];
        char where[700];
        uint16_t *map = ds->maps + (jb->off - ds->maps_base);
        snprintf(where, sizeof where, "index.csv row %d, column '%s'", jb->line, ds->cat[ds->sel[jb->cat]]);
        if (nd_label_png_read(jb->path, where, jb->sh, jb->sw, ds->known, NUM_LABEL_VALUES, map)) {
            d->first_bad = k;
            snprintf(d->err, sizeof d->err, "%s", nd_errmsg());
            break;
        }
        uint64_t pres = 0;
        nd_label_runs(map, (size_t)jb->sh * (size_t)jb->sw, cnt, ds->catbit, NULL, &pres);
        __atomic_fetch_or(&ds->present[jb->img], pres, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Where decoded maps go: plain memory, or - when a store is being built -
 * straight into the memory-mapped temporary store file, so that a large
 * dataset's labels never occupy anonymous memory (the store is renamed into
 * place once complete). */
static int maps_alloc(broden *ds)
{
    if (!ds->store_build) {
        size_t len = ds->maps_end - ds->maps_base;
        ds->maps = nd_malloc_large((len ? len : 1) * sizeof *ds->maps);
        return ds->maps ? 0 : -1;
    }
    if (ds->r0 != 0 || ds->r1 != ds->N)
        return nd_fail("%s: a label store is built from every image's labels, not by a shard (build it "
                       "once with one process)", ds->store_build);
    if (nd_lstore_create(&ds->store, ds->store_build, ds->maps_len))
        return -1;
    ds->maps = ds->store.maps;
    return 0;
}

/* Decode every layer PNG on all cores (PNG decoding is the slowest step of
 * opening a large dataset).  The error reported is the first failure in
 * index order, whatever the timing: each thread stops at its own first
 * failure, and all jobs below the lowest of those succeeded. */
static int decode_all(broden *ds, const png_job *jobs, size_t n)
{
    if (maps_alloc(ds))
        return -1;
    decode_job d[ND_MAX_THREADS];
    int nt = ds->truth_nt;
    for (int t = 0; t < nt; t++)
        d[t] = (decode_job){.ds = ds, .jobs = jobs, .n = n, .tid = t, .nt = nt, .first_bad = n};
    nd_run_jobs(decode_worker, d, sizeof d[0], nt);
    int bad = -1;
    for (int t = 0; t < nt; t++)
        if (d[t].first_bad < n && (bad < 0 || d[t].first_bad < d[bad].first_bad))
            bad = t;
    if (bad >= 0) {
        nd_lstore_abort(&ds->store);
        return nd_fail("%s", d[bad].err);
    }
    return ds->store_build ? nd_lstore_commit(&ds->store, ds->sig, ds->N, ds->nlayers, ds->maps_len) : 0;
}

/* The state of reading index.csv. */
typedef struct {
    broden *ds;
    csv_file c;
    const char *path;  /* of index.csv, for messages */
    int *selcol;       /* [nsel] column of each selected category */
    char *images;      /* the images/ folder */
    png_job *jobs;     /* layer PNGs to decode (none when a store is mapped) */
    size_t njobs, capjobs, capimg;
} index_reader;

static const char *const index_fixed[] = {"image", "split", "ih", "iw", "sh", "sw"};

/* One ';'-separated entry of category column s: an image-level label number
 * or a layer PNG name. */
static int add_entry(index_reader *ix, int s, const char *t, size_t npix)
{
    broden *ds = ix->ds;
    if (is_integer(t)) {
        long v;
        if (csv_long(t, &v) || v <= 0 || v >= ds->L || !ds->label_name[v])
            return nd_fail("%s:%d: column '%s': image-level label %s is not in label.csv", ix->path, ix->c.line,
                           ds->cat[ds->sel[s]], t);
        if (grow((void **)&ds->ils, &ds->capils, ds->nils + 1, sizeof *ds->ils))
            return -1;
        ds->ils[ds->nils].category = s;
        ds->ils[ds->nils].label = (int)v;
        ds->nils++;
        return 0;
    }
    if (grow((void **)&ds->layers, &ds->caplayers, ds->nlayers + 1, sizeof *ds->layers) ||
        grow((void **)&ds->layer_off, &ds->cap_off, ds->nlayers + 1, sizeof *ds->layer_off))
        return -1;
    if (!ds->mapped) {
        if (grow((void **)&ix->jobs, &ix->capjobs, ix->njobs + 1, sizeof *ix->jobs))
            return -1;
        png_job *jb = &ix->jobs[ix->njobs];
        if (!(jb->path = nd_path_join(ix->images, t)))
            return -1;
        ix->njobs++;
        jb->line = ix->c.line, jb->cat = s;
        jb->sh = ds->img[ds->N - 1].sh, jb->sw = ds->img[ds->N - 1].sw;
        jb->off = ds->maps_len, jb->img = ds->N - 1;
    }
    ds->layer_off[ds->nlayers] = ds->maps_len;
    ds->layers[ds->nlayers].category = s;
    ds->layers[ds->nlayers].map = NULL;
    ds->nlayers++;
    ds->maps_len += npix;
    return 0;
}

/* One data row: the image record, then its entries in every selected category. */
static int read_row(index_reader *ix)
{
    broden *ds = ix->ds;
    csv_file *c = &ix->c;
    if (c->nf != c->nh)
        return nd_fail("%s:%d: %d fields, the header has %d", ix->path, c->line, c->nf, c->nh);
    if (grow((void **)&ds->img, &ix->capimg, ds->N + 1, sizeof *ds->img))
        return -1;
    image_rec *im = &ds->img[ds->N];
    memset(im, 0, sizeof *im);
    if (!*c->f[0])
        return nd_fail("%s:%d: field 'image' is empty", ix->path, c->line);
    int *dims[4] = {&im->ih, &im->iw, &im->sh, &im->sw};
    for (int k = 0; k < 4; k++) {
        long v;
        if (csv_long(c->f[2 + k], &v) || v <= 0 || v > 16384)
            return nd_fail("%s:%d: field '%s': expected a positive integer, got '%s'", ix->path, c->line,
                           index_fixed[2 + k], c->f[2 + k]);
        *dims[k] = (int)v;
    }
    if (!(im->name = dup_str(c->f[0])))
        return -1;
    ds->N++;
    size_t npix = (size_t)im->sh * (size_t)im->sw;
    im->layer0 = ds->nlayers;
    im->il0 = ds->nils;
    int rc = 0;
    for (int s = 0; s < ds->nsel && !rc; s++) {
        char *save = NULL;
        for (char *t = strtok_r(c->f[ix->selcol[s]], ";", &save); t && !rc; t = strtok_r(NULL, ";", &save))
            if (*t)
                rc = add_entry(ix, s, t, npix);
    }
    im->nlayer = ds->nlayers - im->layer0;
    im->nil = ds->nils - im->il0;
    return rc;
}

/* The header: the six fixed columns, then a column per selected category. */
static int read_header(index_reader *ix)
{
    broden *ds = ix->ds;
    csv_file *c = &ix->c;
    for (int i = 0; i < 6; i++)
        if (i >= c->nh || strcmp(c->hdr[i], index_fixed[i]))
            return nd_fail("%s: header column %d should be '%s', found '%s'", ix->path, i + 1, index_fixed[i],
                           i < c->nh ? c->hdr[i] : "(missing)");
    if (!(ix->selcol = nd_calloc((size_t)ds->nsel, sizeof *ix->selcol)))
        return -1;
    for (int s = 0; s < ds->nsel; s++) {
        ix->selcol[s] = csv_col(c, ds->cat[ds->sel[s]]);
        if (ix->selcol[s] < 6)
            return nd_fail("%s: no column for category '%s' (from category.csv)", ix->path, ds->cat[ds->sel[s]]);
    }
    return (ix->images = nd_path_join(ds->dir, "images")) ? 0 : -1;
}

/* Label pixel offset of layer k (maps_len past the last). */
static size_t layer_start(const broden *ds, size_t k) { return k < ds->nlayers ? ds->layer_off[k] : ds->maps_len; }

/* The loaded images [r0, r1) (clamped to the index), their layers [k0, k1)
 * and label pixels [maps_base, maps_end): contiguous, since layers are
 * numbered in image order.  Layers outside keep map = NULL. */
static void shard_layers(broden *ds)
{
    if (ds->r1 > ds->N)
        ds->r1 = ds->N;
    if (ds->r0 > ds->r1)
        ds->r0 = ds->r1;
    ds->k0 = ds->r0 < ds->N ? ds->img[ds->r0].layer0 : ds->nlayers;
    ds->k1 = ds->r1 > ds->r0 ? ds->img[ds->r1 - 1].layer0 + ds->img[ds->r1 - 1].nlayer : ds->k0;
    ds->maps_base = layer_start(ds, ds->k0);
    ds->maps_end = layer_start(ds, ds->k1);
}

/* After the rows: whole-index checks, then the label maps (mapped or decoded). */
static int finish_index(index_reader *ix)
{
    broden *ds = ix->ds;
    if (ds->N == 0)
        return nd_fail("%s: no images listed", ix->path);
    if (check_duplicates(ds, ix->path))
        return -1;
    int any = 0;
    for (size_t i = 0; i < ds->N; i++)
        any |= ds->img[i].nlayer + ds->img[i].nil > 0;
    if (!any)
        return nd_fail("%s: no image has labels in the selected categories", ix->path);
    shard_layers(ds);
    if (alloc_truth(ds))
        return -1;
    if (ds->mapped) {
        ds->maps = ds->store.maps; /* the whole store: a shard's pages are the only ones touched */
        ds->maps_base = 0;
        if (nd_lstore_check(&ds->store, ds->dir, ds->N, ds->nlayers, ds->maps_len))
            return -1;
    } else if (decode_all(ds, ix->jobs + ds->k0, ds->k1 - ds->k0))
        return -1;
    for (size_t k = ds->k0; k < ds->k1; k++)
        ds->layers[k].map = ds->maps + (ds->layer_off[k] - ds->maps_base);
    /* a mapped store's pixels are validated in the same pass that counts them */
    if (ds->mapped ? count_store_truth(ds) || finish_truth(ds) : finish_truth(ds))
        return -1;
    return nd_ltuples_build(&ds->tuples, ds, ds->r0, ds->r1, ds->truth_nt);
}

static int read_index(broden *ds)
{
    index_reader ix = {.ds = ds};
    char *p = nd_path_join(ds->dir, "index.csv");
    if (!p)
        return -1;
    ix.path = p;
    if (csv_open(&ix.c, p)) {
        free(p);
        return -1;
    }
    int rc = read_header(&ix), r = 0;
    while (!rc && (r = csv_next(&ix.c)) > 0)
        rc = read_row(&ix);
    if (!rc && r < 0)
        rc = -1;
    if (!rc)
        rc = finish_index(&ix);
    nd_lstore_abort(&ds->store); /* a store not finished (failed before or while decoding) */
    for (size_t k = 0; k < ix.njobs; k++)
        free(ix.jobs[k].path);
    free(ix.jobs);
    free(ix.images);
    free(ix.selcol);
    csv_close(&ix.c);
    free(p);
    return rc;
}

/* ---------------------------------------------------------------- API */

int broden_open(broden **out, const char *dir, const char *categories)
{
    return broden_open_store(out, dir, categories, NULL);
}

int broden_open_store(broden **out, const char *dir, const char *categories, const char *store)
{
    return broden_open_shard(out, dir, categories, store, 0, SIZE_MAX);
}

int broden_open_shard(broden **out, const char *dir, const char *categories, const char *store, size_t i0,
                      size_t i1)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return nd_fail("%s: dataset folder not found: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nd_fail("%s: expected a dataset folder (with index.csv), found a file", dir);
    broden *ds = nd_calloc(1, sizeof *ds);
    if (!ds)
        return -1;
    ds->dir = dup_str(dir);
    ds->r0 = i0, ds->r1 = i1;
    if (!ds->dir || read_categories(ds) || select_categories(ds, categories) || read_labels(ds) ||
        read_primary(ds) || (store && signature(ds))) {
        broden_free(ds);
        return -1;
    }
    ds->mapped = store && nd_lstore_map(&ds->store, store, ds->sig);
    if (store && !ds->mapped)
        ds->store_build = store;
    if (read_index(ds)) {
        broden_free(ds);
        return -1;
    }
    *out = ds;
    return 0;
}

void broden_free(broden *ds)
{
    if (!ds)
        return;
    for (int i = 0; i < ds->ncat; i++)
        free(ds->cat[i]);
    free(ds->cat);
    free(ds->sel);
    if (ds->label_name)
        for (int l = 0; l < ds->L; l++)
            free(ds->label_name[l]);
    free(ds->label_name);
    free(ds->primary);
    for (size_t i = 0; i < ds->N; i++)
        free(ds->img[i].name);
    free(ds->img);
    free(ds->layers);
    free(ds->layer_off);
    nd_ltuples_free(&ds->tuples);
    free(ds->truth[0]), free(ds->truth[1]), free(ds->present), free(ds->truth_part), free(ds->catbit);
    if (ds->store.map)
        nd_lstore_close(&ds->store);
    else
        free(ds->maps);
    free(ds->known);
    free(ds->ils);
    free(ds->dir);
    free(ds);
}

size_t broden_num_images(const broden *ds) { return ds->N; }
size_t broden_num_categories(const broden *ds) { return (size_t)ds->nsel; }
const char *broden_category_name(const broden *ds, size_t c) { return ds->cat[ds->sel[c]]; }
size_t broden_num_labels(const broden *ds) { return (size_t)ds->L; }
const char *broden_dir(const broden *ds) { return ds->dir; }

const char *broden_label_name(const broden *ds, int l)
{
    return l > 0 && l < ds->L && ds->label_name[l] ? ds->label_name[l] : "";
}

int broden_primary(const broden *ds, int l) { return l > 0 && l < ds->L ? ds->primary[l] : -1; }

void broden_image_size(const broden *ds, size_t i, int *ih, int *iw, int *sh, int *sw)
{
    const image_rec *im = &ds->img[i];
    if (ih) *ih = im->ih;
    if (iw) *iw = im->iw;
    if (sh) *sh = im->sh;
    if (sw) *sw = im->sw;
}

int broden_image_has_data(const broden *ds, size_t i) { return ds->img[i].nlayer + ds->img[i].nil > 0; }
const char *broden_image_name(const broden *ds, size_t i) { return ds->img[i].name; }

/* A dataset with no layers (or no image-level labels) has NULL arrays, and
 * NULL + 0 is undefined behaviour: hand out NULL with a count of 0 then. */
void broden_image_layers(const broden *ds, size_t i, const broden_layer **layers, size_t *n)
{
    *n = ds->img[i].nlayer;
    *layers = *n ? ds->layers + ds->img[i].layer0 : NULL;
}

const nd_ltuples_image *broden_image_tuples(const broden *ds, size_t i)
{
    return nd_ltuples_image_of(&ds->tuples, i);
}

void broden_image_labels(const broden *ds, size_t i, const broden_imglabel **labels, size_t *n)
{
    *n = ds->img[i].nil;
    *labels = *n ? ds->ils + ds->img[i].il0 : NULL;
}

int broden_dataset_signature(const char *dir, const char *categories, uint64_t *sig)
{
    broden *ds = nd_calloc(1, sizeof *ds);
    if (!ds)
        return -1;
    ds->dir = dup_str(dir);
    int rc = (!ds->dir || read_categories(ds) || select_categories(ds, categories) || signature(ds)) ? -1 : 0;
    if (!rc)
        *sig = ds->sig;
    broden_free(ds);
    return rc;
}

/* ---------------------------------------------------------------- truth */

/* The truth arrays and the counting threads' scratch, allocated once the
 * index is read; the label pixels are counted while the dataset is opened
 * (decoded PNGs as they are decoded, a mapped store in the pass that
 * validates it), so every later use only reads them. */
static int alloc_truth(broden *ds)
{
    for (int v = 0; v < 2; v++)
        ds->truth[v] = nd_calloc((size_t)ds->L, sizeof(int64_t));
    ds->present = nd_calloc(ds->N ? ds->N : 1, sizeof(uint64_t));
    ds->truth_nt = nd_threads(0);
    ds->truth_part = nd_calloc((size_t)ds->truth_nt * (size_t)ds->L, sizeof(int64_t));
    ds->catbit = nd_calloc((size_t)ds->L, sizeof(uint64_t));
    if (!(ds->truth[0] && ds->truth[1] && ds->present && ds->truth_part && ds->catbit))
        return -1;
    for (int l = 1; l < ds->L; l++)
        ds->catbit[l] = ds->primary[l] >= 0 ? (uint64_t)1 << ds->primary[l] : 0;
    return 0;
}

/* One thread's share of a mapped store's label pixels: images tid, tid +
 * nt, ... counted into its own array (slot 0 gets the unlabelled pixels,
 * dropped later), every label number checked against label.csv (a damaged
 * store must not index past the label tables, nor bring numbers the PNG
 * decoder would have refused). */
typedef struct {
    broden *ds;
    int tid, nt;
    long bad;       /* the first unknown label number met, -1 if none */
    size_t bad_img; /* in this image */
} truth_job;

static void *truth_worker(void *arg)
{
    truth_job *j = arg;
    broden *ds = j->ds;
    int64_t *cnt = ds->truth_part + (size_t)j->tid * (size_t)ds->L;
    for (size_t i = ds->r0 + (size_t)j->tid; i < ds->r1 && j->bad < 0; i += (size_t)j->nt) {
        const image_rec *im = &ds->img[i];
        size_t npix = (size_t)im->sh * (size_t)im->sw;
        uint64_t pres = 0;
        for (size_t k = im->layer0; k < im->layer0 + im->nlayer && j->bad < 0; k++)
            j->bad = nd_label_runs(ds->layers[k].map, npix, cnt, ds->catbit, ds->known, &pres);
        ds->present[i] = pres;
        j->bad_img = i;
    }
    return NULL;
}

static int count_store_truth(broden *ds)
{
    truth_job jobs[ND_MAX_THREADS];
    for (int t = 0; t < ds->truth_nt; t++)
        jobs[t] = (truth_job){ds, t, ds->truth_nt, -1, 0};
    nd_run_jobs(truth_worker, jobs, sizeof *jobs, ds->truth_nt);
    int first = -1; /* the damaged image first in index order, whatever the threads */
    for (int t = 0; t < ds->truth_nt; t++)
        if (jobs[t].bad >= 0 && (first < 0 || jobs[t].bad_img < jobs[first].bad_img))
            first = t;
    return first < 0 ? 0 : nd_lstore_bad_label(ds->dir, (unsigned)jobs[first].bad, ds->L);
}

/* The threads' pixel counts summed, then the image-level labels (a few per image). */
static int finish_truth(broden *ds)
{
    for (int t = 0; t < ds->truth_nt; t++)
        for (int l = 1; l < ds->L; l++)
            ds->truth[0][l] += ds->truth_part[(size_t)t * (size_t)ds->L + (size_t)l];
    memcpy(ds->truth[1], ds->truth[0], (size_t)ds->L * sizeof(int64_t));
    for (size_t i = ds->r0; i < ds->r1; i++) {
        const image_rec *im = &ds->img[i];
        size_t npix = (size_t)im->sh * (size_t)im->sw;
        for (size_t k = im->il0; k < im->il0 + im->nil; k++) {
            int l = ds->ils[k].label, dup = 0;
            for (size_t q = im->il0; q < k; q++)
                dup |= ds->ils[q].label == l;
            ds->truth[0][l] += (int64_t)npix;
            if (!dup)
                ds->truth[1][l] += (int64_t)npix;
            ds->present[i] |= ds->catbit[l];
        }
    }
    return 0;
}

const int64_t *broden_truth(const broden *ds, int once) { return ds->truth[once ? 1 : 0]; }

uint64_t broden_present(const broden *ds, size_t i) { return ds->present[i]; }
