/* onepass.c - one read of an expensive source per dissection (onepass.h).
 *
 * The sieve's proof of exactness: qt_top keeps, per unit, a floor with at
 * least keep values seen at or above it, so the unit's keep-th largest
 * value a (the lower order statistic of the quantile) is >= the floor at
 * every moment; the threshold interpolates between a and the next larger
 * order statistic, so float32(threshold) >= a as well.  A map whose
 * maximum is <= the floor when it is read has no value > float32(threshold):
 * the tally (up_mask, whose first step finds no node above it) makes no mask of it and records only
 * its maximum.  Handing the tally a constant map of that maximum gives the
 * same counts and the same maxima, bit for bit.
 *
 * Of a kept map only what the tally reads is kept.  The tally reads a map
 * through its maximum and up_mask (its hot nodes, those above float32(threshold), first),
 * which (with at most UP_MASK_MAX_HOT hot nodes, those above the
 * threshold) reads only nodes within up_plan_reach of a hot node.  Hot
 * nodes are above the floor the map was sieved with, so the nodes within
 * that reach of the nodes above the floor, with their exact values, are
 * enough: the map is rebuilt with every other node set to a filler, the
 * smallest stored value.  The stored set is the nodes above the floor
 * dilated by at least one node, so unless it is the whole map (then stored
 * whole) it holds a node at or below the floor: the filler is <= the floor
 * <= float32(threshold) (never hot, never above the threshold) and below
 * the map's maximum (which is stored), so the maximum, the test and the
 * mask are the same bits.  Maps with more than UP_MASK_MAX_HOT nodes above
 * the floor, or whose sparse form would not be smaller, are stored whole.
 * Kept maps go to memory chunks up to the caller's budget, the rest to the
 * temporary files.
 */
#include "core/onepass.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/spill.h"
#include "core/tally.h"
#include "core/thresholds.h"
#include "core/topk.h"
#include "core/upsample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the sieve: what the pass keeps ---- */

/* Maps of at most NODES_MAX nodes may be kept sparse (the node masks and
 * the rebuild use fixed arrays of that size). */
enum { NODES_MAX = 4096, NODE_WORDS = NODES_MAX / 64 };
/* A larger reach (a shrinking NDL plan) keeps maps whole: the dilated
 * sets would cover most of the map anyway. */
enum { REACH_MAX = 3 };
/* file[] of an image whose kept maps are in memory (at[] is then their address) */
#define IN_MEMORY 255
static int sparse_off; /* nd_sieve_sparse(0): every kept map whole */

void nd_sieve_sparse(int on)
{
    sparse_off = !on;
}

/* Memory for kept maps: chunks taken by the threads under a lock, up to a
 * budget; what does not fit goes to the threads' temporary files. */
typedef struct {
    pthread_mutex_t mu;
    unsigned char **chunk;
    size_t n, max, bytes; /* chunks taken, allowed, bytes per chunk */
} arena;

typedef struct {
    size_t N, K, hw, h, w;
    size_t uwords, nwords;  /* 64-bit words of a bit per unit, per node */
    int reach;              /* nodes kept around those above the floor; -1: whole maps only */
    uint64_t all[NODE_WORDS], notfirst[NODE_WORDS], notlast[NODE_WORDS]; /* the nodes; not in column 0, w - 1 */
    float *max;             /* [N][K] every map's maximum */
    uint64_t *kept, *whole; /* [N][uwords] kept maps, and which of them are stored whole */
    uint64_t *at;           /* [N] the image's record: offset in its file, or its address */
    size_t *len;            /* [N] its bytes */
    unsigned char *file;    /* [N] whose file (the thread that read the image), or IN_MEMORY */
    int fds[ND_MAX_THREADS];
    int nfds;
    arena mem;
} sieve;

typedef struct {
    const nd_features *f;
    sieve *sv;
    qt_top *t;
    nd_spill sp;
    unsigned char *rec;     /* one image's record being built (K whole maps at most) */
    float *blk;             /* a block image-major, for qt_top_add (made on first use) */
    float *spare;           /* hw floats: qt_scan_map's values (not kept) */
    unsigned char *room;    /* the rest of this thread's current memory chunk */
    size_t left;
    int no_room;            /* the arena is used up */
    uint64_t kept, whole, held;
    int tid, nt, rc;
    char err[1024];
} sieve_job;

