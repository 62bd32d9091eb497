/* spill.c - the sieve's per-thread temporary files (spill.h). */
#include "core/spill.h"
#include "core/err.h"
#include "core/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per-thread write buffer of kept maps: large writes into the page cache. */
#define SPILL_BUFFER ((size_t)2 << 20)


/* The files of the last sieve, kept open for the next: writing into a
 * fresh file costs a new page-cache page per 4 KB (1.3 GB/s on this
 * machine's VM, 1.4 s of CPU per point at 16,000 images), overwriting the
 * cached pages of the last one does not.  nd_spill_release closes them. */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static int spare_fd[ND_MAX_THREADS], nspare;

static int spare_take(void)
{
    int fd = -1;
    pthread_mutex_lock(&spare_mu);
    if (nspare > 0)
        fd = spare_fd[--nspare];
    pthread_mutex_unlock(&spare_mu);
    if (fd >= 0 && lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

void nd_spill_spare(int fd)
{
    pthread_mutex_lock(&spare_mu);
    if (nspare < ND_MAX_THREADS)
        spare_fd[nspare++] = fd, fd = -1;
    pthread_mutex_unlock(&spare_mu);
    if (fd >= 0)
        close(fd);
}

void nd_spill_release(void)
{
    for (int fd; (fd = spare_take()) >= 0;)
        close(fd);
}

/* A temporary file named for this host and process, unlinked at once (or
 * a spare one of the last sieve). */
int nd_spill_open(nd_spill *s, const char *tmpdir)
{
    memset(s, 0, sizeof *s);
    if ((s->fd = spare_take()) < 0) {
        char host[256] = "host", path[4096];
        const char *dir = tmpdir ? tmpdir : getenv("TMPDIR");
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        snprintf(path, sizeof path, "%s/nd-sieve.%s.%ld.XXXXXX", dir && *dir ? dir : "/tmp", host, (long)getpid());
        s->fd = mkstemp(path);
        if (s->fd < 0)
            return nd_fail("%s: cannot create the sieve's temporary file: %s", path, strerror(errno));
        unlink(path);
    }
    s->cap = SPILL_BUFFER;
    if (!(s->buf = nd_malloc(s->cap))) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    return 0;
}

/* Disk space reserved ahead of the writes, RESERVE_STEP at a time: on ext4
 * here, appending to a fresh file costs ~2 s per 0.7 GB (its blocks
 * allocated as the pages are written), into reserved blocks ~0.15 s, about
 * what overwriting a reused file costs.  FALLOC_FL_KEEP_SIZE leaves the
 * file's size to the writes.  A file system without fallocate just writes. */
#define RESERVE_STEP ((uint64_t)64 << 20)

static void reserve(nd_spill *s, uint64_t end)
{
#ifdef FALLOC_FL_KEEP_SIZE
    if (s->reserved >= end)
        return;
    uint64_t len = end - s->reserved > RESERVE_STEP ? end - s->reserved : RESERVE_STEP;
    if (fallocate(s->fd, FALLOC_FL_KEEP_SIZE, (off_t)s->reserved, (off_t)len) == 0)
        s->reserved += len;
    else
        s->reserved = UINT64_MAX; /* not supported (or full: the write will say) */
#else
    (void)s, (void)end;
#endif
}

static int write_all(int fd, const void *v, size_t bytes)
{
    const unsigned char *p = v;
    while (bytes > 0) {
        ssize_t w = write(fd, p, bytes);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return nd_fail("the sieve's temporary file: write failed: %s", w < 0 ? strerror(errno) : "no space");
        p += w, bytes -= (size_t)w;
    }
    return 0;
}

int nd_spill_flush(nd_spill *s)
{
    reserve(s, s->flushed + s->n);
    if (write_all(s->fd, s->buf, s->n))
        return -1;
    s->flushed += s->n;
    s->n = 0;
    return 0;
}

/* Append bytes (a record larger than the buffer goes straight to the file). */
int nd_spill_add(nd_spill *s, const void *v, size_t bytes)
{
    if (s->n + bytes > s->cap && nd_spill_flush(s))
        return -1;
    if (bytes > s->cap) {
        reserve(s, s->flushed + bytes);
        if (write_all(s->fd, v, bytes))
            return -1;
        s->flushed += bytes;
        return 0;
    }
    memcpy(s->buf + s->n, v, bytes);
    s->n += bytes;
    return 0;
}

int nd_spill_read(int fd, void *dst, size_t bytes, uint64_t at)
{
    char *p = dst;
    size_t left = bytes;
    off_t off = (off_t)at;
    while (left > 0) {
        ssize_t r = pread(fd, p, left, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return nd_fail("the sieve's temporary file: read failed: %s", r < 0 ? strerror(errno) : "short file");
        p += r, left -= (size_t)r, off += r;
    }
    return 0;
}

void nd_spill_close(nd_spill *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

