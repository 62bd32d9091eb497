/* format.c - the members that open every JSON summary (see format.h). */
#include "core/format.h"

void nd_format_begin(FILE *f, const char *kind, int version)
{
    fprintf(f, "{\n  \"program\": \"dissect\",\n  \"format\": \"%s\",\n  \"%s\": %d,\n", kind, ND_FORMAT_KEY,
            version);
}
