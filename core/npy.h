/* npy.h - NumPy .npy files: memory-mapped reading, atomic writing.
 *
 * Supported: format versions 1.0-3.0, little-endian (or byte-order-free)
 * dtypes f2 f4 f8 i4 i8 u1 u2.  npy_open() accepts C order only (the
 * activation readers index the data in place); npy_open_any() also accepts
 * Fortran order (small tables such as Broden's w2color.npy), and
 * npy_offset() turns a multi-index into an element offset for either order.
 * Both validate the whole header and that the file holds exactly
 * prod(shape) elements; every error names the file and what was expected.
 *
 *     npy_t a;
 *     if (npy_open(&a, "features.npy")) return -1;   // a.shape, a.ndim, a.data
 *     ...
 *     npy_close(&a);
 */
#ifndef ND_NPY_H
#define ND_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/afile.h"

typedef enum { NPY_F16, NPY_F32, NPY_F64, NPY_I32, NPY_I64, NPY_U8, NPY_U16 } npy_dtype;

#define NPY_MAXDIM 8

typedef struct {
    npy_dtype dtype;
    int ndim;
    int fortran;       /* 1: first index varies fastest (only from npy_open_any) */
    size_t shape[NPY_MAXDIM];
    size_t count;      /* number of elements */
    size_t elsize;     /* bytes per element */
    const void *data;  /* first element (inside the mapping) */
    void *map;         /* mmap base */
    size_t maplen;
    char *path;
} npy_t;

int npy_open(npy_t *a, const char *path);
int npy_open_any(npy_t *a, const char *path);
/* Element offset of idx[0..ndim-1] (each below its shape) in a's layout:
 * C order sum idx[d] * prod(shape[d+1..]), Fortran sum idx[d] * prod(shape[..d-1]). */
size_t npy_offset(const npy_t *a, const size_t *idx);
void npy_close(npy_t *a);

const char *npy_dtype_name(npy_dtype t);
size_t npy_dtype_size(npy_dtype t);

/* Convert n elements starting at element index `first` to float / double. */
void npy_to_f32(const npy_t *a, size_t first, size_t n, float *out);
void npy_to_f64(const npy_t *a, size_t first, size_t n, double *out);

/* IEEE half -> float (exact). */
float npy_half_to_float(uint16_t h);
/* float -> IEEE half, rounded to nearest (ties to even), overflow to inf. */
uint16_t npy_float_to_half(float f);

/* Format a v1.0 header (magic..newline, 64-byte aligned) for the given
 * dtype and shape into buf (at least 128 bytes + 24 per dim); returns its length. */
size_t npy_header(char *buf, size_t cap, npy_dtype t, int ndim, const size_t *shape);

/* Write a whole array atomically. */
int npy_save(const char *path, npy_dtype t, int ndim, const size_t *shape, const void *data);

/* Streaming writer for arrays too large to hold: header first, then
 * npy_writer_put() chunks in C order, then commit (checks the byte count). */
typedef struct {
    afile af;
    size_t expect, written; /* bytes of data */
} npy_writer;
int npy_writer_open(npy_writer *w, const char *path, npy_dtype t, int ndim, const size_t *shape);
int npy_writer_put(npy_writer *w, const void *data, size_t nbytes);
int npy_writer_commit(npy_writer *w);
void npy_writer_abort(npy_writer *w);

/* Read a small 1-D vector (any numeric dtype, any shape flattened) as doubles;
 * *out is malloc'd. */
int npy_load_f64(const char *path, double **out, size_t *n);

#endif
