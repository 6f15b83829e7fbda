/* avx512_row_lanes.h — private to src/tensor/simd: the AVX-512 packed
 * tiles' 16 weight rows in the 16 lanes of a ZMM register
 * (avx512_legacy.c, avx512_q4k.c); avx2_row_lanes.h is the 8-lane
 * form. Only included from files built with the AVX-512 flags. */
#ifndef LORC_TENSOR_SIMD_AVX512_ROW_LANES_H
#define LORC_TENSOR_SIMD_AVX512_ROW_LANES_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

enum { LORC_ZMM_ROW_LANES = 16 };

/* The 16 rows of a tile that has nr of them: rows past nr repeat the last
 * one (in bounds; packs zero their lanes). */
static inline void lorc_zl_rows(const void *w, size_t w_stride, int nr, const uint8_t *wr[LORC_ZMM_ROW_LANES]) {
    for (int r = 0; r < LORC_ZMM_ROW_LANES; r++) wr[r] = (const uint8_t *)w + (size_t)(r < nr ? r : nr - 1) * w_stride;
}

/* y[c * y_stride + r] = lane r of acc[c], for r < nr and c < nc. */
static inline __attribute__((always_inline)) void lorc_zl_store(int nc, const __m512 *acc, int nr, float *y,
                                                                size_t y_stride) {
    const __mmask16 live = (__mmask16)((1u << nr) - 1u);
    /* unrolled, so that the callers' accumulators stay in registers */
    _Pragma("GCC unroll 16")
    for (int c = 0; c < nc; c++) _mm512_mask_storeu_ps(y + (size_t)c * y_stride, live, acc[c]);
}

#endif
#endif
