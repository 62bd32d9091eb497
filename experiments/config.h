/* config.h - the INI configuration of a rotation sweep, read strictly.
 *
 * Sections and keys (R = required):
 *   [dataset]      path (R)         Broden-format folder (must hold index.csv)
 *                  categories       comma list of categories to use; default all
 *                  name             label used in figure titles; default folder name
 *   [activations]  npy              activations [N,K,h,w] (.npy).  Required unless
 *                                   the model keys below compute them; with them it
 *                                   is the cache file (default <output dir>/features.npy)
 *                  model, layer     network and layer names (titles; needed to compute)
 *                  weights          weight file, or
 *                  random_seed      He-initialised random weights with this seed, or
 *                  checkpoint       a folder written by `dissect train` (then model is
 *                                   optional, default "checkpoint")
 *                                   (weights, random_seed or checkpoint => activations are
 *                                   computed with mdl_extract(_net) when the npy file does
 *                                   not exist)
 *   [dissect]      profile          netdissect (default, or nd) | netdissect-lite (ndl, lite)
 *                  quantile         top quantile, default 0.005, in (0, 1)
 *                  iou_threshold    default 0.04, in [0, 1)
 *                  field            OFFSET,SIZE,STRIDE of the layer's receptive field
 *                                   (netdissect profile only; default: the .json beside
 *                                   the .npy, else the model's layer geometry)
 *   [rotation]     alphas (R)       comma list; each in [0, 1] unless
 *                  allow_extrapolation = true   (default false)
 *                  draws            random rotations per alpha > 0, default 1, >= 1
 *                  base_seed        draw d uses seed base_seed + d, default 1
 *   [layers]       layers (R)       all, or a comma list of layer names: makes the
 *                                   config a layers experiment (`dissect layers`):
 *                                   [activations] needs model (R) and weights (the
 *                                   trained network); npy, layer, random_seed, [dissect]
 *                                   field and [rotation] are then errors
 *                  random_seed      the random-weights baseline's seed; default none
 *                  batch            images per forward call, default 32
 *   [output]       dir (R)          run folder
 *                  title            figure title; default "<model> <layer> on <dataset>"
 *   [probes]       enabled          true: linear/binary probes, best single units and
 *                                   units needed at the points below (core/probe.h);
 *                                   default false
 *                  alphas           which of [rotation] alphas; default all
 *                  draws            the first N draws; default all
 *                  train_fraction   split share in train (when index.csv's split column
 *                                   does not vary), default 0.5; split_seed default 1
 *                  units_needed     true (default) or false
 *
 * Paths: `${NAME}` is replaced by the environment variable NAME; DATA defaults to
 * ../shared and RESULTS to ./results (both relative to the current directory), any
 * other unset variable is an error.  After expansion, a relative path is relative to
 * the folder of the config file (so a config can name files beside it), except that
 * a path that came from a ${VAR} is relative to the current directory like the
 * variable itself.  All paths are stored absolute.
 *
 * Errors: config_load() fails with one line "FILE:LINE: [section] key: what is
 * wrong" (a missing key names the line of its section header, or the last line
 * of the file when the section is absent).
 */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include "core/dissect.h"

#include <stdio.h>

typedef struct {
    char *path;         /* the config file as given */
    /* [dataset] */
    char *dataset;      /* absolute */
    char *categories;   /* NULL = all */
    char *dataset_name;
    /* [activations] */
    char *npy;          /* absolute; NULL until config_load fills the default */
    char *model, *layer, *weights; /* NULL when absent; weights absolute */
    char *checkpoint;   /* trained network folder (absolute) or NULL */
    long random_seed;   /* -1 = absent */
    int compute;        /* weights, random_seed or checkpoint given */
    /* [dissect] */
    nd_profile profile;
    double quantile, iou_threshold;
    int have_field, field_offset, field_size, field_stride;
    /* [rotation] */
    double *alphas;     /* sorted ascending, distinct; 0 (the unrotated
                           baseline) is always included, added if absent */
    int n_alphas;
    int allow_extrapolation;
    int draws;
    unsigned long base_seed;
    /* [layers]: a layers experiment instead of a sweep (dissect layers) */
    char *layers;            /* NULL = not a layers experiment */
    long layers_random_seed; /* random-weights baseline, -1 = none */
    int layers_batch;        /* images per forward call, default 32 */
    /* [output] */
    char *out_dir;      /* absolute */
    char *title;        /* NULL = default */
    /* [probes] */
    int probes;         /* enabled */
    double *probe_alphas; /* NULL = every alpha */
    int n_probe_alphas;
    int probe_draws;    /* 0 = every draw */
    double probe_train_fraction;
    unsigned long probe_split_seed;
    int probe_units;
    int npy_default_;   /* internal: npy was defaulted from out_dir */
} config;

/* Read and validate path.  On error: -1 and one nd_fail() line as above.  */
int config_load(config *c, const char *path);

/* Replace the output folder (command-line override); made absolute. */
int config_set_out_dir(config *c, const char *dir);

/* Figure title: [output] title, else "<model> <layer> on <dataset name>". */
const char *config_title(const config *c, char *buf, size_t cap);

/* The effective configuration as INI text (every key, defaults filled in,
 * absolute paths, program version and the seeds as comments); malloc'd.
 * Loading it again gives the same configuration.  Its second line, "; from:
 * PATH", is the only one that depends on how the config was named. */
char *config_effective(const config *c);

/* The [dissect] settings that change results, as "key = value" lines
 * (profile, quantile, iou_threshold, and field when known): shared by the
 * effective config and the sweep's resume.key. */
void config_write_dissect(FILE *f, const config *c);

/* <out_dir>/config.effective.ini: the configuration of the latest run,
 * rewritten each time (the folder made if needed).  Whether a folder's
 * results may be kept is resume.key's question (experiments/resume_key.h). */
int config_write_effective(const config *c);

/* 0 when the config is of the command's kind (layers = 1: `dissect layers`,
 * a [layers] section; 0: `dissect sweep`, none), else the error is printed
 * (naming the command to use) and -1. */
int config_check_kind(const config *c, const char *path, int layers);

/* The start of `dissect layers` (layers = 1; sweeps: cmd_sweep_parse): load the
 * config (an error is printed, exit status 2), refuse the other kind of
 * experiment, apply --out, and with check print the effective config.
 * Returns -1 when the command should go on (c loaded), else the exit
 * status (c freed). */
int config_command_start(config *c, const char *path, int layers, const char *out, int check);

void config_free(config *c);

/* A path value as [output] dir and the other path keys read it (${DATA},
 * ${RESULTS} and environment variables expanded; relative to the folder of
 * the config file cfg, or to the cwd when it starts with an expansion),
 * for other commands' configs; malloc'd, NULL + nd_fail on error. */
char *config_resolve_path(const char *cfg, const char *value);

#endif
