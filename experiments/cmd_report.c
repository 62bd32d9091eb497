/* cmd_report.c - `dissect report DIR`: a static site of what each unit sees. */
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "report/report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect report DIR [--top 12] [--out OUT] [options]\n"
            "\n"
            "Write a static site (open OUT/index.html; no server, nothing fetched from the\n"
            "network) of a dissection: settings, detectors and unique detectors per category,\n"
            "a sortable table of the units, and for each unit its top images by maximum\n"
            "activation with the unit's mask drawn over them (outside darkened, edge outlined)\n"
            "beside the ground truth of its label - one PNG strip per unit.\n"
            "\n"
            "DIR is a result folder (dissect units --out, or a sweep point) or a sweep run\n"
            "folder; for a sweep, the site holds the figures, the reports of the unrotated\n"
            "point and of alpha = 1 draw 0, and the top detectors of the unrotated layer\n"
            "beside the same coordinate after the full rotation. The masks are the\n"
            "dissection's own (same upsampling, same threshold); the activations are read\n"
            "from the path summary.json records (rotated again for a rotated point).\n"
            "\n"
            "  --top K          images per unit (default 12)\n"
            "  --out OUT        output folder (default DIR/report); an existing report there\n"
            "                   is replaced whole at the end, anything else is refused\n"
            "  --units N        sweep: detectors compared before/after rotation (default 12)\n"
            "  --dataset DIR    use this dataset instead of the one summary.json names\n"
            "  --features F     use these activations instead of the ones summary.json names\n"
            "  --threads N      worker threads (default: all cores; the output does not depend on it)\n"
            "\n"
            "example:\n"
            "  dissect report results/rotation-squeezenet-msrc/points/a0_d0 --out results/fire9-report\n"
            "exit status: 0 ok, 1 failure (one line on stderr), 2 usage error\n");
}

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    cli_progress("dissect report: %s %zu/%zu", stage, done, total);
}

static int positive(const char *s, long max, int *out)
{
    long v;
    if (cli_long(s, &v) || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"top", required_argument, 0, 'k'},     {"out", required_argument, 0, 'o'},
        {"units", required_argument, 0, 'u'},   {"dataset", required_argument, 0, 'd'},
        {"features", required_argument, 0, 'f'}, {"threads", required_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    rpt_options o = {.top = 12, .top_units = 12, .progress = {progress, NULL}};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (positive(optarg, 1000, &o.top))
                return cli_usage_error("report", "--top: expected 1..1000, got '%s'", optarg);
            break;
        case 'u':
            if (positive(optarg, 100000, &o.top_units))
                return cli_usage_error("report", "--units: expected a positive number, got '%s'", optarg);
            break;
        case 'j':
            if (positive(optarg, 64, &o.threads))
                return cli_usage_error("report", "--threads: expected 1..64, got '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'd': o.dataset = optarg; break;
        case 'f': o.features = optarg; break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error("report", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("report", "expected one result or sweep folder, got %d arguments", argc - optind);
    const char *dir = argv[optind];
    char *def = NULL;
    if (!out) {
        size_t n = strlen(dir) + 8;
        if (!(def = malloc(n)))
            return cli_fail();
        snprintf(def, n, "%s/report", dir);
        out = def;
    }
    struct stat st;
    char sweep_csv[4096];
    snprintf(sweep_csv, sizeof sweep_csv, "%s/sweep.csv", dir);
    int is_sweep = stat(sweep_csv, &st) == 0;
    int rc = is_sweep ? rpt_sweep_report(dir, &o, out) : rpt_report(dir, &o, out);
    cli_progress_done();
    if (rc) {
        free(def);
        return cli_fail();
    }
    printf("report: %s/index.html\n", out);
    fprintf(stderr, "dissect report: done in %.1f s\n", o.seconds);
    free(def);
    return ND_EXIT_OK;
}
