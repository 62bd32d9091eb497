/* ckpt.c - checkpoint folders (see ckpt.h). */
#include "train/ckpt.h"

#include "core/afile.h"
#include "core/err.h"
#include "core/npy.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define NET_MAGIC "netdissect-c network 1"
#define STATE_MAGIC "netdissect-c training state 1"
#define MAXFILES 512

typedef struct {
    int n;
    char name[MAXFILES][160];
    long long bytes[MAXFILES];
    uint64_t hash[MAXFILES];
} manifest;

/* FNV-1a 64 of a file; -1 if unreadable. */
static int hash_file(const char *path, uint64_t *h, long long *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot read: %s", path, strerror(errno));
    uint64_t x = 1469598103934665603ULL;
    unsigned char buf[65536];
    size_t n;
    long long tot = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            x = (x ^ buf[i]) * 1099511628211ULL;
        tot += (long long)n;
    }
    int err = ferror(f);
    fclose(f);
    if (err)
        return nd_fail("%s: read error", path);
    *h = x, *bytes = tot;
    return 0;
}

/* the tensors of layer L: names, pointers, shapes (momentum: into t->mom) */
typedef struct {
    char name[160];
    float *p;
    int ndim;
    size_t shape[4];
} tensor;

static int layer_tensors(const net_t *net, const net_layer *L, float *mom, tensor *T)
{
    const net_def *d = L->def;
    int k = 0;
    if (!net_has_params(L))
        return 0;
    float *base = mom ? mom : net->params;
    const char *suf = mom ? ".momentum" : "";
    T[k] = (tensor){"", base + (L->wt - net->params), 1, {L->nweights, 0, 0, 0}};
    if (d->kind == NET_CONV)
        T[k].ndim = 4, T[k].shape[0] = (size_t)L->c, T[k].shape[1] = (size_t)L->cin,
        T[k].shape[2] = T[k].shape[3] = (size_t)d->k;
    else if (d->kind == NET_FC)
        T[k].ndim = 2, T[k].shape[0] = (size_t)L->c, T[k].shape[1] = (size_t)L->cin;
    snprintf(T[k++].name, sizeof T->name, "%s.weight%s.npy", d->name, suf);
    T[k] = (tensor){"", base + (L->bias - net->params), 1, {(size_t)L->c, 0, 0, 0}};
    snprintf(T[k++].name, sizeof T->name, "%s.bias%s.npy", d->name, suf);
    if (d->kind == NET_BATCHNORM && !mom) {
        T[k] = (tensor){"", L->rmean, 1, {(size_t)L->c, 0, 0, 0}};
        snprintf(T[k++].name, sizeof T->name, "%s.running_mean.npy", d->name);
        T[k] = (tensor){"", L->rvar, 1, {(size_t)L->c, 0, 0, 0}};
        snprintf(T[k++].name, sizeof T->name, "%s.running_var.npy", d->name);
    }
    return k;
}

static int add_file(manifest *m, const char *dir, const char *name)
{
    if (m->n == MAXFILES)
        return nd_fail("%s: more than %d files", dir, MAXFILES);
    char *p = nd_path_join(dir, name);
    if (!p)
        return -1;
    snprintf(m->name[m->n], sizeof m->name[0], "%s", name);
    int rc = hash_file(p, &m->hash[m->n], &m->bytes[m->n]);
    free(p);
    m->n += rc == 0;
    return rc;
}

static int save_tensors(const char *tmp, const net_t *net, float *mom, manifest *m)
{
    tensor T[4];
    for (int i = 0; i < net->nlayers; i++) {
        int k = layer_tensors(net, &net->layers[i], mom, T);
        for (int j = 0; j < k; j++) {
            char *p = nd_path_join(tmp, T[j].name);
            int rc = !p || npy_save(p, NPY_F32, T[j].ndim, T[j].shape, T[j].p);
            free(p);
            if (rc || add_file(m, tmp, T[j].name))
                return -1;
        }
    }
    return 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char *p = nd_path_join(dir, name);
    int rc = !p || afile_write_all(p, text, strlen(text));
    free(p);
    return rc ? -1 : 0;
}

