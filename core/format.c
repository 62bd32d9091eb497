/* format.c - the members that open every JSON summary (see format.h). */
#include "core/format.h"

#include "core/err.h"

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

int nd_format_check(const nd_json *j, int known)
{
    double v;
    if (!nd_json_get(j, ND_FORMAT_KEY))
        return 0;
    if (nd_json_number(j, ND_FORMAT_KEY, &v))
        return -1;
    if (v > known)
        return nd_fail("%s: field \"%s\": %g, newer than this dissect reads (%d): use the dissect that wrote it",
                       j->file, ND_FORMAT_KEY, v, known);
    return 0;
}