/* A new chunk of at least `need` bytes, or NULL when the budget is spent. */
static unsigned char *arena_take(arena *a, size_t need)
{
    unsigned char *c = NULL;
    if (need > a->bytes)
        return NULL;
    pthread_mutex_lock(&a->mu);
    if (a->n < a->max && (c = malloc(a->bytes)))
        a->chunk[a->n++] = c;
    else
        a->max = a->n; /* spent (or out of memory): the files take the rest */
    pthread_mutex_unlock(&a->mu);
    return c;
}

/* d |= a shifted by s nodes towards higher (up) or lower indices, over nw words. */
static void or_shifted(uint64_t *d, const uint64_t *a, size_t nw, size_t s, int up)
{
    size_t ws = s / 64, bs = s % 64;
    for (size_t q = 0; q + ws < nw; q++) {
        size_t hi = up ? nw - 1 - q : q, lo = up ? hi - ws : hi + ws; /* d[hi] from a[lo] (and its neighbour) */
        uint64_t v = up ? a[lo] << bs : a[lo] >> bs;
        if (bs && (up ? lo > 0 : lo + 1 < nw))
            v |= up ? a[lo - 1] >> (64 - bs) : a[lo + 1] << (64 - bs);
        d[hi] |= v;
    }
}

/* mk: the nodes within reach (rows and columns) of those set in mk, by
 * reach steps of one node (in a row: not across its ends; then up and down
 * a row), clipped to the map. */
static void dilate(const sieve *sv, uint64_t *mk)
{
    size_t nw = sv->nwords;
    uint64_t t[NODE_WORDS], row[NODE_WORDS];
    for (int r = 0; r < sv->reach; r++) {
        for (size_t q = 0; q < nw; q++)
            row[q] = mk[q], t[q] = mk[q] & sv->notlast[q];
        or_shifted(row, t, nw, 1, 1);
        for (size_t q = 0; q < nw; q++)
            t[q] = mk[q] & sv->notfirst[q];
        or_shifted(row, t, nw, 1, 0);
        for (size_t q = 0; q < nw; q++)
            mk[q] = row[q];
        or_shifted(mk, row, nw, sv->w, 1);
        or_shifted(mk, row, nw, sv->w, 0);
        for (size_t q = 0; q < nw; q++)
            mk[q] &= sv->all[q];
    }
}

/* Append map v's record to out (the map is kept: its maximum is above the
 * floor it was scanned with; mk holds its nodes above that floor, n of
 * them): the mask of the nodes within reach of those, then their values in
 * node order; or, when that is not smaller (or not possible), the whole
 * map.  Returns its bytes; *whole tells which. */
static size_t keep_map(const sieve *sv, const float *v, uint64_t *mk, size_t n, unsigned char *out, int *whole)
{
    size_t hw = sv->hw, nw = sv->nwords;
    *whole = 1;
    if (sv->reach >= 0 && n <= UP_MASK_MAX_HOT) {
        size_t stored = 0;
        dilate(sv, mk);
        for (size_t q = 0; q < nw; q++)
            stored += (size_t)__builtin_popcountll(mk[q]);
        if (nw * sizeof *mk + stored * sizeof *v < hw * sizeof *v) {
            memcpy(out, mk, nw * sizeof *mk);
            float *o = (float *)(void *)(out + nw * sizeof *mk); /* 4-aligned: records are whole floats */
            for (size_t q = 0; q < nw; q++)
                for (uint64_t b = mk[q]; b; b &= b - 1)
                    *o++ = v[q * 64 + (size_t)__builtin_ctzll(b)];
            *whole = 0;
            return nw * sizeof *mk + stored * sizeof *v;
        }
    }
    memcpy(out, v, hw * sizeof *v);
    return hw * sizeof *v;
}

/* Place image img's record (n > 0 bytes): in this thread's memory chunk
 * while the budget lasts, else in its file. */
