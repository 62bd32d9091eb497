/* import.c - several photograph sources -> one Broden dataset (see import.h).
 *
 * Everything that can be checked without decoding (options, classes.csv,
 * the colour table, folder listings, texture folders, unique names) is
 * checked before anything is written.  Pass 1 decodes each photograph once
 * (threads, in rounds so the calling thread can report progress and write
 * the JPEGs in order): its object label map is checked against it and
 * counted at full resolution, its pixels are named at full resolution, and
 * both maps are shrunk to label resolution and kept (1,791 images at
 * 113x113 are 46 MB for two categories).  The full-resolution counts then
 * decide which labels the filter keeps and their numbers; pass 2 writes the
 * renumbered label maps and the CSV files.  All of it goes into
 * OUT.tmp.<host>.<pid>, renamed to OUT at the end and removed on failure, so OUT is
 * complete or absent.
 */
#include "datasets/import.h"

#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "core/jobs.h"
#include "datasets/colornames.h"
#include "datasets/folder.h"
#include "datasets/textures.h"
#include "models/image.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

imp_opts imp_defaults(void)
{
    imp_opts o;
    memset(&o, 0, sizeof o);
    o.size = 227;
    o.category = "object";
    o.filter = lf_defaults();
    o.quality = 95;
    return o;
}

/* ---------- classes.csv ---------- */

typedef struct {
    int id;
    char *name;
} cls;

static int cls_cmp(const void *a, const void *b)
{
    const cls *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static void free_classes(cls *c, int n)
{
    for (int i = 0; i < n; i++)
        free(c[i].name);
    free(c);
}

/* classes.csv: header "id,name", then rows; sorted by id. */
static int read_classes(const char *path, cls **out, int *n_out)
{
    csv_file f;
    if (csv_open(&f, path))
        return -1;
    cls *c = NULL;
    int n = 0, ncap = 0, rc = -1, r;
    long id = 0;
    if (f.nh != 2 || strcmp(f.hdr[0], "id") != 0 || strcmp(f.hdr[1], "name") != 0) {
        nd_fail("%s: header is not 'id,name'", path);
        goto done;
    }
    while ((r = csv_next(&f)) > 0) {
        if (f.nf != 2 || csv_long(f.f[0], &id) || id < 1 || id > 65535 || !*f.f[1] ||
            strpbrk(f.f[1], ",\";")) {
            nd_fail("%s: line %d: expected 'id,name' with id in 1..65535 and a name without "
                    "commas, semicolons or quotes", path, f.line);
            goto done;
        }
        for (int i = 0; i < n; i++)
            if (c[i].id == id) {
                nd_fail("%s: line %d: class id %ld repeated", path, f.line, id);
                goto done;
            }
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 64;
            cls *nc = realloc(c, sizeof *c * ncap);
            if (!nc) {
                nd_fail("%s: out of memory", path);
                goto done;
            }
            c = nc;
        }
        c[n].id = (int)id;
        if (!(c[n].name = strdup(f.f[1]))) {
            nd_fail("%s: out of memory", path);
            goto done;
        }
        n++;
    }
    if (r < 0)
        goto done;
    if (n == 0) {
        nd_fail("%s: no classes", path);
        goto done;
    }
    qsort(c, n, sizeof *c, cls_cmp);
    rc = 0;
done:
    csv_close(&f);
    if (rc) {
        free_classes(c, n);
        return -1;
    }
    *out = c;
    *n_out = n;
    return 0;
}

/* ---------- the images to import ---------- */

enum { SRC_OBJECT, SRC_TEXTURE };

typedef struct {
    char *photo;  /* input photograph */
    char *labels; /* its object label map, or NULL */
    char *rel;    /* file relative to its source folder (sources.csv) */
    char *stem;   /* output name */
    int source;
    int tex;      /* texture class (index into the union), or -1 */
} item;

typedef struct {
    uint16_t *omap, *cmap; /* ls*ls: object class index + 1, colour name + 1; 0 none */
    uint64_t *opix;        /* [ncls] full-resolution pixels per class */
    uint64_t cpix[CN_NAMES];
    uint64_t npix;         /* full-resolution pixels */
} item_data;

