/* cmd_units.c - `dissect units`: dissect one layer against one dataset. */
#include "core/dissect.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/units_io.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect units --dataset DIR --features F.npy --out DIR [options]\n"
            "\n"
            "Dissect a layer: per-unit thresholds at the top quantile, masks upsampled to\n"
            "label resolution, IoU of every unit with every concept over the dataset.\n"
            "Writes DIR/result.csv (one row per unit, the references' layout),\n"
            "DIR/summary.json (settings, thresholds, detectors, unique detectors),\n"
            "DIR/thresholds.npy and DIR/maxact.npy (each unit's maximum in each image).\n"
            "Unit numbers: result.csv's unit column counts from 1 (as the references);\n"
            "thresholds.npy, maxact.npy and summary.json's arrays count from 0, so unit u\n"
            "of result.csv is entry u - 1 (and channel u - 1 of the activations).\n"
            "\n"
            "  --dataset DIR        Broden-format dataset (index.csv, label.csv, ...)\n"
            "  --features F.npy     activations [N, K, h, w], float32, float16 or float64 (.npy\n"
            "                       format version 1, 2 or 3), N in index.csv order\n"
            "  --out DIR            output folder (created; files replaced atomically)\n"
            "  --profile P          netdissect (paper, default; or nd) or netdissect-lite (or ndl,\n"
            "                       lite); the same names as the config key [dissect] profile\n"
            "  --field O,S,T        receptive field offset,size,stride in input pixels (netdissect\n"
            "                       profile; default: read \"field\" from F.json beside F.npy)\n"
            "  --quantile Q         top quantile for thresholds (default 0.005)\n"
            "  --thresholds FILE    use these per-unit thresholds (.npy, or text one per line)\n"
            "  --categories A,B     categories to use (default: all in category.csv)\n"
            "  --iou-threshold T    detector if score > T (default 0.04)\n"
            "  --threads N          worker threads in " CLI_THREADS_RANGE ", 0 = all cores (the default);\n"
            "                       results do not depend on it\n"
            "  --label-store FILE   prepared label store: decoded label layers kept in FILE and\n"
            "                       memory-mapped by later runs (rebuilt when the dataset changes)\n"
            "\n"
            "example:\n"
            "  dissect units --dataset ../shared/fixtures/netdissect-lite-mini/dataset \\\n"
            "      --features ../shared/fixtures/netdissect-lite-mini/features.npy \\\n"
            "      --profile netdissect --field -64,163,16 --out results/mini\n");
}

int cmd_units_parse(int argc, char **argv, units_args *a)
{
    static const struct option opts[] = {
        {"dataset", required_argument, 0, 'd'},  {"features", required_argument, 0, 'f'},
        {"out", required_argument, 0, 'o'},      {"profile", required_argument, 0, 'p'},
        {"field", required_argument, 0, 'F'},    {"quantile", required_argument, 0, 'q'},
        {"thresholds", required_argument, 0, 't'}, {"categories", required_argument, 0, 'c'},
        {"iou-threshold", required_argument, 0, 'i'}, {"threads", required_argument, 0, 'j'},
        {"label-store", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *field = NULL;
    memset(a, 0, sizeof *a);
    nd_options_default(&a->o);
    nd_options *op = &a->o;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->dataset = optarg; break;
        case 'f': a->features = optarg; break;
        case 'o': a->out = optarg; break;
        case 'p':
            if (nd_profile_parse(optarg, &op->profile))
                return cli_usage_error("units", "--profile: '%s' is not netdissect or netdissect-lite", optarg);
            break;
        case 'F': field = optarg; break;
        case 'q':
            if (cli_double(optarg, &op->quantile) || !(op->quantile > 0 && op->quantile < 1))
                return cli_usage_error("units", "--quantile: expected a number in (0, 1), got '%s'", optarg);
            break;
        case 't': a->thresholds = optarg; break;
        case 'L': a->label_store = optarg; break;
        case 'c': a->categories = optarg; break;
        case 'i':
            if (cli_double(optarg, &op->iou_threshold) || op->iou_threshold < 0 || op->iou_threshold >= 1)
                return cli_usage_error("units", "--iou-threshold: expected a number in [0, 1), got '%s'", optarg);
            break;
        case 'j':
            if (cli_threads(optarg, &op->threads))
                return cli_usage_error("units", "--threads '%s': expected an integer in " CLI_THREADS_RANGE " (0 = all cores)", optarg);
            break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default:
            return cli_usage_error("units", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("units", "unexpected argument '%s'", argv[optind]);
    if (!a->dataset || !a->features || !a->out)
        return cli_usage_error("units", "--dataset, --features and --out are required");
    if (field && units_parse_field(field, op))
        return cli_usage_error("units", "--field: expected OFFSET,SIZE,STRIDE integers (size, stride > 0), got '%s'", field);
    if (op->profile == ND_PROFILE_NETDISSECT && !op->have_field) {
        int r = units_field_from_json(a->features, op);
        if (r < 0)
            return cli_fail();
        if (r == 0)
            return cli_usage_error("units", "--profile netdissect needs --field OFFSET,SIZE,STRIDE "
                                            "(no field in a .json beside %s)", a->features);
    }
    return -1;
}

int cmd_units(int argc, char **argv)
{
    units_args a;
    int st = cmd_units_parse(argc, argv, &a);
    if (st >= 0)
        return st;
    double t0 = nd_now();
    int rc = units_run(a.dataset, a.label_store, a.features, a.categories, a.thresholds, &a.o, a.out, NULL, NULL);
    if (rc)
        return cli_fail();
    cli_progress_done();
    fprintf(stderr, "dissect units: done in %.1f s\n", nd_now() - t0);
    return ND_EXIT_OK;
}
