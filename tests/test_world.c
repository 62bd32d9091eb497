/* test_world.c - the synthetic world: its concept table, part pixels inside
 * their objects, colour names against the README's byte formula, label
 * totals against a direct count of the rendering, same seed same bytes on
 * 1 and 2 threads, a different seed different images, the Broden reader
 * reading the world back map for map, the sample picture, and errors. */
#include "core/afile.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/csv.h"
#include "datasets/world.h"
#include "datasets/world_internal.h"
#include "models/image.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *colors_path(void) { return test_shared_path("data/colornames/w2color.npy"); }

static void test_concepts(void)
{
    test_group("concept table");
    int n[WORLD_NCAT];
    for (int c = 0; c < WORLD_NCAT; c++)
        n[c] = world_num_concepts(c);
    int things = 0;
    for (int o = 0; o < n[WORLD_OBJECT]; o++) {
        int parts = 0, scenes = 0;
        for (int p = 0; p < n[WORLD_PART]; p++)
            parts += world_object_has_part(o, p);
        for (int s = 0; s < n[WORLD_SCENE]; s++)
            scenes += world_scene_object_prob(s, o) >= 0.1;
        things += parts > 0;
        /* overlap: no object with parts belongs to one scene alone */
        CHECK(!parts || scenes >= 2, "object %s tends to appear in %d scenes, want >= 2",
              world_concept_name(WORLD_OBJECT, o), scenes);
    }
    CHECK(n[WORLD_SCENE] >= 10 && things >= 12 && n[WORLD_PART] >= 8 && n[WORLD_MATERIAL] >= 6 &&
              n[WORLD_COLOR] == 11,
          "%d scenes, %d objects with parts, %d parts, %d materials, %d colours", n[WORLD_SCENE], things,
          n[WORLD_PART], n[WORLD_MATERIAL], n[WORLD_COLOR]);
    for (int p = 0; p < n[WORLD_PART]; p++) {
        int owners = 0;
        for (int o = 0; o < n[WORLD_OBJECT]; o++)
            owners += world_object_has_part(o, p);
        CHECK(owners > 0, "part %s belongs to no object", world_concept_name(WORLD_PART, p));
    }
    int L = world_num_labels(), dup = 0, inv = 0;
    for (int a = 1; a <= L; a++) {
        int c, k;
        world_label_concept(a, &c, &k);
        inv += world_label(c, k) != a;
        for (int b = a + 1; b <= L; b++) {
            int c2, k2;
            world_label_concept(b, &c2, &k2);
            dup += !strcmp(world_concept_name(c, k), world_concept_name(c2, k2));
        }
    }
    CHECK(L == n[0] + n[1] + n[2] + n[3] + n[4] && !dup && !inv,
          "%d labels, %d duplicate names, %d numbering mismatches", L, dup, inv);
}

/* The README's rule, read from the file's bytes: name of (R, G, B) is data
 * byte R/8 + 32*(G/8) + 1024*(B/8) after the 80-byte header. */
static int load_table_bytes(unsigned char *t)
{
    FILE *f = fopen(colors_path(), "rb");
    int ok = f && fseek(f, 80, SEEK_SET) == 0 && fread(t, 1, 32768, f) == 32768;
    if (f)
        fclose(f);
    return ok;
}

