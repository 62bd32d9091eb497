/* world.h - a procedurally rendered concept world in Broden format.
 *
 * Every image is drawn from nothing but (seed, image index): a scene picks a
 * background (bands of sky, grass, water, road, sand, wall, floor) and which
 * objects tend to appear; each object is a set of primitive shapes (boxes,
 * ellipses, convex polygons, bars), most of them labelled parts; every
 * surface carries a procedural material texture and a colour from a
 * palette.  Position, scale, rotation, mirroring, occlusion (painter's order
 * by depth), lighting and pixel noise are random; edges are anti-aliased by
 * sampling each pixel's centre and its four corners.  The label of a pixel
 * is what covers its centre, so every part pixel lies inside its object by
 * construction.  Colour labels name the final pixels with the w2color table
 * (datasets/colornames.h), exactly as imported photographs are named.
 *
 * Concepts (world_concept_*): five categories in category.csv order
 * object, part, material, color, scene; one global label numbering 1..L in
 * that order.  The numbering is fixed by the concept table, never by what a
 * particular world happens to contain, so every world shares it.
 *
 *     world_opts o = world_defaults();
 *     o.seed = 7; o.size = 64;
 *     world_canvas *cv = world_canvas_new(o.size);
 *     world_render(&o, colors, 12, cv);      // image 12 of world 7
 *     ... cv->rgb, cv->object, cv->part, cv->material, cv->color, cv->scene
 *     world_canvas_free(cv);
 */
#ifndef ND_WORLD_H
#define ND_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "core/progress.h"
#include "datasets/colornames.h"

/* ---------- the concept table ---------- */

enum { WORLD_OBJECT, WORLD_PART, WORLD_MATERIAL, WORLD_COLOR, WORLD_SCENE, WORLD_NCAT };

extern const char *const world_category_names[WORLD_NCAT];

int world_num_concepts(int category);               /* concepts of a category */
const char *world_concept_name(int category, int k); /* k in 0..num-1 */
/* Global label number (1..L) of concept k of a category. */
int world_label(int category, int k);
int world_num_labels(void); /* L */
/* Category and in-category index of global label l (1..L). */
void world_label_concept(int l, int *category, int *k);

/* Which parts an object class may have: 1 when part p occurs in object o's
 * template (o, p are in-category indices). */
int world_object_has_part(int o, int p);
/* Probability (0..1) that scene s draws object class o at least once. */
double world_scene_object_prob(int s, int o);

/* ---------- rendering ---------- */

typedef struct {
    uint64_t seed;
    int size;          /* image side S (label maps in a dataset are S/2) */
    double noise;      /* pixel noise standard deviation, 0..255 units */
    double light;      /* lighting variation, 0 = none, 1 = strong */
    double clutter;    /* probability of each of two objects foreign to the scene */
    double rotate;     /* maximum object rotation, degrees */
    double cue;        /* chance that a background takes its scene's preferred material */
} world_opts;

world_opts world_defaults(void);
/* 0, or -1 with the offending field named. */
int world_check_opts(const world_opts *o);

/* Colours are named by the importer's module (datasets/colornames.h):
 * every final pixel through the w2color table, exactly as photographs. */
#define WORLD_NCOLORS CN_NAMES

/* One rendered image at full resolution S x S: RGB and the global label
 * number of every pixel in each pixel-level category (0 = none), plus the
 * image-level scene label. */
typedef struct {
    int size;
    unsigned char *rgb;           /* S*S*3 */
    uint16_t *map[WORLD_SCENE];   /* object, part, material, color: S*S each */
    int scene;                    /* global label number */
    void *scratch;                /* renderer's working memory */
} world_canvas;

world_canvas *world_canvas_new(int size); /* NULL + error when out of memory */
void world_canvas_free(world_canvas *cv);
/* Render image `index` of the world (o->seed, o->size == cv->size). */
void world_render(const world_opts *o, const cn_table *colors, uint64_t index,
                  world_canvas *cv);

/* ---------- a dataset on disk ---------- */

typedef struct {
    world_opts world;
    const char *out_dir;   /* must not exist; built in OUT.tmp.<pid>, renamed */
    const char *colors;    /* path of w2color.npy */
    size_t images;
    int val_every;         /* image i is "val" when i % val_every == val_every - 1 (0: none) */
    int threads;           /* nd_threads rule; output never depends on it */
    int samples;           /* images in sample.png (rows), 0 = none */
    nd_progress progress;  /* stage "world", counted in images */
} world_write_opts;

typedef struct {
    size_t images;
    int labels_present;     /* labels with frequency > 0 */
    double render_seconds;  /* rendering alone, summed over threads */
    double seconds;         /* wall time of the whole write */
} world_stats;

world_write_opts world_write_defaults(void);
/* Writes OUT/images/<name>.png (S x S RGB), OUT/images/<name>_<cat>.png
 * (S/2 x S/2 label maps, nearest rule, R + 256*G), index.csv, label.csv,
 * category.csv, c_<cat>.csv (frequency and coverage counted at full
 * resolution, as the importer does), world.json (the parameters),
 * README.md (the concept list) and sample.png.  Same options, same bytes,
 * for any thread count. */
int world_write(const world_write_opts *o, world_stats *st);

/* The label map of category c shrunk to S/2 (the dataset's rule). */
void world_shrink(const world_canvas *cv, int c, uint16_t *dst);
/* An image row of sample.png: the image and its four label maps, each
 * S x S, side by side (5S x S RGB); label maps drawn in distinct colours,
 * the color map in the named colours. */
void world_sample_row(const world_canvas *cv, unsigned char *row);

#endif
