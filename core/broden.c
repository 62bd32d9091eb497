/* broden.c - reading and validating a Broden-format concept dataset.
 *
 * All label layers of the selected categories are decoded once, into one
 * uint16 buffer (sh*sw values per layer), so the dissector's passes never
 * touch a PNG.  Every input problem is found here, before any work starts.
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

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    int *primary;      /* [L] selected index or -1 */
    size_t N;
    image_rec *img;
    broden_layer *layers;
    size_t nlayers, caplayers;
    size_t *layer_off; /* offset of each layer's map in maps */
    size_t cap_off;
    uint16_t *maps;    /* malloc'd, or inside cache_map */
    size_t maps_len;
    int truth_ready;
    int64_t *truth[2]; /* [L]: 0 = repeated image-level labels count each time, 1 = once */
    uint64_t *present; /* [N] */
    void *cache_map;   /* mmap of a prepared label store, if used */
    const char *store_build; /* store being built (decoding writes into it) */
    afile store_file;
    size_t cache_len;
    uint64_t sig;
    broden_imglabel *ils;
    size_t nils, capils;
};

static char *path2(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    else
        nd_fail("out of memory");
    return s;
}

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
    char *p = path2(ds->dir, "category.csv");
    if (!p)
        return -1;
    csv_file c;
    if (csv_open(&c, p)) {
        free(p);
        return -1;
    }
    int col = csv_col(&c, "name"), rc = 0, r;
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
        char **nc = realloc(ds->cat, sizeof *nc * (size_t)(ds->ncat + 1));
        if (!nc) {
            rc = nd_fail("out of memory");
            break;
        }
        ds->cat = nc;
        ds->cat[ds->ncat++] = strdup(c.f[col]);
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && ds->ncat == 0)
        rc = nd_fail("%s: no categories listed", p);
    csv_close(&c);
    free(p);
    return rc;
}

static int select_categories(broden *ds, const char *want)
{
    ds->sel = calloc((size_t)ds->ncat, sizeof *ds->sel);
    if (!ds->sel)
        return nd_fail("out of memory");
    if (!want || !*want) {
        for (int i = 0; i < ds->ncat; i++)
            ds->sel[ds->nsel++] = i;
        return 0;
    }
    char *copy = strdup(want), *save = NULL;
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
    char *p = path2(ds->dir, "label.csv");
    if (!p)
        return -1;
    csv_file c;
    if (csv_open(&c, p)) {
        free(p);
        return -1;
    }
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
        ds->label_name = calloc((size_t)ds->L, sizeof *ds->label_name);
        ds->primary = malloc(sizeof *ds->primary * (size_t)ds->L);
        if (!ds->label_name || !ds->primary)
            rc = nd_fail("out of memory");
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
        ds->label_name[n] = strdup(cname < c.nf ? c.f[cname] : "");
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && ds->L <= 1)
        rc = nd_fail("%s: no labels listed", p);
    csv_close(&c);
    free(p);
    return rc;
}

