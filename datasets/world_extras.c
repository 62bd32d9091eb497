/* world_extras.c - what a person reads beside a rendered world: README.md
 * (parameters and the concept list with counts), world.json (the
 * parameters, machine-readable) and sample.png (images with their label
 * maps). */
#include "datasets/world.h"
#include "datasets/world_internal.h"

#include "core/afile.h"
#include "core/err.h"
#include "models/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Display colours of the eleven colour names, in name order. */
static const unsigned char name_rgb[WORLD_NCOLORS][3] = {
    {0, 0, 0},       {0, 0, 255},     {139, 69, 19},  {128, 128, 128}, {0, 160, 0},  {255, 140, 0},
    {255, 150, 200}, {128, 0, 128},   {220, 0, 0},    {255, 255, 255}, {255, 230, 0}};

/* A label's false colour: a fixed scramble of its number, never dark, so
 * neighbouring labels differ; 0 stays black. */
static void false_color(int l, unsigned char *rgb)
{
    if (!l) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    uint32_t h = (uint32_t)l * 2654435761u;
    h ^= h >> 13;
    for (int k = 0; k < 3; k++)
        rgb[k] = (unsigned char)(70 + ((h >> (8 * k)) & 255) * 185 / 255);
}

void world_sample_row(const world_canvas *cv, unsigned char *row)
{
    int S = cv->size, W = 5 * S, first_color = world_label(WORLD_COLOR, 0);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t p = (size_t)y * S + x;
            memcpy(row + 3 * ((size_t)y * W + x), cv->rgb + 3 * p, 3);
            for (int c = 0; c < WORLD_SCENE; c++) {
                unsigned char *d = row + 3 * ((size_t)y * W + (size_t)(c + 1) * S + x);
                int l = cv->map[c][p];
                if (c == WORLD_COLOR)
                    memcpy(d, name_rgb[l - first_color], 3);
                else
                    false_color(l, d);
            }
        }
}

static int write_sample(const world_write_opts *o, const cn_table *colors, const char *dir)
{
    int S = o->world.size, rows = o->samples < (int)o->images ? o->samples : (int)o->images;
    int z = S >= 128 ? 1 : 128 / S; /* integer zoom, so small worlds stay visible */
    int W = 5 * S, ZW = W * z;
    world_canvas *cv = world_canvas_new(S);
    unsigned char *row = nd_malloc((size_t)W * S * 3);
    unsigned char *img = nd_malloc((size_t)ZW * S * z * rows * 3);
    char *path = nd_path_join(dir, "sample.png");
    int rc = -1;
    if (cv && row && img && path) {
        for (int r = 0; r < rows; r++) {
            world_render(&o->world, colors, (uint64_t)r, cv);
            world_sample_row(cv, row);
            for (int y = 0; y < S * z; y++)
                for (int x = 0; x < ZW; x++)
                    memcpy(img + 3 * (((size_t)r * S * z + y) * ZW + x), row + 3 * ((size_t)(y / z) * W + x / z), 3);
        }
        rc = img_save_png_rgb(path, img, ZW, S * z * rows);
    }
    world_canvas_free(cv);
    free(row);
    free(img);
    free(path);
    return rc;
}

static int write_json(const world_write_opts *o, const char *dir)
{
    afile a;
    if (world_open_in(&a, dir, "world.json"))
        return -1;
    const world_opts *w = &o->world;
    fprintf(a.f,
            "{\n  \"format\": 1,\n  \"generator\": \"dissect world\",\n  \"seed\": %llu,\n"
            "  \"size\": %d,\n  \"label_size\": %d,\n  \"images\": %zu,\n  \"val_every\": %d,\n"
            "  \"noise\": %.17g,\n  \"light\": %.17g,\n  \"clutter\": %.17g,\n  \"rotate\": %.17g,\n"
            "  \"cue\": %.17g,\n  \"labels\": %d\n}\n",
            (unsigned long long)w->seed, w->size, w->size / 2, o->images, o->val_every, w->noise,
            w->light, w->clutter, w->rotate, w->cue, world_num_labels());
    return afile_commit(&a);
}

static void readme_objects(FILE *f, const size_t *freq, const double *cov)
{
    fprintf(f, "\n### object (%d): things built from parts, and background stuff\n\n"
               "| label | name | parts | images | coverage |\n|---|---|---|---|---|\n",
            world_nobjects);
    for (int o = 0; o < world_nobjects; o++) {
        int l = world_label(WORLD_OBJECT, o);
        fprintf(f, "| %d | %s | ", l, world_objects[o].name);
        int any = 0;
        for (int p = 0; p < world_nparts; p++)
            if (world_object_has_part(o, p))
                fprintf(f, "%s%s", any++ ? ", " : "", world_part_names[p]);
        fprintf(f, "%s | %zu | %.2f |\n", any ? "" : "(background)", freq[l], cov[l]);
    }
    fprintf(f, "\n### part (%d)\n\n| label | name | of | images | coverage |\n|---|---|---|---|---|\n",
            world_nparts);
    for (int p = 0; p < world_nparts; p++) {
        int l = world_label(WORLD_PART, p), any = 0;
        fprintf(f, "| %d | %s | ", l, world_part_names[p]);
        for (int o = 0; o < world_nthings; o++)
            if (world_object_has_part(o, p))
                fprintf(f, "%s%s", any++ ? ", " : "", world_objects[o].name);
        fprintf(f, " | %zu | %.2f |\n", freq[l], cov[l]);
    }
}

