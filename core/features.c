#include "core/features.h"
#include "core/err.h"
#include "core/jobs.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int npy_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const npy_t *a = ctx;
    size_t per = a->shape[1] * a->shape[2] * a->shape[3];
    if (a->dtype == NPY_F32) {
        *out = (const float *)a->data + i0 * per;
        return 0;
    }
    npy_to_f32(a, i0 * per, n * per, buf);
    *out = buf;
    return 0;
}

int nd_features_from_npy(nd_features *f, const npy_t *a)
{
    memset(f, 0, sizeof *f);
    if (a->ndim != 4)
        return nd_fail("%s: activations must be 4-D [N, K, h, w], got %d dimensions", a->path, a->ndim);
    if (a->dtype != NPY_F32 && a->dtype != NPY_F16 && a->dtype != NPY_F64)
        return nd_fail("%s: activations must be float32 or float16, got %s", a->path,
                       npy_dtype_name(a->dtype));
    for (int d = 0; d < 4; d++)
        if (a->shape[d] == 0)
            return nd_fail("%s: activations have an empty dimension (shape[%d] = 0)", a->path, d);
    f->N = a->shape[0];
    f->K = a->shape[1];
    f->h = a->shape[2];
    f->w = a->shape[3];
    f->get = npy_get;
    f->ctx = (void *)a;
    return 0;
}

/* One registered type (rot_features is the only one): written once,
 * before any source of the type exists, read by the passes after. */
static int (*units_get)(void *, size_t, size_t, float *, const float **);
static nd_units_fn units_fn;
static size_t units_group;

void nd_features_set_units(int (*get)(void *, size_t, size_t, float *, const float **), nd_units_fn units,
                           size_t group)
{
    ND_ASSERT(!units_get || units_get == get);
    units_fn = units, units_group = group;
    __atomic_store_n(&units_get, get, __ATOMIC_RELEASE);
}

nd_units_fn nd_features_units(const nd_features *f, size_t *group)
{
    if (!f->get || __atomic_load_n(&units_get, __ATOMIC_ACQUIRE) != f->get)
        return NULL;
    *group = units_group;
    return units_fn;
}

/* 1 if v[0..n) holds an all-ones exponent (Inf or NaN): a branch-free
 * scan, four values per SSE2 step where available. */
static uint32_t any_nonfinite(const float *v, size_t n)
{
    const uint32_t *bits = (const uint32_t *)(const void *)v;
    uint32_t any = 0;
    size_t k = 0;
#if defined(__SSE2__)
    __m128i e = _mm_set1_epi32(0x7f800000), acc = _mm_setzero_si128();
    for (; k + 4 <= n; k += 4) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(bits + k));
        acc = _mm_or_si128(acc, _mm_cmpeq_epi32(_mm_and_si128(b, e), e));
    }
    any = (uint32_t)_mm_movemask_epi8(acc) != 0;
#endif
    for (; k < n; k++)
        any |= (uint32_t)((bits[k] & 0x7f800000u) == 0x7f800000u);
    return any;
}

/* One thread's blocks (tid, tid + nt, ... of 64 images): a branch-free
 * scan for an all-ones exponent; *first is the first bad value's index. */
typedef struct {
    const nd_features *f;
    size_t i0, i1; /* the images checked */
    int tid, nt, rc;
    size_t first; /* flat index of the first non-finite value, or SIZE_MAX */
    char err[1024];
} finite_job;

static void *finite_worker(void *arg)
{
    finite_job *j = arg;
    const nd_features *f = j->f;
    size_t per = f->K * f->h * f->w, B = 64;
    float *buf = nd_malloc(B * per * sizeof *buf);
    j->first = SIZE_MAX;
    if (!buf) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
        return NULL;
    }
    /* blocks aligned to global image indices, clipped to [i0, i1) */
    for (size_t b = j->i0 / B + (size_t)j->tid; b * B < j->i1 && j->first == SIZE_MAX; b += (size_t)j->nt) {
        size_t i0 = b * B < j->i0 ? j->i0 : b * B, n = ((b + 1) * B < j->i1 ? (b + 1) * B : j->i1) - i0;
        const float *x;
        if (f->get(f->ctx, i0, n, buf, &x)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            break;
        }
        uint32_t any = any_nonfinite(x, n * per);
        for (size_t k = 0; any && k < n * per; k++)
            if (!isfinite(x[k])) {
                j->first = i0 * per + k;
                break;
            }
    }
    free(buf);
    return NULL;
}

