/* testutil.h - a tiny test helper.
 *
 * Each test binary calls CHECK()/check_close() and ends with
 * `return test_summary();`, which prints "N passed, N failed" and returns
 * non-zero if anything failed.  Failures print file:line and the evidence;
 * passes are quiet unless ND_TEST_VERBOSE=1.  Numerical checks always print
 * the worst error they saw, so a log shows how close each result came.
 */
#ifndef ND_TESTUTIL_H
#define ND_TESTUTIL_H

#include <stddef.h>

#include "core/broden.h"
#include "core/features.h"
#include "core/options.h"
#include "core/npy.h"

void test_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond, ...) test_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |got - want| <= atol + rtol * |want| elementwise; prints max abs and rel
 * error and the worst index; NaN is a mismatch. Returns 1 if all close. */
int check_close_(const char *file, int line, const char *label, const double *got,
                 const double *want, size_t n, double atol, double rtol);
#define check_close(label, got, want, n, atol, rtol)                                   \
    check_close_(__FILE__, __LINE__, label, got, want, n, atol, rtol)

/* Start of a named group (printed). */
void test_group(const char *name);
int test_summary(void);

/* Path of the shared data folder: $ND_SHARED or ../shared. */
const char *test_shared(void);
/* test_shared() + "/" + rel, in a static ring of buffers. */
const char *test_shared_path(const char *rel);
/* A fresh temporary directory (removed by the runner's TMPDIR cleanup). */
const char *test_tmpdir(void);

/* Small datasets written by the tests.  Each returns 0 on success and
 * reports a failed CHECK otherwise, so a broken fixture cannot pass quietly. */
int test_write_text(const char *dir, const char *name, const char *text);
/* labels[sh*sw] -> RGB PNG with R = l % 256, G = l / 256 */
int test_write_label_png(const char *path, const int *labels, int sh, int sw);
/* The hand-counted 2-image dataset of test_tally and test_score: label maps
 * 4x4 (images 8x8); category object (pixel labels: image a's left half cat
 * (1), image b's left half dog (2)) and scene (image a has image-level
 * label beach (3), twice when dup_scene).  Returns its folder (static). */
const char *test_hand_dataset(int dup_scene);
/* Its activations, 2 units of 2x2 maps, written to dir/f.npy and opened:
 * unit 0: image a all 1, image b all 0;
 * unit 1: image a [[1,0],[0,0]], image b [[0,0],[0,1]].
 * Close a with npy_close. */
int test_hand_features(const char *dir, npy_t *a, nd_features *f);
/* Both: write and open the dataset and its features (0, or -1 after a failed
 * CHECK with nothing left open; close with broden_free and npy_close), and
 * options for them: defaults, the given thresholds 0.5 for both units (so no
 * quantile is computed), the receptive field offset 0, size 4, stride 4. */
int test_open_hand(int dup_scene, broden **ds, npy_t *a, nd_features *f, nd_options *o);

#endif
