/* world_internal.h - the concept table's data, shared by world_concepts.c
 * (which defines it) and world_render.c (which draws it).  Not a public
 * header: other code goes through datasets/world.h. */
#ifndef ND_WORLD_INTERNAL_H
#define ND_WORLD_INTERNAL_H

#include <stdint.h>

/* Materials: index 0 is plain paint (no material label); 1.. are labelled. */
enum { MAT_PLAIN, MAT_BRICK, MAT_WOOD, MAT_STRIPED, MAT_CHECKERED, MAT_DOTTED, MAT_SPECKLED,
       MAT_WAVY, MAT_COUNT };

enum { SH_RECT, SH_ELL, SH_POLY, SH_BAR };

/* One primitive of an object template, in object units: x right, y down,
 * the object's base at y = +0.5, its width about -0.5..0.5.
 *   SH_RECT  p = x0, y0, x1, y1
 *   SH_ELL   p = cx, cy, rx, ry, inner (0, or the hole's radius fraction: a ring)
 *   SH_POLY  p = npt (3 or 4) convex points x, y in order
 *   SH_BAR   p = x0, y0, x1, y1, width (a thick segment)
 * part: 0 = none (an object pixel with no part), else part index + 1.
 * same: 1 = the surface (colour, material) of the previous primitive.
 * pal: palette letters (world_palette), repeated letters weigh more;
 * mats: material letters (world_material_letter). */
typedef struct {
    uint8_t shape, part, same, npt;
    const char *pal, *mats;
    float p[8];
} wt_prim;

typedef struct {
    const char *name;
    float smin, smax;  /* size of one object unit, as a fraction of the image side */
    uint8_t zone;      /* WZ_GROUND or WZ_WATER */
    int nprim;
    const wt_prim *prim;
    const char *pal, *mats; /* stuff (background) objects: their surface */
} wt_object;

enum { WZ_GROUND, WZ_WATER };

/* A scene: up to three background bands top to bottom (object indices of
 * stuff classes, -1 = none), the middle band present with probability
 * mid_p, a preferred material letter per band used with probability cue (world_opts)
 * (0 = none), and object tendencies. */
typedef struct {
    uint8_t obj, max; /* object index, most copies */
    float p;          /* probability of at least one */
} wt_tend;

#define WT_MAX_TEND 8
typedef struct {
    const char *name;
    int band[3];
    float mid_p;
    char pref[3];
    wt_tend tend[WT_MAX_TEND];
} wt_scene;

extern const wt_object world_objects[];
extern const int world_nobjects, world_nthings; /* things (with parts) come first */
extern const char *const world_part_names[];
extern const int world_nparts;
extern const char *const world_material_names[]; /* MAT_BRICK.. (index m - 1) */
extern const wt_scene world_scenes[];
extern const int world_nscenes;

/* Palette colour of a letter (sRGB), -1 entries for unknown letters. */
int world_palette(char letter, float rgb[3]);
/* Material index of a material letter ('-' plain, B W S C D N V). */
int world_material_letter(char letter);

/* README.md, world.json and sample.png of a dataset being written to dir
 * (world_extras.c); freq and cov are the label totals, [L + 1]. */
#include <stddef.h>
#include "datasets/world.h"
/* afile_open of dir/name (world_write.c). */
#include "core/afile.h"
int world_open_in(afile *a, const char *dir, const char *name);
int world_write_extras(const world_write_opts *o, const cn_table *colors, const char *dir,
                       const size_t *freq, const double *cov);

#endif
