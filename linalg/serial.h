/* serial.h - run OpenBLAS on one thread for a while.
 *
 * OpenBLAS splits LAPACK's blocked factorisations (QR, Schur) over its
 * threads in ways that change the last bits of the result, so a seed would
 * give a different Q on a machine with another core count or
 * OPENBLAS_NUM_THREADS.  The factorisations are small (n <= a few
 * thousand) and run once per draw, so they run on one thread, and Q is
 * bit-identical for a seed wherever it is drawn.
 *
 *     int saved = rot_serial_begin();  ... LAPACKE calls ...  rot_serial_end(saved);
 */
#ifndef ND_SERIAL_H
#define ND_SERIAL_H

/* declared here rather than through cblas.h, which clashes with GSL's headers */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);

static inline int rot_serial_begin(void)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return saved;
}

static inline void rot_serial_end(int saved) { openblas_set_num_threads(saved); }

#endif