typedef struct {
    const char *name; /* points into classes / cn_names / tex */
    char buf[32];     /* "<colour>-c" */
    int cat;          /* category index (0.. ncat) */
    lf_count cnt;
} label_rec;

typedef struct {
    const imp_opts *o;
    size_t n, cap;
    item *it;
    item_data *d;
    cls *classes;
    int ncls;
    char **tex; /* sorted union of texture class names */
    int ntex;
    cn_table *colors;
    int *onum, cnum[CN_NAMES], *tnum; /* label numbers, 0 = dropped */
    int ncat, cat_obj, cat_col, cat_tex;  /* category indices, -1 if absent */
    const char *cat_name[3];
    label_rec *lab; /* [L + 1] */
    int L;
    char *tmp, *imgdir;
} imp_ctx;

static void ctx_free(imp_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->it[i].photo), free(c->it[i].labels), free(c->it[i].rel), free(c->it[i].stem);
        if (c->d)
            free(c->d[i].omap), free(c->d[i].cmap), free(c->d[i].opix);
    }
    free(c->it);
    free(c->d);
    free_classes(c->classes, c->ncls);
    folder_free(c->tex, (size_t)c->ntex);
    free(c->colors);
    free(c->onum), free(c->tnum), free(c->lab);
    free(c->tmp), free(c->imgdir);
}

static char *stem_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    return strndup(name, dot ? (size_t)(dot - name) : strlen(name));
}

static int add_item(imp_ctx *c, const char *root, const char *rel, const char *file, int source,
                    int tex)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 1024;
        item *ni = realloc(c->it, nc * sizeof *ni);
        if (!ni)
            return nd_fail("%s: out of memory", root);
        c->it = ni;
        c->cap = nc;
    }
    item *it = &c->it[c->n];
    memset(it, 0, sizeof *it);
    it->source = source;
    it->tex = tex;
    c->n++;
    if (!(it->photo = nd_path_join(root, rel)) || !(it->rel = strdup(rel)) ||
        !(it->stem = stem_of(file)))
        return nd_fail("%s: out of memory", root);
    if (strpbrk(it->stem, ",;\"/") || !*it->stem)
        return nd_fail("%s: photograph name has a comma, semicolon or quote (it becomes a CSV cell)",
                       it->photo);
    return 0;
}

static int gather_objects(imp_ctx *c)
{
    const imp_opts *o = c->o;
    char **names;
    size_t n;
    if (folder_list(o->images_dir, &names, &n))
        return -1;
    int rc = 0;
    size_t got = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!folder_is_image_name(names[i]))
            continue; /* an object folder may hold other files (a README) */
        got++;
        rc = add_item(c, o->images_dir, names[i], names[i], SRC_OBJECT, -1);
        if (!rc) {
            char *stem = c->it[c->n - 1].stem, *lp = malloc(strlen(stem) + 5);
            if (lp)
                snprintf(lp, strlen(stem) + 5, "%s.png", stem);
            c->it[c->n - 1].labels = lp ? nd_path_join(o->labels_dir, lp) : NULL;
            free(lp);
            if (!c->it[c->n - 1].labels)
                rc = nd_fail("%s: out of memory", o->labels_dir);
        }
    }
    folder_free(names, n);
    if (!rc && got == 0)
        rc = nd_fail("%s: no .jpg, .jpeg or .png images", o->images_dir);
    return rc;
}

