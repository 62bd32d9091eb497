/* world_render.c - draw one image of the synthetic world from (seed, index).
 *
 * A scene is laid out first (background bands, objects sorted far to near,
 * every primitive turned into a pixel-space record with its inverse
 * transform and bounding box), then sampled: every pixel corner (shared by
 * four pixels) and every pixel centre is looked up - topmost primitive
 * first - and a pixel's colour is half its centre plus an eighth of each
 * corner, a cheap anti-aliasing filter; its labels are those of its centre,
 * so a part pixel always has its object's label.  Lighting and noise come
 * last, then the colour names of the final bytes.  Every random draw comes
 * from one generator seeded by (seed, index) in a fixed order, so an image
 * never depends on threads or on which other images are drawn.
 */
#include "datasets/world.h"
#include "datasets/world_internal.h"

#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PRIM 192
#define MAX_SURF 128
#define MAX_OBJ 12
#define PI_F 3.14159265358979f

world_opts world_defaults(void)
{
    world_opts o = {.seed = 1, .size = 64, .noise = 6, .light = 0.5, .clutter = 0.25, .rotate = 12, .cue = 0.7};
    return o;
}

int world_check_opts(const world_opts *o)
{
    if (o->size < 8 || o->size > 1024)
        return nd_fail("world: size %d is not in 8..1024", o->size);
    if (!(o->noise >= 0 && o->noise <= 100))
        return nd_fail("world: noise %g is not in 0..100", o->noise);
    if (!(o->light >= 0 && o->light <= 1))
        return nd_fail("world: light %g is not in 0..1", o->light);
    if (!(o->clutter >= 0 && o->clutter <= 1))
        return nd_fail("world: clutter %g is not in 0..1", o->clutter);
    if (!(o->cue >= 0 && o->cue <= 1))
        return nd_fail("world: cue %g is not in 0..1", o->cue);
    if (!(o->rotate >= 0 && o->rotate <= 180))
        return nd_fail("world: rotate %g is not in 0..180 degrees", o->rotate);
    return 0;
}

/* ---------- random numbers: splitmix64, one stream per image ---------- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t next(rng *r) { return mix64(r->s += 0x9E3779B97F4A7C15ull); }
static float unif(rng *r) { return (float)(next(r) >> 40) * 0x1p-24f; } /* [0, 1) */
static float range(rng *r, float a, float b) { return a + (b - a) * unif(r); }
static int pick(rng *r, int n) { return (int)((next(r) >> 33) % (uint64_t)n); }

/* ---------- the laid-out scene ---------- */

typedef struct {
    float c1[3], c2[3];
    int mat;            /* MAT_* */
    float period, ca, sa;
    uint32_t h;         /* speckle hash seed */
} rsurf;

typedef struct {
    float x0, y0, x1, y1;     /* pixel bounding box */
    float a, b, c, d, tx, ty; /* pixel -> object units */
    float s;                  /* pixels per object unit (texture coordinates) */
    int shape, npt;
    float g[8], inner;        /* geometry in object units (bars become polygons) */
    uint16_t obj, part, surf;
} rprim;

typedef struct {
    rprim prim[MAX_PRIM];
    int nprim;
    rsurf surf[MAX_SURF];
    int nsurf;
    int nband;
    uint16_t band_obj[3];
    int band_surf[3];
    float band_y[2], tilt;
    float bright, gx, gy, cast[3];
    /* working memory, sized by the canvas */
    float *corner;   /* (S+1)^2 * 3 */
    uint16_t *act;   /* MAX_PRIM active primitives of one sample row */
    unsigned char *names;
} scene;

