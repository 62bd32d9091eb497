/* textures.h - a texture set: one sub-folder per class, photographs inside.
 *
 *     DIR/<class>/<photo>.{jpg,jpeg,png}
 *
 * Each photograph carries one image-level label, its folder's class (Broden
 * gave DTD images a scalar `texture` label; the tally counts it as a
 * whole-image mask).  Classes are sorted by name, photographs by file name
 * within a class (strcmp), so a scan is the same on every machine.  Strict:
 * anything in DIR that is not a class folder, an empty class folder, a file
 * in a class folder that is not named as an image, or a class name that
 * cannot be a label name (letters, digits, _ and - only) is an error naming
 * the path.  Decoding is the importer's job (it names a corrupt file).
 */
#ifndef ND_TEXTURES_H
#define ND_TEXTURES_H

#include <stddef.h>

typedef struct {
    size_t nclass;
    char **classes; /* sorted class names */
    size_t n;       /* photographs */
    char **rel;     /* "<class>/<file>", relative to the scanned folder */
    char **file;    /* "<file>" (points into rel) */
    int *cls;       /* class index of each photograph */
} tex_set;

int tex_scan(tex_set *s, const char *dir);
void tex_free(tex_set *s);

#endif