static int write_rng(const char *dir, const tr_net *t, const gsl_rng *aug, manifest *m)
{
    char *p = nd_path_join(dir, "rng.bin");
    FILE *f = p ? fopen(p, "wb") : NULL;
    int rc = !f || gsl_rng_fwrite(f, t->rng) || (aug && gsl_rng_fwrite(f, aug));
    if (f && (fflush(f) || fsync(fileno(f)) || fclose(f)))
        rc = 1;
    if (rc)
        nd_fail("%s: cannot write", p ? p : dir);
    free(p);
    return rc ? -1 : add_file(m, dir, "rng.bin");
}

static int write_files(const char *tmp, const net_t *net, const tr_net *t, const gsl_rng *aug,
                       const tr_ckpt_info *info, manifest *m)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f)
        return nd_fail("out of memory");
    fprintf(f, "%s\ninput %d %d %d\n", NET_MAGIC, net->in_c, net->in_h, net->in_w);
    for (int i = 0; i < net->nlayers; i++)
        tr_table_write(f, net->layers[i].def, 1);
    fclose(f);
    int rc = write_text(tmp, "net.txt", txt) || add_file(m, tmp, "net.txt") ||
             save_tensors(tmp, net, NULL, m);
    free(txt);
    if (rc || !t)
        return rc ? -1 : 0;
    if ((t->have_mom && save_tensors(tmp, net, t->mom, m)) || write_rng(tmp, t, aug, m))
        return -1;
    f = open_memstream(&txt, &len);
    if (!f)
        return nd_fail("out of memory");
    fprintf(f, "%s\niteration %ld\nmomentum %d\nrngs %d\n", STATE_MAGIC, info->iteration,
            t->have_mom, aug ? 2 : 1);
    fprintf(f, "train_loss %.17g\ntrain_acc %.17g\nval_acc %.17g\n", info->train_loss,
            info->train_acc, info->val_acc);
    for (int i = 0; i < m->n; i++)
        fprintf(f, "file %s %lld %016" PRIx64 "\n", m->name[i], m->bytes[i], m->hash[i]);
    fclose(f);
    rc = write_text(tmp, "state.txt", txt);
    free(txt);
    return rc;
}