world_canvas *world_canvas_new(int size)
{
    world_canvas *cv = nd_calloc(1, sizeof *cv);
    if (!cv)
        return NULL;
    size_t n = (size_t)size * size;
    cv->size = size;
    cv->rgb = nd_malloc(n * 3);
    for (int c = 0; c < WORLD_SCENE; c++)
        cv->map[c] = nd_malloc(n * sizeof(uint16_t));
    scene *sc = nd_calloc(1, sizeof *sc);
    cv->scratch = sc;
    if (sc) {
        sc->corner = nd_malloc((size_t)(size + 1) * (size + 1) * 3 * sizeof(float));
        sc->act = nd_malloc(MAX_PRIM * sizeof *sc->act);
        sc->names = nd_malloc(n);
    }
    int ok = cv->rgb && sc && sc->corner && sc->act && sc->names;
    for (int c = 0; c < WORLD_SCENE; c++)
        ok = ok && cv->map[c];
    if (!ok) {
        world_canvas_free(cv);
        return NULL;
    }
    return cv;
}

void world_canvas_free(world_canvas *cv)
{
    if (!cv)
        return;
    scene *sc = cv->scratch;
    if (sc) {
        free(sc->corner);
        free(sc->act);
        free(sc->names);
        free(sc);
    }
    free(cv->rgb);
    for (int c = 0; c < WORLD_SCENE; c++)
        free(cv->map[c]);
    free(cv);
}

/* ---------- surfaces and textures ---------- */

static void palette_pick(rng *r, const char *pal, float rgb[3], char *letter)
{
    *letter = pal[pick(r, (int)strlen(pal))];
    world_palette(*letter, rgb);
    for (int k = 0; k < 3; k++)
        rgb[k] += range(r, -16, 16);
}

/* A new surface from palette and material letters; pref (0 = none) is a
 * material the scene prefers, taken with probability cue. */
static int new_surf(scene *sc, rng *r, const char *pal, const char *mats, char pref, float cue,
                    int S)
{
    if (sc->nsurf == MAX_SURF)
        return sc->nsurf - 1; /* cannot happen with MAX_PRIM objects' worth; keeps memory safe */
    rsurf *f = &sc->surf[sc->nsurf];
    char c1, c2;
    palette_pick(r, pal, f->c1, &c1);
    int m = world_material_letter(mats[pick(r, (int)strlen(mats))]);
    if (pref && unif(r) < cue)
        m = world_material_letter(pref);
    f->mat = m < 0 ? MAT_PLAIN : m;
    float lum = (f->c1[0] + f->c1[1] + f->c1[2]) / 3;
    float dark = lum < 70 ? 1.0f : 0.0f; /* dark bases get lighter second colours */
    for (int k = 0; k < 3; k++)
        f->c2[k] = dark ? f->c1[k] * 0.5f + 110 : f->c1[k] * 0.55f;
    if (f->mat == MAT_BRICK) {
        float g = range(r, 170, 215);
        f->c2[0] = g, f->c2[1] = g * 0.97f, f->c2[2] = g * 0.92f; /* mortar */
    } else if (f->mat == MAT_STRIPED || f->mat == MAT_CHECKERED || f->mat == MAT_DOTTED) {
        palette_pick(r, strlen(pal) > 1 ? pal : "wxyrb", f->c2, &c2);
        if (c2 == c1)
            palette_pick(r, "wxyrbg", f->c2, &c2);
    } else if (f->mat == MAT_WAVY) {
        for (int k = 0; k < 3; k++)
            f->c2[k] = f->c1[k] * 0.7f + 70;
    }
    f->period = range(r, 3.5f, 7.0f) * (float)S / 64;
    float ang = range(r, 0, PI_F);
    f->ca = cosf(ang), f->sa = sinf(ang);
    f->h = (uint32_t)next(r);
    return sc->nsurf++;
}

static float frac(float x) { return x - floorf(x); }

