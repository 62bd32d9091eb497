/* format.c - the members that open every JSON summary (see format.h). */
#include "core/format.h"

#include <stdlib.h>

void nd_format_begin(FILE *f, const char *kind, int version)
{
    fprintf(f, "{\n  \"program\": \"dissect\",\n  \"format\": \"%s\",\n  \"%s\": %d,\n", kind, ND_FORMAT_KEY,
            version);
}

int nd_format_open(afile *a, const char *dir, const char *file, const char *kind, int version)
{
    char *p = nd_path_join(dir, file);
    int rc = !p || afile_open(a, p) ? -1 : 0;
    free(p);
    if (!rc)
        nd_format_begin(a->f, kind, version);
    return rc;
}
