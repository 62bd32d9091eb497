/* verify.c - completeness checks of files written by other programs (verify.h). */
#include "core/verify.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int nd_verify_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /* IEND has no data, so its CRC is a constant */
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot read: %s", path, strerror(errno));
    struct stat st;
    unsigned char b[12];
    int rc = -1;
    if (fstat(fileno(f), &st) != 0 || fread(b, 1, 8, f) != 8 || memcmp(b, sig, 8)) {
        nd_fail("%s: not a PNG file (empty, or no PNG signature)", path);
        goto done;
    }
    /* walk the chunks: length, type, data, CRC */
    for (long long at = 8;;) {
        if (at + 12 > (long long)st.st_size || fseeko(f, at, SEEK_SET) || fread(b, 1, 8, f) != 8) {
            nd_fail("%s: truncated PNG (a chunk ends past the end of the file at byte %lld)", path, at);
            goto done;
        }
        long long next = at + 12 + (long long)be32(b);
        if (!memcmp(b + 4, "IEND", 4)) {
            if (fread(b + 8, 1, 4, f) != 4 || memcmp(b, iend, 12) || next != (long long)st.st_size) {
                nd_fail("%s: damaged PNG (IEND chunk not whole, or data after it)", path);
                goto done;
            }
            rc = 0;
            goto done;
        }
        at = next;
    }
done:
    fclose(f);
    return rc;
}

int nd_verify_svg(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nd_fail("%s: cannot read: %s", path, strerror(errno));
    char tail[256];
    size_t n = 0;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0) {
        long long from = st.st_size > (off_t)sizeof tail ? st.st_size - (off_t)sizeof tail : 0;
        if (fseeko(f, from, SEEK_SET) == 0)
            n = fread(tail, 1, sizeof tail, f);
    }
    fclose(f);
    while (n > 0 && isspace((unsigned char)tail[n - 1]))
        n--;
    if (n < 6 || memcmp(tail + n - 6, "</svg>", 6))
        return nd_fail("%s: truncated SVG (no closing </svg> tag at the end)", path);
    return 0;
}

int nd_verify_figure(const char *path)
{
    const char *e = strrchr(path, '.');
    if (e && !strcmp(e, ".png"))
        return nd_verify_png(path);
    if (e && !strcmp(e, ".svg"))
        return nd_verify_svg(path);
    return nd_fail("%s: not a .png or .svg figure", path);
}
