/* import.c - images + label maps -> Broden-format dataset (see import.h).
 *
 * Two passes.  Pass 1 decodes every label map, checks its size against its
 * image's header and its class ids against classes.csv, shrinks it to the
 * output label size with the nearest rule and keeps it (591 MSRC maps at
 * 113x113 are 15 MB): the per-class image counts decide which classes are
 * kept before anything is written.  Pass 2 decodes each image, resizes and
 * writes it, and writes its renumbered label map.  Everything goes into
 * OUT.tmp.<pid>, renamed to OUT at the end; on failure the temporary
 * folder is removed, so OUT is either complete or absent.
 *
 * Counting on the output label maps (not the originals) makes frequency
 * and coverage describe the dataset as written, which is what a dissection
 * of it sees.
 */
#include "datasets/import.h"

#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"
#include "models/image.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

imp_opts imp_defaults(void)
{
    imp_opts o;
    memset(&o, 0, sizeof o);
    o.size = 227;
    o.category = "object";
    o.min_images = 10;
    o.quality = 95;
    return o;
}

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

/* classes.csv: header "id,name", then id (1..65535), name (no commas,
 * no quotes: a name ends up in CSV files we write).  Sorted by id. */
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
            strpbrk(f.f[1], ",\"")) {
            nd_fail("%s: line %d: expected 'id,name' with id in 1..65535 and a name without "
                    "commas or quotes", path, f.line);
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

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_image_ext(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".png"));
}

/* Image file names of dir, sorted. */
static int list_images(const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d)
        return nd_fail("%s: cannot open folder: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, sizeof *v * cap);
            if (!nv)
                goto oom;
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto oom;
        n++;
    }
    closedir(d);
    if (n == 0) {
        free(v);
        return nd_fail("%s: no .jpg, .jpeg or .png images", dir);
    }
    qsort(v, n, sizeof *v, name_cmp);
    *out = v;
    *n_out = n;
    return 0;
oom:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return nd_fail("%s: out of memory", dir);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* dir/<stem><ext>, or NULL (recorded) when out of memory */
static char *path_ext(const char *dir, const char *stem, const char *ext)
{
    size_t n = strlen(stem) + strlen(ext) + 1;
    char *name = nd_malloc(n);
    if (!name)
        return NULL;
    snprintf(name, n, "%s%s", stem, ext);
    char *p = nd_path_join(dir, name);
    free(name);
    return p;
}

/* stem of "x.jpg" -> "x" (allocated) */
static char *stem_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    return strndup(name, dot ? (size_t)(dot - name) : strlen(name));
}

typedef struct {
    size_t nimg;
    char **files, **stems;
    uint16_t **maps; /* per image, ls*ls class ids of the source */
    cls *classes;
    int ncls;
    int *number;   /* per class (sorted index): new label number or 0 */
    char *tmp;     /* temporary output folder */
} imp_ctx;

static void ctx_free(imp_ctx *c)
{
    for (size_t i = 0; i < c->nimg; i++) {
        if (c->files)
            free(c->files[i]);
        if (c->stems)
            free(c->stems[i]);
        if (c->maps)
            free(c->maps[i]);
    }
    free(c->files);
    free(c->stems);
    free(c->maps);
    free_classes(c->classes, c->ncls);
    free(c->number);
    free(c->tmp);
}

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

/* Size of an image from its header only would need format-specific code;
 * decoding it is the simple honest check (pass 2 decodes it again). */
static int pass1(imp_ctx *c, const imp_opts *o, size_t *img_count)
{
    int ls = o->size / 2;
    for (size_t i = 0; i < c->nimg; i++) {
        char *lp = path_ext(o->labels_dir, c->stems[i], ".png");
        char *ip = nd_path_join(o->images_dir, c->files[i]);
        if (!lp || !ip) {
            free(lp);
            free(ip);
            return nd_fail("%s: out of memory", o->labels_dir);
        }
        uint16_t *src;
        int w, h;
        img_u8 im;
        int rc = img_load_labels(&src, &w, &h, lp);
        if (rc == 0) {
            rc = img_load_rgb(&im, ip);
            if (rc == 0) {
                if (im.w != w || im.h != h)
                    rc = nd_fail("%s: label map is %dx%d but its image %s is %dx%d", lp, w, h,
                                 ip, im.w, im.h);
                img_free(&im);
            }
            for (size_t p = 0; rc == 0 && p < (size_t)w * h; p++)
                if (src[p] && class_index(c, src[p]) < 0)
                    rc = nd_fail("%s: pixel (%zu, %zu) has class %d, not in %s", lp, p % w,
                                 p / w, src[p], o->classes_csv);
            if (rc == 0 && !(c->maps[i] = nd_malloc(sizeof(uint16_t) * ls * ls)))
                rc = nd_fail_prefix("%s", lp);
            if (rc == 0)
                img_resize_labels(c->maps[i], ls, ls, src, w, h);
            free(src);
        }
        free(lp);
        free(ip);
        if (rc)
            return -1;
        /* images containing each class, on the output map */
        char *seen = nd_calloc(c->ncls, 1);
        if (!seen)
            return nd_fail("%s: out of memory", o->labels_dir);
        for (int p = 0; p < ls * ls; p++)
            if (c->maps[i][p])
                seen[class_index(c, c->maps[i][p])] = 1;
        for (int k = 0; k < c->ncls; k++)
            img_count[k] += seen[k];
        free(seen);
        nd_report(o->progress, "label maps", i + 1, c->nimg);
    }
    return 0;
}

