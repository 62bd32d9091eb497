/* textures.c - scanning a texture set (see textures.h). */
#include "datasets/textures.h"

#include "core/afile.h"
#include "core/err.h"
#include "datasets/folder.h"

#include <stdlib.h>
#include <string.h>

void tex_free(tex_set *s)
{
    folder_free(s->classes, s->nclass);
    folder_free(s->rel, s->n);
    free(s->file);
    free(s->cls);
    memset(s, 0, sizeof *s);
}

static int valid_class_name(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                     strlen(s);
}

/* Append the photographs of class k (folder cdir) to s. */
static int scan_class(tex_set *s, size_t *cap, const char *cdir, int k)
{
    char **names;
    size_t n;
    if (folder_list(cdir, &names, &n))
        return -1;
    int rc = 0;
    if (n == 0)
        rc = nd_fail("%s: empty class folder (each class needs at least one photograph)", cdir);
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = nd_path_join(cdir, names[i]);
        if (!p)
            rc = -1;
        else if (folder_is_dir(p) || !folder_is_image_name(names[i]))
            rc = nd_fail("%s: not a photograph (a class folder holds only .jpg, .jpeg or .png files)", p);
        free(p);
        if (rc)
            break;
        if (s->n == *cap) {
            size_t nc = *cap ? 2 * *cap : 1024;
            char **r = realloc(s->rel, nc * sizeof *r);
            if (r)
                s->rel = r;
            int *c = realloc(s->cls, nc * sizeof *c);
            if (c)
                s->cls = c;
            if (!r || !c) {
                rc = nd_fail("%s: out of memory", cdir);
                break;
            }
            *cap = nc;
        }
        size_t len = strlen(s->classes[k]) + strlen(names[i]) + 2;
        if (!(s->rel[s->n] = malloc(len))) {
            rc = nd_fail("%s: out of memory", cdir);
            break;
        }
        snprintf(s->rel[s->n], len, "%s/%s", s->classes[k], names[i]);
        s->cls[s->n++] = k;
    }
    folder_free(names, n);
    return rc;
}

int tex_scan(tex_set *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    if (!folder_is_dir(dir))
        return nd_fail("%s: not a folder (a texture set is one sub-folder per class)", dir);
    if (folder_list(dir, &s->classes, &s->nclass))
        return -1;
    int rc = 0;
    size_t cap = 0;
    if (s->nclass == 0)
        rc = nd_fail("%s: no class folders (a texture set is one sub-folder per class)", dir);
    for (size_t k = 0; k < s->nclass && !rc; k++) {
        char *cdir = nd_path_join(dir, s->classes[k]);
        if (!cdir)
            rc = -1;
        else if (!folder_is_dir(cdir))
            rc = nd_fail("%s: not a class folder (a texture set holds only one sub-folder per class)",
                         cdir);
        else if (!valid_class_name(s->classes[k]))
            rc = nd_fail("%s: class name '%s' has characters other than letters, digits, _ and -",
                         cdir, s->classes[k]);
        else
            rc = scan_class(s, &cap, cdir, (int)k);
        free(cdir);
    }
    if (!rc && !(s->file = nd_malloc(s->n * sizeof *s->file)))
        rc = -1;
    for (size_t i = 0; i < s->n && !rc; i++)
        s->file[i] = strchr(s->rel[i], '/') + 1;
    if (rc)
        tex_free(s);
    return rc;
}
