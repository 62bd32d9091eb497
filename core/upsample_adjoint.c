#include "core/upsample_adjoint.h"

#include <string.h>

/* Both rules read the plan's tables the way up_apply() does (upsample.c);
 * the adjoint scatters each output pixel back to its source taps. */

static void nd_rows(const up_plan *p, int y, int *r0, int *r1, double *h0, double *h1)
{
    *r0 = p->y0[y], *r1 = p->y1[y], *h0 = p->hy0[y], *h1 = p->hy1[y];
}

void up_apply_double(const up_plan *p, const double *in, double *out, double *tmp)
{
    size_t w = (size_t)p->w, sw = (size_t)p->sw;
    if (p->nd) {
        for (int y = 0; y < p->sh; y++) {
            int r0, r1;
            double hy0, hy1;
            nd_rows(p, y, &r0, &r1, &hy0, &hy1);
            for (int x = 0; x < p->sw; x++) {
                int a = p->x0[x], b = p->x1[x];
                out[(size_t)y * sw + (size_t)x] =
                    hy0 * (p->hx0[x] * in[(size_t)r0 * w + (size_t)a] + p->hx1[x] * in[(size_t)r0 * w + (size_t)b]) +
                    hy1 * (p->hx0[x] * in[(size_t)r1 * w + (size_t)a] + p->hx1[x] * in[(size_t)r1 * w + (size_t)b]);
            }
        }
        return;
    }
    for (int y = 0; y < p->h; y++)
        for (int xx = 0; xx < p->sw; xx++) {
            const double *k = p->wx + (size_t)xx * (size_t)p->kx;
            double acc = 0;
            for (int j = 0; j < p->xn[xx]; j++)
                acc += k[j] * in[(size_t)y * w + (size_t)(p->xmin[xx] + j)];
            tmp[(size_t)y * sw + (size_t)xx] = acc;
        }
    for (int yy = 0; yy < p->sh; yy++) {
        const double *k = p->wy + (size_t)yy * (size_t)p->ky;
        for (int xx = 0; xx < p->sw; xx++) {
            double acc = 0;
            for (int j = 0; j < p->yn[yy]; j++)
                acc += k[j] * tmp[(size_t)(p->ymin[yy] + j) * sw + (size_t)xx];
            out[(size_t)yy * sw + (size_t)xx] = acc;
        }
    }
}

void up_adjoint(const up_plan *p, const double *r, double *out, double *tmp)
{
    size_t w = (size_t)p->w, sw = (size_t)p->sw;
    memset(out, 0, sizeof *out * (size_t)p->h * w);
    if (p->nd) {
        for (int y = 0; y < p->sh; y++) {
            int r0, r1;
            double hy0, hy1;
            nd_rows(p, y, &r0, &r1, &hy0, &hy1);
            for (int x = 0; x < p->sw; x++) {
                double v = r[(size_t)y * sw + (size_t)x];
                if (v == 0)
                    continue;
                int a = p->x0[x], b = p->x1[x];
                out[(size_t)r0 * w + (size_t)a] += hy0 * p->hx0[x] * v;
                out[(size_t)r0 * w + (size_t)b] += hy0 * p->hx1[x] * v;
                out[(size_t)r1 * w + (size_t)a] += hy1 * p->hx0[x] * v;
                out[(size_t)r1 * w + (size_t)b] += hy1 * p->hx1[x] * v;
            }
        }
        return;
    }
    /* vertical pass transposed: tmp[y][xx] = sum_yy wy[yy][y - ymin] r[yy][xx] */
    memset(tmp, 0, sizeof *tmp * (size_t)p->h * sw);
    for (int yy = 0; yy < p->sh; yy++) {
        const double *k = p->wy + (size_t)yy * (size_t)p->ky;
        for (int j = 0; j < p->yn[yy]; j++) {
            double *t = tmp + (size_t)(p->ymin[yy] + j) * sw;
            const double *ro = r + (size_t)yy * sw;
            for (int xx = 0; xx < p->sw; xx++)
                t[xx] += k[j] * ro[xx];
        }
    }
    /* horizontal pass transposed */
    for (int y = 0; y < p->h; y++)
        for (int xx = 0; xx < p->sw; xx++) {
            const double *k = p->wx + (size_t)xx * (size_t)p->kx;
            double v = tmp[(size_t)y * sw + (size_t)xx];
            for (int j = 0; j < p->xn[xx]; j++)
                out[(size_t)y * w + (size_t)(p->xmin[xx] + j)] += k[j] * v;
        }
}