/* remove a flat folder */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = nd_path_join(dir, e->d_name);
        if (p)
            unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int tr_ckpt_save(const char *dir, const net_t *net, const tr_net *t, const gsl_rng *aug,
                 const tr_ckpt_info *info)
{
    char host[64] = "host", tmp[4096], old[4096];
    gethostname(host, sizeof host - 1);
    snprintf(tmp, sizeof tmp, "%s.tmp.%s.%ld", dir, host, (long)getpid());
    snprintf(old, sizeof old, "%s.old.%s.%ld", dir, host, (long)getpid());
    rm_dir(tmp);
    if (mkdir(tmp, 0777))
        return nd_fail("%s: cannot create: %s", tmp, strerror(errno));
    afile_register_dir(tmp);
    manifest *m = nd_calloc(1, sizeof *m);
    int rc = !m || write_files(tmp, net, t, aug, info, m);
    free(m);
    struct stat st;
    int had = stat(dir, &st) == 0;
    if (!rc && had && rename(dir, old))
        rc = nd_fail("%s: cannot replace: %s", dir, strerror(errno));
    if (!rc && rename(tmp, dir))
        rc = nd_fail("%s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
    if (rc)
        rm_dir(tmp);
    else if (had)
        rm_dir(old);
    afile_unregister_dir(tmp);
    return rc ? -1 : 0;
}

/* ---------- reading ---------- */

static int read_manifest(const char *dir, manifest *m, tr_ckpt_info *info, int *mom,
                         int *nrng)
{
    char *p = nd_path_join(dir, "state.txt");
    char *txt = p ? nd_read_text(p) : NULL;
    if (!txt) {
        free(p);
        return -1;
    }
    int rc = 0, line = 0;
    char *save = NULL;
    m->n = 0;
    for (char *l = strtok_r(txt, "\n", &save); l && !rc; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char nm[160];
        long long b;
        uint64_t h;
        if (line == 1) {
            rc = strcmp(l, STATE_MAGIC) != 0;
        } else if (!strncmp(l, "file ", 5)) {
            rc = m->n == MAXFILES ||
                 sscanf(l, "file %159s %lld %" SCNx64, nm, &b, &h) != 3;
            if (!rc) {
                snprintf(m->name[m->n], sizeof m->name[0], "%s", nm);
                m->bytes[m->n] = b, m->hash[m->n++] = h;
            }
        } else {
            rc = !(sscanf(l, "iteration %ld", &info->iteration) == 1 ||
                   sscanf(l, "momentum %d", mom) == 1 || sscanf(l, "rngs %d", nrng) == 1 ||
                   sscanf(l, "train_loss %lf", &info->train_loss) == 1 ||
                   sscanf(l, "train_acc %lf", &info->train_acc) == 1 ||
                   sscanf(l, "val_acc %lf", &info->val_acc) == 1);
        }
    }
    if (rc)
        nd_fail("%s: line %d: not a valid training state (corrupt?)", p, line);
    free(txt);
    free(p);
    return rc ? -1 : 0;
}

/* a file of the folder, checked against the manifest (when there is one) */
static int verify(const char *dir, const manifest *m, const char *name)
{
    if (!m)
        return 0;
    char *p = nd_path_join(dir, name);
    if (!p)
        return -1;
    int rc = -1;
    for (int i = 0; i < m->n; i++) {
        if (strcmp(m->name[i], name))
            continue;
        uint64_t h;
        long long b;
        if (hash_file(p, &h, &b))
            break;
        if (b != m->bytes[i])
            nd_fail("%s: %lld bytes, state.txt says %lld (truncated or corrupt checkpoint)", p,
                    b, m->bytes[i]);
        else if (h != m->hash[i])
            nd_fail("%s: content does not match its checksum in state.txt (corrupt checkpoint)",
                    p);
        else
            rc = 0;
        free(p);
        return rc;
    }
    if (rc && !strstr(nd_errmsg(), p))
        nd_fail("%s: not listed in state.txt", p);
    free(p);
    return -1;
}

static int load_tensors(const char *dir, const manifest *m, const net_t *net, float *mom)
{
    tensor T[4];
    for (int i = 0; i < net->nlayers; i++) {
        int k = layer_tensors(net, &net->layers[i], mom, T);
        for (int j = 0; j < k; j++) {
            if (verify(dir, m, T[j].name))
                return -1;
            char *p = nd_path_join(dir, T[j].name);
            npy_t a;
            if (!p || npy_open(&a, p)) {
                free(p);
                return -1;
            }
            int ok = a.ndim == T[j].ndim;
            for (int d = 0; ok && d < a.ndim; d++)
                ok = a.shape[d] == T[j].shape[d];
            if (ok)
                npy_to_f32(&a, 0, a.count, T[j].p);
            else
                nd_fail("%s: shape does not match layer %s of net.txt", p,
                        net->layers[i].def->name);
            npy_close(&a);
            free(p);
            if (!ok)
                return -1;
        }
    }
    return 0;
}

static int parse_net(const char *dir, const manifest *m, tr_table *tab, net_t *net)
{
    if (verify(dir, m, "net.txt"))
        return -1;
    char *p = nd_path_join(dir, "net.txt");
    char *txt = p ? nd_read_text(p) : NULL;
    int rc = txt ? 0 : -1, line = 0, c = 0, h = 0, w = 0;
    char *save = NULL;
    memset(tab, 0, sizeof *tab);
    for (char *l = txt ? strtok_r(txt, "\n", &save) : NULL; l && !rc;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (line == 1) {
            rc = strcmp(l, NET_MAGIC) ? nd_fail("%s: line 1: not a netdissect-c network", p) : 0;
        } else if (line == 2) {
            if (sscanf(l, "input %d %d %d", &c, &h, &w) != 3 || c < 1 || h < 1 || w < 1)
                rc = nd_fail("%s: line 2: expected 'input C H W'", p);
        } else {
            char *sp = strchr(l, ' ');
            if (sp)
                *sp = 0;
            if (!sp || tr_table_add(tab, l, sp + 1))
                rc = nd_fail_prefix("%s: line %d", p, line);
        }
    }
    if (!rc && line < 3)
        rc = nd_fail("%s: no layers", p);
    if (!rc && net_create(net, dir, tab->defs, tab->n, c, h, w))
        rc = nd_fail_prefix("%s", p);
    free(txt);
    free(p);
    if (rc)
        tr_table_free(tab);
    return rc;
}

static int open_manifest(const char *dir, manifest **m, tr_ckpt_info *info, int *mom,
                         int *nrng)
{
    char *p = nd_path_join(dir, "state.txt");
    struct stat st;
    int has = p && stat(p, &st) == 0;
    free(p);
    *m = NULL;
    if (!has)
        return 0;
    *m = nd_calloc(1, sizeof **m);
    if (!*m || read_manifest(dir, *m, info, mom, nrng)) {
        free(*m);
        *m = NULL;
        return -1;
    }
    return 1;
}

int tr_ckpt_load(const char *dir, tr_table *tab, net_t *net, tr_ckpt_info *info,
                 int *has_state)
{
    tr_ckpt_info dummy;
    info = info ? info : &dummy;
    *info = (tr_ckpt_info){0, NAN, NAN, NAN};
    manifest *m;
    int mom = 0, nrng = 0, has = open_manifest(dir, &m, info, &mom, &nrng);
    if (has < 0)
        return -1;
    if (has_state)
        *has_state = has;
    if (parse_net(dir, m, tab, net)) {
        free(m);
        return -1;
    }
    if (load_tensors(dir, m, net, NULL)) {
        free(m);
        net_free(net);
        tr_table_free(tab);
        return -1;
    }
    free(m);
    return 0;
}

int tr_ckpt_load_state(const char *dir, tr_net *t, gsl_rng *aug)
{
    tr_ckpt_info info;
    manifest *m;
    int mom = 0, nrng = 0, has = open_manifest(dir, &m, &info, &mom, &nrng);
    if (has <= 0)
        return has;
    int rc = mom && load_tensors(dir, m, t->net, t->mom);
    t->have_mom = mom;
    char *p = nd_path_join(dir, "rng.bin");
    if (!rc && (!p || verify(dir, m, "rng.bin")))
        rc = -1;
    FILE *f = !rc ? fopen(p, "rb") : NULL;
    if (!rc && (!f || gsl_rng_fread(f, t->rng) ||
                (nrng > 1 && aug && gsl_rng_fread(f, aug))))
        rc = nd_fail("%s: cannot read the random-number states", p);
    if (f)
        fclose(f);
    free(p);
    free(m);
    return rc ? -1 : 0;
}

int tr_ckpt_info_read(const char *dir, tr_ckpt_info *info)
{
    *info = (tr_ckpt_info){0, NAN, NAN, NAN};
    manifest *m = nd_calloc(1, sizeof *m);
    int mom, nrng, rc = !m || read_manifest(dir, m, info, &mom, &nrng);
    free(m);
    return rc ? -1 : 0;
}

void tr_ckpt_clean_stale(const char *dir)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        t = t ? t : strstr(e->d_name, ".old.");
        size_t hl = strlen(host);
        if (!t || strncmp(t + 5, host, hl) || t[5 + hl] != '.')
            continue;
        char *end;
        long pid = strtol(t + 6 + hl, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        char *p = nd_path_join(dir, e->d_name);
        if (p)
            rm_dir(p);
        free(p);
    }
    if (d)
        closedir(d);
}