/* Weight of the second colour at texture point (u, v), in pixels. */
static float texture(const rsurf *f, float u, float v)
{
    if (f->mat == MAT_PLAIN)
        return 0;
    float p = f->period, ru = f->ca * u + f->sa * v, rv = f->ca * v - f->sa * u;
    switch (f->mat) {
    case MAT_STRIPED: return frac(ru / p) < 0.5f;
    case MAT_CHECKERED: return ((long)floorf(ru / p) + (long)floorf(rv / p)) & 1;
    case MAT_DOTTED: {
        float a = frac(ru / p) - 0.5f, b = frac(rv / p) - 0.5f;
        return a * a + b * b < 0.08f;
    }
    case MAT_SPECKLED: {
        float q = p * 0.4f;
        uint32_t h = (uint32_t)(long)floorf(ru / q) * 0x9E3779B1u ^ (uint32_t)(long)floorf(rv / q) * 0x85EBCA77u;
        h = (h ^ f->h) * 0xC2B2AE3Du;
        h ^= h >> 15;
        return (float)(h & 1023) / 1023.0f;
    }
    case MAT_WOOD: return frac(rv / p + 0.35f * sinf(ru / (2.5f * p))) < 0.3f;
    case MAT_BRICK: {
        float row = floorf(rv / p), fv = rv / p - row;
        float fu = frac(ru / (2.2f * p) + (((long)row & 1) ? 0.5f : 0.0f));
        return fv < 0.2f || fu < 0.09f;
    }
    case MAT_WAVY: return frac(rv / p + 0.4f * sinf(ru * 2 * PI_F / (3 * p))) < 0.5f;
    }
    return 0;
}

static void surf_color(const rsurf *f, float u, float v, float out[3])
{
    float t = texture(f, u, v);
    for (int k = 0; k < 3; k++)
        out[k] = f->c1[k] + t * (f->c2[k] - f->c1[k]);
}

/* ---------- layout ---------- */

static void layout_background(scene *sc, rng *r, const wt_scene *ws, const world_opts *o)
{
    int S = o->size;
    sc->nband = 0;
    for (int b = 0; b < 3; b++) {
        if (ws->band[b] < 0 || (b == 1 && unif(r) >= ws->mid_p))
            continue;
        const wt_object *ob = &world_objects[ws->band[b]];
        sc->band_obj[sc->nband] = (uint16_t)ws->band[b];
        sc->band_surf[sc->nband] = new_surf(sc, r, ob->pal, ob->mats, ws->pref[b], (float)o->cue, S);
        sc->nband++;
    }
    float y0 = range(r, 0.28f, 0.55f) * S;
    sc->band_y[0] = y0;
    sc->band_y[1] = y0 + range(r, 0.12f, 0.25f) * S;
    if (sc->nband == 2)
        sc->band_y[0] = range(r, 0.3f, 0.6f) * S;
    sc->tilt = range(r, -0.12f, 0.12f);
}

/* Vertical range [*top, *bot] of the band an object of this zone stands in. */
static void zone_range(const scene *sc, int zone, int S, float *top, float *bot)
{
    int b = sc->nband - 1;
    for (int k = sc->nband - 1; k >= 1; k--) {
        int water = !strcmp(world_objects[sc->band_obj[k]].name, "water");
        if (zone == WZ_WATER ? water : !water) {
            b = k;
            break;
        }
    }
    *top = sc->band_y[b - 1 < 0 ? 0 : b - 1];
    *bot = b == sc->nband - 1 ? 1.04f * S : sc->band_y[b];
    if (*bot < *top + 2)
        *bot = *top + 2;
}

static void bbox_add(rprim *p, float u, float v, float s, float ct, float st, float fx)
{
    float x = p->tx + s * (ct * fx * u - st * v), y = p->ty + s * (st * fx * u + ct * v);
    p->x0 = fminf(p->x0, x), p->x1 = fmaxf(p->x1, x);
    p->y0 = fminf(p->y0, y), p->y1 = fmaxf(p->y1, y);
}

/* Geometry of a template primitive in object units, bars as quads. */
static void prim_geometry(rprim *p, const wt_prim *t)
{
    p->shape = t->shape, p->npt = t->npt, p->inner = 0;
    memcpy(p->g, t->p, sizeof p->g);
    if (t->shape == SH_ELL)
        p->inner = t->p[4];
    if (t->shape == SH_BAR) {
        float dx = t->p[2] - t->p[0], dy = t->p[3] - t->p[1], n = sqrtf(dx * dx + dy * dy);
        float nx = -dy / n * t->p[4] / 2, ny = dx / n * t->p[4] / 2;
        float q[8] = {t->p[0] + nx, t->p[1] + ny, t->p[2] + nx, t->p[3] + ny,
                      t->p[2] - nx, t->p[3] - ny, t->p[0] - nx, t->p[1] - ny};
        memcpy(p->g, q, sizeof q);
        p->shape = SH_POLY, p->npt = 4;
    }
}

