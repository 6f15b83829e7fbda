/* neon_vec.h — private to src/tensor/simd: the NEON vec helpers
 * (neon_vec.c), installed by lorc_kernels_fill_neon_float. */
#ifndef LORC_TENSOR_SIMD_NEON_VEC_H
#define LORC_TENSOR_SIMD_NEON_VEC_H

#include <stdint.h>

float lorc_neon_dot_f32(const float *a, const float *b, int64_t n);
void lorc_neon_axpy_f32(float a, const float *x, float *y, int64_t n); /* y += a·x */

#endif
