/* cmd_features.c - `dissect features`: a layer's activations over a
 * Broden-format dataset (models/extract.h does the work). */
#include "core/afile.h"
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "models/extract.h"
#include "train/ckpt.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect features --model squeezenet (--weights FILE | --random-weights SEED)\n"
            "                        --dataset DIR --layer NAME[,NAME...]|all --out F.npy|DIR\n"
            "                        [--float16] [--batch N]\n"
            "       dissect features --checkpoint DIR --dataset DIR --layer NAME --out F.npy\n\n"
            "Runs the network over the Broden-format dataset DIR (images in index.csv order,\n"
            "squash-resized to 227x227, BGR minus mean) and writes the layer's post-ReLU\n"
            "activations as float32 [N, K, h, w] to F.npy, and its receptive-field geometry\n"
            "to F.json.  Both are written atomically.  Several layers (a comma list, or\n"
            "'all': conv1, fire2 ... fire9) come from one forward pass with one progress line\n"
            "and go into the folder DIR as DIR/<layer>.npy and DIR/<layer>.json.  Sizes: on\n"
            "1,791 images conv1 alone is 8.5 GB in float32 and all nine layers about 25 GB;\n"
            "--float16 halves that (IEEE half, rounded to nearest).\n\n"
            "  --model NAME          network (squeezenet)\n"
            "  --weights FILE        Deep Compression weights (compressed_SqueezeNet.net)\n"
            "  --random-weights SEED He-initialised random weights instead (seed " CLI_SEED_RANGE ")\n"
            "  --checkpoint DIR      a network trained by `dissect train` (a snap-* folder)\n"
            "                        instead: images squash-resized to its input size, RGB\n"
            "                        (v - 128) / 64, any layer of its net.txt\n"
            "  --dataset DIR         Broden-format dataset (index.csv, images/)\n"
            "  --layer NAME          e.g. fire9, fire5, conv1, pool8, fire9/conv3x3_2; a comma\n"
            "                        list or 'all' for several layers in one pass (--model)\n"
            "  --out F.npy|DIR       output activations (a folder for several layers)\n"
            "  --float16             write float16 instead of float32 (--model)\n"
            "  --batch N             images per forward call (default 32)\n"
            "A progress line with images/s goes to stderr (dissect --quiet or ND_QUIET=1\n"
            "silences it).\n");
}

typedef struct {
    double t0, last; /* start, last line (monotonic seconds) */
} rate;

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    rate *r = ctx;
    double t = nd_now(), secs = t - r->t0;
    if (done < total && r->last >= 0 && t - r->last < 1.0)
        return;
    r->last = t;
    cli_progress("%s: %zu/%zu images, %.1f images/s", stage, done, total,
                 secs > 0 ? done / secs : 0.0);
}

int cmd_features(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"weights", required_argument, 0, 'w'},
        {"random-weights", required_argument, 0, 'r'},
        {"dataset", required_argument, 0, 'd'}, {"layer", required_argument, 0, 'l'},
        {"out", required_argument, 0, 'o'},     {"batch", required_argument, 0, 'b'},
        {"checkpoint", required_argument, 0, 'c'}, {"float16", no_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int f16 = 0;
    const char *ckpt = NULL, *model = NULL, *weights = NULL, *dataset = NULL, *layer = NULL, *out = NULL;
    long seed = -1, batch = 32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'c': ckpt = optarg; break;
        case 'f': f16 = 1; break;
        case 'w': weights = optarg; break;
        case 'd': dataset = optarg; break;
        case 'l': layer = optarg; break;
        case 'o': out = optarg; break;
        case 'r':
            if (cli_seed(optarg, &seed))
                return cli_usage_error(argv[0], "--random-weights '%s': expected a seed in " CLI_SEED_RANGE,
                                       optarg);
            break;
        case 'b':
            if (cli_long(optarg, &batch) || batch < 1 || batch > 4096)
                return cli_usage_error(argv[0], "--batch: '%s' is not in 1..4096", optarg);
            break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error(argv[0], "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (ckpt && f16)
        return cli_usage_error(argv[0], "--float16 is for --model networks");
    if (ckpt && (model || weights || seed >= 0))
        return cli_usage_error(argv[0], "--checkpoint replaces --model and its weights");
    if ((!model && !ckpt) || !dataset || !layer || !out)
        return cli_usage_error(argv[0], "--model (or --checkpoint), --dataset, --layer and "
                                        "--out are required");
    if (!ckpt && !weights == (seed < 0))
        return cli_usage_error(argv[0], "give exactly one of --weights and --random-weights");
    if (afile_protect_input(weights))
        return cli_fail();
    double t0 = nd_now();
    rate r = {t0, -1};
    int rc;
    if (ckpt) {
        tr_table tab;
        net_t net;
        rc = tr_ckpt_load(ckpt, &tab, &net, NULL, NULL);
        if (!rc) {
            rc = mdl_extract_net(&net, ckpt, dataset, layer, out, (int)batch,
                                 (nd_progress){progress, &r});
            net_free(&net);
            tr_table_free(&tab);
        }
    } else
        rc = mdl_extract_layers(model, weights, seed, dataset, layer, out, f16, (int)batch,
                         (nd_progress){progress, &r});
    cli_progress_done();
    if (rc)
        return cli_fail();
    fprintf(stderr, "features: wrote %s in %.1f s\n", out, nd_now() - t0);
    return ND_EXIT_OK;
}