static int tex_union_index(const imp_ctx *c, const char *name)
{
    for (int k = 0; k < c->ntex; k++)
        if (!strcmp(c->tex[k], name))
            return k;
    return -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int gather_textures(imp_ctx *c)
{
    const imp_opts *o = c->o;
    tex_set s[IMP_MAX_TEXTURE_SETS];
    int ns = 0, rc = 0;
    for (; ns < o->ntextures && !rc; ns++)
        if (tex_scan(&s[ns], o->textures[ns]))
            break;
    if (ns < o->ntextures)
        rc = -1;
    /* the sorted union of class names */
    for (int t = 0; t < ns && !rc; t++)
        for (size_t k = 0; k < s[t].nclass && !rc; k++)
            if (tex_union_index(c, s[t].classes[k]) < 0) {
                char **nt = realloc(c->tex, sizeof *nt * (size_t)(c->ntex + 1));
                if (nt)
                    c->tex = nt;
                if (!nt || !(nt[c->ntex] = strdup(s[t].classes[k])))
                    rc = nd_fail("%s: out of memory", o->textures[t]);
                else
                    c->ntex++;
            }
    if (!rc && c->ntex)
        qsort(c->tex, (size_t)c->ntex, sizeof *c->tex, name_cmp);
    for (int t = 0; t < ns && !rc; t++)
        for (size_t i = 0; i < s[t].n && !rc; i++)
            rc = add_item(c, o->textures[t], s[t].rel[i], s[t].file[i], SRC_TEXTURE,
                          tex_union_index(c, s[t].classes[s[t].cls[i]]));
    for (int t = 0; t < ns; t++)
        tex_free(&s[t]);
    return rc;
}

/* Output names must be unique over all sources. */
static int check_unique(const imp_ctx *c)
{
    char **stems = nd_malloc(c->n * sizeof *stems);
    if (!stems)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        stems[i] = c->it[i].stem;
    qsort(stems, c->n, sizeof *stems, name_cmp);
    int rc = 0;
    for (size_t i = 1; i < c->n && !rc; i++)
        if (!strcmp(stems[i], stems[i - 1])) {
            const char *first = NULL, *second = NULL;
            for (size_t j = 0; j < c->n && !second; j++)
                if (!strcmp(c->it[j].stem, stems[i])) {
                    if (first)
                        second = c->it[j].photo;
                    else
                        first = c->it[j].photo;
                }
            rc = nd_fail("%s: two photographs would both be named '%s' in the dataset (the other is %s)",
                         second, stems[i], first);
        }
    free(stems);
    return rc;
}

/* ---------- pass 1: decode, check, count at full resolution, shrink ---------- */

static int class_index(const imp_ctx *c, int id)
{
    int lo = 0, hi = c->ncls - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        if (c->classes[m].id == id)
            return m;
        if (c->classes[m].id < id)
            lo = m + 1;
        else
            hi = m - 1;
    }
    return -1;
}

/* The object label map of an item: same size as its photograph, known
 * classes; counted at full resolution, shrunk (class index + 1). */
static int load_object_map(const imp_ctx *c, const item *it, item_data *d, int w, int h, int ls)
{
    uint16_t *src;
    int lw, lh;
    if (img_load_labels(&src, &lw, &lh, it->labels))
        return -1;
    int rc = 0;
    if (lw != w || lh != h)
        rc = nd_fail("%s: label map is %dx%d but its image %s is %dx%d", it->labels, lw, lh,
                     it->photo, w, h);
    if (!rc && (!(d->opix = nd_calloc((size_t)c->ncls, sizeof *d->opix)) ||
                !(d->omap = nd_malloc(sizeof(uint16_t) * ls * ls))))
        rc = -1;
    for (size_t p = 0; !rc && p < (size_t)w * h; p++) {
        if (!src[p])
            continue;
        int k = class_index(c, src[p]);
        if (k < 0) {
            rc = nd_fail("%s: pixel (%zu, %zu) has class %d, not in %s", it->labels, p % w, p / w,
                         src[p], c->o->classes_csv);
            break;
        }
        d->opix[k]++;
        src[p] = (uint16_t)(k + 1);
    }
    if (!rc)
        img_resize_labels(d->omap, ls, ls, src, w, h);
    free(src);
    return rc;
}

