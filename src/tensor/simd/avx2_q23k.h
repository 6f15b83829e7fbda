/* avx2_q23k.h — private to src/tensor/simd: the Q2_K and Q3_K unpacking
 * that the AVX2 tiles (avx2_q23k.c) and the AVX-512 pair tiles
 * (avx512_kq_pairs.c) share, so both see the same quants and scales. Only
 * included from files built with at least -mavx2 -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_Q23K_H
#define LORC_TENSOR_SIMD_AVX2_Q23K_H

#include "avx2_kq_common.h"

#if defined(__x86_64__)

/* The 2-bit fields of the 64 qs bytes, in value order. */
static inline void lorc_q2_unpack(const uint8_t *qs, __m256i wq[8]) {
    const __m256i low2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i q = lorc_kq_load(qs + 32 * h);
        wq[4 * h + 0] = _mm256_and_si256(q, low2);
        wq[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), low2);
        wq[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low2);
        wq[4 * h + 3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), low2);
    }
}

/* Q3_K's 16 scales as bytes 0..63 (value + 32); the same unpacking as
 * lorc_q3_K_unpack_scales, four scales per 32-bit operation. */
static inline __m128i lorc_q3_scales_biased(const uint8_t p[12]) {
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    const uint32_t s0 = (a & m4) | ((c & m2) << 4);
    const uint32_t s1 = (b & m4) | (((c >> 2) & m2) << 4);
    const uint32_t s2 = ((a >> 4) & m4) | (((c >> 4) & m2) << 4);
    const uint32_t s3 = ((b >> 4) & m4) | (((c >> 6) & m2) << 4);
    return _mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3);
}

/* hmask bit t of each byte moved to bit 2 (adds 4 to the 2-bit quant). */
static inline __m256i lorc_q3_third_bit(__m256i hm, int t) {
    const __m256i moved = t <= 2 ? _mm256_slli_epi16(hm, 2 - t) : _mm256_srli_epi16(hm, t - 2);
    return _mm256_and_si256(moved, _mm256_set1_epi8(4));
}

/* Q3_K's quants with their third bit, 0..7, in value order (the value is
 * the quant minus 4). */
static inline void lorc_q3_unpack(const lorc_block_q3_K *b, __m256i wq[8]) {
    lorc_q2_unpack(b->qs, wq);
    const __m256i hm = lorc_kq_load(b->hmask);
    for (int t = 0; t < 8; t++) wq[t] = _mm256_or_si256(wq[t], lorc_q3_third_bit(hm, t));
}

#endif
#endif
