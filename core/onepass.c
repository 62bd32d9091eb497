/* onepass.c - one read of an expensive source per dissection (onepass.h).
 *
 * The sieve's proof of exactness: qt_top keeps, per unit, a floor with at
 * least keep values seen at or above it, so the unit's keep-th largest
 * value a (the lower order statistic of the quantile) is >= the floor at
 * every moment; the threshold interpolates between a and the next larger
 * order statistic, so float32(threshold) >= a as well.  A map whose
 * maximum is <= the floor when it is read has no value > float32(threshold):
 * the tally (`any value above`, then the mask) skips it and records only
 * its maximum.  Handing the tally a constant map of that maximum gives the
 * same counts and the same maxima, bit for bit; kept maps are the rotated
 * values themselves, written and read back unchanged.
 */
#include "core/onepass.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/quantile.h"
#include "core/thresholds.h"
#include "core/topk.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per-thread write buffer of kept maps: large writes into the page cache. */
#define SPILL_BUFFER ((size_t)2 << 20)

typedef struct {
    int fd;
    uint64_t flushed; /* floats already in the file */
    float *buf;
    size_t n, cap;    /* floats in buf, its capacity */
} spill;

/* The files of the last sieve, kept open for the next: writing into a
 * fresh file costs a new page-cache page per 4 KB (1.3 GB/s on this
 * machine's VM, 1.4 s of CPU per point at 16,000 images), overwriting the
 * cached pages of the last one does not.  nd_once_release closes them. */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static int spare_fd[ND_MAX_THREADS], nspare;

