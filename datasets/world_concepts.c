/* world_concepts.c - the synthetic world's concept table: objects built from
 * parts, background stuff, materials, scenes and the label numbering. */
#include "datasets/world.h"
#include "datasets/world_internal.h"

#include <string.h>

const char *const world_category_names[WORLD_NCAT] = {"object", "part", "material", "color",
                                                      "scene"};

/* Part numbers as wt_prim.part uses them (index + 1). */
enum { P_NONE, P_FACADE, P_ROOF, P_DOOR, P_WINDOW, P_TRUNK, P_CROWN, P_BODY, P_WHEEL, P_HEAD,
       P_TORSO, P_LEG, P_TABLETOP, P_SEAT, P_BACKREST, P_HEADBOARD, P_MATTRESS, P_SHADE,
       P_STAND, P_HULL, P_MAST, P_SAIL, P_FRAME, P_STEM, P_PETAL, P_ARMREST, P_SCREEN, P_END };

const char *const world_part_names[] = {
    "facade", "roof",      "door",     "window", "trunk", "crown", "body",
    "wheel",  "head",      "torso",    "leg",    "tabletop", "seat", "backrest",
    "headboard", "mattress", "shade",  "stand",  "hull",  "mast",  "sail",
    "frame",  "stem",      "petal",    "armrest", "screen"};
const int world_nparts = P_END - 1;

const char *const world_material_names[] = {"brick",  "wood",     "striped", "checkered",
                                            "dotted", "speckled", "wavy"};

#define R(x0, y0, x1, y1) {x0, y0, x1, y1}
#define PRIM(sh, part, same, pal, mats, ...) {sh, part, same, 0, pal, mats, __VA_ARGS__}
#define POLY(n, part, same, pal, mats, ...) {SH_POLY, part, same, n, pal, mats, __VA_ARGS__}

/* Palette letters: r red, o orange, y yellow, g green, G dark green, b blue,
 * l light blue, p purple, k pink, n brown, e beige, w white, a grey, d dark
 * grey, x black, s skin.  Material letters: - plain, B brick, W wood,
 * S striped, C checkered, D dotted, N speckled (noise), V wavy. */
