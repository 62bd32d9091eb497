/* training_json.c - training.json, the training-conditions experiment's
 * summary (core/format.h kind "training"): what was run - the configs, the
 * conditions, the worlds and the dissection settings - beside the tables
 * whose format version it carries. */
#include "experiments/training.h"

#include "core/afile.h"
#include "core/format.h"
#include "core/options.h"

#include <stdio.h>

static void put_str(FILE *f, const char *key, const char *v, const char *end)
{
    fprintf(f, "  \"%s\": ", key);
    nd_json_str(f, v ? v : "");
    fprintf(f, "%s\n", end);
}

static void put_conditions(FILE *f, const training_cond *c, int nc)
{
    fprintf(f, "  \"conditions\": [\n");
    for (int i = 0; i < nc; i++)
        fprintf(f, "    {\"name\": \"%s\", \"seed\": %ld, \"dropout\": %d, \"batchnorm\": %d, \"random\": %d}%s\n",
                c[i].name, c[i].seed, c[i].dropout, c[i].batchnorm, c[i].random, i + 1 < nc ? "," : "");
    fprintf(f, "  ],\n");
}

int training_write_json(const training_spec *s, const training_cond *c, int nc)
{
    afile a;
    if (nd_format_open(&a, s->out_dir, "training.json", "training", ND_FORMAT_TRAINING))
        return -1;
    FILE *f = a.f;
    put_str(f, "config", s->path, ",");
    put_str(f, "train_config", s->train_config, ",");
    put_str(f, "layers", s->layers, ",");
    put_str(f, "last_layer", s->last_layer, ",");
    put_str(f, "snapshots", s->snapshots, ",");
    if (s->iterations > 0)
        fprintf(f, "  \"iterations\": %ld,\n", s->iterations);
    put_conditions(f, c, nc);
    fprintf(f, "  \"world\": {\"images\": %ld, \"probe_images\": %ld, \"size\": %ld, \"seed\": %lu, "
               "\"probe_seed\": %lu, \"val_every\": %ld, \"noise\": %.17g, \"light\": %.17g, "
               "\"clutter\": %.17g, \"rotate\": %.17g, \"cue\": %.17g},\n",
            s->images, s->probe_images, s->size, s->world_seed, s->probe_seed, s->val_every, s->noise,
            s->light, s->clutter, s->rotate, s->cue);
    fprintf(f, "  \"profile\": \"%s\",\n  \"quantile\": %.17g,\n  \"iou_threshold\": %.17g,\n",
            nd_profile_name(s->profile), s->quantile, s->iou_threshold);
    put_str(f, "alphas", s->alphas, ",");
    fprintf(f, "  \"draws\": %ld,\n  \"probes\": %d,\n", s->draws, s->probes);
    fprintf(f, "  \"tables\": [\"conditions.csv\", \"summary.csv\", \"table.md\", \"iterations.csv\", "
               "\"iterations.md\", \"figure_unique.csv\"]\n}\n");
    return afile_commit(&a);
}
