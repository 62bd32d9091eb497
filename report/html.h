/* html.h - the pages of a report (see report.h for the layout). */
#ifndef ND_REPORT_HTML_H
#define ND_REPORT_HTML_H

#include <stdio.h>

#include "report/internal.h"

/* What the pages show of one result. */
typedef struct {
    const rpt_result *r;
    const broden *ds;
    size_t k;              /* images per unit */
    const size_t *top;     /* [K][k] */
    const rpt_cell *cells; /* [K][k] */
    int scale;
} rpt_page;

/* index.html, unit.html, data.js and the marker file, each atomically. */
int rpt_write_pages(const rpt_page *pg, const char *dir);

/* Pieces shared with the sweep page. */
void rpt_html_esc(FILE *f, const char *s);
/* <!DOCTYPE ...><head> with the shared style, up to and including <body> */
void rpt_html_head(FILE *f, const char *title);
/* the error catcher and in-page self-test helpers (the first script of a page) */
extern const char rpt_js_common[];
/* The layer's name from the .json beside the activations ("model layer"),
 * or the activations' file name; malloc'd. */
char *rpt_layer_name(const char *features);

#endif
