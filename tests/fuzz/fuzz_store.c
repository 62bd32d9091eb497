/* fuzz_store.c - the prepared label store of `dissect units --label-store`
 * (core/broden.c broden_open_store: header, signature, sizes, then the
 * memory-mapped label maps) on arbitrary bytes, for a fixed small dataset
 * (fz_make_dataset).  A store that does not match is rebuilt (the file is
 * then replaced by a valid one); a store that is used must hold only label
 * numbers the dataset knows.  Input: the store file. */
#include "core/broden.h"
#include "core/err.h"
#include "tests/fuzz/fuzz_png_util.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *dir, *store;
    if (!dir) {
        dir = fz_path("sds");
        mkdir(dir, 0755);
        fz_make_dataset(dir);
        store = fz_path("labels.store");
    }
    fz_write(store, data, size);
    broden *ds;
    if (broden_open_store(&ds, dir, NULL, store) == 0) {
        size_t L = broden_num_labels(ds);
        for (size_t i = 0; i < broden_num_images(ds); i++) {
            int sh, sw;
            broden_image_size(ds, i, NULL, NULL, &sh, &sw);
            const broden_layer *ly;
            size_t nl;
            broden_image_layers(ds, i, &ly, &nl);
            for (size_t j = 0; j < nl; j++)
                for (size_t q = 0; q < (size_t)sh * (size_t)sw; q++)
                    ND_ASSERT(ly[j].map[q] < L && (ly[j].map[q] == 0 || *broden_label_name(ds, ly[j].map[q])));
        }
        broden_free(ds);
    }
    fz_done();
    return 0;
}
