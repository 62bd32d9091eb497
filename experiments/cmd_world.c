/* cmd_world.c - `dissect world`: render a synthetic concept world as a
 * Broden-format dataset (datasets/world.h does the work). */
#include "core/err.h"
#include "core/jobs.h"
#include "datasets/world.h"
#include "experiments/cli.h"
#include "experiments/commands.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_COLORS "../shared/data/colornames/w2color.npy"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect world --out DIR [--images 1000] [--size 64] [--seed 1]\n"
            "                     [--noise 6] [--light 0.5] [--clutter 0.25] [--rotate 12] [--cue 0.7]\n"
            "                     [--val-every 5] [--samples 8] [--colors FILE] [--threads N]\n\n"
            "Renders a synthetic concept world from nothing but these parameters: 12 scenes\n"
            "(image-level), 22 objects (15 built from 26 parts, 7 background stuff), 7\n"
            "materials drawn as textures, and the 11 w2color colour names of the final pixels.\n"
            "Writes a Broden-format dataset (images/*.png, label maps at size/2, index.csv,\n"
            "label.csv, category.csv, c_*.csv) plus world.json, README.md (the concept list\n"
            "with counts) and sample.png (images with their label maps).  The same\n"
            "parameters give the same bytes on any number of threads; image i depends only\n"
            "on (seed, i), so a smaller world is a prefix of a larger one.  The output folder\n"
            "must not exist; it appears complete or not at all.\n\n"
            "  --out DIR        output dataset folder\n"
            "  --images N       images (default 1000, at most 999999)\n"
            "  --size S         image side in pixels, 8..1024 (default 64)\n"
            "  --seed X         world seed, an unsigned integer (default 1)\n"
            "  --noise SD       pixel noise standard deviation, 0..100 (default 6)\n"
            "  --light L        lighting variation, 0..1 (default 0.5)\n"
            "  --clutter P      chance of each of two objects foreign to the scene (default 0.25)\n"
            "  --rotate DEG     largest object rotation in degrees (default 12)\n"
            "  --cue P          chance that a background takes its scene's material, 0..1\n"
            "                   (default 0.7; higher: the backgrounds tell scenes apart more often)\n"
            "  --val-every K    every K-th image is split 'val' (default 5; 0 = all 'train')\n"
            "  --samples N      rows of sample.png (default 8; 0 = none)\n"
            "  --colors FILE    colour-name table (default $ND_SHARED/data/colornames/w2color.npy,\n"
            "                   else " DEFAULT_COLORS ")\n"
            "  --threads N      rendering threads (default: all cores)\n");
}

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    double *last = ctx, t = nd_now();
    (void)stage;
    if (done < total && t - *last < 1.0)
        return;
    *last = t;
    cli_progress("world: %zu/%zu images", done, total);
}

static int parse_num(const char *cmd, const char *opt, const char *arg, double lo, double hi, double *out)
{
    if (cli_double(arg, out) || *out < lo || *out > hi)
        return cli_usage_error(cmd, "--%s: '%s' is not a number in %g..%g", opt, arg, lo, hi);
    return 0;
}

static int parse_count(const char *cmd, const char *opt, const char *arg, long lo, long hi, long *out)
{
    if (cli_long(arg, out) || *out < lo || *out > hi)
        return cli_usage_error(cmd, "--%s: '%s' is not a whole number in %ld..%ld", opt, arg, lo, hi);
    return 0;
}

static int parse_args(int argc, char **argv, world_write_opts *o, const char **colors)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},      {"images", required_argument, 0, 'n'},
        {"size", required_argument, 0, 's'},     {"seed", required_argument, 0, 'x'},
        {"noise", required_argument, 0, 'z'},    {"light", required_argument, 0, 'l'},
        {"clutter", required_argument, 0, 'c'},  {"rotate", required_argument, 0, 'r'},
        {"cue", required_argument, 0, 'q'},
        {"val-every", required_argument, 0, 'v'}, {"samples", required_argument, 0, 'm'},
        {"colors", required_argument, 0, 'k'},   {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    long n = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *name = "";
        for (int i = 0; opts[i].name; i++)
            if (opts[i].val == c)
                name = opts[i].name;
        const char *cmd = argv[0];
        int bad = 0;
        switch (c) {
        case 'o': o->out_dir = optarg; break;
        case 'k': *colors = optarg; break;
        case 'n': bad = parse_count(cmd, name, optarg, 1, 999999, &n); o->images = (size_t)n; break;
        case 's': bad = parse_count(cmd, name, optarg, 8, 1024, &n); o->world.size = (int)n; break;
        case 'x': bad = parse_count(cmd, name, optarg, 0, LONG_MAX, &n); o->world.seed = (uint64_t)n; break;
        case 'v': bad = parse_count(cmd, name, optarg, 0, 1000000, &n); o->val_every = (int)n; break;
        case 'm': bad = parse_count(cmd, name, optarg, 0, 64, &n); o->samples = (int)n; break;
        case 't': bad = parse_count(cmd, name, optarg, 1, 64, &n); o->threads = (int)n; break;
        case 'z': bad = parse_num(cmd, name, optarg, 0, 100, &o->world.noise); break;
        case 'l': bad = parse_num(cmd, name, optarg, 0, 1, &o->world.light); break;
        case 'c': bad = parse_num(cmd, name, optarg, 0, 1, &o->world.clutter); break;
        case 'r': bad = parse_num(cmd, name, optarg, 0, 180, &o->world.rotate); break;
        case 'q': bad = parse_num(cmd, name, optarg, 0, 1, &o->world.cue); break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error(cmd, "unknown option");
        }
        if (bad)
            return bad;
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (!o->out_dir)
        return cli_usage_error(argv[0], "--out is required");
    return 0;
}

int cmd_world(int argc, char **argv)
{
    world_write_opts o = world_write_defaults();
    const char *colors = NULL;
    int rc = parse_args(argc, argv, &o, &colors);
    if (rc)
        return rc < 0 ? ND_EXIT_OK : rc;
    char buf[4096];
    if (!colors) {
        const char *sh = getenv("ND_SHARED");
        if (sh && *sh) {
            snprintf(buf, sizeof buf, "%s/data/colornames/w2color.npy", sh);
            colors = buf;
        } else {
            colors = DEFAULT_COLORS;
        }
    }
    o.colors = colors;
    double last = 0;
    o.progress = (nd_progress){progress, &last};
    world_stats st;
    rc = world_write(&o, &st);
    cli_progress_done();
    if (rc)
        return cli_fail();
    fprintf(stderr, "world: %zu images of %dx%d, %d of %d labels present, wrote %s in %.1f s "
                    "(rendering %.0f images/s per thread)\n",
            st.images, o.world.size, o.world.size, st.labels_present, world_num_labels(), o.out_dir,
            st.seconds, st.render_seconds > 0 ? st.images / st.render_seconds : 0.0);
    return ND_EXIT_OK;
}
