/* cmd_plot.c - `dissect plot RUN_DIR`: redraw a sweep's figures with gnuplot. */
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/figures.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect plot RUN_DIR\n\n"
               "Draw the figures of a finished sweep run folder from its summary.csv and sweep.csv:\n"
               "  RUN_DIR/figures/unique_vs_alpha.{png,svg}    unique detectors against alpha\n"
               "                                               (mean, min-max band over draws, both conventions)\n"
               "  RUN_DIR/figures/category_vs_alpha.{png,svg}  detectors per category against alpha (stacked)\n"
               "The gnuplot scripts are plots/*.gp (found beside the binary's folder, in ./plots, or $ND_PLOTS).\n"
               "exit status: 0 ok, 1 failure, 2 usage error\n");
}

int cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    optind = 1;
    opterr = 0; /* one line of our own instead of getopt's */
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return ND_EXIT_OK;
        }
        return cli_usage_error("plot", "unknown option or missing value: '%s'", argv[optind - 1]);
    }
    if (argc - optind != 1)
        return cli_usage_error("plot", "expected one RUN_DIR, got %d arguments", argc - optind);
    if (fig_draw(argv[optind]))
        return cli_fail();
    printf("figures: %s/figures/unique_vs_alpha.{png,svg}, %s/figures/category_vs_alpha.{png,svg}\n", argv[optind],
           argv[optind]);
    return ND_EXIT_OK;
}
