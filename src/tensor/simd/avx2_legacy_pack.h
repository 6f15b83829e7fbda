/* avx2_legacy_pack.h — private to src/tensor/simd: unpacking the legacy
 * block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), their packed-tile layout of
 * 8 rows and the 4/5-bit types' float step per block, shared by the AVX2
 * tiles (avx2_q45.c, avx2_legacy.c) and the AVX-512 ones, which pack 16
 * rows as two such halves (avx512_legacy.c) or decode the 4/5-bit types
 * and Q8_0 (avx512_q45.c, avx512_q8_0.c); Q8_0's float step per block too. Only
 * included from files built with at least -mavx2 -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_LEGACY_PACK_H
#define LORC_TENSOR_SIMD_AVX2_LEGACY_PACK_H

#if defined(__x86_64__)
#include <immintrin.h>

#include "avx2_float_legacy.h"
#include "avx2_row_lanes.h"
#include "../quant_impl.h"
#include "q45_kind.h"

#define LORC_PACK_AI static inline __attribute__((always_inline))

/* log2 of the _0 types' offset (8 or 16) */
LORC_PACK_AI int lorc_q45_offset_shift(int kind) { return kind == LORC_KIND_Q4_0 ? 3 : 4; }

/* One block's float step for 8 pairs (rows in lanes), shared by every
 * streaming and packed tile of these types so that they give the same
 * bits. */
LORC_PACK_AI __m256 lorc_q45_block_step(int kind, __m256i isum, const lorc_avx2_act_q8s *xb, __m256 dw, __m256 m, __m256 acc) {
    const __m256 dx = _mm256_broadcast_ss((const float *)(const void *)xb->d);
    if (!lorc_q45_has_min(kind)) {
        const __m256i off = _mm256_slli_epi32(_mm256_set1_epi32(lorc_avx2_ld_i32(xb->sum)), lorc_q45_offset_shift(kind));
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, off)), _mm256_mul_ps(dw, dx), acc);
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, dx), acc);
    return _mm256_fmadd_ps(m, _mm256_broadcast_ss((const float *)(const void *)xb->s), acc);
}

/* The AVX2 streaming tiles of the 4/5-bit types (avx2_q45.c), for the
 * AVX-512 ones (avx512_q45.c) to hand several activation rows to. */
void lorc_avx2_tile_q4_0(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_tile_q4_1(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_tile_q5_0(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_tile_q5_1(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);

/* Q8_0's float step of one block for 8 pairs, shared by its streaming
 * tiles (avx2_legacy.c, avx512_q8_0.c) and the AVX2 packed one. */
LORC_PACK_AI __m256 lorc_q8_block_step(__m256i isum, __m256 dw, const lorc_avx2_act_q16 *xb, __m256 acc) {
    const __m256 dx = _mm256_broadcast_ss((const float *)(const void *)xb->d);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, dx), acc);
}

/* The AVX2 streaming tile of Q8_0 (avx2_legacy.c), for the AVX-512 one to
 * hand several activation rows to. */
void lorc_avx2_tile_q8_0(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);

/* Two rows' blocks side by side: A in the low 128-bit half, B in the high
 * one. lo gets the values 0..15 of each block, hi the values 16..31, as
 * unsigned bytes (Q5: the fifth bit included). */
LORC_PACK_AI void lorc_q45_unpack_pair(int kind, const uint8_t *blk_a, const uint8_t *blk_b, __m256i *lo, __m256i *hi) {
    const size_t qs_off = (size_t)2 + (lorc_q45_has_min(kind) ? 2 : 0) + (lorc_q45_has_high_bit(kind) ? 4 : 0);
    const __m256i v = _mm256_loadu2_m128i((const __m128i *)(const void *)(blk_b + qs_off),
                                          (const __m128i *)(const void *)(blk_a + qs_off));
    const __m256i low_nibble = _mm256_set1_epi8(0x0f);
    *lo = _mm256_and_si256(v, low_nibble);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_nibble);
    if (lorc_q45_has_high_bit(kind)) {
        /* each half holds its block's 32-bit mask in every dword; byte j of
         * lo takes mask byte j/8 (values 0..15), of hi byte 2 + j/8 (values
         * 16..31), then tests bit j%8 */
        const size_t qh_off = (size_t)2 + (lorc_q45_has_min(kind) ? 2 : 0);
        const __m256i mask =
            _mm256_blend_epi32(_mm256_castps_si256(_mm256_broadcast_ss((const float *)(const void *)(blk_a + qh_off))),
                               _mm256_castps_si256(_mm256_broadcast_ss((const float *)(const void *)(blk_b + qh_off))),
                               0xf0);
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull), five = _mm256_set1_epi8(0x10);
        const __m256i spread_lo = _mm256_shuffle_epi8(mask, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                                                                             0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        const __m256i spread_hi = _mm256_shuffle_epi8(mask, _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2,
                                                                             2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        *lo = _mm256_or_si256(*lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread_lo, bit), bit), five));
        *hi = _mm256_or_si256(*hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread_hi, bit), bit), five));
    }
}