int nd_features_check_finite(const nd_features *f, const char *name)
{
    return nd_features_check_finite_range(f, name, 0, f->N);
}

/* Four independent vector maxima instead of one chain of dependent
 * compares; equal nonzero floats are the same bits, so only a zero maximum
 * is left to the scalar scan (which picks between -0 and +0 by position). */
float nd_map_max(const float *v, size_t n)
{
    size_t p = 0;
    float mx = v[0];
#if defined(__SSE2__)
    if (n >= 16) {
        __m128 m0 = _mm_loadu_ps(v), m1 = _mm_loadu_ps(v + 4), m2 = _mm_loadu_ps(v + 8), m3 = _mm_loadu_ps(v + 12);
        for (p = 16; p + 16 <= n; p += 16) {
            m0 = _mm_max_ps(_mm_loadu_ps(v + p), m0), m1 = _mm_max_ps(_mm_loadu_ps(v + p + 4), m1);
            m2 = _mm_max_ps(_mm_loadu_ps(v + p + 8), m2), m3 = _mm_max_ps(_mm_loadu_ps(v + p + 12), m3);
        }
        float q[4];
        _mm_storeu_ps(q, _mm_max_ps(_mm_max_ps(m0, m1), _mm_max_ps(m2, m3)));
        mx = q[0] > q[1] ? q[0] : q[1];
        mx = q[2] > mx ? q[2] : mx;
        mx = q[3] > mx ? q[3] : mx;
        for (; p < n; p++)
            mx = v[p] > mx ? v[p] : mx;
        if (mx != 0)
            return mx;
        mx = v[0], p = 0;
    }
#endif
    for (p = 1; p < n; p++)
        mx = v[p] > mx ? v[p] : mx;
    return mx;
}

void nd_image_shard(size_t N, int rank, int nranks, size_t align, size_t *i0, size_t *i1)
{
    size_t nb = (N + align - 1) / align, r = (size_t)rank, R = (size_t)nranks;
    size_t b0 = nb * r / R, b1 = nb * (r + 1) / R;
    *i0 = b0 * align < N ? b0 * align : N;
    *i1 = b1 * align < N ? b1 * align : N;
}

int nd_features_check_finite_range(const nd_features *f, const char *name, size_t i0, size_t i1)
{
    finite_job jobs[ND_MAX_THREADS];
    int nt = nd_threads(0);
    for (int t = 0; t < nt; t++)
        jobs[t] = (finite_job){.f = f, .i0 = i0, .i1 = i1, .tid = t, .nt = nt};
    nd_run_jobs(finite_worker, jobs, sizeof *jobs, nt);
    size_t first = SIZE_MAX, per = f->K * f->h * f->w, hw = f->h * f->w;
    for (int t = 0; t < nt; t++) {
        if (jobs[t].rc)
            return nd_fail("%s", jobs[t].err);
        first = jobs[t].first < first ? jobs[t].first : first;
    }
    if (first == SIZE_MAX)
        return 0;
    /* report the first bad value in file order, whichever thread found it */
    size_t img = first / per, k = (first % per) / hw, p = first % hw;
    const float *x;
    float *one = nd_malloc(per * sizeof *one);
    if (!one || f->get(f->ctx, img, 1, one, &x)) {
        free(one);
        return -1;
    }
    double v = (double)x[first % per];
    free(one);
    return nd_fail("%s: non-finite activation %g at image %zu, unit %zu, position (y=%zu, x=%zu)", name, v, img, k,
                   p / f->w, p % f->w);
}

/* ---- a source held in memory ---- */

typedef struct {
    const nd_features *in;
    float *data;     /* images [i0, i1) */
    size_t per, i0, i1;
    int tid, nt, rc;
    nd_copy_hook hook;
    void *hook_ctx;
    char err[1024];
} copy_job;

