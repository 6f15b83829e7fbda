/* avx2_q45k.c — AVX2 tiles for Q4_K and Q5_K (8 sub-blocks of 32 with a
 * 6-bit scale and min each).
 *
 * Q4_K, against q8_K256 activations: per super-block and pair, vpmaddubsw
 * of the unsigned quants with the int8 activations, vpmaddwd with the
 * sub-block's scale, int32 sum (exact: at most 15*127*2*63*2*8 per lane);
 * the mins meet the per-16 activation sums in one vpmaddwd.
 * Q5_K, against q16_K256 activations (8-bit ones would cost too much of
 * its accuracy, kq_act.h): the quants are widened to int16 in lane and
 * multiplied by their scale once per tile row, then one vpmaddwd per 16
 * values and column, as for Q6_K (avx2_q6k.c); the mins meet the int32
 * per-16 sums with vpmulld.
 * Both end with acc += d*da*sum - dmin*da*minsum in float. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)

/* The 12-byte scale field as 8 scale bytes and 8 min bytes (sub-block j in
 * byte j); same unpacking as lorc_kq_unpack_scales_mins, four bytes at once. */
static inline void q45_scales_mins(const uint8_t p[12], uint64_t *sc, uint64_t *m) {
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

/* Scale registers (sub-block j's scale in every 16-bit lane of scv[j]) and
 * the mins as 16 int16, each repeated for the two 16-value halves of its
 * sub-block, to meet the 16 per-16 activation sums. */
static inline __m256i q45_unpack_scales(const uint8_t p[12], __m256i scv[8]) {
    uint64_t sc, m;
    q45_scales_mins(p, &sc, &m);
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_cvtsi64_si128((long long)sc));
    for (int j = 0; j < 8; j++) scv[j] = lorc_kq_bcast_u8_as_i16(scb, j);
    const __m128i mb = _mm_cvtsi64_si128((long long)m);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
}

/* wq[j] holds sub-block j's 32 quants, in the order of the values. */
static inline void q4_unpack_low(const uint8_t *qs, __m256i wq[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; k++) {
        const __m256i q = lorc_kq_load(qs + 32 * k);
        wq[2 * k] = _mm256_and_si256(q, low4);
        wq[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    }
}

/* Bit j of each qh byte moved to bit 4 (16-bit shifts: the 0x10 mask drops
 * what crosses a byte boundary). */
static inline __m256i q5_fifth_bit(__m256i qh, int j) {
    const __m256i moved = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

/* The per-pair part of Q4_K: wq are unsigned quants (< 16) per sub-block. */
static inline void q4_dot_columns(const __m256i wq[8], const __m256i scv[8], __m256i mins, float d, float dmin,
                                  const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    for (int c = 0; c < nc; c++) {
        const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(x + (size_t)c * x_stride);
        __m256i sum = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const __m256i p = _mm256_maddubs_epi16(wq[j], lorc_kq_load(a->qs + 32 * j));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scv[j]));
        }
        const __m256i msum = _mm256_madd_epi16(lorc_kq_load(a->bsums), mins);
        const float da = lorc_kq_rd_f32(a->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * da), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dmin * da), acc[c]);
    }
}

/* The same for a full tile of columns, sub-block by sub-block: each
 * sub-block's quants and scale are unpacked once into 2 registers and the 8
 * columns' integer sums stay in registers, where the column-by-column loop
 * above needs all 16 unpacked registers at once and spills. The integer
 * sums are exact in any order and the float steps are the same, so the
 * result is bit-identical. */
static inline void q4_K_block_full(const lorc_block_q4_K *b, const uint8_t *x, size_t x_stride, __m256 *acc) {
    uint64_t sc, m;
    q45_scales_mins(b->scales, &sc, &m);
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_cvtsi64_si128((long long)sc));
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < LORC_KQ_TILE_COLS; c++) sum[c] = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        const __m256i q = lorc_kq_load(b->qs + 32 * k);
        for (int h = 0; h < 2; h++) {
            const int j = 2 * k + h;
            const __m256i wq = h ? _mm256_and_si256(_mm256_srli_epi16(q, 4), low4) : _mm256_and_si256(q, low4);
            const __m256i scj = lorc_kq_bcast_u8_as_i16(scb, j);
            for (int c = 0; c < LORC_KQ_TILE_COLS; c++) {
                const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(x + (size_t)c * x_stride);
                const __m256i p = _mm256_maddubs_epi16(wq, lorc_kq_load(a->qs + 32 * j));
                sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(p, scj));
            }
        }
    }
    const __m128i mb = _mm_cvtsi64_si128((long long)m);
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
    const float d = lorc_kq_half(b->d), dmin = lorc_kq_half(b->dmin);
    for (int c = 0; c < LORC_KQ_TILE_COLS; c++) {
        const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(x + (size_t)c * x_stride);
        const __m256i msum = _mm256_madd_epi16(lorc_kq_load(a->bsums), mins);
        const float da = lorc_kq_rd_f32(a->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dmin * da), acc[c]);
    }
}

