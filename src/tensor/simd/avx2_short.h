/* avx2_short.h — private to src/tensor/simd: the AVX2 short-row tiles of
 * F16 weights (avx2_short.c), which the AVX-512 entry (avx512_short.c)
 * keeps for everything but one activation row. */
#ifndef LORC_TENSOR_SIMD_AVX2_SHORT_H
#define LORC_TENSOR_SIMD_AVX2_SHORT_H

#include <stddef.h>
#include <stdint.h>

enum { LORC_SHORT_TILE_ROWS = 16, LORC_SHORT_TILE_COLS = 6 };

void lorc_avx2_short_f16(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_short_f16_acc(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                             const float *alpha, float *y, size_t y_stride);
void lorc_avx2_short_f16_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst);
size_t lorc_avx2_short_pack_bytes(int64_t n);
void lorc_avx2_short_packed(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                            float *y, size_t y_stride);
void lorc_avx2_short_packed_acc(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, const float *alpha, float *y, size_t y_stride);
void lorc_avx2_short_cols16_acc(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, const float *alpha, float *y, size_t y_stride);

#endif