static int put_record(sieve_job *j, size_t img, size_t n)
{
    sieve *sv = j->sv;
    if (n > j->left && !j->no_room) {
        unsigned char *c = arena_take(&sv->mem, n);
        if (c)
            j->room = c, j->left = sv->mem.bytes;
        else if (n <= sv->mem.bytes)
            j->no_room = 1;
    }
    sv->len[img] = n;
    if (n <= j->left) {
        memcpy(j->room, j->rec, n);
        sv->at[img] = (uint64_t)(uintptr_t)j->room;
        sv->file[img] = IN_MEMORY;
        j->room += n, j->left -= n, j->held += n;
        return 0;
    }
    sv->at[img] = j->sp.flushed + j->sp.n;
    sv->file[img] = (unsigned char)j->tid;
    return nd_spill_add(&j->sp, j->rec, n);
}

/* Whether some unit has no floor yet in t (a pass without guesses starts so). */
static int some_floor_missing(const qt_top *t, size_t K)
{
    for (size_t u = 0; u < K; u++)
        if (qt_top_floor(t, u) == -INFINITY)
            return 1;
    return 0;
}

/* Map (i, u) of a block: image-major ([n][K][hw]) when g is 0, else whole
 * groups of g images one after another, each unit-major
 * (nd_features_units). */
static inline const float *map_at(const float *x, size_t i, size_t u, size_t K, size_t hw, size_t g)
{
    if (!g)
        return x + (i * K + u) * hw;
    return x + ((i - i % g) * K + u * g + i % g) * hw;
}

