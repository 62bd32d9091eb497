/* cmd_classify.c - `dissect classify`: top-5 ImageNet classes of images
 * with SqueezeNet v1.0 (a smoke test of decoding, preprocessing, weights
 * and forward pass together). */
#include "core/csv.h"
#include "core/err.h"
#include "experiments/cli.h"
#include "experiments/commands.h"
#include "models/extract.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: dissect classify --weights FILE [--synsets FILE] IMAGE...\n\n"
               "Prints the top-5 ImageNet classes of each image (JPEG or PNG, squash-resized\n"
               "to 227x227) with their softmax probabilities, using SqueezeNet v1.0.\n\n"
               "  --weights FILE   compressed_SqueezeNet.net\n"
               "  --synsets FILE   class names, one per line (default: synset_words.txt\n"
               "                   beside the weight file)\n");
}

/* 1000 class names; a missing file is an error naming it. */
int classify_read_synsets(const char *path, char ***names)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return nd_fail("%s: cannot open: %s", path, strerror(errno));
    char **v = nd_calloc(1000, sizeof *v), line[1024];
    int n = 0, oom = 0;
    while (v && !oom && n < 1000 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        const char *l = n == 0 ? nd_skip_bom(line) : line;
        /* "n01440764 tench, Tinca tinca": drop the WordNet id */
        const char *s = l[0] == 'n' && strchr(l, ' ') ? strchr(l, ' ') + 1 : l;
        oom = !(v[n++] = strdup(s));
    }
    fclose(f);
    if (!v || oom || n != 1000) {
        if (v)
            for (int i = 0; i < n; i++)
                free(v[i]);
        free(v);
        if (!v || oom)
            return nd_fail("%s: out of memory", path);
        return nd_fail("%s: expected 1000 class names, found %d", path, n);
    }
    *names = v;
    return 0;
}

int cmd_classify(int argc, char **argv)
{
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'},
                                         {"synsets", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *weights = NULL, *synsets = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 's': synsets = optarg; break;
        case 'h': usage(stdout); return ND_EXIT_OK;
        default: return cli_usage_error(argv[0], "unknown option");
        }
    }
    if (!weights)
        return cli_usage_error(argv[0], "--weights is required");
    if (optind >= argc)
        return cli_usage_error(argv[0], "no images given");
    char *syn = NULL;
    if (!synsets) {
        const char *slash = strrchr(weights, '/');
        size_t dl = slash ? (size_t)(slash - weights + 1) : 0;
        syn = nd_malloc(dl + 32);
        if (!syn)
            return cli_fail();
        memcpy(syn, weights, dl);
        strcpy(syn + dl, "synset_words.txt");
        synsets = syn;
    }
    char **names = NULL;
    mdl_runner *r = NULL;
    int rc = classify_read_synsets(synsets, &names);
    if (rc == 0)
        rc = mdl_runner_open(&r, "squeezenet", weights, -1, "pool10");
    free(syn);
    if (rc) {
        if (names)
            for (int i = 0; i < 1000; i++)
                free(names[i]);
        free(names);
        return cli_fail();
    }
    int n = argc - optind;
    float *lg = nd_malloc(sizeof(float) * 1000 * n);
    if (!lg || mdl_runner_run(r, (const char *const *)argv + optind, n, lg))
        rc = -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        const float *v = lg + (size_t)i * 1000;
        double m = v[0], z = 0;
        for (int k = 1; k < 1000; k++)
            m = v[k] > m ? v[k] : m;
        for (int k = 0; k < 1000; k++)
            z += exp(v[k] - m);
        printf("%s:\n", argv[optind + i]);
        int used[5];
        for (int t = 0; t < 5; t++) {
            int b = -1;
            for (int k = 0; k < 1000; k++) {
                int u = 0;
                for (int j = 0; j < t; j++)
                    u |= used[j] == k;
                if (!u && (b < 0 || v[k] > v[b]))
                    b = k;
            }
            used[t] = b;
            printf("  %.4f  %3d %s\n", exp(v[b] - m) / z, b, names[b]);
        }
    }
    free(lg);
    for (int i = 0; i < 1000; i++)
        free(names[i]);
    free(names);
    mdl_runner_close(r);
    return rc ? cli_fail() : ND_EXIT_OK;
}
