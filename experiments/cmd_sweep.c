/* cmd_sweep.c - `dissect sweep CONFIG`: the rotation experiment of a config file.
 *
 * A config error (unknown section or key, missing key, bad value) is a usage
 * error: one line "dissect: FILE:LINE: [section] key: ..." and exit 2.  Runtime
 * failures (unreadable data, a dissection error) exit 1.
 */
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/config.h"
#include "experiments/sweep.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect sweep [options] CONFIG.ini\n\n"
               "Dissect the unrotated layer (alpha = 0), then for each draw d (seed = base_seed + d)\n"
               "and each alpha > 0 the layer rotated by Q_d^alpha; write per point results,\n"
               "sweep.csv, summary.csv and the figures into the config's [output] dir.\n"
               "A stopped run, started again, skips every finished point; a run with more alphas or\n"
               "draws computes only the new points (resume.key in the folder records what the\n"
               "points depend on: the inputs' content and the settings that change results).\n"
               "summary.csv: per alpha n, mean, sd, min, max over draws; sd is the sample standard\n"
               "deviation (n - 1 in the denominator; 0 when n = 1).\n\n"
               "options:\n"
               "  -o, --out DIR      run folder (overrides [output] dir)\n"
               "  -t, --threads N    dissector threads in " CLI_THREADS_RANGE ", 0 = all cores (the default);\n"
               "                     results do not depend on it\n"
               "      --no-plot      skip the figures (draw them later with 'dissect plot DIR')\n"
               "      --check        validate the config and every input (the activations' shape against\n"
               "                     index.csv), write nothing, print the effective config\n"
               "  -v, --verbose      the dissector's own progress lines\n"
               "  -h, --help         this help\n\n"
               "Config keys and path rules: see experiments/config.h and experiments/configs/*.ini.\n"
               "exit status: 0 ok, 1 failure, 2 usage or config error\n");
}

int cmd_sweep_parse(int argc, char **argv, sweep_args *a)
{
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'}, {"threads", required_argument, 0, 't'},
        {"no-plot", no_argument, 0, 'P'},   {"check", no_argument, 0, 'C'},
        {"verbose", no_argument, 0, 'v'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    sweep_opts *o = &a->o;
    const char *out = NULL;
    int check = 0, ch;
    optind = 1;
    opterr = 0; /* one line of our own instead of getopt's */
    while ((ch = getopt_long(argc, argv, "o:t:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 't':
            if (cli_threads(optarg, &o->threads))
                return cli_usage_error("sweep", "--threads '%s': expected an integer in " CLI_THREADS_RANGE " (0 = all cores)", optarg);
            break;
        case 'P':
            o->no_plot = 1;
            break;
        case 'C':
            check = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return ND_EXIT_OK;
        default:
            return cli_usage_error("sweep", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("sweep", "expected one CONFIG file, got %d arguments", argc - optind);
    config *c = &a->c;
    if (config_load(c, argv[optind])) {
        fprintf(stderr, "dissect: %s\n", nd_errmsg());
        return ND_EXIT_USAGE;
    }
    if (config_check_kind(c, argv[optind], 0)) {
        config_free(c);
        return ND_EXIT_USAGE;
    }
    if (out && config_set_out_dir(c, out)) {
        config_free(c);
        return cli_fail();
    }
    if (check) {
        if (sweep_check_inputs(c)) {
            config_free(c);
            return cli_fail();
        }
        char *e = config_effective(c);
        if (e)
            fputs(e, stdout);
        free(e);
        config_free(c);
        return e ? ND_EXIT_OK : cli_fail();
    }
    return -1;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_args a;
    int st = cmd_sweep_parse(argc, argv, &a);
    if (st >= 0)
        return st;
    int rc = sweep_run(&a.c, &a.o);
    config_free(&a.c);
    return rc ? cli_fail() : ND_EXIT_OK;
}
