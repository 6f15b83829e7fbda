/* avx2_q5k.h — private to src/tensor/simd: the Q5_K unpacking that the
 * AVX2 tile (avx2_q45k.c) and the AVX-512 pair tile (avx512_kq_pairs.c)
 * share, so both see the same int16 weights, and the scale registers it
 * starts from (Q4_K's row tile uses them too). Only included from files
 * built with at least -mavx2 -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_Q5K_H
#define LORC_TENSOR_SIMD_AVX2_Q5K_H

#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include "avx2_q4k_pack.h"

/* Scale registers (sub-block j's scale in every 16-bit lane of scv[j]) and
 * the mins as 16 int16, each repeated for the two 16-value halves of its
 * sub-block, to meet the 16 per-16 activation sums. */
static inline __m256i lorc_q45k_unpack_scales(const uint8_t p[12], __m256i scv[8]) {
    uint64_t sc, m;
    lorc_q45k_scales_mins(p, &sc, &m);
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_cvtsi64_si128((long long)sc));
    for (int j = 0; j < 8; j++) scv[j] = lorc_kq_bcast_u8_as_i16(scb, j);
    const __m128i mb = _mm_cvtsi64_si128((long long)m);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
}

/* Bit j of each qh byte moved to bit 4 (16-bit shifts: the 0x10 mask drops
 * what crosses a byte boundary). */
static inline __m256i lorc_q5k_fifth_bit(__m256i qh, int j) {
    const __m256i moved = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

/* Half h of a Q5_K super-block (sub-blocks 4h..4h+3) as 8 registers of 16
 * int16 weights q*sc, in q16_K256's value order: w[2j] holds values 0-7 |
 * 16-23 of sub-block 4h+j, w[2j+1] values 8-15 | 24-31. */
static inline void lorc_q5k_unpack_half(const lorc_block_q5_K *b, __m256i qh, const __m256i scv[8], int h, __m256i w[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (int k = 0; k < 2; k++) {
        const int s = 4 * h + 2 * k; /* the low nibbles are sub-block s, the high ones s + 1 */
        const __m256i q = lorc_kq_load(b->qs + 32 * (2 * h + k));
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), lorc_q5k_fifth_bit(qh, s));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), lorc_q5k_fifth_bit(qh, s + 1));
        w[4 * k + 0] = _mm256_mullo_epi16(_mm256_unpacklo_epi8(lo, zero), scv[s]);
        w[4 * k + 1] = _mm256_mullo_epi16(_mm256_unpackhi_epi8(lo, zero), scv[s]);
        w[4 * k + 2] = _mm256_mullo_epi16(_mm256_unpacklo_epi8(hi, zero), scv[s + 1]);
        w[4 * k + 3] = _mm256_mullo_epi16(_mm256_unpackhi_epi8(hi, zero), scv[s + 1]);
    }
}

/* The mins (lorc_q45k_unpack_scales' int16 form) as int32, to meet the
 * int32 per-16 activation sums: m0,m0,m1,m1,m2,m2,m3,m3 in *lo, m4..m7 in *hi. */
static inline void lorc_q5k_mins_i32(__m256i mins, __m256i *lo, __m256i *hi) {
    *lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(mins));
    *hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(mins, 1));
}

/* Packed tiles for prompts (lorc_type_kernel.pack), AVX2 (avx2_kq16_packed.c)
 * and AVX-512 (avx512_kq_pairs.c): per super-block, each of the 4 rows'
 * 256 weights as int16 q*sc in q16_K256's value order (512 bytes a row),
 * then each row's mins as int32 for the int32 per-16 sums (two 32-byte
 * pieces, lorc_q5k_mins_i32), then the 4 rows' d and dmin as floats,
 * padded to whole cache lines. Rows past nr are zeros. */
#define LORC_Q5K_PACKED_ROW 512
#define LORC_Q5K_PACKED_MINS (LORC_KQ_TILE_ROWS * LORC_Q5K_PACKED_ROW)
#define LORC_Q5K_PACKED_D (LORC_Q5K_PACKED_MINS + LORC_KQ_TILE_ROWS * 64)
#define LORC_Q5K_PACKED_DMIN (LORC_Q5K_PACKED_D + LORC_KQ_TILE_ROWS * 4)
#define LORC_Q5K_PACKED_BLOCK (LORC_Q5K_PACKED_DMIN + LORC_KQ_TILE_ROWS * 4 + 32)

/* Packs nr <= LORC_KQ_TILE_ROWS rows into the layout above, with the
 * places the two tiles read them from: step k (16 weights, 32 bytes) of
 * row r at row_offset[r] + k * step_stride, its low mins piece at
 * mins_offset[r] and the high one mins_hi_delta bytes further. */
static inline void lorc_q5k_pack_rows(int64_t n, const void *w, size_t w_stride, int nr, uint8_t *dst,
                                      const size_t row_offset[LORC_KQ_TILE_ROWS], size_t step_stride,
                                      const size_t mins_offset[LORC_KQ_TILE_ROWS], size_t mins_hi_delta) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += LORC_Q5K_PACKED_BLOCK) {
        memset(out, 0, LORC_Q5K_PACKED_BLOCK);
        float d[LORC_KQ_TILE_ROWS] = {0}, dmin[LORC_KQ_TILE_ROWS] = {0};
        for (int r = 0; r < nr; r++) {
            const lorc_block_q5_K *b = (const lorc_block_q5_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride) + i;
            __m256i scv[8], lo, hi;
            lorc_q5k_mins_i32(lorc_q45k_unpack_scales(b->scales, scv), &lo, &hi);
            const __m256i qh = lorc_kq_load(b->qh);
            for (int h = 0; h < 2; h++) {
                __m256i wk[8];
                lorc_q5k_unpack_half(b, qh, scv, h, wk);
                for (int k = 0; k < 8; k++)
                    _mm256_storeu_si256((__m256i *)(void *)(out + row_offset[r] + step_stride * (size_t)(8 * h + k)), wk[k]);
            }
            _mm256_storeu_si256((__m256i *)(void *)(out + mins_offset[r]), lo);
            _mm256_storeu_si256((__m256i *)(void *)(out + mins_offset[r] + mins_hi_delta), hi);
            d[r] = lorc_kq_half(b->d);
            dmin[r] = lorc_kq_half(b->dmin);
        }
        memcpy(out + LORC_Q5K_PACKED_D, d, sizeof d);
        memcpy(out + LORC_Q5K_PACKED_DMIN, dmin, sizeof dmin);
    }
}

size_t lorc_avx2_pack_bytes_q5_K(int64_t n);
void lorc_avx2_pack_q5_K(int64_t n, const void *w, size_t w_stride, int nr, void *dst);
void lorc_avx2_tile_packed_q5_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, float *y, size_t y_stride);

#endif
#endif