static int write_csvs(imp_ctx *c, const imp_opts *o, const size_t *freq, const double *cov,
                      size_t labelled, const char *const *cells, int L)
{
    const char *cat = o->category;
    int S = o->size, ls = S / 2;
    afile a;
    char *p = nd_path_join(c->tmp, "index.csv");
    if (!p || afile_open(&a, p))
        goto fail;
    fprintf(a.f, "image,split,ih,iw,sh,sw,%s\n", cat);
    for (size_t i = 0; i < c->nimg; i++)
        fprintf(a.f, "%s.jpg,train,%d,%d,%d,%d,%s\n", c->stems[i], S, S, ls, ls, cells[i]);
    if (afile_commit(&a))
        goto fail;
    free(p);

    if (!(p = nd_path_join(c->tmp, "label.csv")) || afile_open(&a, p))
        goto fail;
    fprintf(a.f, "number,name,category,frequency,coverage,syns\n");
    for (int k = 0; k < c->ncls; k++) {
        int n = c->number[k];
        if (n)
            fprintf(a.f, "%d,%s,%s(%zu),%zu,%.6f,\n", n, c->classes[k].name, cat, freq[n],
                    freq[n], cov[n]);
    }
    if (afile_commit(&a))
        goto fail;
    free(p);

    if (!(p = nd_path_join(c->tmp, "category.csv")) || afile_open(&a, p))
        goto fail;
    fprintf(a.f, "name,first,last,count,frequency\n%s,%d,%d,%d,%zu\n", cat, L ? 1 : 0, L, L,
            labelled);
    if (afile_commit(&a))
        goto fail;
    free(p);

    char name[300];
    snprintf(name, sizeof name, "c_%s.csv", cat);
    if (!(p = nd_path_join(c->tmp, name)) || afile_open(&a, p))
        goto fail;
    fprintf(a.f, "code,number,name,frequency,coverage\n");
    for (int k = 0; k < c->ncls; k++) {
        int n = c->number[k];
        if (n)
            fprintf(a.f, "%d,%d,%s,%zu,%.6f\n", n, n, c->classes[k].name, freq[n], cov[n]);
    }
    if (afile_commit(&a))
        goto fail;
    free(p);
    return 0;
fail:
    if (!p)
        nd_fail("%s: out of memory", c->tmp);
    free(p);
    return -1;
}