/* Decode photograph i, fill its item_data and its squashed image sq. */
static int decode_one(const imp_ctx *c, size_t i, unsigned char *sq)
{
    const item *it = &c->it[i];
    item_data *d = &c->d[i];
    int S = c->o->size, ls = S / 2;
    img_u8 im;
    if (img_load_rgb(&im, it->photo))
        return -1;
    d->npix = (uint64_t)im.w * im.h;
    int rc = 0;
    if (it->labels)
        rc = load_object_map(c, it, d, im.w, im.h, ls);
    if (!rc && c->colors)
        rc = (d->cmap = nd_malloc(sizeof(uint16_t) * ls * ls))
                 ? cn_label_map(c->colors, im.px, im.w, im.h, d->cmap, ls, ls, d->cpix)
                 : -1;
    if (!rc && img_resize_u8(sq, S, S, im.px, im.w, im.h, 3))
        rc = nd_fail("%s: out of memory", it->photo);
    img_free(&im);
    return rc;
}

typedef struct {
    const imp_ctx *c;
    size_t r0, r1;
    int t, T;
    unsigned char *sq; /* the round's squashed images */
    size_t fail;       /* first failing image, or SIZE_MAX */
    char err[1024];
} p1_job;

static void *p1_worker(void *arg)
{
    p1_job *j = arg;
    size_t per = (size_t)j->c->o->size * j->c->o->size * 3;
    for (size_t i = j->r0 + (size_t)j->t; i < j->r1; i += (size_t)j->T)
        if (decode_one(j->c, i, j->sq + (i - j->r0) * per)) {
            j->fail = i;
            /* the error message is thread-local: hand it to the caller */
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            break;
        }
    return NULL;
}

/* Rounds of images decoded on threads; the JPEGs are written here, in order. */
static int pass1(imp_ctx *c)
{
    const imp_opts *o = c->o;
    size_t per = (size_t)o->size * o->size * 3, round = 64;
    int T = nd_threads(o->threads);
    unsigned char *sq = nd_malloc(round * per);
    if (!sq)
        return -1;
    int rc = 0;
    for (size_t r0 = 0; r0 < c->n && !rc; r0 += round) {
        size_t r1 = r0 + round < c->n ? r0 + round : c->n;
        p1_job j[ND_MAX_THREADS];
        for (int t = 0; t < T; t++)
            j[t] = (p1_job){c, r0, r1, t, T, sq, SIZE_MAX, ""};
        nd_run_jobs(p1_worker, j, sizeof j[0], T);
        int bad = -1;
        for (int t = 0; t < T; t++)
            if (j[t].fail != SIZE_MAX && (bad < 0 || j[t].fail < j[bad].fail))
                bad = t;
        if (bad >= 0) {
            rc = nd_fail("%s", j[bad].err);
            break;
        }
        for (size_t i = r0; i < r1 && !rc; i++) {
            char name[512];
            snprintf(name, sizeof name, "%s.jpg", c->it[i].stem);
            char *op = nd_path_join(c->imgdir, name);
            rc = op ? img_save_jpeg(op, sq + (i - r0) * per, o->size, o->size, o->quality) : -1;
            free(op);
        }
        nd_report(o->progress, "import", r1, c->n);
    }
    free(sq);
    return rc;
}

/* ---------- numbering: the filter at full resolution ---------- */

static int keep_label(imp_ctx *c, const char *name, int cat, const lf_count *cnt)
{
    if (!lf_keep(cnt, &c->o->filter))
        return 0;
    label_rec *r = &c->lab[++c->L];
    r->cat = cat;
    r->cnt = *cnt;
    r->name = name;
    return c->L;
}

