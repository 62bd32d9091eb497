#include "core/afile.h"
#include "core/csv.h"
#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A fixed table, so that the signal handler never touches the heap. */
#define AFILE_MAX 64
static char *volatile live_tmp[AFILE_MAX];
static volatile sig_atomic_t got_signal;

static void reg_add(char *tmp)
{
    for (int i = 0; i < AFILE_MAX; i++)
        if (!live_tmp[i]) {
            live_tmp[i] = tmp;
            return;
        }
}

static void reg_del(const char *tmp)
{
    for (int i = 0; i < AFILE_MAX; i++)
        if (live_tmp[i] == tmp)
            live_tmp[i] = NULL;
}

/* Temporary folders, removed from the signal handler with only
 * async-signal-safe calls (openat, getdents64, unlinkat, close). */
#define AFILE_MAX_DIRS 8
static const char *volatile live_dir[AFILE_MAX_DIRS];

void afile_register_dir(const char *dir)
{
    for (int i = 0; i < AFILE_MAX_DIRS; i++)
        if (!live_dir[i]) {
            live_dir[i] = dir;
            return;
        }
}

void afile_unregister_dir(const char *dir)
{
    for (int i = 0; i < AFILE_MAX_DIRS; i++)
        if (live_dir[i] == dir)
            live_dir[i] = NULL;
}

struct afile_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Remove name (relative to dirfd) and everything below it. */
static void rm_tree_at(int dirfd, const char *name, int depth)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096] __attribute__((aligned(8)));
        /* entries removed while reading: read again from the start until a
         * pass finds nothing left to remove */
        for (int removed = 1; removed;) {
            removed = 0;
            lseek(fd, 0, SEEK_SET);
            long n;
            while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
                for (long off = 0; off < n;) {
                    struct afile_dirent64 *e = (struct afile_dirent64 *)(buf + off);
                    off += e->d_reclen;
                    const char *d = e->d_name;
                    if (d[0] == '.' && (!d[1] || (d[1] == '.' && !d[2])))
                        continue;
                    if (e->d_type == DT_DIR) {
                        if (depth < 8)
                            rm_tree_at(fd, d, depth + 1);
                    } else if (unlinkat(fd, d, 0) == 0)
                        removed = 1;
                }
        }
        close(fd);
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

void afile_remove_dir(const char *dir) { rm_tree_at(AT_FDCWD, dir, 0); }

void afile_cleanup(void)
{
    for (int i = 0; i < AFILE_MAX; i++)
        if (live_tmp[i])
            unlink(live_tmp[i]);
    for (int i = 0; i < AFILE_MAX_DIRS; i++)
        if (live_dir[i])
            rm_tree_at(AT_FDCWD, live_dir[i], 0);
}

static char interrupt_note[512];
static volatile sig_atomic_t note_len;

void afile_set_interrupt_note(const char *note)
{
    note_len = 0; /* the handler never sees a half-copied note */
    size_t n = note ? strlen(note) : 0;
    if (n > sizeof interrupt_note - 2)
        n = sizeof interrupt_note - 2;
    memcpy(interrupt_note, note ? note : "", n);
    interrupt_note[n] = '\n';
    note_len = n ? (sig_atomic_t)(n + 1) : 0;
}

static void on_signal(int sig)
{
    got_signal = sig;
    afile_cleanup();
    if (note_len) {
        ssize_t w = write(2, interrupt_note, (size_t)note_len);
        (void)w;
    }
    signal(sig, SIG_DFL);
    _exit(128 + sig);
}

void afile_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int afile_interrupted(void) { return got_signal != 0; }

int afile_open(afile *a, const char *path) { return afile_open_mode(a, path, "wb"); }

/* ---- protected inputs ---- */

#define AFILE_MAX_INPUTS 64
static struct {
    dev_t dev;
    ino_t ino;
    char *path;
} inputs[AFILE_MAX_INPUTS];
static int n_inputs;

int afile_protect_input(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino)
            return 0;
    if (n_inputs == AFILE_MAX_INPUTS)
        return nd_fail("%s: too many input files to protect", path);
    inputs[n_inputs].dev = st.st_dev;
    inputs[n_inputs].ino = st.st_ino;
    inputs[n_inputs].path = strdup(path);
    n_inputs++;
    return 0;
}

int nd_same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* -1 after nd_fail when path is a protected input */
static int check_not_input(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino)
            return nd_fail("%s: is also an input of this command (%s); refusing to overwrite it: "
                           "choose another output path", path, inputs[i].path ? inputs[i].path : path);
    return 0;
}

int afile_check_kind(const char *path, const void *magic, size_t n, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    unsigned char head[64];
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, n < sizeof head ? n : sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (got == n && !memcmp(head, magic, n))
        return 0;
    return nd_fail("%s: exists and is not a %s; refusing to overwrite it (remove it or choose another path)",
                   path, what);
}

int afile_check_text(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    unsigned char head[4096];
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (!memchr(head, 0, got))
        return 0;
    return nd_fail("%s: exists and is a binary file, not text; refusing to overwrite it (remove it or choose "
                   "another path)", path);
}

/* ---- temporary names ---- */

static char tmp_tag[300];

const char *afile_tmp_tag(void)
{
    if (!tmp_tag[0]) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            strcpy(host, "localhost");
        host[sizeof host - 1] = 0;
        for (char *c = host; *c; c++) /* a file name part: no folders, no further dots */
            if (*c == '/' || *c == '.')
                *c = '-';
        snprintf(tmp_tag, sizeof tmp_tag, "%s.%ld", host, (long)getpid());
    }
    return tmp_tag;
}