static void *copy_worker(void *arg)
{
    copy_job *j = arg;
    const nd_features *f = j->in;
    size_t B = 8; /* the tally's chunk: aligned reads of a streaming source */
    for (size_t c = j->i0 / B + (size_t)j->tid; c * B < j->i1; c += (size_t)j->nt) {
        size_t a = c * B < j->i0 ? j->i0 : c * B, e = (c + 1) * B < j->i1 ? (c + 1) * B : j->i1;
        const float *x;
        float *dst = j->data + (a - j->i0) * j->per;
        if (f->get(f->ctx, a, e - a, dst, &x)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            return NULL;
        }
        if (x != dst)
            memcpy(dst, x, (e - a) * j->per * sizeof *dst);
        if (j->hook && j->hook(j->hook_ctx, j->tid, dst, a, e - a)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            return NULL;
        }
    }
    return NULL;
}

typedef struct {
    float *data;
    size_t per;    /* floats per image */
    size_t i0, i1; /* the images held */
    size_t len;    /* floats in data */
} memory_src;

static int memory_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const memory_src *m = ctx;
    (void)buf;
    if (i0 < m->i0 || n > m->i1 - i0)
        return nd_fail("images [%zu, %zu) requested from a copy of images [%zu, %zu)", i0, i0 + n, m->i0, m->i1);
    *out = m->data + (i0 - m->i0) * m->per;
    return 0;
}

/* One spare buffer, kept by nd_features_memory_free for the next call: a
 * sweep holds one rotated point after another, all the same size, and a
 * fresh buffer costs a page fault and a cleared page per 4 KB on its first
 * write (0.12 s CPU for a 204 MB point, a tenth of the point). */
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static float *spare;
static size_t spare_len;

static float *memory_take(size_t len)
{
    float *d = NULL;
    pthread_mutex_lock(&spare_mu);
    if (spare && spare_len >= len && spare_len / 2 <= len)
        d = spare, spare = NULL;
    pthread_mutex_unlock(&spare_mu);
    return d ? d : nd_malloc(len * sizeof *d);
}

static void memory_give(float *d, size_t len)
{
    pthread_mutex_lock(&spare_mu);
    float *old = spare;
    spare = d, spare_len = len;
    pthread_mutex_unlock(&spare_mu);
    free(old);
}

void nd_features_memory_release(void)
{
    memory_give(NULL, 0);
}

int nd_features_memory(nd_features *out, const nd_features *in, size_t budget, int threads)
{
    return nd_features_memory_range(out, in, 0, in->N, budget, threads);
}

int nd_features_memory_range(nd_features *out, const nd_features *in, size_t i0, size_t i1, size_t budget,
                             int threads)
{
    return nd_features_memory_hook(out, in, i0, i1, budget, threads, NULL, NULL);
}

int nd_features_memory_hook(nd_features *out, const nd_features *in, size_t i0, size_t i1, size_t budget,
                            int threads, nd_copy_hook hook, void *hook_ctx)
{
    size_t per = in->K * in->h * in->w, n = i1 - i0;
    ND_ASSERT(i0 <= i1 && i1 <= in->N);
    if (per == 0 || n > budget / sizeof(float) / per)
        return 0;
    size_t len = (n ? n : 1) * per;
    memory_src *m = nd_malloc(sizeof *m);
    float *data = m ? memory_take(len) : NULL;
    if (!m || !data) {
        free(m), free(data);
        return -1;
    }
    copy_job jobs[ND_MAX_THREADS];
    int nt = nd_threads(threads);
    for (int t = 0; t < nt; t++)
        jobs[t] = (copy_job){.in = in, .data = data, .per = per, .i0 = i0, .i1 = i1, .tid = t, .nt = nt,
                             .hook = hook, .hook_ctx = hook_ctx};
    nd_run_jobs(copy_worker, jobs, sizeof *jobs, nt);
    for (int t = 0; t < nt; t++)
        if (jobs[t].rc) {
            free(m), memory_give(data, len);
            return nd_fail("%s", jobs[t].err);
        }
    *m = (memory_src){data, per, i0, i1, len};
    *out = (nd_features){in->N, in->K, in->h, in->w, memory_get, m};
    return 1;
}