static int read_primary(broden *ds)
{
    double *best = malloc(sizeof *best * (size_t)ds->L);
    int *bestcat = malloc(sizeof *bestcat * (size_t)ds->L);
    if (!best || !bestcat) {
        free(best);
        free(bestcat);
        return nd_fail("out of memory");
    }
    for (int l = 0; l < ds->L; l++)
        best[l] = -1, bestcat[l] = -1;
    int rc = 0;
    for (int ci = 0; ci < ds->ncat && !rc; ci++) {
        double *cov = calloc((size_t)ds->L, sizeof *cov);
        char name[512];
        snprintf(name, sizeof name, "c_%s.csv", ds->cat[ci]);
        char *p = path2(ds->dir, name);
        csv_file c;
        if (!cov || !p || csv_open(&c, p)) {
            if (!cov)
                nd_fail("out of memory");
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

/* ---------------------------------------------------------------- PNG */

typedef struct {
    jmp_buf jb;
    char msg[200];
} png_err_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_err_ctx *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Decode a label PNG into out[sh*sw] (label = R + 256*G; a grey PNG holds
 * the label directly).  Checks the size and that labels are known. */
static int read_label_png(const broden *ds, const char *path, const char *where, int sh, int sw,
                          uint16_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot open label image (%s): %s", path, where, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return nd_fail("%s: not a PNG file (%s)", path, where);
    }
    png_err_ctx ectx;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ectx, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* assigned after setjmp and needed after longjmp: volatile, or they may
     * read back stale (libpng errors in the middle of the pixel data) */
    unsigned char *volatile row = NULL;
    unsigned char *volatile img = NULL;
    unsigned char **volatile rows = NULL;
    if (!png || !info) {
        fclose(f);
        png_destroy_read_struct(&png, &info, NULL);
        return nd_fail("%s: out of memory", path);
    }
    if (setjmp(ectx.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(row);
        free(img);
        free(rows);
        fclose(f);
        return nd_fail("%s: broken PNG (%s): %s", path, where, ectx.msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ct = png_get_color_type(png, info);
    if ((int)w != sw || (int)h != sh) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return nd_fail("%s: label image is %ux%u, index.csv says sw x sh = %dx%d (%s)", path,
                       (unsigned)w, (unsigned)h, sw, sh, where);
    }
    if (depth == 16) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return nd_fail("%s: 16-bit PNG; Broden label images are 8-bit RGB (R + 256*G) (%s)", path,
                       where);
    }
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (ct & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    int passes = png_set_interlace_handling(png);
    (void)passes;
    row = malloc((size_t)w * (size_t)ch);
    if (!row) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return nd_fail("%s: out of memory", path);
    }
    /* interlaced images need the whole image; read row pointers then */
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE) {
        img = malloc((size_t)w * (size_t)h * (size_t)ch);
        rows = malloc(sizeof *rows * h);
        if (!img || !rows) {
            free(img);
            free(rows);
            free(row);
            png_destroy_read_struct(&png, &info, NULL);
            fclose(f);
            return nd_fail("%s: out of memory", path);
        }
        for (png_uint_32 y = 0; y < h; y++)
            rows[y] = img + (size_t)y * w * (size_t)ch;
        png_read_image(png, rows);
    }
    int rc = 0;
    for (png_uint_32 y = 0; y < h && !rc; y++) {
        unsigned char *r = row;
        if (img)
            r = rows[y];
        else
            png_read_row(png, r, NULL);
        for (png_uint_32 x = 0; x < w; x++) {
            unsigned v = ch >= 3 ? r[x * (size_t)ch] + 256u * r[x * (size_t)ch + 1] : r[x * (size_t)ch];
            if (v && ((int)v >= ds->L || !ds->label_name[v])) {
                rc = nd_fail("%s: pixel (x=%u, y=%u) has label number %u, which is not in label.csv (%s)",
                             path, (unsigned)x, (unsigned)y, v, where);
                break;
            }
            out[(size_t)y * w + x] = (uint16_t)v;
        }
    }
    free(img);
    free(rows);
    free(row);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return rc;
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

/* ---------------------------------------------------------------- prepared label store
 *
 * Decoding every PNG on every run is the slowest part of a dissection at
 * Broden scale, so the decoded layers can be kept in a file: a 64-byte
 * header (magic "NDLBLS01", signature, layer count, map length, image
 * count) followed by all layer maps, uint16, in index.csv order.  The
 * signature is FNV-1a over the dataset's CSV files and the selected
 * categories, so any edit to the dataset makes the store stale (it is then
 * rebuilt).  The store is memory-mapped, not read.
 */
#define STORE_MAGIC "NDLBLS01"
#define STORE_HDR 64

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int hash_file(uint64_t *h, const char *dir, const char *name)
{
    char *p = path2(dir, name);
    if (!p)
        return -1;
    FILE *f = fopen(p, "rb");
    if (!f) {
        nd_fail("%s: cannot open: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    char buf[65536];
    size_t n;
    *h = fnv(*h, name, strlen(name) + 1);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        *h = fnv(*h, buf, n);
    fclose(f);
    free(p);
    return 0;
}

static int signature(broden *ds)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (hash_file(&h, ds->dir, "category.csv") || hash_file(&h, ds->dir, "label.csv") ||
        hash_file(&h, ds->dir, "index.csv"))
        return -1;
    for (int c = 0; c < ds->ncat; c++) {
        char name[600];
        snprintf(name, sizeof name, "c_%s.csv", ds->cat[c]);
        if (hash_file(&h, ds->dir, name))
            return -1;
    }
    for (int s = 0; s < ds->nsel; s++)
        h = fnv(h, ds->cat[ds->sel[s]], strlen(ds->cat[ds->sel[s]]) + 1);
    ds->sig = h;
    return 0;
}

uint64_t broden_signature(const broden *ds) { return ds->sig; }

typedef struct {
    char magic[8];
    uint64_t sig, nlayers, maps_len, nimages;
    char pad[STORE_HDR - 40];
} store_header;

/* Map a store if it exists and matches; 1 = mapped, 0 = absent or stale. */
static int map_store(broden *ds, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    struct stat st;
    store_header h;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < STORE_HDR || read(fd, &h, sizeof h) != (ssize_t)sizeof h ||
        memcmp(h.magic, STORE_MAGIC, 8) || h.sig != ds->sig ||
        (size_t)st.st_size != STORE_HDR + h.maps_len * sizeof(uint16_t)) {
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return 0;
    ds->cache_map = m;
    ds->cache_len = (size_t)st.st_size;
    return 1;
}

/* After index.csv was read without decoding: check the store fits it. */
static int attach_cache(broden *ds)
{
    const store_header *h = ds->cache_map;
    if (h->nlayers != ds->nlayers || h->maps_len != ds->maps_len || h->nimages != ds->N)
        return nd_fail("label store does not match %s/index.csv (%llu layers, index has %zu); delete it to rebuild",
                       ds->dir, (unsigned long long)h->nlayers, ds->nlayers);
    ds->maps = (uint16_t *)((char *)ds->cache_map + STORE_HDR);
    /* a damaged store must not index past the tally's label table, nor bring
     * labels the PNG decoder would have refused (numbers absent from
     * label.csv): one branch-free pass over a 64 K table of allowed values */
    unsigned char *ok = calloc(65536, 1);
    if (!ok)
        return nd_fail("out of memory");
    ok[0] = 1;
    for (int l = 1; l < ds->L && l < 65536; l++)
        ok[l] = ds->label_name[l] != NULL;
    unsigned char bad = 0;
    for (size_t i = 0; i < ds->maps_len; i++)
        bad |= ok[ds->maps[i]] ^ 1;
    int rc = 0;
    if (bad)
        for (size_t i = 0; i < ds->maps_len && !rc; i++)
            if (!ok[ds->maps[i]])
                rc = (int)ds->maps[i] >= ds->L
                         ? nd_fail("label store holds label number %u, beyond label.csv; delete it to rebuild",
                                   ds->maps[i])
                         : nd_fail("label store holds label number %u, which is not in %s/label.csv; delete it "
                                   "to rebuild", ds->maps[i], ds->dir);
    free(ok);
    return rc;
}

int broden_store_save(const broden *ds, const char *path)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    store_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STORE_MAGIC, 8);
    h.sig = ds->sig, h.nlayers = ds->nlayers, h.maps_len = ds->maps_len, h.nimages = ds->N;
    if (fwrite(&h, sizeof h, 1, a.f) != 1 ||
        fwrite(ds->maps, sizeof(uint16_t), ds->maps_len, a.f) != ds->maps_len) {
        afile_abort(&a);
        return nd_fail("%s: write failed: %s", path, strerror(errno));
    }
    return afile_commit(&a);
}

int broden_store_write_raw(const char *path, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len,
                           int (*fill)(void *ctx, FILE *f), void *ctx)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    store_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STORE_MAGIC, 8);
    h.sig = sig, h.nlayers = nlayers, h.maps_len = maps_len, h.nimages = nimages;
    if (fwrite(&h, sizeof h, 1, a.f) != 1 || fill(ctx, a.f)) {
        afile_abort(&a);
        return nd_fail("%s: write failed", path);
    }
    return afile_commit(&a);
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
    size_t *ix = malloc(sizeof *ix * ds->N);
    if (!ix)
        return nd_fail("out of memory");
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
    size_t off;
} png_job;

