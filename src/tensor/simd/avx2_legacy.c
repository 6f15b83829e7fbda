/* avx2_legacy.c — AVX2 tile for Q8_0 (the 4- and 5-bit block types are in
 * avx2_q45.c) and the fill of the legacy block types.
 *
 * Q8_0: int8 weights sign-extended to int16 times int16 activations
 * (avx2_q16: keeps activation rounding far below the weights' own), by
 * vpmaddwd. Tile: 4 weight rows x 3 activation rows, one row per register;
 * a pair's sum runs block by block in order with the same operations
 * whatever nr, nc (batch invariance). 12 accumulators: GCC keeps a few in
 * L1, still faster in prompt processing than 4 x 2 tiles without spills. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

/* The fp16 scale at the start of a block, for up to 4 rows, as 4 floats
 * (rows past NR read as 0). Assembled in a general register: inserting
 * halves one by one into a vector costs vector-pipe work that the
 * integer-dot loop needs (measured ~25% of decode time). */
AI __m128 gather_d4(int NR, const uint8_t *const wb[4]) {
    uint64_t h = 0;
    LORC_UNROLL
    for (int r = 0; r < NR; r++) h |= (uint64_t)lorc_avx2_ld_u16(wb[r]) << (16 * r);
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h));
}

/* Pointers to block `off` of the NR rows, and a prefetch of the same place
 * in the rows two tiles on (they follow these in memory): a row is only a
 * few dozen cache lines, too short a stream for the hardware prefetcher to
 * lock on to. */
AI void block_rows(int NR, const uint8_t *const wr[4], size_t off, size_t w_stride, const uint8_t *wb[4]) {
    LORC_UNROLL
    for (int r = 0; r < NR; r++) {
        wb[r] = wr[r] + off;
        _mm_prefetch((const char *)(wb[r] + (size_t)(2 * NR) * w_stride), _MM_HINT_T0);
    }
}

AI void q8_0_tile(int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                  int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t bb = sizeof(lorc_block_q8_0);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_avx2_act_q16 *xr[3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[4][3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) acc[r][c] = _mm256_setzero_ps();
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bb;
        const uint8_t *wb[4] = {0, 0, 0, 0};
        block_rows(NR, wr, off, w_stride, wb);
        const __m128 dw = gather_d4(NR, wb);
        float scale[3][4];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) _mm_storeu_ps(scale[c], _mm_mul_ps(dw, _mm_set1_ps(lorc_avx2_ld_f32(xr[c][b].d))));
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256i w_lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 2)));
            const __m256i w_hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 18)));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = xr[c][b].q;
                const __m256i p = _mm256_add_epi32(
                    _mm256_madd_epi16(w_lo, _mm256_loadu_si256((const __m256i *)(const void *)xq)),
                    _mm256_madd_epi16(w_hi, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 32))));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&scale[c][r]), acc[r][c]);
            }
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_avx2_hsum(acc[r][c]);
}

#define Q8_0_BODY(NR, NC, ...) q8_0_tile(NR, NC, __VA_ARGS__)
LORC_TILE_4x3(tile_q8_0, Q8_0_BODY)

void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) {
    lorc_avx2_fill_q45(k);
    k->type[LORC_TYPE_Q8_0] = lorc_tile_entry(&lorc_avx2_act_q16_format, tile_q8_0, 4, 3);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) { (void)k; }
#endif
