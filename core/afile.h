/* afile.h - output files that are either complete or absent.
 *
 * Every result the tool writes goes through an afile: the data is written to
 * "<path>.tmp.<pid>", flushed, fsync'd, and renamed over <path> only by
 * afile_commit().  A crash, a kill -9 or a full disk therefore leaves either
 * the previous complete file or nothing - never a half file under the real
 * name.  Open temporaries are registered so that afile_cleanup() (called
 * from the SIGINT/SIGTERM handler) can unlink them.
 *
 *     afile a;
 *     if (afile_open(&a, "out/result.csv")) return -1;
 *     fprintf(a.f, ...);
 *     return afile_commit(&a);      // or afile_abort(&a) on an error path
 */
#ifndef ND_AFILE_H
#define ND_AFILE_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char *path; /* final name */
    char *tmp;  /* temporary name, NULL once committed or aborted */
} afile;

int afile_open(afile *a, const char *path);
/* the same with an fopen mode ("w+b" for a file that is also mapped) */
int afile_open_mode(afile *a, const char *path, const char *mode);
/* flush + fsync + close + rename; on any failure the temp file is removed,
 * the previous file at path is untouched, and -1 is returned. */
int afile_commit(afile *a);
void afile_abort(afile *a);

/* Write a whole buffer atomically. */
int afile_write_all(const char *path, const void *data, size_t n);

/* Unlink all registered temporaries (async-signal-safe). */
void afile_cleanup(void);

/* A temporary output folder (built whole, then renamed into place): while
 * registered, the signal handler removes it with everything in it (up to 8
 * levels deep, async-signal-safe).  Unregister after the rename or after
 * removing it yourself.  The string must stay valid while registered. */
void afile_register_dir(const char *dir);
void afile_unregister_dir(const char *dir);
/* Remove a folder and everything in it (up to 8 levels deep), as the handler does. */
void afile_remove_dir(const char *dir);
/* One syncfs for the file system holding dir: a folder built from plain
 * files is on disk before it is renamed into place.  Error names dir. */
int afile_sync_dir(const char *dir);

/* Install SIGINT/SIGTERM/SIGHUP handlers that remove temporaries and exit
 * with 128+signal.  Long loops may also poll afile_interrupted(). */
void afile_install_signal_handlers(void);
int afile_interrupted(void);

/* mkdir -p; error names the path. */
int nd_mkdirs(const char *path);
/* join a directory and a file name into a new string */
char *nd_path_join(const char *dir, const char *name);

/* Read a whole (small) text file, NUL-terminated; NULL + nd_fail on error. */
char *nd_read_text(const char *path);
/* Write s as a JSON string literal (quotes, backslashes, controls escaped). */
void nd_json_str(FILE *f, const char *s);

#endif
