/* cmd_probe.c - `dissect probe`: linear probes, binary probes, best single
 * units, units needed and IBD for one layer (core/probe.h, core/ibd.h). */
#include "core/broden.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "core/probe.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "experiments/probe_steps.h"
#include "experiments/units_io.h"
#include "linalg/rotation.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dissect probe --dataset DIR --features F.npy --out DIR [options]\n"
            "\n"
            "Concepts as combinations of units.  On a train/test split of the images, per\n"
            "concept: a linear probe (Net2Vec; class-balanced logistic loss + L2 at feature\n"
            "resolution, L-BFGS from w = 0, so rotation-equivariant), a binary probe over the\n"
            "units' dissection masks, the best single unit (train IoU), and the units the\n"
            "linear probe needs for 90%% of its train IoU; all chosen on train and scored on\n"
            "test at label resolution under the profile's counting rules.  Writes\n"
            "DIR/probes.csv, DIR/probe_summary.json, DIR/probe_weights.npy and, with\n"
            "--weights, DIR/ibd.csv (class weights of SqueezeNet's conv_final decomposed onto\n"
            "the probes' concept vectors and onto dissection-labelled units; fire9 only).\n"
            "\n"
            "  --dataset DIR        Broden-format dataset\n"
            "  --features F.npy     activations [N, K, h, w] in index.csv order\n"
            "  --out DIR            output folder\n"
            "  --profile P          netdissect (default) or netdissect-lite\n"
            "  --field O,S,T        receptive field (default: from F.json beside F.npy)\n"
            "  --quantile Q         dissection top quantile (default 0.005)\n"
            "  --train-fraction F   share of images in train when index.csv's split column does\n"
            "                       not vary (default 0.5)\n"
            "  --split-seed S       seed of that split (default 1)\n"
            "  --l2 L               L2 penalty on the probe weights (default 1e-2)\n"
            "  --max-iter N         L-BFGS iterations (default 300)\n"
            "  --gtol G             stop the linear probe at ||grad|| <= G ||grad at 0|| (default\n"
            "                       1e-6, the rotation check's tolerance; the binary probe: 1e-5)\n"
            "  --seed S --alpha A   rotate the activations by Q_S^A first (Q_S Haar in SO(K))\n"
            "  --reference DIR      an unrotated run with the same split: check w = R w0 and the\n"
            "                       test IoU (written to the summary)\n"
            "  --weights FILE       SqueezeNet compressed_SqueezeNet.net: write the IBD table\n"
            "  --classes A,B        ImageNet classes (0-based) for IBD (default 12 MSRC-like ones)\n"
            "  --no-binary, --no-units, --no-single   skip those scores\n"
            "  --threads N          worker threads (default: all cores)\n"
            "\n"
            "example:\n"
            "  dissect probe --dataset results/cache/msrc-v2 --features results/cache/msrc-v2-fire9.npy \\\n"
            "      --weights ../shared/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net \\\n"
            "      --out results/probe-fire9\n");
}

typedef struct {
    const char *dataset, *features, *out, *field, *reference, *weights, *classes;
    long seed;
    double alpha;
    pr_options o;
} probe_args;

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    cli_progress("probe: %s %zu/%zu", stage, done, total);
}

