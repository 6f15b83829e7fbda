/* avx2_q6k.c — AVX2 tile for Q6_K (16 sub-blocks of 16, int8 scales,
 * 6-bit quants q-32) against q16_K256 activations (int16, see kq_act.h:
 * 8-bit activations would add ~20% to Q6_K's error).
 *
 * Each weight is widened to int16 and multiplied by its sub-block scale
 * once per tile row (|(q-32)*sc| <= 4096), so a column costs one vpmaddwd
 * and one add per 16 values; the int32 lanes stay exact (kq_act.h). */
#include "avx2_kq_common.h"

#if defined(__x86_64__)

/* Bits 2g, 2g+1 of each qh byte moved to bits 4, 5 (16-bit shifts; the 0x30
 * mask drops what crosses a byte boundary). */
static inline __m256i q6_high_bits(__m256i qh, int g) {
    const __m256i moved = g <= 2 ? _mm256_slli_epi16(qh, 4 - 2 * g) : _mm256_srli_epi16(qh, 2 * g - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x30));
}

/* Half h (values 128h..128h+127) as 8 registers of 16 int16 weights
 * (q-32)*sc: w[k] holds values 128h+16k..+15, i.e. sub-block 8h+k. */
static inline void q6_unpack_half(const lorc_block_q6_K *b, int h, __m256i w[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi8(32);
    const __m256i l0 = lorc_kq_load(b->ql + 64 * h), l1 = lorc_kq_load(b->ql + 64 * h + 32);
    const __m256i qh = lorc_kq_load(b->qh + 32 * h);
    const int8_t *sc = b->scales + 8 * h;
    for (int g = 0; g < 4; g++) {
        const __m256i src = (g & 1) ? l1 : l0;
        const __m256i nib = g < 2 ? _mm256_and_si256(src, low4) : _mm256_and_si256(_mm256_srli_epi16(src, 4), low4);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, q6_high_bits(qh, g)), bias);
        const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
        const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
        w[2 * g] = _mm256_mullo_epi16(lo, _mm256_set1_epi16(sc[2 * g]));
        w[2 * g + 1] = _mm256_mullo_epi16(hi, _mm256_set1_epi16(sc[2 * g + 1]));
    }
}

static inline void q6_K_block(const lorc_block_q6_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        __m256i w[8];
        q6_unpack_half(b, h, w);
        for (int c = 0; c < nc; c++) {
            const uint8_t *aq = ((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->qs + 256 * h;
            __m256i s = sum[c];
            for (int k = 0; k < 8; k++) s = _mm256_add_epi32(s, _mm256_madd_epi16(w[k], lorc_kq_load(aq + 32 * k)));
            sum[c] = s;
        }
    }
    const float d = lorc_kq_half(b->d);
    for (int c = 0; c < nc; c++) {
        const float da = lorc_kq_rd_f32(((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da), acc[c]);
    }
}

LORC_KQ_TILE(lorc_avx2_tile_q6_K, lorc_block_q6_K, lorc_act_q16_K256, q6_K_block)

#else
typedef int lorc_avx2_q6k_unused; /* ISO C wants a declaration in every file */
#endif