/* One 32-value block of 8 rows (wb[r]: row r's block; rows r >= nr
 * become zeros) in the packed layout: 8 groups of 32 bytes, group g =
 * quants 4g..4g+3 of row 0, then of row 1, ... row 7, written group_stride
 * bytes apart from `groups`; the 8 rows' dw as floats at `dw` and, for
 * the _1 types, their m at `m`. One vpmaddubsw of a group against 4
 * activation bytes broadcast then serves the 8 rows. */
LORC_PACK_AI void lorc_q45_pack_block8(int kind, const uint8_t *const wb[8], int nr, uint8_t *groups,
                                      size_t group_stride, uint8_t *dw, uint8_t *m) {
    __m256i rows[8], out[8];
    for (int p = 0; p < 4; p++) {
        __m256i lo, hi;
        lorc_q45_unpack_pair(kind, wb[p], wb[p + 4], &lo, &hi);
        const __m256i zero = _mm256_setzero_si256();
        rows[p] = p < nr ? _mm256_permute2x128_si256(lo, hi, 0x20) : zero;
        rows[p + 4] = p + 4 < nr ? _mm256_permute2x128_si256(lo, hi, 0x31) : zero;
    }
    lorc_rl_transpose8x8(rows, out);
    for (int g = 0; g < 8; g++) _mm256_storeu_si256((__m256i *)(void *)(groups + group_stride * (size_t)g), out[g]);
    const __m256 live = _mm256_castsi256_ps(lorc_rl_live(nr));
    _mm256_storeu_ps((float *)(void *)dw, _mm256_and_ps(lorc_rl_gather_f16x8(wb, 0), live));
    if (lorc_q45_has_min(kind)) _mm256_storeu_ps((float *)(void *)m, _mm256_and_ps(lorc_rl_gather_f16x8(wb, 2), live));
}

/* One Q8_0 block of 8 rows (wb[r]; rows r >= nr become zeros) in the
 * packed layout: 16 groups of 32 bytes, group g = the int16 weights 2g,
 * 2g + 1 of row 0, then of row 1, ... row 7, written group_stride bytes
 * apart from `groups`; the 8 rows' dw as floats at `dw`. One vpmaddwd of
 * a group against a broadcast pair of int16 activations serves the 8
 * rows. */
LORC_PACK_AI void lorc_q8_0_pack_block8(const uint8_t *const wb[8], int nr, uint8_t *groups, size_t group_stride,
                                       uint8_t *dw) {
    __m256i lo[8], hi[8], out[8];
    for (int r = 0; r < 8; r++) {
        const __m256i zero = _mm256_setzero_si256();
        lo[r] = r < nr ? _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 2))) : zero;
        hi[r] = r < nr ? _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 18))) : zero;
    }
    lorc_rl_transpose8x8(lo, out);
    for (int g = 0; g < 8; g++) _mm256_storeu_si256((__m256i *)(void *)(groups + group_stride * (size_t)g), out[g]);
    lorc_rl_transpose8x8(hi, out);
    for (int g = 0; g < 8; g++)
        _mm256_storeu_si256((__m256i *)(void *)(groups + group_stride * (size_t)(8 + g)), out[g]);
    _mm256_storeu_ps((float *)(void *)dw, _mm256_and_ps(lorc_rl_gather_f16x8(wb, 0), _mm256_castsi256_ps(lorc_rl_live(nr))));
}

#endif
#endif