static int parse(int argc, char **argv, probe_args *a)
{
    static const struct option opts[] = {
        {"dataset", 1, 0, 'd'}, {"features", 1, 0, 'f'}, {"out", 1, 0, 'o'}, {"profile", 1, 0, 'p'},
        {"field", 1, 0, 'F'}, {"quantile", 1, 0, 'q'}, {"train-fraction", 1, 0, 'T'},
        {"split-seed", 1, 0, 'S'}, {"l2", 1, 0, 'l'}, {"max-iter", 1, 0, 'm'}, {"gtol", 1, 0, 'g'},
        {"seed", 1, 0, 's'}, {"alpha", 1, 0, 'a'}, {"reference", 1, 0, 'r'}, {"weights", 1, 0, 'w'},
        {"classes", 1, 0, 'c'}, {"no-binary", 0, 0, 'B'}, {"no-units", 0, 0, 'U'},
        {"no-single", 0, 0, 'X'}, {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->seed = -1, a->alpha = 1;
    pr_options_default(&a->o);
    int c;
    long v;
    optind = 1, opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->dataset = optarg; break;
        case 'f': a->features = optarg; break;
        case 'o': a->out = optarg; break;
        case 'F': a->field = optarg; break;
        case 'r': a->reference = optarg; break;
        case 'w': a->weights = optarg; break;
        case 'c': a->classes = optarg; break;
        case 'B': a->o.binary = 0; break;
        case 'U': a->o.units = 0; break;
        case 'X': a->o.single = 0; break;
        case 'p':
            if (nd_profile_parse(optarg, &a->o.profile))
                return cli_usage_error("probe", "--profile: '%s' is not netdissect or netdissect-lite", optarg);
            break;
        case 'q':
            if (cli_double(optarg, &a->o.quantile) || !(a->o.quantile > 0 && a->o.quantile < 1))
                return cli_usage_error("probe", "--quantile: expected a number in (0, 1), got '%s'", optarg);
            break;
        case 'T':
            if (cli_double(optarg, &a->o.train_fraction) || !(a->o.train_fraction > 0 && a->o.train_fraction < 1))
                return cli_usage_error("probe", "--train-fraction: expected a number in (0, 1), got '%s'", optarg);
            break;
        case 'S':
            if (cli_long(optarg, &v) || v < 0 || v > 4294967294L)
                return cli_usage_error("probe", "--split-seed: expected 0..4294967294, got '%s'", optarg);
            a->o.split_seed = (unsigned long)v;
            break;
        case 'l':
            if (cli_double(optarg, &a->o.l2) || !(a->o.l2 > 0))
                return cli_usage_error("probe", "--l2: expected a number > 0, got '%s'", optarg);
            break;
        case 'm':
            if (cli_long(optarg, &v) || v < 1 || v > 100000)
                return cli_usage_error("probe", "--max-iter: expected 1..100000, got '%s'", optarg);
            a->o.max_iter = (int)v;
            break;
        case 'g':
            if (cli_double(optarg, &a->o.gtol) || !(a->o.gtol >= 0 && a->o.gtol < 1))
                return cli_usage_error("probe", "--gtol: expected a number in [0, 1), got '%s'", optarg);
            break;
        case 's':
            if (cli_long(optarg, &a->seed) || a->seed < 0 || a->seed > (long)ROT_SEED_MAX)
                return cli_usage_error("probe", "--seed: expected 0..%lu, got '%s'", ROT_SEED_MAX, optarg);
            break;
        case 'a':
            if (cli_double(optarg, &a->alpha))
                return cli_usage_error("probe", "--alpha: expected a number, got '%s'", optarg);
            break;
        case 'j':
            if (cli_long(optarg, &v) || v < 1 || v > 64)
                return cli_usage_error("probe", "--threads: expected 1..64, got '%s'", optarg);
            a->o.threads = (int)v;
            break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("probe", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("probe", "unexpected argument '%s'", argv[optind]);
    if (!a->dataset || !a->features || !a->out)
        return cli_usage_error("probe", "--dataset, --features and --out are required");
    nd_options no;
    nd_options_default(&no);
    if (a->field && units_parse_field(a->field, &no))
        return cli_usage_error("probe", "--field: expected OFFSET,SIZE,STRIDE, got '%s'", a->field);
    if (a->o.profile == ND_PROFILE_NETDISSECT && !no.have_field) {
        int r = units_field_from_json(a->features, &no);
        if (r < 0)
            return cli_fail();
        if (r == 0)
            return cli_usage_error("probe", "--profile netdissect needs --field (no field in a .json beside %s)",
                                   a->features);
    }
    a->o.field_offset = no.field_offset, a->o.field_size = no.field_size;
    a->o.field_stride = no.field_stride, a->o.have_field = no.have_field;
    return 0;
}

static int rotation(const probe_args *a, size_t K, double **R)
{
    *R = NULL;
    if (a->seed < 0)
        return 0;
    double *Q = nd_malloc(K * K * sizeof *Q);
    *R = nd_malloc(K * K * sizeof **R);
    if (!Q || !*R || rot_haar(Q, K, (unsigned long)a->seed) || rot_power(*R, Q, K, a->alpha)) {
        free(Q);
        return -1;
    }
    free(Q);
    return 0;
}

static int run(const probe_args *a, const broden *ds, const nd_features *f)
{
    double *R = NULL, wrel, diou;
    int cls[64], ncls = 12, rc = -1;
    memcpy(cls, probe_ibd_default_classes, sizeof probe_ibd_default_classes);
    if (a->classes) {
        double *v;
        if (cli_double_list(a->classes, &v, &ncls) || ncls > 64)
            return nd_fail("--classes: expected up to 64 class numbers, got '%s'", a->classes);
        for (int i = 0; i < ncls; i++)
            cls[i] = (int)v[i];
        free(v);
    }
    pr_result r;
    char extra[2048], check[1024] = "";
    if (rotation(a, f->K, &R) || pr_run(ds, f, R, &a->o, &r)) {
        free(R);
        return -1;
    }
    if (a->reference && probe_check(&r, R, a->reference, check, sizeof check, &wrel, &diou))
        goto done;
    snprintf(extra, sizeof extra, "\"features\": \"%s\", \"rotation\": {\"seed\": %ld, \"alpha\": %.9g}%s%s",
             a->features, a->seed, a->seed < 0 ? 0.0 : a->alpha, check[0] ? ", " : "", check);
    if (pr_write(&r, ds, a->out, extra))
        goto done;
    if (a->weights && probe_ibd(&r, ds, a->weights, R, cls, ncls, 7, 0.04, a->out))
        goto done;
    cli_progress_done();
    fprintf(stderr, "dissect probe: %zu concepts, %zu train / %zu test images, linear %.1f s, units needed "
                    "%.1f s, single %.1f s, binary %.1f s%s\n",
            r.C, r.n_train, r.n_test, r.seconds_linear, r.seconds_units, r.seconds_single,
            r.seconds_binary, a->reference ? "" : "");
    if (a->reference)
        fprintf(stderr, "dissect probe: equivariance vs %s: max ||w - R w0||/||w0|| %.3g, max |delta test IoU| %.3g\n",
                a->reference, wrel, diou);
    rc = 0;
done:
    pr_result_free(&r);
    free(R);
    return rc;
}

int cmd_probe(int argc, char **argv)
{
    probe_args a;
    int p = parse(argc, argv, &a);
    if (p)
        return p < 0 ? ND_EXIT_OK : p;
    if (!getenv("ND_QUIET"))
        a.o.progress = (nd_progress){progress, NULL};
    double t0 = nd_now();
    broden *ds = NULL;
    npy_t npy;
    nd_features f;
    if (broden_open(&ds, a.dataset, NULL))
        return cli_fail();
    if (npy_open(&npy, a.features)) {
        broden_free(ds);
        return cli_fail();
    }
    int rc = nd_features_from_npy(&f, &npy) || nd_features_check_finite(&f, a.features) || run(&a, ds, &f);
    npy_close(&npy);
    broden_free(ds);
    if (rc)
        return cli_fail();
    fprintf(stderr, "dissect probe: done in %.1f s\n", nd_now() - t0);
    return ND_EXIT_OK;
}