static int number_labels(imp_ctx *c)
{
    size_t maxl = (size_t)c->ncls + CN_NAMES + (size_t)c->ntex + 1;
    if (!(c->lab = nd_calloc(maxl, sizeof *c->lab)) ||
        !(c->onum = nd_calloc((size_t)c->ncls + 1, sizeof *c->onum)) ||
        !(c->tnum = nd_calloc((size_t)c->ntex + 1, sizeof *c->tnum)))
        return -1;
    /* per label, images in index order: the coverage sums are reproducible */
    for (int k = 0; k < c->ncls; k++) {
        lf_count n = {0};
        for (size_t i = 0; i < c->n; i++)
            if (c->d[i].opix)
                lf_add(&n, c->d[i].opix[k], c->d[i].npix);
        c->onum[k] = keep_label(c, c->classes[k].name, c->cat_obj, &n);
    }
    for (int k = 0; c->colors && k < CN_NAMES; k++) {
        lf_count n = {0};
        for (size_t i = 0; i < c->n; i++)
            lf_add(&n, c->d[i].cpix[k], c->d[i].npix);
        if ((c->cnum[k] = keep_label(c, NULL, c->cat_col, &n))) {
            label_rec *r = &c->lab[c->L];
            snprintf(r->buf, sizeof r->buf, "%s-c", cn_names[k]); /* Broden's colour names */
            r->name = r->buf;
        }
    }
    for (int k = 0; k < c->ntex; k++) {
        lf_count n = {0};
        for (size_t i = 0; i < c->n; i++)
            if (c->it[i].tex == k)
                lf_add(&n, 1, 1); /* an image-level label covers its image */
        c->tnum[k] = keep_label(c, c->tex[k], c->cat_tex, &n);
    }
    if (c->L > 65535)
        return nd_fail("%s: %d labels, more than R + 256*G can encode", c->o->out_dir, c->L);
    for (int a = 1; a <= c->L; a++)
        for (int b = a + 1; b <= c->L; b++)
            if (!strcmp(c->lab[a].name, c->lab[b].name))
                return nd_fail("%s: label name '%s' is in both %s and %s; rename one", c->o->out_dir,
                               c->lab[a].name, c->cat_name[c->lab[a].cat], c->cat_name[c->lab[b].cat]);
    return 0;
}

/* ---------- pass 2: label maps and CSV files ---------- */

/* Renumber a shrunk map (v = index + 1 -> num[index]) and write it when a
 * pixel is kept; *cell is its file name, or "" (malloc'd either way). */
static int write_map(const imp_ctx *c, const char *stem, const char *cat, const uint16_t *map,
                     const int *num, unsigned char *rgb, char **cell)
{
    int ls = c->o->size / 2, any = 0;
    for (int p = 0; p < ls * ls; p++) {
        int n = map[p] ? num[map[p] - 1] : 0;
        any |= n;
        rgb[3 * p] = (unsigned char)(n & 255);
        rgb[3 * p + 1] = (unsigned char)(n >> 8);
        rgb[3 * p + 2] = 0;
    }
    size_t len = strlen(stem) + strlen(cat) + 6;
    if (!(*cell = nd_malloc(len)))
        return -1;
    if (!any) {
        **cell = 0;
        return 0;
    }
    snprintf(*cell, len, "%s_%s.png", stem, cat);
    char *lp = nd_path_join(c->imgdir, *cell);
    int rc = lp ? img_save_png_rgb(lp, rgb, ls, ls) : -1;
    free(lp);
    return rc;
}

static int open_out(const imp_ctx *c, const char *name, afile *a)
{
    char *p = nd_path_join(c->tmp, name);
    int rc = p ? afile_open(a, p) : -1;
    free(p);
    return rc;
}

/* cells[i * 3 + cat]: index.csv cells; freq[cat]: images with a non-empty cell */
static int write_index(const imp_ctx *c, char **cells)
{
    afile a;
    if (open_out(c, "index.csv", &a))
        return -1;
    int S = c->o->size, ls = S / 2;
    fprintf(a.f, "image,split,ih,iw,sh,sw");
    for (int k = 0; k < c->ncat; k++)
        fprintf(a.f, ",%s", c->cat_name[k]);
    fputc('\n', a.f);
    for (size_t i = 0; i < c->n; i++) {
        fprintf(a.f, "%s.jpg,train,%d,%d,%d,%d", c->it[i].stem, S, S, ls, ls);
        for (int k = 0; k < c->ncat; k++)
            fprintf(a.f, ",%s", cells[i * 3 + (size_t)k]);
        fputc('\n', a.f);
    }
    if (afile_commit(&a))
        return -1;
    if (open_out(c, "sources.csv", &a))
        return -1;
    fprintf(a.f, "image,source,file\n");
    for (size_t i = 0; i < c->n; i++)
        fprintf(a.f, "%s.jpg,%s,%s\n", c->it[i].stem,
                c->it[i].source == SRC_OBJECT ? "object" : "texture", c->it[i].rel);
    return afile_commit(&a);
}

