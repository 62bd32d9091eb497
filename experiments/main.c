/* main.c - the dissect binary: one program, one subcommand per task. */
#include "core/blas.h"
#include "core/afile.h"
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/commands.h"

#include <gsl/gsl_errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"units", cmd_units, "dissect one layer's activations against a Broden-format dataset"},
    {"recount", cmd_recount, "recount detectors from a result CSV (ours or the references')"},
    {"rotate", cmd_rotate, "draw a random rotation Q in SO(n), write Q^alpha or rotate activations"},
    {"features", cmd_features, "run a network over a dataset and write one or several layers' activations"},
    {"import", cmd_import, "turn object sets, texture sets and colour names into one Broden-format dataset"},
    {"classify", cmd_classify, "print the top-5 ImageNet classes of images"},
    {"sweep", cmd_sweep, "run the rotation experiment described by a config file"},
    {"layers", cmd_layers, "dissect every layer, trained and random weights, from a config file"},
    {"plot", cmd_plot, "draw the figures of a sweep run folder"},
    {"train", cmd_train, "train a network described by a config file (SGD, snapshots, resumable)"},
    {"compare", cmd_compare, "compare two result folders within tolerances"},
    {"report", cmd_report, "write a browsable site of each unit's top images and masks"},
    {"probe", cmd_probe, "linear and binary probes, best single units, units needed, IBD for one layer"},
    {"ablate", cmd_ablate, "switch units off (a concept's detectors, random, rotated) and measure what the network loses"},
    {"world", cmd_world, "render a synthetic concept world as a Broden-format dataset"},
    {"training", cmd_training, "the training-conditions experiment on the synthetic world (config file)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect [--quiet] COMMAND [options]   (dissect COMMAND --help for details)\n\n"
               "Network Dissection: which units of a CNN layer detect visual concepts,\n"
               "and does a random rotation of the layer's basis destroy that alignment?\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n--quiet (or ND_QUIET=1 in the environment) silences the progress lines.\n"
               "exit status: 0 ok, 1 failure (one line on stderr), 2 usage error\n");
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    gsl_set_error_handler_off();
    afile_install_signal_handlers();
    signal(SIGXFSZ, SIG_IGN); /* over a file size limit: write() fails with EFBIG, reported */
    if (argc >= 2 && !strcmp(argv[1], "--quiet")) {
        cli_set_quiet(1);
        argc--;
        argv++;
    }
    if (argc < 2) {
        usage(stderr);
        return ND_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return ND_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dissect %s\n", ND_VERSION);
        return ND_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int bad = cli_reject_empty(argv[1], argc - 1, argv + 1);
            return bad ? bad : cli_finish(commands[i].run(argc - 1, argv + 1));
        }
    fprintf(stderr, "dissect: unknown command '%s' (try 'dissect --help')\n", argv[1]);
    return ND_EXIT_USAGE;
}