static const wt_prim house[] = {
    PRIM(SH_RECT, P_FACADE, 0, "wweyyralnk", "--BBWS", R(-0.45f, -0.1f, 0.45f, 0.5f)),
    POLY(3, P_ROOF, 0, "rrnddxo", "--SC", {-0.56f, -0.08f, 0.56f, -0.08f, 0.0f, -0.5f}),
    PRIM(SH_RECT, P_DOOR, 0, "nnrbgw", "-WW", R(-0.08f, 0.18f, 0.08f, 0.5f)),
    PRIM(SH_RECT, P_WINDOW, 0, "lld", "-", R(-0.36f, 0.02f, -0.16f, 0.22f)),
    PRIM(SH_RECT, P_WINDOW, 1, "", "", R(0.16f, 0.02f, 0.36f, 0.22f)),
};
static const wt_prim tree[] = {
    PRIM(SH_RECT, P_TRUNK, 0, "n", "WW-", R(-0.07f, 0.05f, 0.07f, 0.5f)),
    PRIM(SH_ELL, P_CROWN, 0, "gggGGoy", "NND-", {0.0f, -0.15f, 0.36f, 0.36f, 0}),
};
static const wt_prim car[] = {
    PRIM(SH_RECT, P_BODY, 0, "rrbbwxyag", "---S", R(-0.5f, 0.11f, 0.5f, 0.38f)),
    POLY(4, P_BODY, 1, "", "", {-0.3f, 0.11f, 0.3f, 0.11f, 0.2f, -0.12f, -0.2f, -0.12f}),
    POLY(4, P_WINDOW, 0, "lld", "-", {-0.24f, 0.08f, -0.02f, 0.08f, -0.02f, -0.08f, -0.17f, -0.08f}),
    POLY(4, P_WINDOW, 1, "", "", {0.02f, 0.08f, 0.24f, 0.08f, 0.17f, -0.08f, 0.02f, -0.08f}),
    PRIM(SH_ELL, P_WHEEL, 0, "xd", "-", {-0.3f, 0.38f, 0.12f, 0.12f, 0}),
    PRIM(SH_ELL, P_WHEEL, 1, "", "", {0.3f, 0.38f, 0.12f, 0.12f, 0}),
};
static const wt_prim bus[] = {
    PRIM(SH_RECT, P_BODY, 0, "yyrbwgo", "--S", R(-0.5f, -0.05f, 0.5f, 0.4f)),
    PRIM(SH_RECT, P_WINDOW, 0, "lld", "-", R(-0.44f, 0.02f, -0.28f, 0.16f)),
    PRIM(SH_RECT, P_WINDOW, 1, "", "", R(-0.22f, 0.02f, -0.06f, 0.16f)),
    PRIM(SH_RECT, P_WINDOW, 1, "", "", R(0.0f, 0.02f, 0.16f, 0.16f)),
    PRIM(SH_RECT, P_WINDOW, 1, "", "", R(0.22f, 0.02f, 0.38f, 0.16f)),
    PRIM(SH_ELL, P_WHEEL, 0, "xd", "-", {-0.3f, 0.4f, 0.1f, 0.1f, 0}),
    PRIM(SH_ELL, P_WHEEL, 1, "", "", {0.3f, 0.4f, 0.1f, 0.1f, 0}),
};
static const wt_prim person[] = {
    PRIM(SH_RECT, P_LEG, 0, "bbxane", "--S", R(-0.1f, 0.1f, -0.02f, 0.5f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(0.02f, 0.1f, 0.1f, 0.5f)),
    PRIM(SH_RECT, P_TORSO, 0, "rbgywxpko", "--SCD", R(-0.13f, -0.27f, 0.13f, 0.12f)),
    PRIM(SH_BAR, P_TORSO, 1, "", "", {-0.12f, -0.24f, -0.2f, 0.08f, 0.07f}),
    PRIM(SH_BAR, P_TORSO, 1, "", "", {0.12f, -0.24f, 0.2f, 0.08f, 0.07f}),
    PRIM(SH_ELL, P_HEAD, 0, "sssne", "-", {0.0f, -0.37f, 0.1f, 0.11f, 0}),
};
static const wt_prim table[] = {
    PRIM(SH_RECT, P_TABLETOP, 0, "nnnweax", "WW-C", R(-0.5f, 0.0f, 0.5f, 0.08f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(-0.45f, 0.08f, -0.39f, 0.5f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(0.39f, 0.08f, 0.45f, 0.5f)),
};
static const wt_prim chair[] = {
    PRIM(SH_RECT, P_BACKREST, 0, "nnrxwbg", "WW-S", R(0.14f, -0.4f, 0.22f, 0.1f)),
    PRIM(SH_RECT, P_SEAT, 1, "", "", R(-0.22f, 0.05f, 0.22f, 0.12f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(-0.21f, 0.12f, -0.16f, 0.5f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(0.16f, 0.12f, 0.21f, 0.5f)),
};
static const wt_prim bed[] = {
    PRIM(SH_RECT, P_HEADBOARD, 0, "nnwxe", "WW-", R(-0.5f, -0.2f, -0.42f, 0.45f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(-0.49f, 0.3f, -0.43f, 0.5f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(0.43f, 0.3f, 0.49f, 0.5f)),
    PRIM(SH_RECT, P_MATTRESS, 0, "wwlkepr", "-SCD", R(-0.43f, 0.1f, 0.5f, 0.3f)),
    PRIM(SH_ELL, P_NONE, 0, "w", "-", {-0.32f, 0.06f, 0.09f, 0.05f, 0}),
};
static const wt_prim lamp[] = {
    PRIM(SH_RECT, P_STAND, 0, "xada", "-", R(-0.025f, -0.25f, 0.025f, 0.46f)),
    PRIM(SH_RECT, P_STAND, 1, "", "", R(-0.13f, 0.46f, 0.13f, 0.5f)),
    POLY(4, P_SHADE, 0, "wweyro", "--SD", {-0.13f, -0.48f, 0.13f, -0.48f, 0.22f, -0.25f, -0.22f, -0.25f}),
};
static const wt_prim boat[] = {
    POLY(4, P_HULL, 0, "wwrbnx", "--WS", {-0.5f, 0.22f, 0.5f, 0.22f, 0.36f, 0.5f, -0.36f, 0.5f}),
    PRIM(SH_RECT, P_MAST, 0, "nwa", "-W", R(-0.02f, -0.45f, 0.02f, 0.22f)),
    POLY(3, P_SAIL, 0, "wwery", "--S", {0.04f, -0.43f, 0.42f, 0.17f, 0.04f, 0.17f}),
    POLY(3, P_SAIL, 1, "", "", {-0.04f, -0.35f, -0.04f, 0.17f, -0.3f, 0.17f}),
};
static const wt_prim bicycle[] = {
    PRIM(SH_ELL, P_WHEEL, 0, "xd", "-", {-0.3f, 0.3f, 0.2f, 0.2f, 0.72f}),
    PRIM(SH_ELL, P_WHEEL, 1, "", "", {0.3f, 0.3f, 0.2f, 0.2f, 0.72f}),
    PRIM(SH_BAR, P_FRAME, 0, "rbxgywo", "-", {-0.3f, 0.3f, -0.02f, 0.3f, 0.05f}),
    PRIM(SH_BAR, P_FRAME, 1, "", "", {-0.02f, 0.3f, 0.2f, 0.03f, 0.05f}),
    PRIM(SH_BAR, P_FRAME, 1, "", "", {-0.3f, 0.3f, -0.12f, 0.03f, 0.05f}),
    PRIM(SH_BAR, P_FRAME, 1, "", "", {-0.12f, 0.04f, 0.2f, 0.04f, 0.05f}),
    PRIM(SH_BAR, P_FRAME, 1, "", "", {0.2f, 0.03f, 0.3f, 0.3f, 0.05f}),
    PRIM(SH_BAR, P_FRAME, 1, "", "", {0.2f, 0.03f, 0.25f, -0.08f, 0.05f}),
    PRIM(SH_RECT, P_SEAT, 0, "xn", "-", R(-0.19f, -0.03f, -0.05f, 0.02f)),
};
static const wt_prim flower[] = {
    PRIM(SH_BAR, P_STEM, 0, "gG", "-", {0.0f, 0.5f, 0.0f, -0.1f, 0.06f}),
    PRIM(SH_ELL, P_NONE, 1, "", "", {0.09f, 0.2f, 0.09f, 0.035f, 0}),
    PRIM(SH_ELL, P_PETAL, 0, "rykpwob", "--DS", {0.0f, -0.25f, 0.22f, 0.22f, 0}),
    PRIM(SH_ELL, P_NONE, 0, "ynx", "-", {0.0f, -0.25f, 0.07f, 0.07f, 0}),
};
static const wt_prim sofa[] = {
    PRIM(SH_RECT, P_LEG, 0, "xn", "-", R(-0.45f, 0.38f, -0.39f, 0.5f)),
    PRIM(SH_RECT, P_LEG, 1, "", "", R(0.39f, 0.38f, 0.45f, 0.5f)),
    PRIM(SH_RECT, P_BACKREST, 0, "rbangep", "--SCD", R(-0.45f, -0.15f, 0.45f, 0.15f)),
    PRIM(SH_RECT, P_SEAT, 1, "", "", R(-0.45f, 0.12f, 0.45f, 0.38f)),
    PRIM(SH_RECT, P_ARMREST, 1, "", "", R(-0.53f, 0.0f, -0.4f, 0.4f)),
    PRIM(SH_RECT, P_ARMREST, 1, "", "", R(0.4f, 0.0f, 0.53f, 0.4f)),
};
static const wt_prim cabinet[] = {
    PRIM(SH_RECT, P_NONE, 0, "nnweax", "WW-", R(-0.32f, -0.5f, 0.32f, 0.5f)),
    PRIM(SH_RECT, P_DOOR, 0, "nnwea", "WW-", R(-0.28f, -0.45f, -0.015f, 0.45f)),
    PRIM(SH_RECT, P_DOOR, 1, "", "", R(0.015f, -0.45f, 0.28f, 0.45f)),
    PRIM(SH_ELL, P_NONE, 0, "xay", "-", {-0.06f, 0.0f, 0.025f, 0.025f, 0}),
    PRIM(SH_ELL, P_NONE, 1, "", "", {0.06f, 0.0f, 0.025f, 0.025f, 0}),
};
static const wt_prim monitor[] = {
    PRIM(SH_RECT, P_STAND, 0, "xad", "-", R(-0.05f, 0.28f, 0.05f, 0.46f)),
    PRIM(SH_RECT, P_STAND, 1, "", "", R(-0.2f, 0.45f, 0.2f, 0.5f)),
    PRIM(SH_RECT, P_FRAME, 0, "xxdaw", "-", R(-0.5f, -0.4f, 0.5f, 0.3f)),
    PRIM(SH_RECT, P_SCREEN, 0, "blxdg", "--NS", R(-0.44f, -0.34f, 0.44f, 0.24f)),
};

#define THING(name, smin, smax, zone, prims) {name, smin, smax, zone, sizeof prims / sizeof *prims, prims, NULL, NULL}
#define STUFF(name, pal, mats) {name, 0, 0, WZ_GROUND, 0, NULL, pal, mats}

enum { O_HOUSE, O_TREE, O_CAR, O_BUS, O_PERSON, O_TABLE, O_CHAIR, O_BED, O_LAMP, O_BOAT,
       O_BICYCLE, O_FLOWER, O_SOFA, O_CABINET, O_MONITOR, O_SKY, O_GRASS, O_WATER, O_ROAD,
       O_SAND, O_WALL, O_FLOOR, O_END };

const wt_object world_objects[] = {
    THING("house", 0.45f, 0.8f, WZ_GROUND, house),
    THING("tree", 0.4f, 0.8f, WZ_GROUND, tree),
    THING("car", 0.35f, 0.55f, WZ_GROUND, car),
    THING("bus", 0.5f, 0.8f, WZ_GROUND, bus),
    THING("person", 0.25f, 0.45f, WZ_GROUND, person),
    THING("table", 0.35f, 0.55f, WZ_GROUND, table),
    THING("chair", 0.28f, 0.42f, WZ_GROUND, chair),
    THING("bed", 0.5f, 0.8f, WZ_GROUND, bed),
    THING("lamp", 0.3f, 0.5f, WZ_GROUND, lamp),
    THING("boat", 0.35f, 0.6f, WZ_WATER, boat),
    THING("bicycle", 0.3f, 0.45f, WZ_GROUND, bicycle),
    THING("flower", 0.14f, 0.26f, WZ_GROUND, flower),
    THING("sofa", 0.45f, 0.7f, WZ_GROUND, sofa),
    THING("cabinet", 0.35f, 0.55f, WZ_GROUND, cabinet),
    THING("monitor", 0.25f, 0.4f, WZ_GROUND, monitor),
    STUFF("sky", "lllllwao", "-"),
    STUFF("grass", "gggGGy", "NN-V"),
    STUFF("water", "bbllG", "VV-"),
    STUFF("road", "aaddx", "NN-"),
    STUFF("sand", "eeyo", "NDD-"),
    STUFF("wall", "wweeylkag", "--BSCD"),
    STUFF("floor", "nneaawr", "WW-CN"),
};
const int world_nobjects = O_END, world_nthings = O_SKY;

/* Twelve scenes.  Backgrounds repeat across scenes (four share sky over
 * grass, four wall over floor) and every object tends to appear in at least
 * two scenes, so a class is told by combinations, never by one object. */
#define T(o, p, m) {o, m, p}
const wt_scene world_scenes[] = {
    {"street-s", {O_SKY, -1, O_ROAD}, 0, {0, 0, 'N'},
     {T(O_HOUSE, .75f, 2), T(O_CAR, .6f, 1), T(O_BUS, .3f, 1), T(O_PERSON, .6f, 2), T(O_TREE, .3f, 1),
      T(O_BICYCLE, .3f, 1), T(O_LAMP, .3f, 1)}},
    {"parking-s", {O_SKY, -1, O_ROAD}, 0, {0, 0, 'S'},
     {T(O_CAR, .95f, 2), T(O_CAR, .7f, 2), T(O_BUS, .3f, 1), T(O_PERSON, .2f, 1), T(O_TREE, .2f, 1),
      T(O_LAMP, .5f, 2)}},
    {"garden-s", {O_SKY, -1, O_GRASS}, 0, {0, 0, 'D'},
     {T(O_FLOWER, .9f, 3), T(O_FLOWER, .5f, 2), T(O_TREE, .4f, 1), T(O_HOUSE, .3f, 1), T(O_PERSON, .3f, 1),
      T(O_CHAIR, .3f, 1)}},
    {"forest-s", {O_SKY, -1, O_GRASS}, 0, {0, 0, 'N'},
     {T(O_TREE, 1.f, 2), T(O_TREE, .9f, 3), T(O_FLOWER, .2f, 2), T(O_PERSON, .15f, 1)}},
    {"park-s", {O_SKY, -1, O_GRASS}, 0, {0, 0, '-'},
     {T(O_PERSON, .8f, 2), T(O_TREE, .5f, 2), T(O_BICYCLE, .6f, 1), T(O_CHAIR, .3f, 1),
      T(O_FLOWER, .2f, 1), T(O_LAMP, .4f, 1)}},
    {"countryside-s", {O_SKY, -1, O_GRASS}, 0, {0, 0, 'V'},
     {T(O_HOUSE, .85f, 2), T(O_TREE, .4f, 2), T(O_CAR, .3f, 1), T(O_PERSON, .15f, 1)}},
    {"beach-s", {O_SKY, O_WATER, O_SAND}, 1, {0, 'V', 'D'},
     {T(O_PERSON, .7f, 2), T(O_BOAT, .4f, 1), T(O_CHAIR, .3f, 1)}},
    {"lake-s", {O_SKY, O_GRASS, O_WATER}, .5f, {0, 0, 'V'},
     {T(O_BOAT, .85f, 2), T(O_TREE, .4f, 2), T(O_HOUSE, .3f, 1), T(O_PERSON, .1f, 1)}},
    {"kitchen-s", {O_WALL, -1, O_FLOOR}, 0, {'C', 0, 'C'},
     {T(O_CABINET, .9f, 2), T(O_TABLE, .6f, 1), T(O_CHAIR, .5f, 2), T(O_LAMP, .2f, 1), T(O_PERSON, .2f, 1)}},
    {"livingroom-s", {O_WALL, -1, O_FLOOR}, 0, {'S', 0, 'W'},
     {T(O_SOFA, .85f, 1), T(O_TABLE, .4f, 1), T(O_LAMP, .5f, 1), T(O_MONITOR, .5f, 1), T(O_FLOWER, .2f, 1),
      T(O_BED, .1f, 1)}},
    {"bedroom-s", {O_WALL, -1, O_FLOOR}, 0, {'D', 0, 'W'},
     {T(O_BED, .9f, 1), T(O_LAMP, .6f, 1), T(O_CABINET, .3f, 1), T(O_CHAIR, .2f, 1), T(O_MONITOR, .1f, 1),
      T(O_SOFA, .1f, 1)}},
    {"office-s", {O_WALL, -1, O_FLOOR}, 0, {'-', 0, 'N'},
     {T(O_MONITOR, .9f, 2), T(O_TABLE, .7f, 1), T(O_CHAIR, .7f, 2), T(O_PERSON, .4f, 1),
      T(O_CABINET, .2f, 1), T(O_SOFA, .1f, 1)}},
};
const int world_nscenes = sizeof world_scenes / sizeof *world_scenes;

int world_palette(char letter, float rgb[3])
{
    static const struct {
        char c;
        unsigned char v[3];
    } pal[] = {{'r', {200, 35, 35}},   {'o', {235, 125, 25}},  {'y', {230, 210, 45}},
               {'g', {70, 165, 55}},   {'G', {30, 95, 35}},    {'b', {40, 70, 200}},
               {'l', {125, 175, 235}}, {'p', {125, 55, 155}},  {'k', {235, 135, 175}},
               {'n', {125, 75, 35}},   {'e', {215, 195, 155}}, {'w', {238, 238, 238}},
               {'a', {130, 130, 130}}, {'d', {70, 70, 70}},    {'x', {25, 25, 25}},
               {'s', {225, 175, 135}}};
    for (size_t i = 0; i < sizeof pal / sizeof *pal; i++)
        if (pal[i].c == letter) {
            for (int k = 0; k < 3; k++)
                rgb[k] = pal[i].v[k];
            return 0;
        }
    return -1;
}

int world_material_letter(char letter)
{
    const char *s = strchr("-BWSCDNV", letter);
    return letter && s ? (int)(s - "-BWSCDNV") : -1;
}

/* ---------- the public concept list and numbering ---------- */

static const char *const color_names[WORLD_NCOLORS] = {
    "black-c", "blue-c", "brown-c", "grey-c", "green-c", "orange-c",
    "pink-c",  "purple-c", "red-c", "white-c", "yellow-c"};

int world_num_concepts(int category)
{
    switch (category) {
    case WORLD_OBJECT: return world_nobjects;
    case WORLD_PART: return world_nparts;
    case WORLD_MATERIAL: return MAT_COUNT - 1;
    case WORLD_COLOR: return WORLD_NCOLORS;
    case WORLD_SCENE: return world_nscenes;
    }
    return 0;
}

const char *world_concept_name(int category, int k)
{
    switch (category) {
    case WORLD_OBJECT: return world_objects[k].name;
    case WORLD_PART: return world_part_names[k];
    case WORLD_MATERIAL: return world_material_names[k];
    case WORLD_COLOR: return color_names[k];
    case WORLD_SCENE: return world_scenes[k].name; /* Broden marks scenes "-s" */
    }
    return "";
}

int world_label(int category, int k)
{
    int first = 1;
    for (int c = 0; c < category; c++)
        first += world_num_concepts(c);
    return first + k;
}

int world_num_labels(void) { return world_label(WORLD_NCAT - 1, world_num_concepts(WORLD_NCAT - 1)) - 1; }

void world_label_concept(int l, int *category, int *k)
{
    int c = 0;
    l -= 1;
    while (c < WORLD_NCAT - 1 && l >= world_num_concepts(c))
        l -= world_num_concepts(c++);
    *category = c;
    *k = l;
}

int world_object_has_part(int o, int p)
{
    if (o < 0 || o >= world_nthings)
        return 0;
    for (int i = 0; i < world_objects[o].nprim; i++)
        if (world_objects[o].prim[i].part == p + 1)
            return 1;
    return 0;
}

double world_scene_object_prob(int s, int o)
{
    for (int i = 0; i < WT_MAX_TEND; i++)
        if (world_scenes[s].tend[i].p > 0 && world_scenes[s].tend[i].obj == o)
            return world_scenes[s].tend[i].p;
    return 0;
}
