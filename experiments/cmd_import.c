/* cmd_import.c - `dissect import`: an object set (images + label maps +
 * classes.csv), texture sets and a colour-name table -> one Broden-format
 * dataset (datasets/import.h does the work). */
#include "core/err.h"
#include "core/jobs.h"
#include "datasets/import.h"
#include "experiments/cli.h"
#include "experiments/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect import [--images DIR --labels DIR --classes classes.csv]\n"
            "                      [--textures DIR]... [--colors TABLE.npy] --out DIR\n"
            "                      [--size 227] [--category object] [--min-images 10]\n"
            "                      [--min-coverage 0.5] [--threads N]\n\n"
            "Builds one Broden-format dataset from photographs: square images of --size\n"
            "pixels (JPEG), label maps of size/2 (nearest rule), index.csv, label.csv,\n"
            "category.csv, c_<category>.csv and sources.csv (each image's source and file).\n"
            "Categories: object (the object set's label maps), color (every photograph of\n"
            "every source named pixel by pixel at full resolution with the colour-name table,\n"
            "labels <name>-c as in Broden), texture (one image-level label per texture\n"
            "photograph: its class folder).  One label numbering across them.\n\n"
            "Label filter (Broden's, the same for every category, counted on the\n"
            "full-resolution sources): a label is kept when it occurs in at least\n"
            "--min-images images AND its coverage (the sum over images of the fraction of\n"
            "the image it covers; an image-level label covers 1) is at least --min-coverage.\n"
            "--min-images is that rule's frequency option (before colours and textures it\n"
            "was the only rule, counted on the shrunk maps); --min-coverage 0 gives the\n"
            "frequency rule alone.  label.csv records each label's frequency and coverage.\n"
            "The output folder must not exist; it appears complete or not at all.  Same\n"
            "inputs, same bytes.\n\n"
            "  --images DIR        object set: photographs DIR/<name>.jpg|.jpeg|.png\n"
            "  --labels DIR        object set: label maps DIR/<name>.png (class ids, 0 = none)\n"
            "  --classes FILE      object set: CSV 'id,name'\n"
            "  --textures DIR      a texture set, one sub-folder per class (repeatable, up to %d)\n"
            "  --colors FILE       colour-name table, (32, 32, 32) uint8 .npy such as\n"
            "                      ../shared/data/colornames/w2color.npy\n"
            "  --out DIR           output dataset folder\n"
            "  --size N            image side (default 227; label maps N/2)\n"
            "  --category NAME     the object set's category (default object)\n"
            "  --min-images N      keep labels present in at least N images (default 10)\n"
            "  --min-coverage X    and covering at least X image equivalents (default 0.5)\n"
            "  --threads N         decoding threads (default: all CPUs; output identical)\n",
            IMP_MAX_TEXTURE_SETS);
}

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    double *last = ctx, t = nd_now();
    if (done < total && t - *last < 1.0)
        return;
    *last = t;
    cli_progress("%s: images %zu/%zu", stage, done, total);
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"images", required_argument, 0, 'i'},     {"labels", required_argument, 0, 'l'},
        {"classes", required_argument, 0, 'c'},    {"out", required_argument, 0, 'o'},
        {"size", required_argument, 0, 's'},       {"category", required_argument, 0, 'g'},
        {"min-images", required_argument, 0, 'm'}, {"min-coverage", required_argument, 0, 'v'},
        {"textures", required_argument, 0, 't'},   {"colors", required_argument, 0, 'k'},
        {"threads", required_argument, 0, 'j'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    imp_opts o = imp_defaults();
    long v;
    double d;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.images_dir = optarg; break;
        case 'l': o.labels_dir = optarg; break;
        case 'c': o.classes_csv = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'g': o.category = optarg; break;
        case 'k': o.colors = optarg; break;
        case 't':
            if (o.ntextures == IMP_MAX_TEXTURE_SETS)
                return cli_usage_error(argv[0], "--textures: at most %d sets", IMP_MAX_TEXTURE_SETS);
            o.textures[o.ntextures++] = optarg;
            break;
        case 's':
            if (cli_long(optarg, &v) || v < 2 || v > 8192)
                return cli_usage_error(argv[0], "--size: '%s' is not in 2..8192", optarg);
            o.size = (int)v;
            break;
        case 'm':
            if (cli_long(optarg, &v) || v < 0 || v > 1000000000)
                return cli_usage_error(argv[0], "--min-images: '%s' is not a count >= 0", optarg);
            o.filter.min_images = (int)v;
            break;
        case 'v':
            if (cli_double(optarg, &d) || !(d >= 0) || d > 1e9)
                return cli_usage_error(argv[0], "--min-coverage: '%s' is not a number >= 0", optarg);
            o.filter.min_coverage = d;
            break;
        case 'j':
            if (cli_long(optarg, &v) || v < 1 || v > 64)
                return cli_usage_error(argv[0], "--threads: '%s' is not in 1..64", optarg);
            o.threads = (int)v;
            break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error(argv[0], "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    int nobj = !!o.images_dir + !!o.labels_dir + !!o.classes_csv;
    if (!o.out_dir || (nobj != 0 && nobj != 3) || (nobj == 0 && o.ntextures == 0))
        return cli_usage_error(argv[0], "--out and an object set (--images, --labels and --classes "
                                        "together) or --textures are required");
    double last = 0;
    o.progress = (nd_progress){progress, &last};
    imp_stats st;
    double t0 = nd_now();
    int rc = imp_run(&o, &st);
    cli_progress_done();
    if (rc)
        return cli_fail();
    fprintf(stderr,
            "import: %zu images (%zu with labels, %zu texture photographs), %d labels kept "
            "(object %d of %d classes, color %d, texture %d), wrote %s in %.1f s\n",
            st.images, st.labelled, st.texture_images, st.kept, st.kept_object, st.classes,
            st.kept_color, st.kept_texture, o.out_dir, nd_now() - t0);
    return ND_EXIT_OK;
}