/* pid is a number of a process that is gone (not ours, not alive here) */
static int pid_gone(const char *digits, size_t nd)
{
    if (nd == 0 || nd > 9)
        return 0;
    long pid = strtol(digits, NULL, 10);
    if (pid <= 0 || pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int afile_stale_temp(const char *name)
{
    const char *tag = afile_tmp_tag();
    size_t hl = (size_t)(strrchr(tag, '.') - tag); /* host part of the tag */
    for (const char *t = strstr(name, ".tmp."); t; t = strstr(t + 1, ".tmp.")) {
        const char *r = t + 5;
        if (!strncmp(r, tag, hl) && r[hl] == '.') { /* this host's "<host>.<pid>" */
            const char *p = r + hl + 1;
            size_t np = strspn(p, "0123456789");
            if (np && (p[np] == 0 || p[np] == '.'))
                return pid_gone(p, np);
        }
        /* the pre-host "<pid>" naming (written before runs spanned hosts) */
        size_t nd = strspn(r, "0123456789");
        if (nd && (r[nd] == 0 || !strcmp(r + nd, ".png") || !strcmp(r + nd, ".svg")))
            return pid_gone(r, nd);
    }
    return 0;
}

/* Unlink the stale temporaries in dir; only those of base ("<base>.tmp.*")
 * unless base is NULL. */
static void remove_stale_in(const char *dir, const char *base)
{
    size_t bl = base ? strlen(base) : 0;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if ((!base || (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".tmp.", 5))) &&
            afile_stale_temp(e->d_name)) {
            char *p = nd_path_join(dir, e->d_name);
            if (p)
                unlink(p);
            free(p);
        }
    closedir(d);
}

void afile_remove_stale(const char *dir) { remove_stale_in(dir, NULL); }

/* Stale temporaries of this very path (a killed run's "<path>.tmp.<host>.<pid>"). */
static void remove_stale_siblings(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (dir)
        remove_stale_in(dir, slash ? slash + 1 : path);
    free(dir);
}

int afile_open_mode(afile *a, const char *path, const char *mode)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + strlen(afile_tmp_tag()) + 8;
    a->path = strdup(path);
    a->tmp = nd_malloc(n);
    if (!a->path || !a->tmp) {
        free(a->path);
        free(a->tmp);
        return nd_fail("%s: out of memory", path);
    }
    snprintf(a->tmp, n, "%s.tmp.%s", path, afile_tmp_tag());
    if (check_not_input(path))
        goto fail;
    remove_stale_siblings(path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        nd_fail("%s: is a directory, expected a file", path);
        goto fail;
    }
    /* registered before it exists: a signal between the two must not leave it */
    reg_add(a->tmp);
    a->f = fopen(a->tmp, mode);
    if (!a->f) {
        reg_del(a->tmp);
        nd_fail("%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    return -1;
}

static void afile_free(afile *a)
{
    reg_del(a->tmp);
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    a->f = NULL;
}

void afile_abort(afile *a)
{
    if (!a->tmp)
        return;
    if (a->f)
        fclose(a->f);
    unlink(a->tmp);
    afile_free(a);
}

int afile_commit(afile *a)
{
    int bad = ferror(a->f);
    int err = bad ? EIO : 0;
    if (fflush(a->f) != 0 && !err)
        err = errno;
    if (!err && fsync(fileno(a->f)) != 0 && errno != EINVAL)
        err = errno;
    if (fclose(a->f) != 0 && !err)
        err = errno;
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0)
        err = errno;
    if (err) {
        nd_fail("%s: write failed: %s (previous file left in place)", a->path,
                strerror(err));
        unlink(a->tmp);
        afile_free(a);
        return -1;
    }
    afile_free(a);
    return 0;
}

int afile_write_all(const char *path, const void *data, size_t n)
{
    afile a;
    if (afile_open(&a, path))
        return -1;
    if (n && fwrite(data, 1, n, a.f) != n) {
        int e = errno;
        afile_abort(&a);
        return nd_fail("%s: write failed: %s", path, strerror(e));
    }
    return afile_commit(&a);
}

int nd_mkdirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return nd_fail("out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                nd_fail("%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(p);
        return nd_fail("%s: not a directory", path);
    }
    if (access(path, W_OK) != 0) {
        free(p);
        return nd_fail("%s: directory is not writable", path);
    }
    free(p);
    return 0;
}

char *nd_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = nd_malloc(n);
    if (!s) {
        nd_fail("out of memory");
        return NULL;
    }
    if (!*dir || dir[strlen(dir) - 1] == '/')
        snprintf(s, n, "%s%s", dir, name);
    else
        snprintf(s, n, "%s/%s", dir, name);
    return s;
}

char *nd_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nd_fail("%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char tmp[65536];
    size_t n;
    while (m && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
        fwrite(tmp, 1, n, m);
    int err = ferror(f);
    fclose(f);
    if (!m || fclose(m) || err) {
        free(buf);
        nd_fail("%s: read error", path);
        return NULL;
    }
    size_t bom = (size_t)(nd_skip_bom(buf) - buf);
    if (bom)
        memmove(buf, buf + bom, len - bom + 1);
    return buf;
}

void nd_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

int afile_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = fd < 0 || syncfs(fd) != 0 ? nd_fail("%s: cannot sync: %s", dir, strerror(errno)) : 0;
    if (fd >= 0)
        close(fd);
    return rc;
}
