/* upsample.h - the two rules for bringing an h x w unit map to the label
 * resolution sh x sw (docs/method.md, "Upsampling").
 *
 * ND (paper): bilinear through the centres of the units' receptive fields,
 *   nodes start + j*step on the sh x sw grid, evaluated at integer pixel
 *   indices, clamped outside the first/last node; double accumulation in
 *   the order ((v00*hy0)*hx0) + ((v01*hy0)*hx1) + ((v10*hy1)*hx0) +
 *   ((v11*hy1)*hx1), stored as float.  Bit-for-bit with the original NetDissect code.
 * NDL: an ordinary bilinear image resize with half-pixel centres, edge
 *   replication and normalised weights, separable: a horizontal pass rounded
 *   to float, then a vertical pass accumulated in double, rounded to float.
 *   Bit-for-bit with NetDissect-Lite's resize.
 *
 * A plan holds the per-axis interpolation tables; up_apply() is then a pure
 * function of the map, safe to call from several threads.
 */
#ifndef ND_UPSAMPLE_H
#define ND_UPSAMPLE_H

typedef struct {
    int h, w, sh, sw;
    int nd; /* 1 = ND rule, 0 = NDL rule */
    /* ND: per output row/column the two nodes' source indices and weights */
    int *y0, *y1, *x0, *x1;
    double *hy0, *hy1, *hx0, *hx1;
    int *xend; /* per column: the first column after it with other nodes (x0, x1), or sw */
    int *yend; /* per row: the first row after it with other nodes (y0, y1), or sh */
    /* NDL: per output index, first source index, tap count, taps (ksize each) */
    int kx, ky;
    int *xmin, *xn, *ymin, *yn;
    double *wx, *wy;
    /* both: output rows/columns a source row/column can influence
     * (first..last, inclusive) - the support of its bilinear weights */
    int *ry0, *ry1, *rx0, *rx1;
} up_plan;

/* ND rule: field geometry in input pixels (offset, size, stride) and the
 * image size iw (r = round(iw / sw) is the label-map reduction). */
int up_plan_nd(up_plan *p, int h, int w, int sh, int sw, int iw, int offset, int size, int stride);
int up_plan_lite(up_plan *p, int h, int w, int sh, int sw);
void up_plan_free(up_plan *p);

/* The plan of the last image size seen, rebuilt when (sh, sw, iw) change:
 * images of one dataset usually share one.  nd = 1: ND rule with the field
 * (offset, size, stride); 0: NDL.  Zero-initialise; free with
 * up_cache_free. */
typedef struct {
    up_plan plan;
    int have, sh, sw, iw;
} up_cache;
int up_cache_get(up_cache *c, int nd, int h, int w, int sh, int sw, int iw, int offset, int size,
                 int stride);
void up_cache_free(up_cache *c);

/* out[sh*sw] from in[h*w]; tmp has room for h*sw floats (NDL only). */
void up_apply(const up_plan *p, const float *in, float *out, float *tmp);
/* the same values by the obvious per-pixel loop (the tests' reference) */
void up_apply_ref(const up_plan *p, const float *in, float *out, float *tmp);

/* The mask: indices y*sw+x (ascending) of the pixels whose upsampled value
 * is > thr, written to idx[sh*sw]; returns their number.
 *
 * Every upsampled value is a convex combination of at most 2x2 source
 * nodes, rounded to float, so it cannot exceed thr unless one of those
 * nodes does.  up_mask() therefore evaluates only the pixels in the support
 * of nodes above thr - a few hundred instead of sh*sw - with the same
 * arithmetic as up_apply(), giving exactly the same mask.
 * up_mask_dense() is the obvious version (full upsample, then compare);
 * out has room for sh*sw floats, tmp for h*sw. */
int up_mask(const up_plan *p, const float *in, float thr, int *idx);
int up_mask_dense(const up_plan *p, const float *in, float thr, int *idx, float *out, float *tmp);
/* up_mask with the instruction set chosen (the tests compare the paths):
 * UP_ISA_BASELINE the SSE2 build's own, UP_ISA_BEST the widest the CPU
 * has (AVX2 behind a runtime check); the same mask either way. */
enum { UP_ISA_BASELINE = 0, UP_ISA_BEST = 1 };
int up_mask_isa(const up_plan *p, const float *in, float thr, int *idx, int isa);
/* The same mask as runs of consecutive pixels: start[r], len[r] (r < the
 * number returned), ascending, no two adjoining (a run may continue on the
 * next row); start and len have room for sh*sw.  The tally counts a mask
 * by its runs (a dozen row runs for a few hundred pixels). */
int up_mask_runs(const up_plan *p, const float *in, float thr, int *start, int *len);
int up_mask_runs_isa(const up_plan *p, const float *in, float thr, int *start, int *len, int isa);

/* How far up_mask reads around the nodes above thr: when at most
 * UP_MASK_MAX_HOT nodes of a map are above thr, up_mask(p, map, thr, idx)
 * reads no node farther than up_plan_reach(p) rows or columns from one of
 * them (a pixel reads the nodes of its bilinear taps, and only pixels in a
 * hot node's support are evaluated: the ND rule's row prefilter reads the
 * node columns between those pixels' taps), so any other node may take any
 * value <= thr without changing the mask; with more hot nodes it reads
 * every node.  1 for upsampling under either rule, more when NDL shrinks;
 * max(h, w) if up_mask reads every node of any map (core/onepass.c keeps
 * only the nodes within reach of a map's large values). */
#define UP_MASK_MAX_HOT 64
int up_plan_reach(const up_plan *p);

#endif