typedef struct {
    broden *ds;
    png_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
    size_t first_bad; /* lowest failing job index, n if none */
    char err[1024];
    const char *index_path;
} decode_ctx;

static void *decode_worker(void *arg)
{
    decode_ctx *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        size_t k = d->next < d->first_bad ? d->next++ : d->n;
        pthread_mutex_unlock(&d->mu);
        if (k >= d->n)
            return NULL;
        png_job *jb = &d->jobs[k];
        char where[700];
        snprintf(where, sizeof where, "index.csv row %d, column '%s'", jb->line,
                 d->ds->cat[d->ds->sel[jb->cat]]);
        if (read_label_png(d->ds, jb->path, where, jb->sh, jb->sw, d->ds->maps + jb->off)) {
            pthread_mutex_lock(&d->mu);
            /* report the first failure in index order, whatever the timing */
            if (k < d->first_bad) {
                d->first_bad = k;
                snprintf(d->err, sizeof d->err, "%s", nd_errmsg());
            }
            pthread_mutex_unlock(&d->mu);
        }
    }
}

/* Decode every layer PNG, using all cores (PNG decoding is the slowest
 * step of opening a large dataset). */
/* Where decoded maps go: plain memory, or - when a store is being built -
 * straight into the memory-mapped temporary store file, so that a large
 * dataset's labels never occupy anonymous memory (the store is renamed into
 * place once complete). */