/* The block image-major in j->blk (made on first use) */
static const float *image_major(sieve_job *j, const float *x, size_t n, size_t g)
{
    size_t K = j->sv->K, hw = j->sv->hw;
    if (!j->blk && !(j->blk = nd_malloc(ND_FEATURES_BLOCK * K * hw * sizeof *j->blk)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < K; u++)
            memcpy(j->blk + (i * K + u) * hw, map_at(x, i, u, K, hw, g), hw * sizeof *j->blk);
    return j->blk;
}

static int sieve_block(void *ctx, const float *x, size_t i0, size_t n, size_t g)
{
    sieve_job *j = ctx;
    sieve *sv = j->sv;
    size_t K = sv->K, hw = sv->hw;
    uint64_t mk[NODE_WORDS], *m = sv->reach >= 0 ? mk : NULL;
    /* Until every unit has a floor, the block first, so that the floors it
     * raises already sieve it (else a pass without guesses would keep the
     * first maps of every unit whole); then the maps read again. */
    int first = some_floor_missing(j->t, K);
    if (first && g) {
        if (!(x = image_major(j, x, n, g)))
            return j->rc = -1;
        g = 0;
    }
    if (first && qt_top_add(j->t, x, n, hw))
        return j->rc = -1;
    for (size_t i = 0; i < n; i++) {
        size_t img = i0 + i, bytes = 0;
        uint64_t *kept = sv->kept + img * sv->uwords, *whole = sv->whole + img * sv->uwords;
        for (size_t u = 0; u < K; u++) {
            /* else one read of the map: its candidates, maximum and nodes
             * above the floor they were taken above (lower than the block's
             * last floor at most: still a floor the unit had, so still exact) */
            const float *v = map_at(x, i, u, K, hw, g);
            qt_scan sc;
            if (first)
                sc.floor = qt_top_floor(j->t, u), sc.above = qt_scan_map(v, hw, sc.floor, j->spare, &sc.max, m);
            else if (qt_top_add_unit_scan(j->t, u, v, hw, &sc, m))
                return j->rc = -1;
            sv->max[img * K + u] = sc.max;
            if (!(sc.max > sc.floor))
                continue;
            int w;
            bytes += keep_map(sv, v, mk, sc.above, j->rec + bytes, &w);
            kept[u / 64] |= (uint64_t)1 << (u % 64);
            whole[u / 64] |= (uint64_t)w << (u % 64);
            j->kept++, j->whole += (uint64_t)w;
        }
        sv->len[img] = 0;
        if (bytes && put_record(j, img, bytes))
            return j->rc = -1;
    }
    return 0;
}

static void *sieve_worker(void *arg)
{
    sieve_job *j = arg;
    /* a failed read fills err itself; a failed block (j->rc) or flush left
     * its message in this thread's nd_errmsg.  A rotated source's blocks
     * come as its groups unit-major, without its copy into image-major
     * order. */
    if (nd_features_blocks_grouped(j->f, j->tid, j->nt, sieve_block, j, j->err, sizeof j->err))
        j->rc = -1;
    else if (j->rc || nd_spill_flush(&j->sp))
        j->rc = -1, snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
    return NULL;
}

static void sieve_free(sieve *sv)
{
    free(sv->max), free(sv->kept), free(sv->whole), free(sv->at), free(sv->len), free(sv->file);
    for (int t = 0; t < sv->nfds; t++)
        if (sv->fds[t] >= 0)
            nd_spill_spare(sv->fds[t]);
    for (size_t c = 0; c < sv->mem.n; c++)
        free(sv->mem.chunk[c]);
    free(sv->mem.chunk);
    pthread_mutex_destroy(&sv->mem.mu);
    memset(sv, 0, sizeof *sv);
}

/* The largest up_plan_reach over the plans the tally will use (each
 * distinct label and image size of the images with labels), or -1 (whole
 * maps only) when it is large, a plan cannot be made (the tally will say
 * why) or the maps are too large. */
static int dataset_reach(const broden *ds, const nd_features *f, const nd_options *o)
{
    enum { SIZES = 64 };
    int seen[SIZES][3], nseen = 0, reach = 0;
    if (f->h * f->w > NODES_MAX || sparse_off)
        return -1;
    for (size_t i = 0; i < f->N && reach >= 0; i++) {
        int iw, sh, sw, k = 0;
        if (!broden_image_has_data(ds, i))
            continue;
        broden_image_size(ds, i, NULL, &iw, &sh, &sw);
        while (k < nseen && !(seen[k][0] == sh && seen[k][1] == sw && seen[k][2] == iw))
            k++;
        if (k < nseen)
            continue;
        if (nseen == SIZES)
            return -1; /* too many sizes to check: keep maps whole */
        seen[nseen][0] = sh, seen[nseen][1] = sw, seen[nseen][2] = iw, nseen++;
        up_plan p;
        if (nd_tally_plan(&p, f, o, sh, sw, iw))
            return -1;
        int r = up_plan_reach(&p);
        up_plan_free(&p);
        reach = r > REACH_MAX ? -1 : r > reach ? r : reach;
    }
    /* at least one node around those above the floor, so that a map not
     * stored whole holds a node at or below the floor (the filler) */
    return reach < 0 ? -1 : reach < 1 ? 1 : reach;
}

/* Floors guessed from a sample of the source, so that the sieve keeps
 * little more than the maps that cross the final thresholds: without them
 * a thread's floor only reaches the top 2 q of what it has read by the end
 * of the pass, and it keeps most maps on the way (83% of them on the
 * 6,000-image benchmark, where 37% cross).  GUESS_SAMPLE images in blocks
 * of 8 spread over the source; per unit the value with GUESS_TAIL(S) q of
 * the sample's values at or above it.  On the benchmark, 2.5 q from 368
 * images kept 57% with no miss, while 2.5 q from 248 images and 2 q from
 * 256 missed; a miss costs a whole second pass, 5% fewer maps kept only
 * about 0.2 s at full scale, so the tail is loose.  A guess above the
 * final keep-th largest value is caught by qt_top_result; the pass then
 * runs again without guesses. */
enum { GUESS_SAMPLE = 1024 };
/* the tail in units of q: looser for smaller samples */
#define GUESS_TAIL(S) (3.0 + 512.0 / (double)(S))
static size_t guess_sample; /* nd_sieve_guess: 0 for the defaults */
static double guess_tail;

void nd_sieve_guess(size_t sample, double tail)
{
    guess_sample = sample, guess_tail = tail;
}

/* The sample on nt threads: first each job reads its blocks (b = tid,
 * tid + nt, ...), then, over the whole sample, selects the floors of its
 * units (u = tid, tid + nt, ...). */
typedef struct {
    const nd_features *f;
    float *blk, *vals, *floor;
    size_t S, nb, tail;
    int tid, nt, select, rc;
    char err[1024];
} guess_job;

static void *guess_worker(void *arg)
{
    guess_job *j = arg;
    const nd_features *f = j->f;
    size_t hw = f->h * f->w, per = f->K * hw, m = j->S * hw;
    if (!j->select) {
        for (size_t b = (size_t)j->tid; b < j->nb && !j->rc; b += (size_t)j->nt) {
            const float *x;
            float *dst = j->blk + b * 8 * per;
            if (f->get(f->ctx, b * (f->N / j->nb) / 8 * 8, 8, dst, &x))
                j->rc = -1, snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            else if (x != dst)
                memcpy(dst, x, 8 * per * sizeof *x);
        }
        return NULL;
    }
    for (size_t u = (size_t)j->tid; u < f->K; u += (size_t)j->nt) {
        for (size_t i = 0; i < j->S; i++)
            memcpy(j->vals + i * hw, j->blk + i * per + u * hw, hw * sizeof *j->vals);
        j->floor[u] = qt_kth_largest(j->vals, m, j->tail); /* a histogram: a few passes, not a quickselect */
    }
    return NULL;
}

static int guess_floors(const nd_features *f, double quantile, int nt, float *floor)
{
    size_t hw = f->h * f->w, K = f->K, per = K * hw, S = guess_sample;
    if (!S) /* at most a 16th of the pass */
        S = f->N / 16 < GUESS_SAMPLE ? f->N / 16 : GUESS_SAMPLE;
    S = S < f->N ? S / 8 * 8 : f->N / 8 * 8;
    if (S < 8)
        return 0;
    size_t nb = S / 8, m = S * hw;
    size_t tail = (size_t)ceil((guess_tail > 0 ? guess_tail : GUESS_TAIL(S)) * quantile * (double)m);
    if (tail < 1 || tail >= m)
        return 0;
    guess_job jobs[ND_MAX_THREADS];
    float *blk = nd_malloc(S * per * sizeof *blk);
    int rc = blk ? 1 : -1, made = 0;
    for (; made < nt && rc == 1; made++) {
        jobs[made] = (guess_job){.f = f, .blk = blk, .floor = floor, .S = S, .nb = nb, .tail = tail, .tid = made, .nt = nt};
        if (!(jobs[made].vals = nd_malloc(m * sizeof *blk)))
            rc = -1;
    }
    for (int phase = 0; phase < 2 && rc == 1; phase++) {
        for (int t = 0; t < nt; t++)
            jobs[t].select = phase;
        nd_run_jobs(guess_worker, jobs, sizeof *jobs, nt);
        for (int t = 0; t < nt && rc == 1; t++)
            if (jobs[t].rc)
                rc = nd_fail("%s", jobs[t].err);
    }
    for (int t = 0; t < made; t++)
        free(jobs[t].vals);
    free(blk);
    return rc;
}

/* The pass: thresholds thr[K] (exact, the stream method's) and the sieve;
 * the threads' files stay open in sv->fds.  1 if a guessed floor was too
 * high (sv freed: start again without guesses). */
static int sieve_pass(const nd_features *f, double quantile, int nt, const char *tmpdir, const float *floor0,
                      int reach, size_t budget, sieve *sv, double *thr, nd_once_stats *st)
{
    size_t K = f->K, hw = f->h * f->w, N = f->N;
    uint64_t n = (uint64_t)N * hw;
    size_t keep = qt_top_keep(n, 1.0 - quantile);
    memset(sv, 0, sizeof *sv);
    sv->N = N, sv->K = K, sv->hw = hw, sv->h = f->h, sv->w = f->w, sv->reach = reach;
    sv->uwords = (K + 63) / 64, sv->nwords = (hw + 63) / 64;
    for (size_t p = 0; reach >= 0 && p < hw; p++) {
        uint64_t b = (uint64_t)1 << (p % 64);
        sv->all[p / 64] |= b;
        sv->notfirst[p / 64] |= p % f->w ? b : 0;
        sv->notlast[p / 64] |= p % f->w != f->w - 1 ? b : 0;
    }
    pthread_mutex_init(&sv->mem.mu, NULL);
    /* chunks of budget / 16 (64 KB to 8 MB): few locks, little left unused */
    sv->mem.bytes = budget / 16 < ((size_t)64 << 10) ? (size_t)64 << 10 : budget / 16 > ((size_t)8 << 20) ? (size_t)8 << 20 : budget / 16;
    sv->mem.max = budget / sv->mem.bytes;
    sv->mem.chunk = nd_malloc((sv->mem.max ? sv->mem.max : 1) * sizeof *sv->mem.chunk);
    sv->max = nd_malloc(N * K * sizeof *sv->max);
    sv->kept = nd_calloc(N * sv->uwords, sizeof *sv->kept);
    sv->whole = nd_calloc(N * sv->uwords, sizeof *sv->whole);
    sv->at = nd_malloc(N * sizeof *sv->at);
    sv->len = nd_malloc(N * sizeof *sv->len);
    sv->file = nd_malloc(N ? N : 1);
    sieve_job *jobs = nd_calloc((size_t)nt, sizeof *jobs);
    int rc = !sv->mem.chunk || !sv->max || !sv->kept || !sv->whole || !sv->at || !sv->len || !sv->file || !jobs
                 ? -1
                 : 0;
    int made = 0;
    for (; made < nt && !rc; made++) {
        jobs[made] = (sieve_job){.f = f, .sv = sv, .tid = made, .nt = nt};
        jobs[made].sp.fd = -1;
        if (!(jobs[made].rec = nd_malloc(K * hw * sizeof(float))) || !(jobs[made].spare = nd_malloc(hw * sizeof(float))) ||
            !(jobs[made].t = qt_top_new(K, keep, floor0)) || nd_spill_open(&jobs[made].sp, tmpdir)) {
            qt_top_free(jobs[made].t);
            free(jobs[made].rec), free(jobs[made].spare), free(jobs[made].blk);
            rc = -1;
            break;
        }
    }
    if (!rc)
        nd_run_jobs(sieve_worker, jobs, sizeof *jobs, nt);
    for (int t = 0; t < made && !rc; t++)
        if (jobs[t].rc)
            rc = nd_fail("%s", jobs[t].err);
    if (!rc) {
        qt_top *parts[ND_MAX_THREADS];
        for (int t = 0; t < nt; t++)
            parts[t] = jobs[t].t;
        int q = qt_top_result(parts, nt, n, 1.0 - quantile, thr);
        ND_ASSERT(q <= 0 || floor0); /* without guesses only memory can fail */
        rc = q < 0 ? nd_fail("out of memory for the thresholds' candidates") : q;
    }
    st->maps = (uint64_t)N * K;
    st->kept = st->whole = st->spilled = st->held = 0;
    for (int t = 0; t < made; t++) {
        st->kept += jobs[t].kept, st->whole += jobs[t].whole;
        st->spilled += jobs[t].sp.flushed, st->held += jobs[t].held;
        sv->fds[t] = jobs[t].sp.fd; /* the file stays open for the tally */
        jobs[t].sp.fd = -1;
        nd_spill_close(&jobs[t].sp);
        qt_top_free(jobs[t].t);
        free(jobs[t].rec), free(jobs[t].spare), free(jobs[t].blk);
    }
    sv->nfds = made;
    free(jobs);
    if (rc == 1)
        sieve_free(sv);
    return rc;
}

static void fill_map(float *m, float v, size_t hw)
{
    size_t p = 0;
#if defined(__SSE2__)
    __m128 x = _mm_set1_ps(v);
    for (; p + 4 <= hw; p += 4)
        _mm_storeu_ps(m + p, x);
#endif
    for (; p < hw; p++)
        m[p] = v;
}

/* Map u of an image rebuilt from its sparse record r (node mask, values):
 * the stored nodes exact, every other node the smallest stored value.  The
 * record may lie in m itself (a read into the image's buffer), so it is
 * copied out first.  Returns the record's bytes. */
static size_t rebuild_sparse(const sieve *sv, const unsigned char *r, float *m)
{
    uint64_t mk[NODE_WORDS];
    float val[NODES_MAX];
    size_t nw = sv->nwords, c = 0;
    memcpy(mk, r, nw * sizeof *mk);
    for (size_t q = 0; q < nw; q++)
        c += (size_t)__builtin_popcountll(mk[q]);
    memcpy(val, r + nw * sizeof *mk, c * sizeof *val);
    float fill = INFINITY; /* c >= 1: the map's maximum is stored */
    for (size_t k = 0; k < c; k++)
        fill = val[k] < fill ? val[k] : fill;
    fill_map(m, fill, sv->hw);
    const float *v = val;
    for (size_t q = 0; q < nw; q++)
        for (uint64_t b = mk[q]; b; b &= b - 1)
            m[q * 64 + (size_t)__builtin_ctzll(b)] = *v++;
    return nw * sizeof *mk + c * sizeof *val;
}

/* The tally's source: each image's kept maps rebuilt in place (whole, or
 * from their nodes near the large values), the others filled with their
 * maximum (the tally needs nothing else of them). */
static int sieve_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const sieve *sv = ctx;
    size_t K = sv->K, hw = sv->hw;
    for (size_t i = 0; i < n; i++) {
        size_t img = i0 + i, len = sv->len[img];
        const uint64_t *kept = sv->kept + img * sv->uwords, *whole = sv->whole + img * sv->uwords;
        float *dst = buf + i * K * hw;
        const unsigned char *r = NULL;
        if (len && sv->file[img] == IN_MEMORY) {
            r = (const unsigned char *)(uintptr_t)sv->at[img];
        } else if (len) {
            /* read into the end of the image's buffer (len <= K whole maps):
             * the maps are rebuilt from the first, and the records of maps
             * u + 1.. (each at most one map) start at or after map u + 1's
             * place, so rebuilding map u never overwrites one not yet read */
            unsigned char *end = (unsigned char *)(dst + K * hw) - len;
            if (nd_spill_read(sv->fds[sv->file[img]], end, len, sv->at[img]))
                return -1;
            r = end;
        }
        for (size_t u = 0; u < K; u++) {
            float *m = dst + u * hw;
            if (!(kept[u / 64] >> (u % 64) & 1)) {
                fill_map(m, sv->max[img * K + u], hw);
            } else if (whole[u / 64] >> (u % 64) & 1) {
                memmove(m, r, hw * sizeof *m);
                r += hw * sizeof *m;
            } else {
                r += rebuild_sparse(sv, r, m);
            }
        }
    }
    *out = buf;
    return 0;
}

