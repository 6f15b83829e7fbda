/* avx2_q4k_pack.h — private to src/tensor/simd: Q4_K's scale unpacking and
 * its packed-tile layout of 8 rows, shared by the AVX2 tiles (avx2_q45k.c)
 * and the AVX-512 ones, which pack 16 rows as two such halves
 * (avx512_q4k.c). Only included from files built with at least -mavx2
 * -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_Q4K_PACK_H
#define LORC_TENSOR_SIMD_AVX2_Q4K_PACK_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "../quant_impl.h"
#include "avx2_row_lanes.h"

/* The 12-byte scale field as 8 scale bytes and 8 min bytes (sub-block j in
 * byte j); same unpacking as lorc_kq_unpack_scales_mins, four bytes at once. */
static inline void lorc_q45k_scales_mins(const uint8_t p[12], uint64_t *sc, uint64_t *m) {
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t sc_lo = a & 0x3f3f3f3fu, m_lo = b & 0x3f3f3f3fu;
    const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    *sc = sc_lo | ((uint64_t)sc_hi << 32);
    *m = m_lo | ((uint64_t)m_hi << 32);
}

/* wq[j] holds sub-block j's 32 quants, in the order of the values. */
static inline void lorc_q4k_unpack_low(const uint8_t *qs, __m256i wq[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; k++) {
        const __m256i q = lorc_kq_load(qs + 32 * k);
        wq[2 * k] = _mm256_and_si256(q, low4);
        wq[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    }
}

/* One super-block of 8 rows (wb[r]: row r's block; rows r >= nr become
 * zeros) in the packed layout: per sub-block j, 8 groups (group g: quants
 * 4g..4g+3 of rows 0..7, 32 bytes) at groups + (8 j + g) group_stride;
 * the rows' scales and mins as int16 pairs [v, v] per 32-bit lane (so that
 * vpmaddwd multiplies and adds a pair) at sc + j sc_stride and m + j
 * sc_stride; d and dmin as 8 floats. */
static inline __attribute__((always_inline)) void lorc_q4k_pack_block8(const uint8_t *const wb[8], int nr, uint8_t *groups,
                                                                      size_t group_stride, uint8_t *sc, uint8_t *m,
                                                                      size_t sc_stride, uint8_t *d, uint8_t *dmin) {
    __m256i wq[8][8];               /* [row][sub-block] */
    uint16_t sc16[8][8], m16[8][8]; /* [sub-block][row] */
    for (int r = 0; r < 8; r++) {
        const lorc_block_q4_K *b = (const lorc_block_q4_K *)(const void *)wb[r];
        uint64_t s, mn;
        lorc_q45k_scales_mins(b->scales, &s, &mn);
        lorc_q4k_unpack_low(b->qs, wq[r]);
        for (int j = 0; j < 8; j++) {
            const int keep = r < nr;
            sc16[j][r] = keep ? (uint16_t)((s >> (8 * j)) & 0xff) : 0;
            m16[j][r] = keep ? (uint16_t)((mn >> (8 * j)) & 0xff) : 0;
            if (!keep) wq[r][j] = _mm256_setzero_si256();
        }
    }
    for (int j = 0; j < 8; j++) {
        __m256i rows[8], out[8];
        for (int r = 0; r < 8; r++) rows[r] = wq[r][j];
        lorc_rl_transpose8x8(rows, out);
        for (int g = 0; g < 8; g++)
            _mm256_storeu_si256((__m256i *)(void *)(groups + (size_t)(8 * j + g) * group_stride), out[g]);
        uint32_t scp[8], mp[8];
        for (int r = 0; r < 8; r++) {
            scp[r] = (uint32_t)sc16[j][r] * 0x10001u;
            mp[r] = (uint32_t)m16[j][r] * 0x10001u;
        }
        memcpy(sc + sc_stride * (size_t)j, scp, sizeof scp);
        memcpy(m + sc_stride * (size_t)j, mp, sizeof mp);
    }
    const __m256 live = _mm256_castsi256_ps(lorc_rl_live(nr));
    _mm256_storeu_ps((float *)(void *)d, _mm256_and_ps(lorc_rl_gather_f16x8(wb, offsetof(lorc_block_q4_K, d)), live));
    _mm256_storeu_ps((float *)(void *)dmin,
                     _mm256_and_ps(lorc_rl_gather_f16x8(wb, offsetof(lorc_block_q4_K, dmin)), live));
}

#endif
#endif