static inline void q4_K_block(const lorc_block_q4_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    if (nc == LORC_KQ_TILE_COLS) {
        q4_K_block_full(b, x, x_stride, acc);
        return;
    }
    __m256i scv[8], wq[8];
    const __m256i mins = q45_unpack_scales(b->scales, scv);
    q4_unpack_low(b->qs, wq);
    q4_dot_columns(wq, scv, mins, lorc_kq_half(b->d), lorc_kq_half(b->dmin), x, x_stride, nc, acc);
}

/* Half h of a Q5_K super-block (sub-blocks 4h..4h+3) as 8 registers of 16
 * int16 weights q*sc, in q16_K256's value order: w[2j] holds values 0-7 |
 * 16-23 of sub-block 4h+j, w[2j+1] values 8-15 | 24-31. */
static inline void q5_unpack_half(const lorc_block_q5_K *b, __m256i qh, const __m256i scv[8], int h, __m256i w[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (int k = 0; k < 2; k++) {
        const int s = 4 * h + 2 * k; /* the low nibbles are sub-block s, the high ones s + 1 */
        const __m256i q = lorc_kq_load(b->qs + 32 * (2 * h + k));
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), q5_fifth_bit(qh, s));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), q5_fifth_bit(qh, s + 1));
        w[4 * k + 0] = _mm256_mullo_epi16(_mm256_unpacklo_epi8(lo, zero), scv[s]);
        w[4 * k + 1] = _mm256_mullo_epi16(_mm256_unpackhi_epi8(lo, zero), scv[s]);
        w[4 * k + 2] = _mm256_mullo_epi16(_mm256_unpacklo_epi8(hi, zero), scv[s + 1]);
        w[4 * k + 3] = _mm256_mullo_epi16(_mm256_unpackhi_epi8(hi, zero), scv[s + 1]);
    }
}

static inline void q5_K_block(const lorc_block_q5_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    __m256i scv[8];
    const __m256i mins = q45_unpack_scales(b->scales, scv);
    /* the mins as int32 for the int32 sums: m0,m0,m1,m1,m2,m2,m3,m3 and m4..m7 */
    const __m256i mins_lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(mins));
    const __m256i mins_hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(mins, 1));
    const __m256i qh = lorc_kq_load(b->qh);
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        __m256i w[8];
        q5_unpack_half(b, qh, scv, h, w);
        for (int c = 0; c < nc; c++) {
            const uint8_t *aq = ((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->qs + 256 * h;
            __m256i s = sum[c];
            for (int k = 0; k < 8; k++) s = _mm256_add_epi32(s, _mm256_madd_epi16(w[k], lorc_kq_load(aq + 32 * k)));
            sum[c] = s;
        }
    }
    const float d = lorc_kq_half(b->d), dmin = lorc_kq_half(b->dmin);
    for (int c = 0; c < nc; c++) {
        const lorc_act_q16_K256 *a = (const lorc_act_q16_K256 *)(x + (size_t)c * x_stride);
        const __m256i msum = _mm256_add_epi32(_mm256_mullo_epi32(lorc_kq_load(a->sums), mins_lo),
                                              _mm256_mullo_epi32(lorc_kq_load(a->sums + 32), mins_hi));
        const float da = lorc_kq_rd_f32(a->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da), acc[c]);
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dmin * da), acc[c]);
    }
}

LORC_KQ_TILE(lorc_avx2_tile_q4_K, lorc_block_q4_K, lorc_act_q8_K256, q4_K_block)
LORC_KQ_TILE(lorc_avx2_tile_q5_K, lorc_block_q5_K, lorc_act_q16_K256, q5_K_block)

#else
typedef int lorc_avx2_q45k_unused; /* ISO C wants a declaration in every file */
#endif