/* The candidates' memory as the stream method counts it (thresholds.c). */
static double stream_bytes(const nd_features *f, double quantile, int nt)
{
    size_t keep = qt_top_keep((uint64_t)f->N * f->h * f->w, 1.0 - quantile), hw = f->h * f->w;
    return (double)(2 * keep + 2 * hw) * (double)f->K * (double)nt * sizeof(float);
}

static int stream_fits(const nd_features *f, double quantile, int nt)
{
    return stream_bytes(f, quantile, nt) <= (double)((size_t)1 << 30);
}

/* What a point's budget leaves for the sieve's kept maps once the pass's
 * own memory is counted: the candidates and every map's maximum. */
static size_t kept_budget(const nd_features *f, double quantile, int nt, size_t budget)
{
    double own = stream_bytes(f, quantile, nt) + (double)f->N * (double)f->K * sizeof(float);
    return (double)budget > own ? budget - (size_t)own : 0;
}

/* The thresholds were computed here by the stream method's rule (exact,
 * the same bits), not given by the caller. */
static void computed_here(nd_result *r, double seconds)
{
    r->thresholds_given = 0;
    r->threshold_method = ND_THR_STREAM;
    r->seconds_threshold = seconds;
}

static int check_images(const broden *ds, const nd_features *f)
{
    if (f->N != broden_num_images(ds))
        return nd_fail("activations have %zu images but %s/index.csv has %zu rows", f->N, broden_dir(ds),
                       broden_num_images(ds));
    return 0;
}

