/* commands.h - the subcommands of the dissect binary.
 *
 * Each command lives in experiments/cmd_<name>.c, parses its own options
 * (getopt_long; --help prints usage to stdout and returns 0) and returns an
 * exit status: ND_EXIT_OK, ND_EXIT_FAIL (runtime failure, one line on stderr
 * naming the file and field), ND_EXIT_USAGE (bad command line).
 */
#ifndef ND_COMMANDS_H
#define ND_COMMANDS_H

int cmd_units(int argc, char **argv);
/* `units` options into a (experiments/units_io.h); -1 to go on, else the
 * exit status to return (--help printed, or a usage error reported).  Shared
 * with the MPI driver, which takes the same options. */
typedef struct units_args units_args;
int cmd_units_parse(int argc, char **argv, units_args *a);
int cmd_recount(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_train(int argc, char **argv);
/* Train the network of one train config (its [output] dir; resumes from
 * its latest snapshot).  keep_data: keep the decoded images for the next
 * call with the same [data] (0 frees them; path NULL only frees them).
 * 0 or -1 (nd_fail). */
int cmd_train_config(const char *path, int threads, int keep_data);
int cmd_training(int argc, char **argv);
int cmd_world(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_ablate(int argc, char **argv);

/* The 1000 ImageNet class names of synset_words.txt (WordNet ids dropped). */
int classify_read_synsets(const char *path, char ***names);

#endif