static void readme_rest(FILE *f, const size_t *freq, const double *cov)
{
    static const char *const how[] = {"mortar grid of offset rows", "wavy grain lines",
                                      "parallel stripes", "checkerboard", "dot lattice",
                                      "random speckle", "wavy bands"};
    for (int c = WORLD_MATERIAL; c <= WORLD_COLOR; c++) {
        fprintf(f, "\n### %s (%d)%s\n\n| label | name | %s | images | coverage |\n|---|---|---|---|---|\n",
                world_category_names[c], world_num_concepts(c),
                c == WORLD_COLOR ? ": w2color names of the final pixels, as for imported photographs" : "",
                c == WORLD_MATERIAL ? "texture" : "rule");
        for (int k = 0; k < world_num_concepts(c); k++) {
            int l = world_label(c, k);
            fprintf(f, "| %d | %s | %s | %zu | %.2f |\n", l, world_concept_name(c, k),
                    c == WORLD_MATERIAL ? how[k] : "w2color", freq[l], cov[l]);
        }
    }
    fprintf(f, "\n### scene (%d): image-level; background bands and object tendencies\n\n"
               "| label | name | background (top to bottom) | object draws: probability, copies | images |\n"
               "|---|---|---|---|---|\n", world_nscenes);
    for (int s = 0; s < world_nscenes; s++) {
        const wt_scene *ws = &world_scenes[s];
        int l = world_label(WORLD_SCENE, s);
        fprintf(f, "| %d | %s | ", l, ws->name);
        for (int b = 0, n = 0; b < 3; b++)
            if (ws->band[b] >= 0)
                fprintf(f, "%s%s%s", n++ ? ", " : "", world_objects[ws->band[b]].name,
                        b == 1 && ws->mid_p < 1 ? " (sometimes)" : "");
        fprintf(f, " | ");
        for (int i = 0; i < WT_MAX_TEND && ws->tend[i].p > 0; i++)
            fprintf(f, "%s%s %.2f x%s%d", i ? ", " : "", world_objects[ws->tend[i].obj].name, ws->tend[i].p,
                    ws->tend[i].max > 1 ? "1-" : "", ws->tend[i].max);
        fprintf(f, " | %zu |\n", freq[l]);
    }
}

static int write_readme(const world_write_opts *o, const char *dir, const size_t *freq, const double *cov)
{
    afile a;
    if (world_open_in(&a, dir, "README.md"))
        return -1;
    const world_opts *w = &o->world;
    fprintf(a.f,
            "# A synthetic concept world\n\n"
            "Rendered by `dissect world` (netdissect-c) from nothing but its parameters: seed %llu,\n"
            "%zu images of %d x %d pixels (PNG), label maps of %d x %d (nearest rule, R + 256*G).\n"
            "Pixel noise sd %g, lighting variation %g, clutter %g, rotation up to %g degrees, background cue %g.\n"
            "Split: every %d-th image (index %% %d == %d) is `val`, the rest `train`.\n"
            "Counts below are at full resolution: images that contain a label, and coverage, the\n"
            "sum over images of the fraction of pixels it covers (label.csv holds the same).\n\n"
            "![sample images](sample.png)\n\n"
            "sample.png: the first %d images, one per row; columns: image, object, part, material\n"
            "(labels in false colours, black = none), colour names (in their colours).\n\n"
            "Each scene draws a background (bands of stuff) and objects by its tendencies, plus up\n"
            "to two objects foreign to the scene (clutter); objects are placed far to near, so near\n"
            "ones occlude far ones, with random position, size (larger when nearer), rotation and\n"
            "mirroring.  Every surface takes a colour from a palette and a material texture (or\n"
            "plain paint, no material label).  A pixel's labels are those of what covers its centre,\n"
            "so every part pixel lies inside its object.\n\n"
            "## Concepts: %d labels\n",
            (unsigned long long)w->seed, o->images, w->size, w->size, w->size / 2, w->size / 2,
            w->noise, w->light, w->clutter, w->rotate, w->cue, o->val_every, o->val_every,
            o->val_every - 1, o->samples, world_num_labels());
    readme_objects(a.f, freq, cov);
    readme_rest(a.f, freq, cov);
    return afile_commit(&a);
}

int world_write_extras(const world_write_opts *o, const cn_table *colors, const char *dir,
                       const size_t *freq, const double *cov)
{
    if (write_json(o, dir) || write_readme(o, dir, freq, cov))
        return -1;
    return o->samples > 0 ? write_sample(o, colors, dir) : 0;
}
