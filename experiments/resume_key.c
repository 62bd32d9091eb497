/* resume_key.c - resume.key of a sweep or layers run folder (see resume_key.h). */
#include "experiments/resume_key.h"

#include "core/afile.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* "KEY = size N hash H" of one input file. */
static int file_line(FILE *f, const char *key, const char *path)
{
    nd_fingerprint fp;
    char b[128];
    if (nd_fingerprint_file(path, &fp))
        return -1;
    nd_fingerprint_str(&fp, b, sizeof b);
    fprintf(f, "%s = %s\n", key, b);
    return 0;
}

/* What a sweep's activations come from. */
static int sweep_lines(FILE *f, const config *c)
{
    if (file_line(f, "activations", c->npy))
        return -1;
    if (!c->compute)
        return 0;
    fprintf(f, "model = %s\nlayer = %s\n", c->model, c->layer);
    if (c->checkpoint) /* its weights reach the points through the activations' hash */
        fprintf(f, "checkpoint = yes\n");
    else if (c->weights)
        return file_line(f, "weights", c->weights);
    else
        fprintf(f, "random_seed = %ld\n", c->random_seed);
    return 0;
}

/* The networks of a layers experiment (the activations are never stored). */
static int layers_lines(FILE *f, const config *c)
{
    fprintf(f, "model = %s\n", c->model);
    if (c->weights && file_line(f, "weights", c->weights))
        return -1;
    if (c->layers_random_seed >= 0)
        fprintf(f, "random_seed = %ld\n", c->layers_random_seed);
    fprintf(f, "layers = %s\n", c->layers);
    return 0;
}

char *resume_key_text(const config *c)
{
    uint64_t dsig;
    if (broden_dataset_signature(c->dataset, c->categories, &dsig))
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        nd_fail("out of memory");
        return NULL;
    }
    fprintf(f, "; What every result in this folder depends on (dissect %s compares it on resume).\n"
               "; Inputs by content, not by path%s.\n",
            c->layers ? "layers" : "sweep", c->layers ? "" : "; alphas and draws may grow");
    fprintf(f, "dataset = csv files %016llx, categories %s\n", (unsigned long long)dsig,
            c->categories ? c->categories : "all");
    int rc = c->layers ? layers_lines(f, c) : sweep_lines(f, c);
    config_write_dissect(f, c);
    if (!c->layers)
        fprintf(f, "base_seed = %lu\n", c->base_seed);
    if (fclose(f) && !rc)
        rc = nd_fail("out of memory");
    if (rc) {
        free(text);
        return NULL;
    }
    return text;
}

/* The first line (1-based) where two texts differ, comment lines skipped;
 * 0 when equal.  *la, *lb: that line on each side (not terminated). */
static int first_difference(const char *a, const char *b, const char **la, int *na, const char **lb, int *nb)
{
    for (int line = 1; *a || *b; line++) {
        size_t ka = strcspn(a, "\n"), kb = strcspn(b, "\n");
        if (*a != ';' || *b != ';') {
            if (ka != kb || memcmp(a, b, ka)) {
                *la = a, *na = (int)ka, *lb = b, *nb = (int)kb;
                return line;
            }
        }
        a += ka + (a[ka] == '\n');
        b += kb + (b[kb] == '\n');
    }
    return 0;
}

/* The input file whose content line is lb ("activations = ...", "weights
 * = ..."), or NULL when the line is a setting. */
static const char *changed_input(const config *c, const char *lb, const char **what)
{
    if (!strncmp(lb, "activations = ", 14))
        return *what = "activations", c->npy;
    if (!strncmp(lb, "weights = ", 10))
        return *what = "weights", c->weights;
    return NULL;
}

static int check_key(const config *c, const char *path, const char *now)
{
    char *old = nd_read_text(path);
    if (!old)
        return -1;
    const char *la, *lb, *what, *done = c->layers ? "results" : "points";
    int na, nb, rc = 0, line = first_difference(old, now, &la, &na, &lb, &nb);
    const char *input = line > 0 ? changed_input(c, lb, &what) : NULL;
    if (input && !strncmp(la, lb, (size_t)(strchr(lb, '=') - lb)))
        rc = nd_fail("%s: the %s changed since this folder's %s were computed ('%.*s', now '%.*s'); use "
                     "another output folder (--out) or remove %s", input, what, done, na, la, nb, lb, c->out_dir);
    else if (line > 0)
        rc = nd_fail("%s:%d: this folder's %s were computed with '%.*s', this run has '%.*s'; use "
                     "another output folder (--out) or remove %s", path, line, done, na, la, nb, lb, c->out_dir);
    free(old);
    return rc;
}

int resume_key_claim(const config *c)
{
    char *now = resume_key_text(c);
    char *path = now ? nd_path_join(c->out_dir, "resume.key") : NULL;
    struct stat st;
    int rc = -1;
    if (path && stat(path, &st) == 0)
        rc = check_key(c, path, now);
    else if (path && !nd_mkdirs(c->out_dir))
        rc = afile_write_all(path, now, strlen(now));
    free(path);
    free(now);
    return rc;
}
