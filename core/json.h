/* json.h - reading small JSON files (our summary.json) as flat (path, value)
 * pairs.
 *
 *     nd_json j;
 *     if (nd_json_read(&j, "out/summary.json")) return -1;
 *     double q; char *ds = nd_json_string(&j, "dataset");    // unescaped, malloc'd
 *     nd_json_number(&j, "field.offset", &q);                // error names file and member
 *     nd_json_free(&j);
 */
#ifndef ND_JSON_H
#define ND_JSON_H

typedef struct {
    char **path, **val; /* n pairs; values as written (strings keep their quotes) */
    int n, cap;
    const char *file;   /* for error messages (the caller's string) */
    const char *p;      /* parse position */
} nd_json;

int nd_json_read(nd_json *j, const char *path);
void nd_json_free(nd_json *j);
/* The raw value at a flattened path ("a.b", "list[2]"), or NULL. */
const char *nd_json_get(const nd_json *j, const char *path);
/* A string member unescaped (malloc'd), or NULL with nd_fail naming file and member. */
char *nd_json_string(const nd_json *j, const char *path);
/* A number member; -1 with nd_fail naming file and member when missing or not a number. */
int nd_json_number(const nd_json *j, const char *path, double *out);

#endif