int nd_dissect_sieved(const broden *ds, const nd_features *f, const nd_options *o, size_t budget, const char *tmpdir,
                      nd_result *r, nd_once_stats *stats)
{
    nd_once_stats st = {.how = ND_ONCE_SIEVED};
    memset(r, 0, sizeof *r);
    if (check_images(ds, f))
        return -1;
    if (!(o->quantile > 0 && o->quantile < 1))
        return nd_fail("quantile %g must be in (0, 1)", o->quantile);
    int nt = nd_threads(o->threads);
    double *thr = nd_malloc(f->K * sizeof *thr), t0 = nd_now();
    float *floor = nd_malloc(f->K * sizeof *floor);
    sieve sv;
    int reach = dataset_reach(ds, f, o);
    int g = thr && floor ? guess_floors(f, o->quantile, nt, floor) : -1, rc = g < 0 ? -1 : 1;
    st.seconds_guess = nd_now() - t0;
    for (int attempt = 0; rc == 1; attempt++) {
        ND_ASSERT(attempt < 2);
        rc = sieve_pass(f, o->quantile, nt, tmpdir, g == 1 && attempt == 0 ? floor : NULL, reach, budget, &sv, thr,
                        &st);
        st.passes++;
    }
    free(floor);
    st.reach = reach;
    st.seconds_pass = nd_now() - t0;
    if (!rc) {
        nd_report(o->progress, "thresholds", f->K, f->K);
        nd_features sf = {f->N, f->K, f->h, f->w, sieve_get, &sv};
        nd_options so = *o;
        so.thresholds = thr;
        rc = nd_dissect(ds, &sf, &so, r);
    }
    if (!rc)
        computed_here(r, st.seconds_pass);
    if (g >= 0 && rc != 1)
        sieve_free(&sv);
    free(thr);
    if (stats)
        *stats = st;
    return rc;
}

