/* avx2_q4k_heads.h — private to src/tensor/simd: the per-super-block work
 * of Q4_K tiles that keep 8 weight rows in the 8 lanes of a vector: the
 * rows' heads (d, dmin, scales and mins), the min sums against q8_K256
 * activations and the float step. The AVX2 tiles (avx2_q45k.c) and the
 * AVX-512 streaming tile (avx512_q4k.c) share them, so that a pair gets
 * the same bits from every Q4_K tile. Only included from files built with
 * at least -mavx2 -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_Q4K_HEADS_H
#define LORC_TENSOR_SIMD_AVX2_Q4K_HEADS_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#include "avx2_kq_common.h"

/* The float steps of one super-block for 8 pairs; both tiles use it. */
static inline __m256 lorc_q4k_step(__m256i S, __m256i M, __m256 d, __m256 dmin, const lorc_act_q8_K256 *a, __m256 acc) {
    const __m256 da = _mm256_set1_ps(lorc_kq_rd_f32(a->d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), _mm256_mul_ps(d, da), acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(M), _mm256_mul_ps(dmin, da), acc);
}

/* The heads of one super-block of 8 rows (d, dmin and the 12 scale bytes:
 * the block's first 16 bytes), with the rows in the lanes: one 16-byte load
 * per row and an in-lane 4 x 4 transpose, instead of unpacking each row's
 * scales in general registers (that was a third of the tile's
 * instructions). sc[r]: row r's 8 scales, byte j for sub-block j; mins:
 * lane r of min_lo / min_hi holds row r's mins 0-3 / 4-7, a byte each. */
typedef struct lorc_q4k_heads {
    __m256 d, dmin;
    __m256i min_lo, min_hi;
    uint64_t sc[8];
} lorc_q4k_heads;

static inline void lorc_q4k_load_heads(const uint8_t *const wb[8], lorc_q4k_heads *h) {
    __m256i y[4];
    for (int i = 0; i < 4; i++) /* rows i and i + 4 */
        y[i] = _mm256_setr_m128i(_mm_loadu_si128((const __m128i *)(const void *)wb[i]),
                                 _mm_loadu_si128((const __m128i *)(const void *)wb[i + 4]));
    const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    /* dword k of rows 0-3 | rows 4-7: the block's bytes 4k .. 4k+3 */
    const __m256i head = _mm256_unpacklo_epi64(t0, t2), a = _mm256_unpackhi_epi64(t0, t2);
    const __m256i b = _mm256_unpacklo_epi64(t1, t3), c = _mm256_unpackhi_epi64(t1, t3);
    /* lorc_q45k_scales_mins, 8 rows at once */
    const __m256i m6 = _mm256_set1_epi8(0x3f), m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
    const __m256i sc_lo = _mm256_and_si256(a, m6);
    const __m256i sc_hi = _mm256_or_si256(_mm256_and_si256(c, m4),
                                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(a, 6), m2), 4));
    h->min_lo = _mm256_and_si256(b, m6);
    h->min_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, 4), m4),
                                _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(b, 6), m2), 4));
    /* 64-bit [sc_lo | sc_hi] per row: rows 0, 1 | 4, 5 and rows 2, 3 | 6, 7 */
    const __m256i s01 = _mm256_unpacklo_epi32(sc_lo, sc_hi), s23 = _mm256_unpackhi_epi32(sc_lo, sc_hi);
    _mm_storeu_si128((__m128i *)(void *)&h->sc[0], _mm256_castsi256_si128(s01));
    _mm_storeu_si128((__m128i *)(void *)&h->sc[2], _mm256_castsi256_si128(s23));
    _mm_storeu_si128((__m128i *)(void *)&h->sc[4], _mm256_extracti128_si256(s01, 1));
    _mm_storeu_si128((__m128i *)(void *)&h->sc[6], _mm256_extracti128_si256(s23, 1));
    /* the halves: d of rows 0-3, dmin of rows 0-3 | d, dmin of rows 4-7, then
     * d of all rows in the low 128 bits and dmin in the high */
    const __m256i split = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0, 1, 4, 5, 8, 9, 12,
                                           13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i halves = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(head, split), _MM_SHUFFLE(3, 1, 2, 0));
    h->d = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
    h->dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
}

/* Lane r: row r's sum over sub-blocks j of min_j * (the activations' sum
 * over sub-block j), the same integer the packed tile gets. The rows' mins
 * are paired as int16 (m_2i, m_2i+1) per lane, against the pair of
 * activation sums broadcast. */
static inline __m256i lorc_q4k_min_sums(const lorc_q4k_heads *h, const lorc_act_q8_K256 *a) {
    const __m256i pair_lo = _mm256_setr_epi8(0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1, 12, -1, 13, -1, 0, -1, 1, -1, 4,
                                             -1, 5, -1, 8, -1, 9, -1, 12, -1, 13, -1);
    const __m256i pair_hi = _mm256_add_epi8(pair_lo, _mm256_setr_epi8(2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2,
                                                                      0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0));
    /* per 32 activations (sub-block j): the two per-16 sums added; |.| <= 32 * 127 */
    const __m256i bs = lorc_kq_load(a->bsums);
    const __m256i sub = _mm256_hadd_epi16(bs, bs); /* 128-bit lanes: sub-blocks 0-3 | 4-7, twice */
    int32_t pairs[8];
    _mm256_storeu_si256((__m256i *)(void *)pairs, sub); /* pairs[0..1]: j = 0-3, pairs[4..5]: j = 4-7 */
    __m256i m = _mm256_madd_epi16(_mm256_shuffle_epi8(h->min_lo, pair_lo), _mm256_set1_epi32(pairs[0]));
    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_shuffle_epi8(h->min_lo, pair_hi), _mm256_set1_epi32(pairs[1])));
    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_shuffle_epi8(h->min_hi, pair_lo), _mm256_set1_epi32(pairs[4])));
    return _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_shuffle_epi8(h->min_hi, pair_hi), _mm256_set1_epi32(pairs[5])));
}

#endif
#endif
