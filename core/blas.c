/* blas.c - make sure OpenBLAS runs the kernel this CPU can run.
 *
 * OpenBLAS (0.3.21, Debian 12) picks its kernel from a table of CPU models.
 * A model newer than the table (Emerald Rapids, family 6 model 207, seen
 * here) falls back to "Prescott", an SSE3 kernel: sgemm at 10 GFLOP/s per
 * core where the AVX-512 kernel gives 50.  The choice is made when the
 * library loads, so the only fix from inside the program is to set
 * OPENBLAS_CORETYPE and start again.  A value the user set is never
 * overridden.
 */
#include "core/blas.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);

/* kernels OpenBLAS has for CPUs without AVX2: on a CPU with AVX2 they mean
 * the model table did not know the CPU */
static int is_pre_avx2_kernel(const char *name)
{
    static const char *const old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                      "Sandybridge", "Atom", "Katmai", "Coppermine", "Northwood",
                                      "Banias", "Opteron", "Barcelona", "Bobcat", "Bulldozer",
                                      "Piledriver", "Steamroller", "Excavator", "Unknown"};
    for (size_t i = 0; i < sizeof old / sizeof *old; i++)
        if (!strcasecmp(name, old[i])) return 1;
    return 0;
}

const char *nd_blas_better_kernel(void)
{
    const char *name = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") || !name || !is_pre_avx2_kernel(name)) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void nd_blas_fix_kernel(char **argv)
{
    const char *better = nd_blas_better_kernel();
    if (!better || setenv("OPENBLAS_CORETYPE", better, 0)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: run on with the slow kernel */
}