static void local_bbox(const rprim *p, float *u0, float *v0, float *u1, float *v1)
{
    if (p->shape == SH_RECT) {
        *u0 = p->g[0], *v0 = p->g[1], *u1 = p->g[2], *v1 = p->g[3];
    } else if (p->shape == SH_ELL) {
        *u0 = p->g[0] - p->g[2], *u1 = p->g[0] + p->g[2];
        *v0 = p->g[1] - p->g[3], *v1 = p->g[1] + p->g[3];
    } else {
        *u0 = *u1 = p->g[0], *v0 = *v1 = p->g[1];
        for (int k = 1; k < p->npt; k++) {
            *u0 = fminf(*u0, p->g[2 * k]), *u1 = fmaxf(*u1, p->g[2 * k]);
            *v0 = fminf(*v0, p->g[2 * k + 1]), *v1 = fmaxf(*v1, p->g[2 * k + 1]);
        }
    }
}

typedef struct {
    int obj;
    float by;
} placed;

static void add_object(scene *sc, rng *r, const world_opts *o, const placed *pl, float top, float bot)
{
    const wt_object *ob = &world_objects[pl->obj];
    int S = o->size;
    float depth = (pl->by - top) / (bot - top);
    float s = S * range(r, ob->smin, ob->smax) * (0.75f + 0.45f * depth);
    float bx = range(r, -0.05f, 1.05f) * S;
    float th = range(r, -1, 1) * (float)o->rotate * PI_F / 180;
    float fx = (unif(r) < 0.5f ? -1.0f : 1.0f) * range(r, 0.85f, 1.2f);
    float ct = cosf(th), st = sinf(th);
    int last = -1;
    for (int i = 0; i < ob->nprim && sc->nprim < MAX_PRIM; i++) {
        const wt_prim *t = &ob->prim[i];
        rprim *p = &sc->prim[sc->nprim++];
        prim_geometry(p, t);
        p->surf = (uint16_t)(t->same && last >= 0 ? last : new_surf(sc, r, t->pal, t->mats, 0, 0, S));
        last = p->surf;
        p->obj = (uint16_t)world_label(WORLD_OBJECT, pl->obj);
        p->part = t->part ? (uint16_t)world_label(WORLD_PART, t->part - 1) : 0;
        p->s = s;
        p->tx = bx + st * 0.5f * s, p->ty = pl->by - ct * 0.5f * s;
        p->a = ct / (s * fx), p->b = st / (s * fx), p->c = -st / s, p->d = ct / s;
        float u0, v0, u1, v1;
        local_bbox(p, &u0, &v0, &u1, &v1);
        p->x0 = p->y0 = 1e30f, p->x1 = p->y1 = -1e30f;
        bbox_add(p, u0, v0, s, ct, st, fx), bbox_add(p, u1, v0, s, ct, st, fx);
        bbox_add(p, u0, v1, s, ct, st, fx), bbox_add(p, u1, v1, s, ct, st, fx);
    }
}

