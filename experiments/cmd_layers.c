/* cmd_layers.c - `dissect layers CONFIG`: the layers experiment (paper
 * section 3.3) of a config file with a [layers] section (experiments/layers.h
 * does the work; config.h lists the keys).  Config errors exit 2, runtime
 * failures 1. */
#include "core/err.h"
#include "core/jobs.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"
#include "experiments/layers.h"
#include "experiments/resume_key.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect layers [options] CONFIG.ini\n\n"
               "Dissect every layer of [layers] layers (\"all\": conv1, fire2 ... fire9) of the\n"
               "network in [activations] (model, weights: the trained network) and of the same\n"
               "network with He-initialised random weights ([layers] random_seed), straight\n"
               "from the forward pass: the images go through each network twice (thresholds,\n"
               "then tally) and no activation file is written.  Writes <dir>/<net>/<layer>/\n"
               "(result.csv, summary.json, thresholds.npy), <dir>/<net>/counts.csv,\n"
               "<dir>/layers.csv (net x layer x category: detectors, unique detectors under\n"
               "both conventions), layers.json (format version, settings, totals),\n"
               "layers_plot.csv and the figures layers_unique and\n"
               "layers_fraction (.png, .svg).  A stopped run, started again, skips every\n"
               "network whose counts.csv exists, when the folder's resume.key (the dataset,\n"
               "the weights by content, the settings that change results) matches this run;\n"
               "a copied folder or a dataset named through a symlink still matches.\n\n"
               "options:\n"
               "  -o, --out DIR      run folder (overrides [output] dir)\n"
               "  -t, --threads N    dissector threads (default 0 = all cores; results do not depend on it)\n"
               "      --no-plot      skip the figures\n"
               "      --check        only read and validate the config, print the effective one\n"
               "  -h, --help         this help\n\n"
               "exit status: 0 ok, 1 failure, 2 usage or config error\n");
}

int cmd_layers(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'}, {"threads", required_argument, 0, 't'},
        {"no-plot", no_argument, 0, 'P'},   {"check", no_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},      {0, 0, 0, 0}};
    const char *out = NULL;
    int check = 0, no_plot = 0, threads = 0, ch;
    long l;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "o:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 't':
            if (cli_long(optarg, &l) || l < 0 || l > 1024)
                return cli_usage_error("layers", "--threads '%s': expected an integer in [0, 1024]", optarg);
            threads = (int)l;
            break;
        case 'P': no_plot = 1; break;
        case 'C': check = 1; break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default:
            return cli_usage_error("layers", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("layers", "expected one CONFIG file, got %d arguments", argc - optind);
    config c;
    int st = config_command_start(&c, argv[optind], 1, out, check);
    if (st >= 0)
        return st;
    char tbuf[512];
    layers_spec s = {.dataset = c.dataset, .categories = c.categories, .model = c.model,
                     .weights = c.weights, .random_seed = c.layers_random_seed,
                     .layers = c.layers, .profile = c.profile, .quantile = c.quantile,
                     .iou_threshold = c.iou_threshold, .out_dir = c.out_dir,
                     .title = config_title(&c, tbuf, sizeof tbuf), .threads = threads,
                     .batch = c.layers_batch, .quiet = cli_quiet(), .no_plot = no_plot};
    double t0 = nd_now();
    int rc = resume_key_claim(&c) || config_write_effective(&c) ? -1 : layers_run(&s);
    if (!rc && !s.quiet)
        fprintf(stderr, "layers: done in %.1f s: %s/layers.csv, %s/figures/\n", nd_now() - t0,
                c.out_dir, c.out_dir);
    config_free(&c);
    return rc ? cli_fail() : ND_EXIT_OK;
}