void nd_features_memory_free(nd_features *f)
{
    if (!f || !f->ctx)
        return;
    ND_ASSERT(f->get == memory_get);
    memory_src *m = f->ctx;
    memory_give(m->data, m->len);
    free(m);
    memset(f, 0, sizeof *f);
}

/* Block [a, e) into buf as whole groups, each unit-major; 0 or -1. */
static int read_groups(const nd_features *f, nd_units_fn units, size_t g, size_t a, size_t e, float *buf)
{
    size_t per = f->K * f->h * f->w;
    for (size_t q = a; q < e; q += g) {
        float *dst = buf + (q - a) * per;
        const float *y;
        if (units(f->ctx, q, g, dst, &y))
            return -1;
        if (y != dst)
            memcpy(dst, y, g * per * sizeof *dst);
    }
    return 0;
}

typedef int (*blocks_fn)(void *ctx, const float *x, size_t i0, size_t n, size_t g);

/* The one block loop: images [first, end) in blocks aligned to global
 * indices (block b is [b B, (b+1) B) clipped), dealt to threads in turn;
 * with units (group g dividing B) whole-group blocks come unit-major. */
static int blocks_loop(const nd_features *f, size_t first, size_t end, int tid, int nt, nd_units_fn units, size_t g,
                       blocks_fn fn, void *ctx, char *err, size_t errlen)
{
    size_t B = ND_FEATURES_BLOCK, per = f->K * f->h * f->w;
    float *buf = nd_malloc(B * per * sizeof *buf);
    if (!buf) {
        snprintf(err, errlen, "%s", nd_errmsg());
        return -1;
    }
    int rc = 0;
    size_t b1 = (end + B - 1) / B;
    for (size_t ck = first / B + (size_t)tid; ck < b1; ck += (size_t)nt) {
        size_t a = ck * B < first ? first : ck * B, e = (ck + 1) * B < end ? (ck + 1) * B : end;
        size_t gb = units && a % g == 0 && (e - a) % g == 0 ? g : 0;
        const float *x = buf;
        if (gb ? read_groups(f, units, g, a, e, buf) : f->get(f->ctx, a, e - a, buf, &x)) {
            snprintf(err, errlen, "%s", nd_errmsg());
            rc = -1;
            break;
        }
        if (fn(ctx, x, a, e - a, gb))
            break;
    }
    free(buf);
    return rc;
}

/* a plain block function called through blocks_loop (g is always 0) */
typedef struct {
    int (*fn)(void *ctx, const float *x, size_t i0, size_t n);
    void *ctx;
} plain_fn;

static int call_plain(void *ctx, const float *x, size_t i0, size_t n, size_t g)
{
    (void)g;
    const plain_fn *p = ctx;
    return p->fn(p->ctx, x, i0, n);
}

int nd_features_blocks(const nd_features *f, int tid, int nt, int (*fn)(void *ctx, const float *x, size_t i0, size_t n),
                       void *ctx, char *err, size_t errlen)
{
    return nd_features_blocks_range(f, 0, f->N, tid, nt, fn, ctx, err, errlen);
}

int nd_features_blocks_range(const nd_features *f, size_t first, size_t end, int tid, int nt,
                             int (*fn)(void *ctx, const float *x, size_t i0, size_t n), void *ctx, char *err,
                             size_t errlen)
{
    plain_fn p = {fn, ctx};
    return blocks_loop(f, first, end, tid, nt, NULL, 0, call_plain, &p, err, errlen);
}

int nd_features_blocks_grouped(const nd_features *f, int tid, int nt, blocks_fn fn, void *ctx, char *err,
                               size_t errlen)
{
    size_t g = 0;
    nd_units_fn units = nd_features_units(f, &g);
    if (!units || !g || ND_FEATURES_BLOCK % g)
        units = NULL, g = 0;
    return blocks_loop(f, 0, f->N, tid, nt, units, g, fn, ctx, err, errlen);
}