/* Which objects, where: the scene's tendencies plus clutter, far to near. */
static void layout_objects(scene *sc, rng *r, const world_opts *o, const wt_scene *ws)
{
    placed pl[MAX_OBJ];
    float top[MAX_OBJ], bot[MAX_OBJ];
    int n = 0;
    for (int i = 0; i < WT_MAX_TEND && ws->tend[i].p > 0; i++)
        if (unif(r) < ws->tend[i].p) {
            int copies = 1 + pick(r, ws->tend[i].max);
            for (int c = 0; c < copies && n < MAX_OBJ; c++)
                pl[n++].obj = ws->tend[i].obj;
        }
    for (int k = 0; k < 2; k++)
        if (unif(r) < (float)o->clutter && n < MAX_OBJ)
            pl[n++].obj = pick(r, world_nthings);
    for (int i = 0; i < n; i++) {
        zone_range(sc, world_objects[pl[i].obj].zone, o->size, &top[i], &bot[i]);
        pl[i].by = range(r, top[i] + 0.03f * o->size, bot[i]);
    }
    /* insertion sort by depth (stable, so ties keep their draw order) */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && pl[j].by < pl[j - 1].by; j--) {
            placed t = pl[j];
            pl[j] = pl[j - 1], pl[j - 1] = t;
            float a = top[j], b = bot[j];
            top[j] = top[j - 1], bot[j] = bot[j - 1], top[j - 1] = a, bot[j - 1] = b;
        }
    sc->nprim = 0;
    for (int i = 0; i < n; i++)
        add_object(sc, r, o, &pl[i], top[i], bot[i]);
}

static void layout_light(scene *sc, rng *r, const world_opts *o)
{
    float L = (float)o->light;
    sc->bright = 1 + L * range(r, -0.4f, 0.25f);
    float ang = range(r, 0, 2 * PI_F), g = L * range(r, 0, 0.6f);
    sc->gx = g * cosf(ang), sc->gy = g * sinf(ang);
    for (int k = 0; k < 3; k++)
        sc->cast[k] = 1 + L * range(r, -0.1f, 0.1f);
}

/* ---------- sampling ---------- */

static int inside(const rprim *p, float u, float v)
{
    const float *g = p->g;
    if (p->shape == SH_RECT)
        return u >= g[0] && u < g[2] && v >= g[1] && v < g[3];
    if (p->shape == SH_ELL) {
        float a = (u - g[0]) / g[2], b = (v - g[1]) / g[3], q = a * a + b * b;
        return q <= 1 && q >= p->inner * p->inner;
    }
    int pos = 0, neg = 0;
    for (int k = 0; k < p->npt; k++) {
        int l = (k + 1) % p->npt;
        float cr = (g[2 * l] - g[2 * k]) * (v - g[2 * k + 1]) - (g[2 * l + 1] - g[2 * k + 1]) * (u - g[2 * k]);
        pos |= cr > 0, neg |= cr < 0;
    }
    return !(pos && neg);
}

/* Primitives whose bounding box meets row y, in drawing order. */
static int active_row(const scene *sc, float y)
{
    int n = 0;
    for (int k = 0; k < sc->nprim; k++)
        if (sc->prim[k].y0 <= y && y <= sc->prim[k].y1)
            sc->act[n++] = (uint16_t)k;
    return n;
}

/* What covers (x, y): the topmost primitive (index, with its texture
 * coordinates in pixels) or -1 for the background. */
static int sample(const scene *sc, int nact, float x, float y, float *tu, float *tv)
{
    for (int i = nact - 1; i >= 0; i--) {
        const rprim *p = &sc->prim[sc->act[i]];
        if (x < p->x0 || x > p->x1)
            continue;
        float dx = x - p->tx, dy = y - p->ty;
        float u = p->a * dx + p->b * dy, v = p->c * dx + p->d * dy;
        if (inside(p, u, v)) {
            *tu = u * p->s, *tv = v * p->s;
            return sc->act[i];
        }
    }
    return -1;
}

static int band_at(const scene *sc, float x, float y, int S)
{
    float yy = y - sc->tilt * (x - 0.5f * S);
    int b = 0;
    if (sc->nband >= 2 && yy >= sc->band_y[0])
        b = 1;
    if (sc->nband == 3 && yy >= sc->band_y[1])
        b = 2;
    return b;
}