static int maps_alloc(broden *ds)
{
    if (!ds->store_build) {
        ds->maps = malloc((ds->maps_len ? ds->maps_len : 1) * sizeof *ds->maps);
        return ds->maps ? 0 : nd_fail("out of memory for %zu label pixels", ds->maps_len);
    }
    afile *a = &ds->store_file;
    if (afile_open_mode(a, ds->store_build, "w+b"))
        return -1;
    size_t len = STORE_HDR + ds->maps_len * sizeof(uint16_t);
    if (ftruncate(fileno(a->f), (off_t)len) != 0) {
        int e = errno;
        afile_abort(a);
        return nd_fail("%s: cannot size the label store (%zu bytes): %s", ds->store_build, len, strerror(e));
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(a->f), 0);
    if (m == MAP_FAILED) {
        int e = errno;
        afile_abort(a);
        return nd_fail("%s: cannot map the label store: %s", ds->store_build, strerror(e));
    }
    ds->cache_map = m;
    ds->cache_len = len;
    ds->maps = (uint16_t *)((char *)m + STORE_HDR);
    return 0;
}

/* Header last, then flush and rename: the store appears complete or not at all. */
static int store_finish(broden *ds)
{
    store_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STORE_MAGIC, 8);
    h.sig = ds->sig, h.nlayers = ds->nlayers, h.maps_len = ds->maps_len, h.nimages = ds->N;
    memcpy(ds->cache_map, &h, sizeof h);
    if (msync(ds->cache_map, ds->cache_len, MS_SYNC) != 0) {
        afile_abort(&ds->store_file);
        return nd_fail("%s: cannot write the label store: %s", ds->store_build, strerror(errno));
    }
    return afile_commit(&ds->store_file);
}

static int decode_all(broden *ds, png_job *jobs, size_t n, const char *index_path)
{
    if (maps_alloc(ds))
        return -1;
    decode_ctx d = {.ds = ds, .jobs = jobs, .n = n, .first_bad = n, .index_path = index_path};
    pthread_mutex_init(&d.mu, NULL);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = nc < 1 ? 1 : nc > 16 ? 16 : (int)nc;
    pthread_t th[16];
    int started[16] = {0};
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, decode_worker, &d) == 0;
    decode_worker(&d);
    for (int t = 1; t < nt; t++)
        if (started[t])
            pthread_join(th[t], NULL);
    pthread_mutex_destroy(&d.mu);
    if (d.first_bad < n) {
        if (ds->store_build)
            afile_abort(&ds->store_file);
        return nd_fail("%s", d.err);
    }
    return ds->store_build ? store_finish(ds) : 0;
}