static int pass2(imp_ctx *c, const imp_opts *o, int L, size_t *labelled)
{
    int S = o->size, ls = S / 2;
    const char *cat = o->category;
    size_t *freq = nd_calloc((size_t)L + 1, sizeof *freq);
    double *cov = nd_calloc((size_t)L + 1, sizeof *cov);
    char **cells = nd_calloc(c->nimg, sizeof *cells);
    unsigned char *sq = nd_malloc((size_t)S * S * 3), *rgb = nd_malloc((size_t)ls * ls * 3);
    size_t *cnt = nd_calloc((size_t)L + 1, sizeof *cnt);
    char *imgdir = nd_path_join(c->tmp, "images");
    int rc = -1;
    *labelled = 0;
    if (!freq || !cov || !cells || !sq || !rgb || !cnt || !imgdir) {
        nd_fail("%s: out of memory", c->tmp);
        goto done;
    }
    if (mkdir(imgdir, 0777) != 0) {
        nd_fail("%s: cannot create: %s", imgdir, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < c->nimg; i++) {
        char *ip = nd_path_join(o->images_dir, c->files[i]);
        char *op = path_ext(imgdir, c->stems[i], ".jpg");
        img_u8 im = {0};
        int r = !ip || !op ? nd_fail("%s: out of memory", c->tmp) : img_load_rgb(&im, ip);
        if (r == 0)
            r = img_resize_u8(sq, S, S, im.px, im.w, im.h, 3);
        if (r == 0)
            r = img_save_jpeg(op, sq, S, S, o->quality);
        img_free(&im);
        free(ip);
        free(op);
        if (r)
            goto done;
        /* renumber, count, encode R + 256*G */
        memset(cnt, 0, sizeof *cnt * ((size_t)L + 1));
        uint16_t *m = c->maps[i];
        for (int p = 0; p < ls * ls; p++) {
            int n = m[p] ? c->number[class_index(c, m[p])] : 0;
            cnt[n]++;
            rgb[3 * p] = (unsigned char)(n & 255);
            rgb[3 * p + 1] = (unsigned char)(n >> 8);
            rgb[3 * p + 2] = 0;
        }
        int any = 0;
        for (int n = 1; n <= L; n++)
            if (cnt[n]) {
                any = 1;
                freq[n]++;
                cov[n] += (double)cnt[n] / ((double)ls * ls);
            }
        if (any) {
            size_t len = strlen(c->stems[i]) + strlen(cat) + 6;
            if (!(cells[i] = nd_malloc(len))) {
                nd_fail("%s: out of memory", c->tmp);
                goto done;
            }
            snprintf(cells[i], len, "%s_%s.png", c->stems[i], cat);
            char *lp = nd_path_join(imgdir, cells[i]);
            r = lp ? img_save_png_rgb(lp, rgb, ls, ls) : nd_fail("%s: out of memory", c->tmp);
            free(lp);
            if (r)
                goto done;
            (*labelled)++;
        } else if (!(cells[i] = strdup(""))) {
            nd_fail("%s: out of memory", c->tmp);
            goto done;
        }
        nd_report(o->progress, "images", i + 1, c->nimg);
    }
    rc = write_csvs(c, o, freq, cov, *labelled, (const char *const *)cells, L);
done:
    if (cells)
        for (size_t i = 0; i < c->nimg; i++)
            free(cells[i]);
    free(cells);
    free(freq);
    free(cov);
    free(sq);
    free(rgb);
    free(cnt);
    free(imgdir);
    return rc;
}

int imp_run(const imp_opts *o, imp_stats *st)
{
    memset(st, 0, sizeof *st);
    if (o->size < 2 || o->size > 8192)
        return nd_fail("%s: image size %d, expected 2..8192", o->out_dir, o->size);
    if (!*o->category || strspn(o->category, "abcdefghijklmnopqrstuvwxyz"
                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                             strlen(o->category))
        return nd_fail("%s: category name '%s', expected letters, digits, _ or -", o->out_dir,
                       o->category);
    if (o->quality < 1 || o->quality > 100)
        return nd_fail("%s: JPEG quality %d, expected 1..100", o->out_dir, o->quality);
    struct stat sb;
    if (stat(o->out_dir, &sb) == 0)
        return nd_fail("%s: already exists; remove it or choose another output folder",
                       o->out_dir);

    imp_ctx c;
    memset(&c, 0, sizeof c);
    size_t *img_count = NULL;
    int rc = -1, made_tmp = 0;
    if (read_classes(o->classes_csv, &c.classes, &c.ncls))
        return -1;
    if (list_images(o->images_dir, &c.files, &c.nimg)) {
        ctx_free(&c);
        return -1;
    }
    c.stems = nd_calloc(c.nimg, sizeof *c.stems);
    c.maps = nd_calloc(c.nimg, sizeof *c.maps);
    c.number = nd_calloc(c.ncls, sizeof *c.number);
    img_count = nd_calloc(c.ncls, sizeof *img_count);
    size_t tl = strlen(o->out_dir) + 32;
    c.tmp = nd_malloc(tl);
    if (!c.stems || !c.maps || !c.number || !img_count || !c.tmp) {
        nd_fail("%s: out of memory", o->out_dir);
        goto done;
    }
    for (size_t i = 0; i < c.nimg; i++) {
        if (!(c.stems[i] = stem_of(c.files[i]))) {
            nd_fail("%s: out of memory", o->out_dir);
            goto done;
        }
        if (strpbrk(c.stems[i], ",;\"") ||
            (i > 0 && strcmp(c.stems[i], c.stems[i - 1]) == 0)) {
            nd_fail("%s/%s: image name has a comma, semicolon or quote, or two images share "
                    "the name '%s'", o->images_dir, c.files[i], c.stems[i]);
            goto done;
        }
    }
    snprintf(c.tmp, tl, "%s.tmp.%ld", o->out_dir, (long)getpid());
    if (nd_mkdirs(c.tmp))
        goto done;
    made_tmp = 1;
    afile_register_dir(c.tmp); /* removed by the SIGINT/SIGTERM handler */
    if (pass1(&c, o, img_count))
        goto done;
    int L = 0;
    for (int k = 0; k < c.ncls; k++)
        c.number[k] = img_count[k] >= (size_t)o->min_images ? ++L : 0;
    if (L > 65535) {
        nd_fail("%s: %d labels, more than R + 256*G can encode", o->out_dir, L);
        goto done;
    }
    size_t labelled;
    if (pass2(&c, o, L, &labelled))
        goto done;
    if (rename(c.tmp, o->out_dir) != 0) {
        nd_fail("%s: cannot rename %s to it: %s", o->out_dir, c.tmp, strerror(errno));
        goto done;
    }
    made_tmp = 0;
    st->images = c.nimg;
    st->labelled = labelled;
    st->classes = c.ncls;
    st->kept = L;
    rc = 0;
done:
    if (made_tmp)
        nftw(c.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    afile_unregister_dir(c.tmp);
    free(img_count);
    ctx_free(&c);
    return rc;
}
