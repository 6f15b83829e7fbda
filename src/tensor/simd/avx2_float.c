/* avx2_float.c — AVX2 + FMA + F16C tiles for the float weight types F32,
 * F16, BF16 (activations stay F32), and the table fill that also installs
 * the vec helpers (avx2_vec.c).
 *
 * Tile: 4 weight rows x 3 activation rows, one 8-lane accumulator per pair
 * (12 registers), each weight vector converted once and used for 3 FMAs.
 * A pair's sum runs over 8-value steps in order, a masked step for a tail,
 * then one fixed horizontal sum: the same sequence for any nr, nc. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "avx2_tile_instances.h"

enum { KIND_F32, KIND_F16, KIND_BF16 };

/* 8 weights from element i of a row, as floats. */
static inline __attribute__((always_inline)) __m256 load_w8(int kind, const uint8_t *row, int64_t i) {
    if (kind == KIND_F32) return _mm256_loadu_ps((const float *)(const void *)(row + 4 * i));
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * i));
    if (kind == KIND_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16 = top half of f32 */
}

/* The last k < 8 weights of a row, zero-filled (copied so nothing past the
 * row is read). */
static inline __attribute__((always_inline)) __m256 load_w_tail(int kind, const uint8_t *row, int64_t i, int64_t k) {
    const size_t esize = kind == KIND_F32 ? 4 : 2;
    uint8_t buf[32] = {0};
    memcpy(buf, row + esize * (size_t)i, esize * (size_t)k);
    return load_w8(kind, buf, 0);
}

static inline __attribute__((always_inline)) void float_tile(int kind, int NR, int NC, int64_t n, const void *w,
                                                             size_t w_stride, int nr, const void *x,
                                                             size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const uint8_t *wr[4], *xr[3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const uint8_t *)x + (size_t)c * x_stride;
    __m256 acc[4][3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++)
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv[3];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) xv[c] = _mm256_loadu_ps((const float *)(const void *)xr[c] + i);
        /* once per cache line of the first row: fetch the same place in the
         * rows two tiles on (short row streams escape the hardware prefetcher) */
        if (((size_t)i * (kind == KIND_F32 ? 4 : 2)) % 64 == 0) {
            LORC_UNROLL
            for (int r = 0; r < NR; r++)
                _mm_prefetch((const char *)(wr[r] + (size_t)(2 * NR) * w_stride + (size_t)i * (kind == KIND_F32 ? 4 : 2)),
                             _MM_HINT_T0);
        }
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256 wv = load_w8(kind, wr[r], i);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv[3];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) xv[c] = _mm256_maskload_ps((const float *)(const void *)xr[c] + i, m);
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256 wv = load_w_tail(kind, wr[r], i, n - i);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_avx2_hsum(acc[r][c]);
}

#define F32_BODY(NR, NC, ...) float_tile(KIND_F32, NR, NC, __VA_ARGS__)
#define F16_BODY(NR, NC, ...) float_tile(KIND_F16, NR, NC, __VA_ARGS__)
#define BF16_BODY(NR, NC, ...) float_tile(KIND_BF16, NR, NC, __VA_ARGS__)
LORC_TILE_4x3(tile_f32, F32_BODY)
LORC_TILE_4x3(tile_f16, F16_BODY)
LORC_TILE_4x3(tile_bf16, BF16_BODY)

void lorc_kernels_fill_avx2_float(lorc_kernels *k) {
    k->type[LORC_TYPE_F32] = lorc_tile_entry(&lorc_avx2_act_f32_format, tile_f32, 4, 3);
    k->type[LORC_TYPE_F16] = lorc_tile_entry(&lorc_avx2_act_f32_format, tile_f16, 4, 3);
    k->type[LORC_TYPE_BF16] = lorc_tile_entry(&lorc_avx2_act_f32_format, tile_bf16, 4, 3);
    k->vec.dot_f32 = lorc_avx2_dot_f32;
    k->vec.axpy_f32 = lorc_avx2_axpy_f32;
    k->vec.softmax_f32 = lorc_avx2_softmax_f32;
    k->vec.f16_to_f32 = lorc_avx2_f16_to_f32;
    k->vec.f32_to_f16 = lorc_avx2_f32_to_f16;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_float(lorc_kernels *k) { (void)k; }
#endif