static int read_index(broden *ds)
{
    char *p = path2(ds->dir, "index.csv");
    if (!p)
        return -1;
    csv_file c;
    if (csv_open(&c, p)) {
        free(p);
        return -1;
    }
    static const char *fixed[] = {"image", "split", "ih", "iw", "sh", "sw"};
    int rc = 0, r;
    for (int i = 0; i < 6 && !rc; i++)
        if (i >= c.nh || strcmp(c.hdr[i], fixed[i]))
            rc = nd_fail("%s: header column %d should be '%s', found '%s'", p, i + 1, fixed[i],
                         i < c.nh ? c.hdr[i] : "(missing)");
    int *selcol = calloc((size_t)ds->nsel, sizeof *selcol);
    if (!selcol)
        rc = nd_fail("out of memory");
    for (int s = 0; s < ds->nsel && !rc; s++) {
        selcol[s] = csv_col(&c, ds->cat[ds->sel[s]]);
        if (selcol[s] < 6)
            rc = nd_fail("%s: no column for category '%s' (from category.csv)", p, ds->cat[ds->sel[s]]);
    }
    char *images = path2(ds->dir, "images");
    size_t capimg = 0, njobs = 0, capjobs = 0;
    png_job *jobs = NULL;
    while (!rc && (r = csv_next(&c)) > 0) {
        if (c.nf != c.nh) {
            rc = nd_fail("%s:%d: %d fields, the header has %d", p, c.line, c.nf, c.nh);
            break;
        }
        if (grow((void **)&ds->img, &capimg, ds->N + 1, sizeof *ds->img)) {
            rc = -1;
            break;
        }
        image_rec *im = &ds->img[ds->N];
        memset(im, 0, sizeof *im);
        if (!*c.f[0]) {
            rc = nd_fail("%s:%d: field 'image' is empty", p, c.line);
            break;
        }
        int *dims[4] = {&im->ih, &im->iw, &im->sh, &im->sw};
        for (int k = 0; k < 4 && !rc; k++) {
            long v;
            if (csv_long(c.f[2 + k], &v) || v <= 0 || v > 16384)
                rc = nd_fail("%s:%d: field '%s': expected a positive integer, got '%s'", p, c.line,
                             fixed[2 + k], c.f[2 + k]);
            else
                *dims[k] = (int)v;
        }
        if (rc)
            break;
        if (!(im->name = strdup(c.f[0]))) {
            rc = nd_fail("out of memory");
            break;
        }
        ds->N++;
        size_t npix = (size_t)im->sh * (size_t)im->sw;
        im->layer0 = ds->nlayers;
        im->il0 = ds->nils;
        for (int s = 0; s < ds->nsel && !rc; s++) {
            char *cell = c.f[selcol[s]], *save = NULL;
            for (char *t = strtok_r(cell, ";", &save); t && !rc; t = strtok_r(NULL, ";", &save)) {
                if (!*t)
                    continue;
                char where[600];
                snprintf(where, sizeof where, "index.csv row %d, column '%s'", c.line, ds->cat[ds->sel[s]]);
                if (is_integer(t)) {
                    long v;
                    if (csv_long(t, &v) || v <= 0 || v >= ds->L || !ds->label_name[v]) {
                        rc = nd_fail("%s:%d: column '%s': image-level label %s is not in label.csv",
                                     p, c.line, ds->cat[ds->sel[s]], t);
                        break;
                    }
                    if (grow((void **)&ds->ils, &ds->capils, ds->nils + 1, sizeof *ds->ils)) {
                        rc = -1;
                        break;
                    }
                    ds->ils[ds->nils].category = s;
                    ds->ils[ds->nils].label = (int)v;
                    ds->nils++;
                    continue;
                }
                if (grow((void **)&ds->layers, &ds->caplayers, ds->nlayers + 1, sizeof *ds->layers) ||
                    grow((void **)&ds->layer_off, &ds->cap_off, ds->nlayers + 1, sizeof *ds->layer_off)) {
                    rc = -1;
                    break;
                }
                if (!ds->cache_map) {
                    if (grow((void **)&jobs, &capjobs, njobs + 1, sizeof *jobs)) {
                        rc = -1;
                        break;
                    }
                    png_job *jb = &jobs[njobs++];
                    jb->path = path2(images, t);
                    jb->line = c.line, jb->cat = s, jb->sh = im->sh, jb->sw = im->sw;
                    jb->off = ds->maps_len;
                    if (!jb->path) {
                        rc = -1;
                        break;
                    }
                }
                ds->layer_off[ds->nlayers] = ds->maps_len;
                ds->layers[ds->nlayers].category = s;
                ds->layers[ds->nlayers].map = NULL;
                ds->nlayers++;
                ds->maps_len += npix;
            }
        }
        im->nlayer = ds->nlayers - im->layer0;
        im->nil = ds->nils - im->il0;
    }
    if (!rc && r < 0)
        rc = -1;
    if (!rc && ds->N == 0)
        rc = nd_fail("%s: no images listed", p);
    if (!rc)
        rc = check_duplicates(ds, p);
    if (!rc) {
        int any = 0;
        for (size_t i = 0; i < ds->N; i++)
            any |= ds->img[i].nlayer + ds->img[i].nil > 0;
        if (!any)
            rc = nd_fail("%s: no image has labels in the selected categories", p);
    }
    if (!rc && ds->cache_map)
        rc = attach_cache(ds);
    else if (!rc)
        rc = decode_all(ds, jobs, njobs, p);
    if (ds->store_build && ds->store_file.tmp) /* failed before decoding finished */
        afile_abort(&ds->store_file);
    for (size_t k = 0; k < njobs; k++)
        free(jobs[k].path);
    free(jobs);
    if (!rc)
        for (size_t k = 0; k < ds->nlayers; k++)
            ds->layers[k].map = ds->maps + ds->layer_off[k];
    free(images);
    free(selcol);
    csv_close(&c);
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
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0)
        return nd_fail("%s: dataset folder not found: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nd_fail("%s: expected a dataset folder (with index.csv), found a file", dir);
    broden *ds = calloc(1, sizeof *ds);
    if (!ds)
        return nd_fail("out of memory");
    ds->dir = strdup(dir);
    if (!ds->dir || read_categories(ds) || select_categories(ds, categories) || read_labels(ds) ||
        read_primary(ds) || (store && signature(ds))) {
        broden_free(ds);
        return -1;
    }
    int mapped = store && map_store(ds, store);
    if (store && !mapped)
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
    free(ds->truth[0]), free(ds->truth[1]), free(ds->present);
    if (ds->cache_map)
        munmap(ds->cache_map, ds->cache_len);
    else
        free(ds->maps);
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

void broden_image_labels(const broden *ds, size_t i, const broden_imglabel **labels, size_t *n)
{
    *n = ds->img[i].nil;
    *labels = *n ? ds->ils + ds->img[i].il0 : NULL;
}

int broden_dataset_signature(const char *dir, const char *categories, uint64_t *sig)
{
    broden *ds = calloc(1, sizeof *ds);
    if (!ds)
        return nd_fail("out of memory");
    ds->dir = strdup(dir);
    int rc = (!ds->dir || read_categories(ds) || select_categories(ds, categories) || signature(ds)) ? -1 : 0;
    if (!rc)
        *sig = ds->sig;
    broden_free(ds);
    return rc;
}

/* ---------------------------------------------------------------- truth */

static pthread_mutex_t truth_mu = PTHREAD_MUTEX_INITIALIZER;

static void compute_truth(broden *ds)
{
    for (int v = 0; v < 2; v++)
        ds->truth[v] = calloc((size_t)ds->L, sizeof(int64_t));
    ds->present = calloc(ds->N ? ds->N : 1, sizeof(uint64_t));
    ND_ASSERT(ds->truth[0] && ds->truth[1] && ds->present);
    for (size_t i = 0; i < ds->N; i++) {
        const image_rec *im = &ds->img[i];
        size_t npix = (size_t)im->sh * (size_t)im->sw;
        uint64_t pres = 0;
        for (size_t k = im->layer0; k < im->layer0 + im->nlayer; k++) {
            const uint16_t *m = ds->maps + ds->layer_off[k];
            for (size_t p = 0; p < npix; p++)
                if (m[p]) {
                    ds->truth[0][m[p]]++;
                    ds->truth[1][m[p]]++;
                    int c = ds->primary[m[p]];
                    if (c >= 0)
                        pres |= (uint64_t)1 << c;
                }
        }
        for (size_t k = im->il0; k < im->il0 + im->nil; k++) {
            int l = ds->ils[k].label, dup = 0;
            for (size_t q = im->il0; q < k; q++)
                dup |= ds->ils[q].label == l;
            ds->truth[0][l] += (int64_t)npix;
            if (!dup)
                ds->truth[1][l] += (int64_t)npix;
            int c = ds->primary[l];
            if (c >= 0)
                pres |= (uint64_t)1 << c;
        }
        ds->present[i] = pres;
    }
}

static void ensure_truth(const broden *cds)
{
    broden *ds = (broden *)cds;
    if (__atomic_load_n(&ds->truth_ready, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&truth_mu);
    if (!ds->truth_ready) {
        compute_truth(ds);
        __atomic_store_n(&ds->truth_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&truth_mu);
}

const int64_t *broden_truth(const broden *ds, int once)
{
    ensure_truth(ds);
    return ds->truth[once ? 1 : 0];
}

uint64_t broden_present(const broden *ds, size_t i)
{
    ensure_truth(ds);
    return ds->present[i];
}
