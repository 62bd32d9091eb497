/* folder.h - listing a dataset folder: sorted entry names, photographs.
 *
 * Entries are sorted with strcmp (byte order), so an import is the same
 * on every machine; names starting with '.' are skipped.
 */
#ifndef ND_FOLDER_H
#define ND_FOLDER_H

#include <stddef.h>

/* Names in dir, sorted; *names and each name are malloc'd (folder_free). */
int folder_list(const char *dir, char ***names, size_t *n);
void folder_free(char **names, size_t n);

/* 1 when the name ends in .jpg, .jpeg or .png (any case). */
int folder_is_image_name(const char *name);

/* 1 for a directory, 0 for anything else (or a missing path). */
int folder_is_dir(const char *path);

#endif