/* Colour at (x, y); *k = primitive index or -1 - band - 1 for background. */
static void shade(const scene *sc, int nact, float x, float y, int S, float out[3], int *k)
{
    float u, v;
    int p = sample(sc, nact, x, y, &u, &v);
    if (p >= 0) {
        surf_color(&sc->surf[sc->prim[p].surf], u, v, out);
        *k = p;
    } else {
        int b = band_at(sc, x, y, S);
        surf_color(&sc->surf[sc->band_surf[b]], x, y, out);
        *k = -1 - b;
    }
}

static unsigned char to_byte(float v)
{
    v = floorf(v + 0.5f);
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void draw_pixels(scene *sc, rng *r, const world_opts *o, world_canvas *cv)
{
    int S = o->size, W = S + 1;
    float *cr = sc->corner, col[3];
    int k;
    for (int j = 0; j <= S; j++) {
        int na = active_row(sc, (float)j);
        for (int i = 0; i <= S; i++)
            shade(sc, na, (float)i, (float)j, S, cr + 3 * ((size_t)j * W + i), &k);
    }
    uint16_t mat_label[MAT_COUNT];
    for (int m = 0; m < MAT_COUNT; m++)
        mat_label[m] = m ? (uint16_t)world_label(WORLD_MATERIAL, m - 1) : 0;
    float noise = (float)o->noise * 1.7320508f; /* Irwin-Hall(4) scaled to unit variance */
    for (int j = 0; j < S; j++) {
        int na = active_row(sc, j + 0.5f);
        for (int i = 0; i < S; i++) {
            size_t px = (size_t)j * S + i;
            shade(sc, na, i + 0.5f, j + 0.5f, S, col, &k);
            const float *c00 = cr + 3 * ((size_t)j * W + i), *c10 = c00 + 3, *c01 = c00 + 3 * W, *c11 = c01 + 3;
            float light = sc->bright * (1 + sc->gx * ((i + 0.5f) / S - 0.5f) + sc->gy * ((j + 0.5f) / S - 0.5f));
            for (int ch = 0; ch < 3; ch++) {
                uint64_t z = next(r);
                float nz = ((float)(z & 0xffff) + (float)((z >> 16) & 0xffff) + (float)((z >> 32) & 0xffff) +
                            (float)(z >> 48)) / 65536.0f - 2.0f;
                float v = 0.5f * col[ch] + 0.125f * (c00[ch] + c10[ch] + c01[ch] + c11[ch]);
                cv->rgb[3 * px + ch] = to_byte(v * light * sc->cast[ch] + noise * nz);
            }
            const rsurf *f;
            if (k >= 0) {
                cv->map[WORLD_OBJECT][px] = sc->prim[k].obj;
                cv->map[WORLD_PART][px] = sc->prim[k].part;
                f = &sc->surf[sc->prim[k].surf];
            } else {
                cv->map[WORLD_OBJECT][px] = (uint16_t)world_label(WORLD_OBJECT, sc->band_obj[-1 - k]);
                cv->map[WORLD_PART][px] = 0;
                f = &sc->surf[sc->band_surf[-1 - k]];
            }
            cv->map[WORLD_MATERIAL][px] = mat_label[f->mat];
        }
    }
}

void world_render(const world_opts *o, const cn_table *colors, uint64_t index, world_canvas *cv)
{
    ND_ASSERT(cv->size == o->size);
    scene *sc = cv->scratch;
    rng r = {mix64(mix64(o->seed ^ 0x5157524C44ull) ^ index)}; /* "WORLD": streams of different seeds differ */
    int s = pick(&r, world_nscenes);
    const wt_scene *ws = &world_scenes[s];
    cv->scene = world_label(WORLD_SCENE, s);
    sc->nsurf = 0;
    layout_background(sc, &r, ws, o);
    layout_objects(sc, &r, o, ws);
    layout_light(sc, &r, o);
    draw_pixels(sc, &r, o, cv);
    size_t n = (size_t)o->size * o->size;
    cn_name_pixels(colors, cv->rgb, n, sc->names);
    uint16_t first = (uint16_t)world_label(WORLD_COLOR, 0);
    for (size_t p = 0; p < n; p++)
        cv->map[WORLD_COLOR][p] = (uint16_t)(first + sc->names[p]);
}