static void test_render(const cn_table *wc)
{
    test_group("rendering: parts inside objects, colours by the table, determinism");
    world_opts o = world_defaults();
    o.seed = 3;
    world_canvas *a = world_canvas_new(64), *b = world_canvas_new(64);
    unsigned char table[32768];
    CHECK(a && b && load_table_bytes(table), "canvases and the colour table");
    if (!a || !b)
        return;
    int S = 64, ls = 32, first_obj = world_label(WORLD_OBJECT, 0), first_part = world_label(WORLD_PART, 0);
    int first_col = world_label(WORLD_COLOR, 0);
    long outside = 0, wrong_owner = 0, part_px = 0, bad_color = 0, bad_small = 0, differ = 0;
    int scene_seen[64] = {0};
    uint16_t so[32 * 32], sp[32 * 32];
    for (int i = 0; i < 300; i++) {
        world_render(&o, wc, (uint64_t)i, a);
        scene_seen[a->scene - world_label(WORLD_SCENE, 0)] = 1;
        for (int p = 0; p < S * S; p++) {
            int obj = a->map[WORLD_OBJECT][p], part = a->map[WORLD_PART][p];
            const unsigned char *px = a->rgb + 3 * p;
            bad_color += a->map[WORLD_COLOR][p] != first_col + table[px[0] / 8 + 32 * (px[1] / 8) + 1024 * (px[2] / 8)];
            if (!part)
                continue;
            part_px++;
            if (!obj)
                outside++;
            else if (!world_object_has_part(obj - first_obj, part - first_part))
                wrong_owner++;
        }
        /* the shrunk maps sample the same pixels, so the rule holds there too */
        world_shrink(a, WORLD_OBJECT, so);
        world_shrink(a, WORLD_PART, sp);
        for (int p = 0; p < ls * ls; p++)
            bad_small += sp[p] && (!so[p] || !world_object_has_part(so[p] - first_obj, sp[p] - first_part));
        if (i < 20) {
            world_render(&o, wc, (uint64_t)i, b);
            differ += memcmp(a->rgb, b->rgb, (size_t)S * S * 3) != 0;
            for (int c = 0; c < WORLD_SCENE; c++)
                differ += memcmp(a->map[c], b->map[c], (size_t)S * S * 2) != 0;
        }
    }
    int scenes = 0;
    for (int s = 0; s < world_num_concepts(WORLD_SCENE); s++)
        scenes += scene_seen[s];
    CHECK(part_px > 100000 && !outside && !wrong_owner && !bad_small,
          "%ld part pixels in 300 images: %ld outside any object, %ld on an object without that part, "
          "%ld bad at label resolution",
          part_px, outside, wrong_owner, bad_small);
    CHECK(!bad_color, "%ld pixels whose colour label differs from the README's byte formula", bad_color);
    CHECK(scenes == world_num_concepts(WORLD_SCENE), "%d of %d scenes drawn in 300 images", scenes,
          world_num_concepts(WORLD_SCENE));
    CHECK(!differ, "rendering an image twice: %ld buffers differ", differ);
    world_canvas_free(a);
    world_canvas_free(b);
}

