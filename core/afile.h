/* afile.h - output files that are either complete or absent.
 *
 * Every result the tool writes goes through an afile: the data is written to
 * "<path>.tmp.<host>.<pid>", flushed, fsync'd, and renamed over <path> only by
 * afile_commit().  A crash, a kill -9 or a full disk therefore leaves either
 * the previous complete file or nothing - never a half file under the real
 * name.  Open temporaries are registered so that afile_cleanup() (called
 * from the SIGINT/SIGTERM handler) can unlink them.  A temporary left by a
 * kill -9 is removed by the next afile_open of the same path on the same host
 * once its process is gone (afile_stale_temp); another host's is never touched.
 *
 * Inputs are protected: a command registers the files it reads with
 * afile_protect_input(), and afile_open refuses to replace any of them (by
 * device and inode, so a symlink or another spelling of the path is caught).
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

/* Register an input file that no afile may replace (a path that does not
 * exist yet is ignored).  0, or -1 when the table (64 entries) is full. */
int afile_protect_input(const char *path);
/* 1 when a and b name the same existing file (device and inode). */
int nd_same_file(const char *a, const char *b);
/* Refuse (-1, one nd_fail line naming path) to replace an existing non-empty
 * file that does not start with magic[0..n): what names the expected kind
 * ("label store", ".npy file").  0 when path is absent, empty or of that kind. */
int afile_check_kind(const char *path, const void *magic, size_t n, const char *what);

/* The same for a text output (CSV, JSON): refuse to replace an existing file
 * with a NUL byte in its first 4 KiB (binary: activations, a label store). */
int afile_check_text(const char *path);

/* "<host>.<pid>": the tag of this process's temporaries (also used by the
 * import folder and the figures, so that one cleanup rule fits all). */
const char *afile_tmp_tag(void);
/* 1 when name (a file name, no folder) is a temporary "<x>.tmp.<host>.<pid>[.ext]"
 * of this host whose process no longer runs (or a pre-host "<x>.tmp.<pid>" of a
 * process that no longer runs here): safe to remove. */
int afile_stale_temp(const char *name);
/* Unlink the stale temporaries (afile_stale_temp) directly inside dir. */
void afile_remove_stale(const char *dir);

/* A line the signal handler writes to stderr before exiting (where the work
 * stopped and how to resume); NULL or "" for none.  Copied, at most 511 bytes. */
void afile_set_interrupt_note(const char *note);

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

/* Read a whole (small) text file, NUL-terminated, without a leading UTF-8
 * byte-order mark (nd_skip_bom); NULL + nd_fail on error. */
char *nd_read_text(const char *path);
/* Write s as a JSON string literal (quotes, backslashes, controls escaped). */
void nd_json_str(FILE *f, const char *s);

#endif
