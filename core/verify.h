/* verify.h - is a file written by another program complete?
 *
 * External programs (gnuplot) can exit 0 after a failed write, leaving an
 * empty or truncated file.  Before such a file replaces a good one, check its
 * structure: a PNG must carry the signature and a chain of chunks ending with
 * a whole IEND chunk at the end of the file; an SVG must end with its closing
 * </svg> tag.  Each returns 0, or -1 with one nd_fail line naming the file.
 */
#ifndef ND_VERIFY_H
#define ND_VERIFY_H

int nd_verify_png(const char *path);
int nd_verify_svg(const char *path);
/* By extension: .png or .svg (anything else is an error). */
int nd_verify_figure(const char *path);

#endif
