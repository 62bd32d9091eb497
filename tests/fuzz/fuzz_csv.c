/* fuzz_csv.c - the CSV reader (core/csv.c) on arbitrary bytes, and the
 * one-number-per-line thresholds reader of `dissect units --thresholds`.
 *
 * Every row is split, every field parsed as an integer and as a number, and
 * the column lookup run on each field, so that quoting, CRLF, blank lines,
 * byte-order marks and NUL bytes all reach the row splitter.
 */
#include "core/csv.h"
#include "core/err.h"
#include "experiments/units_io.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p, *t;
    if (!p) {
        p = fz_path("f.csv");
        t = fz_path("thr.txt");
    }
    fz_write(p, data, size);
    csv_file c;
    if (csv_open(&c, p) == 0) {
        ND_ASSERT(c.nh >= 1);
        int r, rows = 0;
        while ((r = csv_next(&c)) > 0) {
            ND_ASSERT(c.nf >= 1);
            for (int i = 0; i < c.nf; i++) {
                long l;
                double d;
                (void)csv_long(c.f[i], &l);
                (void)csv_double(c.f[i], &d);
                ND_ASSERT(csv_col(&c, c.f[i]) < c.nh);
            }
            rows++;
        }
        ND_ASSERT(r == 0 || r == -1);
        csv_close(&c);
    }
    fz_done();
    /* the same bytes as a thresholds text file for 3 units */
    fz_write(t, data, size);
    double *v = NULL;
    if (units_load_thresholds(t, 3, &v) == 0) {
        for (int i = 0; i < 3; i++)
            ND_ASSERT(v[i] == v[i]);
        free(v);
    }
    fz_done();
    return 0;
}
