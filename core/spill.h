/* spill.h - per-thread temporary files for data that does not fit a
 * memory budget (core/onepass.c's kept maps).
 *
 * A file is made in tmpdir (NULL: $TMPDIR, else /tmp), named with the
 * host and process, and unlinked as soon as it is open: nothing is left
 * behind, whatever happens to the process.  Writes go through a 2 MB
 * buffer into disk space reserved ahead of them (64 MB at a time); reads are positioned (pread), so several threads may read one
 * file.  A file handed back with nd_spill_spare is reused by the next
 * nd_spill_open (overwriting cached pages is cheaper than filling new ones
 * on this kind of VM) until nd_spill_release or the process's exit.
 */
#ifndef ND_SPILL_H
#define ND_SPILL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    uint64_t flushed;     /* bytes already in the file */
    uint64_t reserved;    /* disk space reserved from offset 0 (fallocate) */
    unsigned char *buf;
    size_t n, cap;        /* bytes in buf, its capacity */
} nd_spill;

int nd_spill_open(nd_spill *s, const char *tmpdir);
/* Append bytes (a record larger than the buffer goes straight to the file). */
int nd_spill_add(nd_spill *s, const void *v, size_t bytes);
int nd_spill_flush(nd_spill *s);
/* bytes at offset `at` of the file fd into dst */
int nd_spill_read(int fd, void *dst, size_t bytes, uint64_t at);
/* Free the buffer and close the file (s->fd = -1 first to keep it open). */
void nd_spill_close(nd_spill *s);
/* Keep fd for the next nd_spill_open (or close it when there are enough). */
void nd_spill_spare(int fd);
/* Close every spare file (their disk space and page cache are freed). */
void nd_spill_release(void);

#endif
