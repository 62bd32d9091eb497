/* test_labeltuples.c - the label tuples numbered when a dataset is opened
 * (core/labeltuples.h) against the layers themselves: on the 120-image mini
 * fixture (113 x 113 label maps, up to several layers per image), opened
 * from its PNGs and from a prepared store, every pixel's tuple (its runs
 * expanded) holds that pixel's label in every layer, the runs ascend from
 * pixel 0, and each row's run holds the row's first pixel.  The tally's
 * counts by these tuples are checked against the direct computation in
 * test_tally.c. */
#include "core/broden.h"
#include "core/err.h"
#include "core/labeltuples.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Pixels (and runs, rows) of image i whose tuple disagrees with the layers. */
static long image_errors(const broden *ds, size_t i, uint16_t *id, long *runs)
{
    const broden_layer *layers;
    size_t nl;
    int sh, sw;
    broden_image_layers(ds, i, &layers, &nl);
    broden_image_size(ds, i, NULL, NULL, &sh, &sw);
    const nd_ltuples_image *ti = broden_image_tuples(ds, i);
    size_t npix = (size_t)sh * (size_t)sw;
    if (!ti)
        return nl > 0; /* every image with layers has tuples at 113 x 113 */
    long bad = ti->nl != nl || ti->nrun < 1 || ti->start[0] != 0;
    for (int r = 1; r < ti->nrun; r++)
        bad += ti->start[r] <= ti->start[r - 1] || ti->tup[r] >= ti->ntup;
    for (int y = 0; y < sh; y++) {
        int r = ti->row[y];
        size_t p = (size_t)y * (size_t)sw, e = r + 1 < ti->nrun ? ti->start[r + 1] : npix;
        bad += r >= ti->nrun || ti->start[r] > p || e <= p;
    }
    if (bad)
        return bad;
    nd_ltuples_expand(ti, npix, id);
    for (size_t p = 0; p < npix; p++)
        for (size_t k = 0; k < nl; k++)
            bad += ti->lab[(size_t)id[p] * nl + k] != layers[k].map[p];
    *runs += ti->nrun;
    return bad;
}

static void check_dataset(const char *what, const char *store)
{
    broden *ds;
    if (broden_open_store(&ds, test_shared_path("fixtures/netdissect-lite-mini/dataset"), NULL, store)) {
        CHECK(0, "open the mini fixture (%s): %s", what, nd_errmsg());
        return;
    }
    uint16_t *id = malloc((113 * 113 + 8) * sizeof *id);
    long bad = 0, runs = 0, worst = 0;
    size_t N = broden_num_images(ds), with = 0;
    for (size_t i = 0; id && i < N; i++) {
        long b = image_errors(ds, i, id, &runs);
        bad += b, worst = b > worst ? b : worst;
        with += broden_image_tuples(ds, i) != NULL;
    }
    CHECK(id && bad == 0 && with > 0,
          "%s: the tuples of %zu of %zu images hold every pixel's labels (%ld errors, worst image %ld; %.1f runs an "
          "image)", what, with, N, bad, worst, with ? (double)runs / (double)with : 0.0);
    free(id);
    broden_free(ds);
}

int main(void)
{
    test_group("label tuples against the layers");
    check_dataset("PNGs decoded", NULL);
    char store[4200];
    snprintf(store, sizeof store, "%s/labeltuples.store", test_tmpdir());
    unlink(store);
    check_dataset("store built", store);
    check_dataset("store mapped", store);
    unlink(store);
    return test_summary();
}
