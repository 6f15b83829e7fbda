/* avx2_kquants.c — AVX2 + FMA + F16C kernels (built with those target flags;
 * chosen at run time only on a CPU that has them). Not written yet. */
#include "../kernels.h"

void lorc_kernels_fill_avx2_kquants(lorc_kernels *k) { (void)k; }
