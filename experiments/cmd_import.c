/* cmd_import.c - `dissect import`: images + label maps + classes.csv ->
 * Broden-format dataset (datasets/import.h does the work). */
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "datasets/import.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect import --images DIR --labels DIR --classes classes.csv --out DIR\n"
            "                      [--size 227] [--category object] [--min-images 10]\n\n"
            "Turns photographs (DIR/<name>.jpg|.png) and label maps (DIR/<name>.png, 8- or\n"
            "16-bit class ids, 0 = unlabelled) into a Broden-format dataset: square images\n"
            "of --size pixels (JPEG), label maps of size/2 (nearest class), index.csv,\n"
            "label.csv, category.csv and c_<category>.csv.  Classes in fewer than\n"
            "--min-images images become unlabelled; the others are numbered 1..L in\n"
            "classes.csv order.  The output folder must not exist; it appears complete or\n"
            "not at all.  Same input, same bytes.\n\n"
            "  --images DIR       photographs\n"
            "  --labels DIR       label maps, same names with .png\n"
            "  --classes FILE     CSV 'id,name'\n"
            "  --out DIR          output dataset folder\n"
            "  --size N           image side (default 227; label maps N/2)\n"
            "  --category NAME    the category of every label (default object)\n"
            "  --min-images N     keep classes present in at least N images (default 10)\n");
}

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    double *last = ctx, t = nd_now();
    if (done < total && t - *last < 1.0)
        return;
    *last = t;
    cli_progress("import: %s %zu/%zu", stage, done, total);
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"images", required_argument, 0, 'i'},   {"labels", required_argument, 0, 'l'},
        {"classes", required_argument, 0, 'c'},  {"out", required_argument, 0, 'o'},
        {"size", required_argument, 0, 's'},     {"category", required_argument, 0, 'g'},
        {"min-images", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    imp_opts o = imp_defaults();
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.images_dir = optarg; break;
        case 'l': o.labels_dir = optarg; break;
        case 'c': o.classes_csv = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'g': o.category = optarg; break;
        case 's':
            if (cli_long(optarg, &v) || v < 2 || v > 8192)
                return cli_usage_error(argv[0], "--size: '%s' is not in 2..8192", optarg);
            o.size = (int)v;
            break;
        case 'm':
            if (cli_long(optarg, &v) || v < 0 || v > 1000000000)
                return cli_usage_error(argv[0], "--min-images: '%s' is not a count >= 0",
                                       optarg);
            o.min_images = (int)v;
            break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error(argv[0], "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (!o.images_dir || !o.labels_dir || !o.classes_csv || !o.out_dir)
        return cli_usage_error(argv[0], "--images, --labels, --classes and --out are required");
    double last = 0;
    o.progress = (nd_progress){progress, &last};
    imp_stats st;
    double t0 = nd_now();
    int rc = imp_run(&o, &st);
    cli_progress_done();
    if (rc)
        return cli_fail();
    fprintf(stderr,
            "import: %zu images (%zu with labels), %d of %d classes kept, wrote %s in %.1f s\n",
            st.images, st.labelled, st.kept, st.classes, o.out_dir, nd_now() - t0);
    return ND_EXIT_OK;
}
