/* blas.h - run OpenBLAS on one thread for a while.
 *
 * OpenBLAS splits products and LAPACK's blocked factorisations (QR, Schur)
 * over its threads in ways that change the last bits of the result, so a
 * result would depend on the machine's core count or OPENBLAS_NUM_THREADS.
 * Where the project threads the work itself (feature extraction, training,
 * rotation of blocks) or needs a seed to give the same Q everywhere (the
 * factorisations), BLAS runs on one thread between these two calls.
 *
 *     int saved = nd_blas_serial_begin();  ... cblas / LAPACKE calls ...  nd_blas_serial_end(saved);
 */
#ifndef ND_BLAS_H
#define ND_BLAS_H

/* declared here rather than through cblas.h, which clashes with GSL's headers */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);

static inline int nd_blas_serial_begin(void)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return saved;
}

static inline void nd_blas_serial_end(int saved) { openblas_set_num_threads(saved); }

/* The kernel OpenBLAS should have picked when it fell back to a generic one
 * on a CPU with AVX2 (see blas.c), or NULL when its choice is fine or
 * OPENBLAS_CORETYPE is set. */
const char *nd_blas_better_kernel(void);

/* Call first thing in main(): if nd_blas_better_kernel() names a kernel, set
 * OPENBLAS_CORETYPE to it and re-execute the program with the same argv
 * (the kernel is chosen when the library loads).  Returns if nothing is to
 * be done or the re-exec failed. */
void nd_blas_fix_kernel(char **argv);

#endif