/* 1 when file rel is identical in folders a and b (and not empty). */
static int same_file(const char *a, const char *b, const char *rel)
{
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/%s", a, rel);
    snprintf(pb, sizeof pb, "%s/%s", b, rel);
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    int same = fa && fb, any = 0;
    while (same) {
        unsigned char x[4096], y[4096];
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        same = na == nb && !memcmp(x, y, na);
        any |= na > 0;
        if (na < sizeof x)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same && any;
}

static const char *const fixed_files[] = {"index.csv", "label.csv", "category.csv", "c_object.csv",
                                          "c_part.csv", "c_material.csv", "c_color.csv", "c_scene.csv",
                                          "world.json", "README.md", "sample.png"};

static int write_world(const char *dir, uint64_t seed, int threads, size_t n, int size)
{
    world_write_opts w = world_write_defaults();
    w.world.seed = seed;
    w.world.size = size;
    w.images = n;
    w.threads = threads;
    w.out_dir = dir;
    w.colors = colors_path();
    w.samples = 4;
    world_stats st;
    int rc = world_write(&w, &st);
    if (rc)
        printf("  world_write %s: %s\n", dir, nd_errmsg());
    return rc;
}

#define NW 40
#define SW 32

static void test_bytes(const char *a)
{
    test_group("same seed same bytes (1 and 2 threads), different seed different images");
    char b[4200], c[4200];
    snprintf(b, sizeof b, "%s/world-b", test_tmpdir());
    snprintf(c, sizeof c, "%s/world-c", test_tmpdir());
    CHECK(!write_world(b, 5, 1, NW, SW) && !write_world(c, 6, 2, NW, SW), "two more worlds written");
    int diff = 0, same_other = 0, files = 0;
    for (size_t k = 0; k < sizeof fixed_files / sizeof *fixed_files; k++, files++)
        diff += !same_file(a, b, fixed_files[k]);
    for (int i = 0; i < NW; i++) {
        static const char *const sfx[] = {"", "_object", "_part", "_material", "_color"};
        for (int s = 0; s < 5; s++) {
            char rel[64];
            snprintf(rel, sizeof rel, "images/w%06d%s.png", i, sfx[s]);
            char p[4300];
            snprintf(p, sizeof p, "%s/%s", a, rel);
            if (access(p, F_OK) != 0 && s >= 2)
                continue; /* an empty part or material map has no file */
            files++;
            diff += !same_file(a, b, rel);
            if (s == 0)
                same_other += same_file(a, c, rel);
        }
    }
    CHECK(files > 3 * NW && !diff, "seed 5 on 2 and 1 threads: %d of %d files differ", diff, files);
    CHECK(!same_other, "seed 5 against seed 6: %d of %d images identical", same_other, NW);
}

/* label.csv against a recount of the rendering: frequency (images with the
 * label) and coverage (sum of full-resolution fractions), the latter
 * compared as the file prints it (%.6f) so the check is exact. */
static void test_totals(const char *dir, const cn_table *wc)
{
    test_group("label totals equal a direct count of the rendering");
    int L = world_num_labels();
    size_t *freq = calloc((size_t)L + 1, sizeof *freq);
    double *cov = calloc((size_t)L + 1, sizeof *cov);
    world_opts o = world_defaults();
    o.seed = 5, o.size = SW;
    world_canvas *cv = world_canvas_new(SW);
    for (int i = 0; cv && i < NW; i++) {
        world_render(&o, wc, (uint64_t)i, cv);
        int *cnt = calloc((size_t)L + 1, sizeof *cnt);
        for (int c = 0; c < WORLD_SCENE; c++)
            for (int p = 0; p < SW * SW; p++)
                cnt[cv->map[c][p]]++;
        cnt[cv->scene] = SW * SW;
        for (int l = 1; l <= L; l++)
            if (cnt[l])
                freq[l]++, cov[l] += cnt[l] / (double)(SW * SW);
        free(cnt);
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/label.csv", dir);
    csv_file f;
    int rows = 0, bad = 0;
    if (csv_open(&f, path) == 0) {
        while (csv_next(&f) > 0 && f.nf >= 5) {
            long l;
            char want[64];
            if (csv_long(f.f[0], &l) || l < 1 || l > L) {
                bad++;
                continue;
            }
            snprintf(want, sizeof want, "%.6f", cov[l]);
            int ok = strtoul(f.f[3], NULL, 10) == freq[l] && !strcmp(f.f[4], want);
            if (!ok)
                printf("  label %ld %s: file %s / %s, recount %zu / %s\n", l, f.f[1], f.f[3], f.f[4], freq[l], want);
            bad += !ok;
            rows++;
        }
        csv_close(&f);
    }
    CHECK(rows == L && !bad, "label.csv: %d rows (want %d), %d disagree with the recount", rows, L, bad);
    world_canvas_free(cv);
    free(freq);
    free(cov);
}

static void test_reader(const char *dir, const cn_table *wc)
{
    test_group("the Broden reader reads the world, map for map");
    broden *ds = NULL;
    if (broden_open(&ds, dir, NULL)) {
        CHECK(0, "broden_open: %s", nd_errmsg());
        return;
    }
    CHECK(broden_num_images(ds) == NW && broden_num_categories(ds) == WORLD_NCAT,
          "%zu images, %zu categories", broden_num_images(ds), broden_num_categories(ds));
    world_opts o = world_defaults();
    o.seed = 5, o.size = SW;
    world_canvas *cv = world_canvas_new(SW);
    uint16_t small[(SW / 2) * (SW / 2)];
    long bad = 0, layers = 0;
    for (size_t i = 0; cv && i < NW; i++) {
        world_render(&o, wc, i, cv);
        const broden_layer *ly;
        const broden_imglabel *il;
        size_t nl, ni;
        broden_image_layers(ds, i, &ly, &nl);
        broden_image_labels(ds, i, &il, &ni);
        bad += ni != 1 || il[0].label != cv->scene;
        for (size_t k = 0; k < nl; k++) {
            int c = ly[k].category; /* category.csv order is the world's */
            world_shrink(cv, c, small);
            bad += memcmp(small, ly[k].map, sizeof small) != 0;
            layers++;
        }
        int ih, iw, sh, sw;
        broden_image_size(ds, i, &ih, &iw, &sh, &sw);
        bad += ih != SW || iw != SW || sh != SW / 2 || sw != SW / 2;
    }
    CHECK(layers >= 2 * NW && !bad, "%ld layers compared with the shrunk rendering, %ld mismatches", layers, bad);
    world_canvas_free(cv);
    broden_free(ds);
}

static void test_sample(const char *dir)
{
    test_group("sample picture");
    char p[4300];
    snprintf(p, sizeof p, "%s/sample.png", dir);
    img_u8 im;
    int rc = img_load_rgb(&im, p);
    int z = 128 / SW;
    CHECK(!rc && im.w == 5 * SW * z && im.h == 4 * SW * z, "sample.png %dx%d, want %dx%d", rc ? 0 : im.w,
          rc ? 0 : im.h, 5 * SW * z, 4 * SW * z);
    if (!rc)
        img_free(&im);
    snprintf(p, sizeof p, "%s/README.md", dir);
    char *txt = nd_read_text(p);
    int missing = !txt;
    for (int l = 1; txt && l <= world_num_labels(); l++) {
        int c, k;
        char cell[80];
        world_label_concept(l, &c, &k);
        snprintf(cell, sizeof cell, "| %d | %s |", l, world_concept_name(c, k));
        missing += !strstr(txt, cell);
    }
    CHECK(!missing && strstr(txt, "sample.png"), "README.md: %d of %d labels missing from the concept list",
          missing, world_num_labels());
    free(txt);
}

static void test_errors(const char *dir)
{
    test_group("errors name the folder or file; nothing is left behind");
    world_write_opts w = world_write_defaults();
    w.images = 3, w.world.size = 16, w.out_dir = dir, w.colors = colors_path();
    world_stats st;
    CHECK(world_write(&w, &st) && strstr(nd_errmsg(), dir) && strstr(nd_errmsg(), "exists"),
          "existing folder: %s", nd_errmsg());
    char out[4200], bogus[4200];
    snprintf(out, sizeof out, "%s/world-bad", test_tmpdir());
    snprintf(bogus, sizeof bogus, "%s/no-such.npy", test_tmpdir());
    w.out_dir = out, w.colors = bogus;
    CHECK(world_write(&w, &st) && strstr(nd_errmsg(), bogus), "missing table: %s", nd_errmsg());
    w.colors = test_shared_path("data/colornames/README.md");
    CHECK(world_write(&w, &st) && strstr(nd_errmsg(), "README.md"), "not a table: %s", nd_errmsg());
    w.colors = colors_path();
    w.world.size = 4;
    CHECK(world_write(&w, &st) && strstr(nd_errmsg(), "size"), "size 4: %s", nd_errmsg());
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "nothing at %s after the failures", out);
}

/* The background cue: with cue 1 every visible ground band with a scene
 * preference wears that material; with cue 0 it is drawn from the stuff's
 * own list, so it matches far less often. */
static void test_cue(const cn_table *wc)
{
    test_group("background cue: the chance a ground band takes its scene's material");
    world_canvas *a = world_canvas_new(32);
    CHECK(a != NULL, "canvas");
    if (!a)
        return;
    int match[2] = {0, 0}, seen[2] = {0, 0};
    for (int q = 0; q < 2; q++) {
        world_opts o = world_defaults();
        o.size = 32, o.seed = 5, o.cue = q;
        for (int i = 0; i < 300; i++) {
            world_render(&o, wc, (uint64_t)i, a);
            const wt_scene *ws = &world_scenes[a->scene - world_label(WORLD_SCENE, 0)];
            int m = world_material_letter(ws->pref[2]);
            if (ws->band[2] < 0 || m <= 0)
                continue;
            int ground = world_label(WORLD_OBJECT, ws->band[2]), want = world_label(WORLD_MATERIAL, m - 1);
            for (int p = 32 * 31; p < 32 * 32; p++)
                if (a->map[WORLD_OBJECT][p] == ground) { /* one surface per band: one pixel tells */
                    seen[q]++;
                    match[q] += a->map[WORLD_MATERIAL][p] == want;
                    break;
                }
        }
    }
    CHECK(seen[1] > 100 && match[1] == seen[1], "cue 1: %d of %d ground bands wear the scene's material",
          match[1], seen[1]);
    CHECK(seen[0] > 100 && match[0] < 0.6 * seen[0], "cue 0: %d of %d (chance alone)", match[0], seen[0]);
    world_canvas_free(a);
}

int main(void)
{
    static cn_table table;
    const cn_table *wc = &table;
    if (cn_load(&table, colors_path())) {
        CHECK(0, "colour table: %s", nd_errmsg());
        return test_summary();
    }
    test_concepts();
    test_render(wc);
    test_cue(wc);
    char a[4200];
    snprintf(a, sizeof a, "%s/world-a", test_tmpdir());
    CHECK(!write_world(a, 5, 2, NW, SW), "world written");
    test_bytes(a);
    test_totals(a, wc);
    test_reader(a, wc);
    test_sample(a);
    test_errors(a);
    return test_summary();
}