static int write_labels(const imp_ctx *c, const size_t *freq)
{
    afile a;
    if (open_out(c, "label.csv", &a))
        return -1;
    fprintf(a.f, "number,name,category,frequency,coverage,syns\n");
    for (int l = 1; l <= c->L; l++) {
        const label_rec *r = &c->lab[l];
        fprintf(a.f, "%d,%s,%s(%zu),%zu,%.6f,\n", l, r->name, c->cat_name[r->cat], r->cnt.frequency,
                r->cnt.frequency, r->cnt.coverage);
    }
    if (afile_commit(&a) || open_out(c, "category.csv", &a))
        return -1;
    fprintf(a.f, "name,first,last,count,frequency\n");
    for (int k = 0; k < c->ncat; k++) {
        int first = 0, last = 0;
        for (int l = 1; l <= c->L; l++)
            if (c->lab[l].cat == k)
                last = l, first = first ? first : l;
        fprintf(a.f, "%s,%d,%d,%d,%zu\n", c->cat_name[k], first, last, first ? last - first + 1 : 0,
                freq[k]);
    }
    if (afile_commit(&a))
        return -1;
    for (int k = 0; k < c->ncat; k++) {
        char name[300];
        snprintf(name, sizeof name, "c_%s.csv", c->cat_name[k]);
        if (open_out(c, name, &a))
            return -1;
        fprintf(a.f, "code,number,name,frequency,coverage\n");
        int code = 0;
        for (int l = 1; l <= c->L; l++)
            if (c->lab[l].cat == k)
                fprintf(a.f, "%d,%d,%s,%zu,%.6f\n", ++code, l, c->lab[l].name,
                        c->lab[l].cnt.frequency, c->lab[l].cnt.coverage);
        if (afile_commit(&a))
            return -1;
    }
    return 0;
}

static int pass2(imp_ctx *c, size_t *labelled)
{
    int ls = c->o->size / 2, rc = 0;
    char **cells = nd_calloc(c->n * 3, sizeof *cells);
    unsigned char *rgb = nd_malloc((size_t)ls * ls * 3);
    size_t freq[3] = {0};
    *labelled = 0;
    if (!cells || !rgb)
        rc = -1;
    for (size_t i = 0; i < c->n && !rc; i++) {
        const item *it = &c->it[i];
        const item_data *d = &c->d[i];
        char **cell = cells + i * 3;
        if (c->cat_obj >= 0)
            rc = d->omap ? write_map(c, it->stem, c->cat_name[c->cat_obj], d->omap, c->onum, rgb,
                                     &cell[c->cat_obj])
                         : !(cell[c->cat_obj] = strdup("")) ? nd_fail("out of memory") : 0;
        if (!rc && c->cat_col >= 0)
            rc = write_map(c, it->stem, "color", d->cmap, c->cnum, rgb, &cell[c->cat_col]);
        if (!rc && c->cat_tex >= 0) {
            int num = it->tex >= 0 ? c->tnum[it->tex] : 0;
            if ((cell[c->cat_tex] = nd_malloc(16)))
                snprintf(cell[c->cat_tex], 16, num ? "%d" : "", num);
            else
                rc = -1;
        }
        int any = 0;
        for (int k = 0; k < c->ncat && !rc; k++)
            if (*cell[k])
                freq[k]++, any = 1;
        *labelled += (size_t)any;
    }
    if (!rc)
        rc = write_index(c, cells) || write_labels(c, freq) ? -1 : 0;
    for (size_t i = 0; cells && i < c->n * 3; i++)
        free(cells[i]);
    free(cells);
    free(rgb);
    return rc;
}

/* ---------- driver ---------- */

