/* avx2_exp.h — the AVX2 vector exp over an array, for tests that measure
 * it against expf (the kernels themselves use lorc_avx2_exp_ps directly).
 * Only call on a CPU where lorc_isa_supported(cpu, LORC_ISA_AVX2); only
 * defined on x86-64 builds. */
#ifndef LORC_TENSOR_SIMD_AVX2_EXP_H
#define LORC_TENSOR_SIMD_AVX2_EXP_H

#include <stdint.h>

#if defined(__x86_64__)
/* y[i] = exp(x[i]) for i < n. */
void lorc_avx2_exp_f32(const float *x, float *y, int64_t n);
#endif

#endif