/* ---- held: the copy, with the thresholds' candidates taken from each
 * chunk as it is made (a second read of the copy saved) ---- */

typedef struct {
    qt_top *t[ND_MAX_THREADS];
    size_t hw;
} held_top;

static int held_add(void *ctx, int tid, const float *x, size_t i0, size_t n)
{
    (void)i0;
    held_top *h = ctx;
    return qt_top_add(h->t[tid], x, n, h->hw) ? nd_fail("out of memory for the thresholds' candidates") : 0;
}

/* 1 done, 0 if the copy does not fit the budget, -1 on error */
static int dissect_held(const broden *ds, const nd_features *f, const nd_options *o, size_t budget, nd_result *r)
{
    size_t hw = f->h * f->w;
    uint64_t n = (uint64_t)f->N * hw;
    int nt = nd_threads(o->threads), held = -1, rc = -1;
    held_top h = {{0}, hw};
    double *thr = nd_malloc(f->K * sizeof *thr), t0 = nd_now();
    int made = 0;
    while (thr && made < nt && (h.t[made] = qt_top_new(f->K, qt_top_keep(n, 1.0 - o->quantile), NULL)))
        made++;
    nd_features mf;
    if (made == nt)
        held = nd_features_memory_hook(&mf, f, 0, f->N, budget, nt, held_add, &h);
    if (held == 1) {
        /* without guessed floors a result can only fail for memory */
        rc = qt_top_result(h.t, nt, n, 1.0 - o->quantile, thr) ? nd_fail("out of memory for the thresholds' candidates") : 0;
        double seconds = nd_now() - t0;
        nd_options so = *o;
        so.thresholds = thr;
        if (!rc && !(rc = nd_dissect(ds, &mf, &so, r)))
            computed_here(r, seconds);
        nd_features_memory_free(&mf);
    }
    for (int t = 0; t < made; t++)
        qt_top_free(h.t[t]);
    free(thr);
    return held == 1 ? (rc ? -1 : 1) : held;
}