static int check_opts(const imp_opts *o)
{
    if (o->size < 2 || o->size > 8192)
        return nd_fail("%s: image size %d, expected 2..8192", o->out_dir, o->size);
    if (!o->category || !*o->category ||
        strspn(o->category, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
            strlen(o->category) ||
        !strcmp(o->category, "color") || !strcmp(o->category, "texture"))
        return nd_fail("%s: category name '%s', expected letters, digits, _ or - (and not color or "
                       "texture)", o->out_dir, o->category ? o->category : "");
    if (o->quality < 1 || o->quality > 100)
        return nd_fail("%s: JPEG quality %d, expected 1..100", o->out_dir, o->quality);
    int nobj = !!o->images_dir + !!o->labels_dir + !!o->classes_csv;
    if (nobj != 0 && nobj != 3)
        return nd_fail("%s: an object set needs images, labels and classes together", o->out_dir);
    if (o->ntextures < 0 || o->ntextures > IMP_MAX_TEXTURE_SETS)
        return nd_fail("%s: %d texture sets, at most %d", o->out_dir, o->ntextures,
                       IMP_MAX_TEXTURE_SETS);
    if (nobj == 0 && o->ntextures == 0)
        return nd_fail("%s: nothing to import: give an object set or texture sets", o->out_dir);
    if (o->filter.min_images < 0 || !(o->filter.min_coverage >= 0))
        return nd_fail("%s: label filter needs min images >= 0 and min coverage >= 0", o->out_dir);
    struct stat sb;
    if (stat(o->out_dir, &sb) == 0)
        return nd_fail("%s: already exists; remove it or choose another output folder", o->out_dir);
    return 0;
}

/* Everything checkable before writing: classes, table, folders, names. */
static int gather(imp_ctx *c)
{
    const imp_opts *o = c->o;
    c->cat_obj = c->cat_col = c->cat_tex = -1;
    if (o->images_dir)
        c->cat_name[c->cat_obj = c->ncat++] = o->category;
    if (o->colors)
        c->cat_name[c->cat_col = c->ncat++] = "color";
    if (o->ntextures)
        c->cat_name[c->cat_tex = c->ncat++] = "texture";
    if (o->images_dir && (read_classes(o->classes_csv, &c->classes, &c->ncls) || gather_objects(c)))
        return -1;
    if (o->colors && (!(c->colors = nd_malloc(sizeof *c->colors)) || cn_load(c->colors, o->colors)))
        return -1;
    if (o->ntextures && gather_textures(c))
        return -1;
    if (check_unique(c) || !(c->d = nd_calloc(c->n, sizeof *c->d)))
        return -1;
    size_t tl = strlen(o->out_dir) + strlen(afile_tmp_tag()) + 8;
    if (!(c->tmp = nd_malloc(tl)))
        return -1;
    snprintf(c->tmp, tl, "%s.tmp.%s", o->out_dir, afile_tmp_tag());
    return (c->imgdir = nd_path_join(c->tmp, "images")) ? 0 : -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int imp_run(const imp_opts *o, imp_stats *st)
{
    memset(st, 0, sizeof *st);
    if (check_opts(o))
        return -1;
    imp_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    int rc = -1, made_tmp = 0;
    size_t labelled = 0;
    if (gather(&c) || nd_mkdirs(c.imgdir))
        goto done;
    made_tmp = 1;
    afile_register_dir(c.tmp); /* removed by the SIGINT/SIGTERM handler */
    if (pass1(&c) || number_labels(&c) || pass2(&c, &labelled))
        goto done;
    if (rename(c.tmp, o->out_dir) != 0) {
        nd_fail("%s: cannot rename %s to it: %s", o->out_dir, c.tmp, strerror(errno));
        goto done;
    }
    made_tmp = 0;
    st->images = c.n;
    st->labelled = labelled;
    st->classes = c.ncls;
    st->kept = c.L;
    for (int l = 1; l <= c.L; l++) {
        int k = c.lab[l].cat;
        st->kept_object += k == c.cat_obj;
        st->kept_color += k == c.cat_col;
        st->kept_texture += k == c.cat_tex;
    }
    for (size_t i = 0; i < c.n; i++)
        st->texture_images += c.it[i].source == SRC_TEXTURE;
    rc = 0;
done:
    if (made_tmp)
        nftw(c.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (c.tmp)
        afile_unregister_dir(c.tmp);
    ctx_free(&c);
    return rc;
}
