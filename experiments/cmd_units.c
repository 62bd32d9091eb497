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
            "\n"
            "  --dataset DIR        Broden-format dataset (index.csv, label.csv, ...)\n"
            "  --features F.npy     activations [N, K, h, w], float32 or float16, N in index.csv order\n"
            "  --out DIR            output folder (created; files replaced atomically)\n"
            "  --profile P          netdissect (paper, default) or netdissect-lite\n"
            "  --field O,S,T        receptive field offset,size,stride in input pixels (netdissect\n"
            "                       profile; default: read \"field\" from F.json beside F.npy)\n"
            "  --quantile Q         top quantile for thresholds (default 0.005)\n"
            "  --thresholds FILE    use these per-unit thresholds (.npy, or text one per line)\n"
            "  --categories A,B     categories to use (default: all in category.csv)\n"
            "  --iou-threshold T    detector if score > T (default 0.04)\n"
            "  --threads N          worker threads (default: all cores; results do not depend on it)\n"
            "  --label-store FILE   prepared label store: decoded label layers kept in FILE and\n"
            "                       memory-mapped by later runs (rebuilt when the dataset changes)\n"
            "\n"
            "example:\n"
            "  dissect units --dataset ../shared/fixtures/netdissect-lite-mini/dataset \\\n"
            "      --features ../shared/fixtures/netdissect-lite-mini/features.npy \\\n"
            "      --profile netdissect --field -64,163,16 --out results/mini\n");
}

int cmd_units(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dataset", required_argument, 0, 'd'},  {"features", required_argument, 0, 'f'},
        {"out", required_argument, 0, 'o'},      {"profile", required_argument, 0, 'p'},
        {"field", required_argument, 0, 'F'},    {"quantile", required_argument, 0, 'q'},
        {"thresholds", required_argument, 0, 't'}, {"categories", required_argument, 0, 'c'},
        {"iou-threshold", required_argument, 0, 'i'}, {"threads", required_argument, 0, 'j'},
        {"label-store", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *dataset = NULL, *features = NULL, *out = NULL, *thrfile = NULL, *cats = NULL,
               *field = NULL, *store = NULL;
    nd_options o;
    nd_options_default(&o);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dataset = optarg; break;
        case 'f': features = optarg; break;
        case 'o': out = optarg; break;
        case 'p':
            if (nd_profile_parse(optarg, &o.profile))
                return cli_usage_error("units", "--profile: '%s' is not netdissect or netdissect-lite", optarg);
            break;
        case 'F': field = optarg; break;
        case 'q':
            if (cli_double(optarg, &o.quantile) || !(o.quantile > 0 && o.quantile < 1))
                return cli_usage_error("units", "--quantile: expected a number in (0, 1), got '%s'", optarg);
            break;
        case 't': thrfile = optarg; break;
        case 'L': store = optarg; break;
        case 'c': cats = optarg; break;
        case 'i':
            if (cli_double(optarg, &o.iou_threshold) || o.iou_threshold < 0 || o.iou_threshold >= 1)
                return cli_usage_error("units", "--iou-threshold: expected a number in [0, 1), got '%s'", optarg);
            break;
        case 'j': {
            long v;
            if (cli_long(optarg, &v) || v < 1 || v > 64)
                return cli_usage_error("units", "--threads: expected 1..64, got '%s'", optarg);
            o.threads = (int)v;
        } break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default:
            return cli_usage_error("units", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("units", "unexpected argument '%s'", argv[optind]);
    if (!dataset || !features || !out)
        return cli_usage_error("units", "--dataset, --features and --out are required");
    if (field && units_parse_field(field, &o))
        return cli_usage_error("units", "--field: expected OFFSET,SIZE,STRIDE integers (size, stride > 0), got '%s'", field);
    if (o.profile == ND_PROFILE_NETDISSECT && !o.have_field) {
        int r = units_field_from_json(features, &o);
        if (r < 0)
            return cli_fail();
        if (r == 0)
            return cli_usage_error("units", "--profile netdissect needs --field OFFSET,SIZE,STRIDE "
                                            "(no field in a .json beside %s)", features);
    }
    double t0 = nd_now();
    int rc = units_run(dataset, store, features, cats, thrfile, &o, out, NULL, NULL);
    if (rc)
        return cli_fail();
    cli_progress_done();
    fprintf(stderr, "dissect units: done in %.1f s\n", nd_now() - t0);
    return ND_EXIT_OK;
}
