/* avx2_q23k.c — AVX2 tiles for Q2_K and Q3_K (16 sub-blocks of 16, 2-bit
 * quants; Q3_K adds a third bit and signed 6-bit scales) against q8_K256
 * activations.
 *
 * Register t holds values 32t..32t+31 (2 bits of qs[32*(t/4) + l] at shift
 * 2*(t%4)): sub-block 2t in its low 128-bit half, 2t+1 in the high half, so
 * vpmaddwd meets them with a register holding the two scales side by side. */
#include "avx2_q23k.h"

#if defined(__x86_64__)

/* Sum over the 8 registers of scale * (wq . a), exact in int32. */
static inline __m256i q23_scaled_sum(const __m256i wq[8], const __m256i scv[8], const int8_t *aq) {
    __m256i sum = _mm256_setzero_si256();
    for (int t = 0; t < 8; t++) {
        const __m256i p = _mm256_maddubs_epi16(wq[t], lorc_kq_load(aq + 32 * t));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scv[t]));
    }
    return sum;
}

/* Q2_K: x = d*(sc&15)*q - dmin*(sc>>4); scales byte j is sub-block j. */
static inline void q2_K_block(const lorc_block_q2_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)b->scales);
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_and_si128(packed, low4));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
    __m256i scv[8], wq[8];
    for (int t = 0; t < 8; t++) scv[t] = lorc_kq_bcast2_u8_as_i16(scb, 2 * t, 2 * t + 1);
    lorc_q2_unpack(b->qs, wq);
    const float d = lorc_kq_half(b->d), dmin = lorc_kq_half(b->dmin);
    for (int c = 0; c < nc; c++) {
        const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(x + (size_t)c * x_stride);
        const __m256i sum = q23_scaled_sum(wq, scv, a->qs);
        const __m256i msum = _mm256_madd_epi16(lorc_kq_load(a->bsums), mins);
        const float da = lorc_kq_rd_f32(a->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * da), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dmin * da), acc[c]);
    }
}

/* Q3_K: x = d*sc*v with v = q - 4 (q = 0..7 here): the dot is computed with
 * the unsigned q and corrected by 4 * sum(sc * per-16 activation sums). */
static inline void q3_K_block(const lorc_block_q3_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    const __m128i sc8 = _mm_sub_epi8(lorc_q3_scales_biased(b->scales), _mm_set1_epi8(32));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m256i scb = _mm256_broadcastsi128_si256(sc8);
    __m256i scv[8], wq[8];
    for (int t = 0; t < 8; t++) scv[t] = lorc_kq_bcast2_i8_as_i16(scb, 2 * t, 2 * t + 1);
    lorc_q3_unpack(b, wq);
    const float d = lorc_kq_half(b->d);
    for (int c = 0; c < nc; c++) {
        const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(x + (size_t)c * x_stride);
        const __m256i sum = q23_scaled_sum(wq, scv, a->qs);
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(lorc_kq_load(a->bsums), sc16), 2);
        const float da = lorc_kq_rd_f32(a->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sum, offset)), _mm256_set1_ps(d * da), acc[c]);
    }
}

LORC_KQ_TILE(lorc_avx2_tile_q2_K, lorc_block_q2_K, lorc_act_q8_K256, q2_K_block)
LORC_KQ_TILE(lorc_avx2_tile_q3_K, lorc_block_q3_K, lorc_act_q8_K256, q3_K_block)

#else
typedef int lorc_avx2_q23k_unused; /* ISO C wants a declaration in every file */
#endif