int nd_dissect_once(const broden *ds, const nd_features *f, const nd_options *o, size_t budget, const char *tmpdir,
                    nd_result *r, nd_once_stats *stats)
{
    nd_once_stats st = {.how = ND_ONCE_STREAMED};
    memset(r, 0, sizeof *r);
    if (check_images(ds, f))
        return -1;
    int thr_pass = !o->thresholds && (o->threshold_method == ND_THR_AUTO || o->threshold_method == ND_THR_STREAM);
    int rc;
    if (thr_pass && o->quantile > 0 && o->quantile < 1 && stream_fits(f, o->quantile, nd_threads(o->threads))) {
        int held = dissect_held(ds, f, o, budget, r);
        if (held)
            st.how = ND_ONCE_HELD;
        else
            return nd_dissect_sieved(ds, f, o, kept_budget(f, o->quantile, nd_threads(o->threads), budget), tmpdir,
                                     r, stats);
        rc = held < 0 ? -1 : 0;
    } else {
        /* given thresholds: one tally pass; another method: its passes
         * over a copy when it fits */
        nd_features mf;
        int held = o->thresholds ? 0 : nd_features_memory(&mf, f, budget, o->threads);
        if (held < 0)
            return -1;
        st.how = held ? ND_ONCE_HELD : ND_ONCE_STREAMED;
        rc = nd_dissect(ds, held ? &mf : f, o, r);
        if (held)
            nd_features_memory_free(&mf);
    }
    if (stats)
        *stats = st;
    return rc;
}

void nd_once_release(void)
{
    nd_spill_release();
}