static int spare_take(void)
{
    int fd = -1;
    pthread_mutex_lock(&spare_mu);
    if (nspare > 0)
        fd = spare_fd[--nspare];
    pthread_mutex_unlock(&spare_mu);
    if (fd >= 0 && lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void spare_give(int fd)
{
    pthread_mutex_lock(&spare_mu);
    if (nspare < ND_MAX_THREADS)
        spare_fd[nspare++] = fd, fd = -1;
    pthread_mutex_unlock(&spare_mu);
    if (fd >= 0)
        close(fd);
}

void nd_once_release(void)
{
    for (int fd; (fd = spare_take()) >= 0;)
        close(fd);
}

/* A temporary file named for this host and process, unlinked at once (or
 * a spare one of the last sieve). */
static int spill_open(spill *s, const char *tmpdir)
{
    memset(s, 0, sizeof *s);
    if ((s->fd = spare_take()) < 0) {
        char host[256] = "host", path[4096];
        const char *dir = tmpdir ? tmpdir : getenv("TMPDIR");
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        snprintf(path, sizeof path, "%s/nd-sieve.%s.%ld.XXXXXX", dir && *dir ? dir : "/tmp", host, (long)getpid());
        s->fd = mkstemp(path);
        if (s->fd < 0)
            return nd_fail("%s: cannot create the sieve's temporary file: %s", path, strerror(errno));
        unlink(path);
    }
    s->cap = SPILL_BUFFER / sizeof(float);
    if (!(s->buf = nd_malloc(s->cap * sizeof *s->buf))) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    return 0;
}

static int spill_flush(spill *s)
{
    const char *p = (const char *)s->buf;
    size_t left = s->n * sizeof(float);
    while (left > 0) {
        ssize_t w = write(s->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return nd_fail("the sieve's temporary file: write failed: %s", w < 0 ? strerror(errno) : "no space");
        p += w, left -= (size_t)w;
    }
    s->flushed += s->n;
    s->n = 0;
    return 0;
}

static int spill_add(spill *s, const float *v, size_t hw)
{
    if (s->n + hw > s->cap && spill_flush(s))
        return -1;
    memcpy(s->buf + s->n, v, hw * sizeof *v);
    s->n += hw;
    return 0;
}

static int spill_read(int fd, float *dst, size_t count, uint64_t at)
{
    char *p = (char *)dst;
    size_t left = count * sizeof(float);
    off_t off = (off_t)(at * sizeof(float));
    while (left > 0) {
        ssize_t r = pread(fd, p, left, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return nd_fail("the sieve's temporary file: read failed: %s", r < 0 ? strerror(errno) : "short file");
        p += r, left -= (size_t)r, off += r;
    }
    return 0;
}

static void spill_close(spill *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* ---- the sieve: what the pass keeps ---- */

typedef struct {
    size_t N, K, hw, words; /* words: 64-bit words of kept bits per image */
    float *max;             /* [N][K] every map's maximum */
    uint64_t *bits;         /* [N][words] kept maps */
    uint64_t *at;           /* [N] first float of the image's kept maps in its file */
    unsigned char *file;    /* [N] whose file (the thread that read the image) */
    int fds[ND_MAX_THREADS];
    int nfds;
} sieve;

typedef struct {
    const nd_features *f;
    sieve *sv;
    qt_top *t;
    spill sp;
    uint64_t kept;
    int tid, nt, rc;
    char err[1024];
} sieve_job;

static int sieve_block(void *ctx, const float *x, size_t i0, size_t n)
{
    sieve_job *j = ctx;
    sieve *sv = j->sv;
    size_t K = sv->K, hw = sv->hw;
    /* the block first, so the floors it raises already sieve it */
    if (qt_top_add(j->t, x, n, hw))
        return j->rc = -1;
    for (size_t i = 0; i < n; i++) {
        size_t img = i0 + i;
        uint64_t *bits = sv->bits + img * sv->words;
        sv->at[img] = j->sp.flushed + j->sp.n;
        sv->file[img] = (unsigned char)j->tid;
        for (size_t u = 0; u < K; u++) {
            const float *v = x + (i * K + u) * hw;
            float mx = nd_map_max(v, hw);
            sv->max[img * K + u] = mx;
            if (!(mx > qt_top_floor(j->t, u)))
                continue;
            bits[u / 64] |= (uint64_t)1 << (u % 64);
            j->kept++;
            if (spill_add(&j->sp, v, hw))
                return j->rc = -1;
        }
    }
    return 0;
}

static void *sieve_worker(void *arg)
{
    sieve_job *j = arg;
    /* a failed read fills err itself; a failed block (j->rc) or flush left
     * its message in this thread's nd_errmsg */
    if (nd_features_blocks(j->f, j->tid, j->nt, sieve_block, j, j->err, sizeof j->err))
        j->rc = -1;
    else if (j->rc || spill_flush(&j->sp))
        j->rc = -1, snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
    return NULL;
}

static void sieve_free(sieve *sv)
{
    free(sv->max), free(sv->bits), free(sv->at), free(sv->file);
    for (int t = 0; t < sv->nfds; t++)
        if (sv->fds[t] >= 0)
            spare_give(sv->fds[t]);
    memset(sv, 0, sizeof *sv);
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

static int guess_floors(const nd_features *f, double quantile, float *floor)
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
    float *blk = nd_malloc(S * per * sizeof *blk), *vals = nd_malloc(m * sizeof *vals);
    int rc = blk && vals ? 1 : -1;
    for (size_t b = 0; b < nb && rc == 1; b++) {
        const float *x;
        float *dst = blk + b * 8 * per;
        if (f->get(f->ctx, b * (f->N / nb) / 8 * 8, 8, dst, &x))
            rc = -1;
        else if (x != dst)
            memcpy(dst, x, 8 * per * sizeof *x);
    }
    for (size_t u = 0; u < K && rc == 1; u++) {
        for (size_t i = 0; i < S; i++)
            memcpy(vals + i * hw, blk + i * per + u * hw, hw * sizeof *vals);
        floor[u] = qt_kth(vals, m, m - tail);
    }
    free(blk), free(vals);
    return rc;
}

/* The pass: thresholds thr[K] (exact, the stream method's) and the sieve;
 * the threads' files stay open in sv->fds.  1 if a guessed floor was too
 * high (sv freed: start again without guesses). */
static int sieve_pass(const nd_features *f, double quantile, int nt, const char *tmpdir, const float *floor0,
                      sieve *sv, double *thr, nd_once_stats *st)
{
    size_t K = f->K, hw = f->h * f->w, N = f->N;
    uint64_t n = (uint64_t)N * hw;
    size_t keep = qt_top_keep(n, 1.0 - quantile);
    *sv = (sieve){N, K, hw, (K + 63) / 64, NULL, NULL, NULL, NULL, {0}, 0};
    sv->max = nd_malloc(N * K * sizeof *sv->max);
    sv->bits = nd_calloc(N * sv->words, sizeof *sv->bits);
    sv->at = nd_malloc(N * sizeof *sv->at);
    sv->file = nd_malloc(N ? N : 1);
    sieve_job *jobs = nd_calloc((size_t)nt, sizeof *jobs);
    int rc = !sv->max || !sv->bits || !sv->at || !sv->file || !jobs ? -1 : 0;
    int made = 0;
    for (; made < nt && !rc; made++) {
        jobs[made] = (sieve_job){.f = f, .sv = sv, .tid = made, .nt = nt};
        jobs[made].sp.fd = -1;
        if (!(jobs[made].t = qt_top_new(K, keep, floor0)) || spill_open(&jobs[made].sp, tmpdir)) {
            qt_top_free(jobs[made].t);
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
    st->kept = st->spilled = 0;
    for (int t = 0; t < made; t++) {
        st->kept += jobs[t].kept;
        st->spilled += jobs[t].sp.flushed * sizeof(float);
        sv->fds[t] = jobs[t].sp.fd; /* the file stays open for the tally */
        jobs[t].sp.fd = -1;
        spill_close(&jobs[t].sp);
        qt_top_free(jobs[t].t);
    }
    sv->nfds = made;
    free(jobs);
    if (rc == 1)
        sieve_free(sv);
    return rc;
}

/* The tally's source: each image's kept maps read back into place, the
 * others filled with their maximum (the tally needs nothing else of them). */
static int sieve_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const sieve *sv = ctx;
    size_t K = sv->K, hw = sv->hw;
    for (size_t i = 0; i < n; i++) {
        size_t img = i0 + i, c = 0;
        const uint64_t *bits = sv->bits + img * sv->words;
        for (size_t w = 0; w < sv->words; w++)
            c += (size_t)__builtin_popcountll(bits[w]);
        float *dst = buf + i * K * hw;
        if (c && spill_read(sv->fds[sv->file[img]], dst, c * hw, sv->at[img]))
            return -1;
        /* the kept maps arrive packed at the front: spread them from the
         * last (each moves up, never over a map not yet moved) */
        for (size_t u = K; u-- > 0;) {
            float *m = dst + u * hw;
            if (bits[u / 64] >> (u % 64) & 1) {
                c--;
                if (c != u)
                    memcpy(m, dst + c * hw, hw * sizeof *m);
            } else {
                float v = sv->max[img * K + u];
                for (size_t p = 0; p < hw; p++)
                    m[p] = v;
            }
        }
    }
    *out = buf;
    return 0;
}

/* The candidates' memory as the stream method counts it (thresholds.c). */
static int stream_fits(const nd_features *f, double quantile, int nt)
{
    size_t keep = qt_top_keep((uint64_t)f->N * f->h * f->w, 1.0 - quantile), hw = f->h * f->w;
    return (double)(2 * keep + 2 * hw) * (double)f->K * (double)nt * sizeof(float) <= (double)((size_t)1 << 30);
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

int nd_dissect_sieved(const broden *ds, const nd_features *f, const nd_options *o, const char *tmpdir, nd_result *r,
                      nd_once_stats *stats)
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
    int g = thr && floor ? guess_floors(f, o->quantile, floor) : -1, rc = g < 0 ? -1 : 1;
    for (int attempt = 0; rc == 1; attempt++) {
        ND_ASSERT(attempt < 2);
        rc = sieve_pass(f, o->quantile, nt, tmpdir, g == 1 && attempt == 0 ? floor : NULL, &sv, thr, &st);
        st.passes++;
    }
    free(floor);
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
            return nd_dissect_sieved(ds, f, o, tmpdir, r, stats);
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
