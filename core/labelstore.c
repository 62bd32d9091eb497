/* labelstore.c - the prepared label store (format: core/labelstore.h). */
#include "core/labelstore.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MAGIC "NDLBLS01"
#define STORE_HDR 64

typedef struct {
    char magic[8];
    uint64_t sig, nlayers, maps_len, nimages;
    char pad[STORE_HDR - 40];
} store_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int hash_file(uint64_t *h, const char *dir, const char *name)
{
    char *p = nd_path_join(dir, name);
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

int nd_lstore_signature(const char *dir, char *const *cats, int ncat, const int *sel, int nsel, uint64_t *sig)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (hash_file(&h, dir, "category.csv") || hash_file(&h, dir, "label.csv") || hash_file(&h, dir, "index.csv"))
        return -1;
    for (int c = 0; c < ncat; c++) {
        char name[600];
        snprintf(name, sizeof name, "c_%s.csv", cats[c]);
        if (hash_file(&h, dir, name))
            return -1;
    }
    for (int s = 0; s < nsel; s++)
        h = fnv(h, cats[sel[s]], strlen(cats[sel[s]]) + 1);
    *sig = h;
    return 0;
}

int nd_lstore_map(nd_lstore *s, const char *path, uint64_t sig)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    struct stat st;
    store_header h;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < STORE_HDR || read(fd, &h, sizeof h) != (ssize_t)sizeof h ||
        memcmp(h.magic, STORE_MAGIC, 8) || h.sig != sig ||
        (size_t)st.st_size != STORE_HDR + h.maps_len * sizeof(uint16_t)) {
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return 0;
    s->map = m;
    s->len = (size_t)st.st_size;
    s->maps = (uint16_t *)((char *)m + STORE_HDR);
    return 1;
}

int nd_lstore_check(const nd_lstore *s, const char *dir, size_t nimages, size_t nlayers, size_t maps_len)
{
    const store_header *h = s->map;
    if (h->nlayers != nlayers || h->maps_len != maps_len || h->nimages != nimages)
        return nd_fail("label store does not match %s/index.csv (%llu layers, index has %zu); delete it to rebuild",
                       dir, (unsigned long long)h->nlayers, nlayers);
    return 0;
}

int nd_lstore_bad_label(const char *dir, unsigned v, int L)
{
    return (int)v >= L ? nd_fail("label store holds label number %u, beyond label.csv; delete it to rebuild", v)
                       : nd_fail("label store holds label number %u, which is not in %s/label.csv; delete it "
                                 "to rebuild", v, dir);
}

int nd_lstore_create(nd_lstore *s, const char *path, size_t maps_len)
{
    afile *a = &s->file;
    /* a store is rebuilt over a stale store, never over another file (the
     * activations, a CSV) given by mistake as --label-store */
    if (afile_check_kind(path, STORE_MAGIC, 8, "label store") || afile_open_mode(a, path, "w+b"))
        return -1;
    size_t len = STORE_HDR + maps_len * sizeof(uint16_t);
    if (ftruncate(fileno(a->f), (off_t)len) != 0) {
        int e = errno;
        afile_abort(a);
        return nd_fail("%s: cannot size the label store (%zu bytes): %s", path, len, strerror(e));
    }
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(a->f), 0);
    if (m == MAP_FAILED) {
        int e = errno;
        afile_abort(a);
        return nd_fail("%s: cannot map the label store: %s", path, strerror(e));
    }
    s->map = m;
    s->len = len;
    s->maps = (uint16_t *)((char *)m + STORE_HDR);
    return 0;
}

static void fill_header(store_header *h, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, STORE_MAGIC, 8);
    h->sig = sig, h->nlayers = nlayers, h->maps_len = maps_len, h->nimages = nimages;
}

int nd_lstore_commit(nd_lstore *s, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len)
{
    store_header h;
    fill_header(&h, sig, nimages, nlayers, maps_len);
    memcpy(s->map, &h, sizeof h);
    if (msync(s->map, s->len, MS_SYNC) != 0) {
        int e = errno;
        const char *path = s->file.path;
        nd_fail("%s: cannot write the label store: %s", path, strerror(e));
        afile_abort(&s->file);
        return -1;
    }
    return afile_commit(&s->file);
}

void nd_lstore_abort(nd_lstore *s)
{
    if (s->file.tmp)
        afile_abort(&s->file);
}

void nd_lstore_close(nd_lstore *s)
{
    if (s->map)
        munmap(s->map, s->len);
    s->map = NULL;
    s->maps = NULL;
}

int broden_store_write_raw(const char *path, uint64_t sig, size_t nimages, size_t nlayers, size_t maps_len,
                           int (*fill)(void *ctx, FILE *f), void *ctx)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    store_header h;
    fill_header(&h, sig, nimages, nlayers, maps_len);
    if (fwrite(&h, sizeof h, 1, a.f) != 1 || fill(ctx, a.f)) {
        afile_abort(&a);
        return nd_fail("%s: write failed", path);
    }
    return afile_commit(&a);
}
