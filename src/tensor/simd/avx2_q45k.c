/* avx2_q45k.c — AVX2 tiles for Q4_K and Q5_K (8 sub-blocks of 32 with a
 * 6-bit scale and min each).
 *
 * Q4_K, against q8_K256 activations, with 8 weight rows in the lanes of one
 * vector per activation row (avx2_row_lanes.h). Per super-block and pair:
 *   S = sum_j sc_j * sum(q * qx over sub-block j),  M = sum_j m_j * sum(qx
 *   over sub-block j), both exact int32 (|S| <= 8*63*32*15*127 < 2^31);
 *   acc = fma(float(S), d*da, acc);  acc = fnmadd(float(M), dmin*da, acc)
 * and the result is acc. The streaming tile (decode) reads the 8 rows'
 * scales, mins, d and dmin with the rows in lanes, gets S of each row with
 * vpmaddubsw/vpmaddwd along the row and folds the 8 rows' lanes into one
 * vector, and gets M of the 8 rows in lanes directly. The packed tile
 * (prompts) multiplies groups of 4 quants of 8 rows against 4 broadcast
 * activation bytes, adds a sub-block's int16 products up before one
 * vpmaddwd with the 8 rows' scales. Both give the same S, M and float
 * steps: the same bits.
 * Q5_K, against q16_K256 activations (8-bit ones would cost too much of
 * its accuracy, kq_act.h): the quants are widened to int16 in lane and
 * multiplied by their scale once per tile row, then one vpmaddwd per 16
 * values and column, as for Q6_K (avx2_q6k.c); the mins meet the int32
 * per-16 sums with vpmulld.
 * Both end with acc += d*da*sum - dmin*da*minsum in float. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include "avx2_q5k.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

/* ------------------------------------------------------ Q4_K, row lanes */

enum { Q4K_ROWS = LORC_ROW_LANES, Q4K_COLS = LORC_TILE_COLS_6 };

/* The float steps of one super-block for 8 pairs; both tiles use it. */
AI __m256 q4k_step(__m256i S, __m256i M, __m256 d, __m256 dmin, const lorc_act_q8_K256 *a, __m256 acc) {
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
typedef struct q4k_heads {
    __m256 d, dmin;
    __m256i min_lo, min_hi;
    uint64_t sc[8];
} q4k_heads;

AI void q4k_load_heads(const uint8_t *const wb[8], q4k_heads *h) {
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
AI __m256i q4k_min_sums(const q4k_heads *h, const lorc_act_q8_K256 *a) {
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

/* One row's super-block (its quants qs and scales sc) against NC activation
 * rows: S with the row's partial sums spread over the lanes. In value
 * order, 64 values (two sub-blocks) at a time: unpacking all 8 sub-blocks
 * and their scales first held more than 16 registers, and GCC spilled the
 * scales to memory and read them back in every row. The scale pattern is
 * stepped in a register rather than taken from 8 constants: in
 * kernel_tile_bench that was 2% faster with one column and 6% with six. */
AI void q4k_row_sums(int NC, const uint8_t *qs, uint64_t sc, const lorc_act_q8_K256 *const a[Q4K_COLS], __m256i S[]) {
    const __m256i scb = _mm256_set1_epi64x((long long)sc), low4 = _mm256_set1_epi8(0x0f);
    __m256i pick = _mm256_set1_epi16((short)0x8000), one = _mm256_set1_epi16(1);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) S[c] = _mm256_setzero_si256();
    LORC_UNROLL
    for (int k = 0; k < 4; k++) {
        const __m256i q = lorc_kq_load(qs + 32 * k);
        const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        const __m256i sc_lo = _mm256_shuffle_epi8(scb, pick);
        pick = _mm256_add_epi16(pick, one);
        const __m256i sc_hi = _mm256_shuffle_epi8(scb, pick);
        pick = _mm256_add_epi16(pick, one);
        __asm__("" : "+x"(pick)); /* GCC would fold the steps back into 8 constants */
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            S[c] = _mm256_add_epi32(
                S[c], _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, lorc_kq_load(a[c]->qs + 64 * k)), sc_lo),
                                       _mm256_madd_epi16(_mm256_maddubs_epi16(hi, lorc_kq_load(a[c]->qs + 64 * k + 32)),
                                                         sc_hi)));
    }
}

AI void q4k_tile(int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, float *y,
                 size_t y_stride) {
    const size_t bb = sizeof(lorc_block_q4_K);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    __m256 acc[Q4K_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const lorc_act_q8_K256 *a[Q4K_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            a[c] = (const lorc_act_q8_K256 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride + (size_t)i * sizeof(lorc_act_q8_K256));
        const uint8_t *wb[8];
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)i * bb;
        lorc_rl_prefetch_next(wr[0], w_stride, i, bb, LORC_PREFETCH_L2);
        q4k_heads h;
        q4k_load_heads(wb, &h);
        __m256i S[Q4K_COLS][8];
        for (int r = 0; r < 8; r++) {
            __m256i s[Q4K_COLS];
            q4k_row_sums(NC, ((const lorc_block_q4_K *)(const void *)wb[r])->qs, h.sc[r], a, s);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) S[c][r] = s[c];
        }
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = q4k_step(lorc_rl_reduce8(S[c]), q4k_min_sums(&h, a[c]), h.d, h.dmin, a[c], acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* Packed super-block of 8 rows: per sub-block j, 8 groups of 32 bytes
 * (group g: quants 4g..4g+3 of rows 0..7), then per sub-block the rows'
 * scales and mins as int16 pairs [v, v] per 32-bit lane (so vpmaddwd with
 * them multiplies and adds the pair), then d and dmin as 8 floats. Rows past
 * nr are zeros. */
enum {
    Q4K_PACKED_SC = 8 * 8 * 32,
    Q4K_PACKED_MIN = Q4K_PACKED_SC + 8 * 32,
    Q4K_PACKED_D = Q4K_PACKED_MIN + 8 * 32,
    Q4K_PACKED_DMIN = Q4K_PACKED_D + 32,
    Q4K_PACKED_BLOCK = Q4K_PACKED_DMIN + 32
};

static size_t q4k_pack_bytes(int64_t n) { return (size_t)(n / LORC_QK_K) * Q4K_PACKED_BLOCK; }

static void q4k_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t bb = sizeof(lorc_block_q4_K);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += Q4K_PACKED_BLOCK) {
        const uint8_t *wb[8];
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)i * bb;
        lorc_q4k_pack_block8(wb, nr, out, 32, out + Q4K_PACKED_SC, out + Q4K_PACKED_MIN, 32, out + Q4K_PACKED_D,
                             out + Q4K_PACKED_DMIN);
    }
}

AI void q4k_tile_packed(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                        size_t y_stride) {
    __m256 acc[Q4K_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)i * Q4K_PACKED_BLOCK;
        const lorc_act_q8_K256 *a[Q4K_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            a[c] = (const lorc_act_q8_K256 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride + (size_t)i * sizeof(lorc_act_q8_K256));
        __m256i S[Q4K_COLS], M[Q4K_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) S[c] = M[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            /* int16 lanes: 2 products per group, 8 groups: 8*2*15*127 < 32768 */
            __m256i s16[Q4K_COLS];
            LORC_UNROLL
            for (int c = 0; c < NC; c++) s16[c] = _mm256_setzero_si256();
            LORC_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m256i wg = lorc_kq_load(pb + (size_t)(8 * j + g) * 32);
                LORC_UNROLL
                for (int c = 0; c < NC; c++) {
                    int32_t xg;
                    memcpy(&xg, a[c]->qs + 32 * j + 4 * g, sizeof xg);
                    s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(wg, _mm256_set1_epi32(xg)));
                    __asm__("" : "+x"(s16[c])); /* keeps the running sum (see avx2_q45.c) */
                }
            }
            const __m256i scj = lorc_kq_load(pb + Q4K_PACKED_SC + 32 * j);
            const __m256i mj = lorc_kq_load(pb + Q4K_PACKED_MIN + 32 * j);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                S[c] = _mm256_add_epi32(S[c], _mm256_madd_epi16(s16[c], scj));
                /* the sub-block's two per-16 activation sums, as an int16 pair */
                int32_t bs;
                memcpy(&bs, a[c]->bsums + 4 * j, sizeof bs);
                M[c] = _mm256_add_epi32(M[c], _mm256_madd_epi16(mj, _mm256_set1_epi32(bs)));
            }
        }
        const __m256 d = _mm256_loadu_ps((const float *)(const void *)(pb + Q4K_PACKED_D));
        const __m256 dmin = _mm256_loadu_ps((const float *)(const void *)(pb + Q4K_PACKED_DMIN));
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = q4k_step(S[c], M[c], d, dmin, a[c], acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

#define Q4K_STREAMING(UNUSED, NC) q4k_tile(NC, n, w, w_stride, nr, x, x_stride, y, y_stride)
#define Q4K_PACKED(UNUSED, NC) q4k_tile_packed(NC, n, w, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(q4k_tile_any, Q4K_STREAMING, 0)
LORC_TILE_UP_TO_6_COLS(q4k_packed_any, Q4K_PACKED, 0)

lorc_type_kernel lorc_avx2_q4_K_entry(void) {
    return (lorc_type_kernel){.act = &lorc_avx2_act_fmt_q8_K256, .tile = q4k_tile_any, .tile_rows = Q4K_ROWS,
                              .tile_cols = Q4K_COLS, .pack = q4k_pack, .pack_bytes = q4k_pack_bytes,
                              .tile_packed = q4k_packed_any};
}

static inline void q5_K_block(const lorc_block_q5_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    __m256i scv[8];
    const __m256i mins = lorc_q45k_unpack_scales(b->scales, scv);
    __m256i mins_lo, mins_hi;
    lorc_q5k_mins_i32(mins, &mins_lo, &mins_hi);
    const __m256i qh = lorc_kq_load(b->qh);
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        __m256i w[8];
        lorc_q5k_unpack_half(b, qh, scv, h, w);
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

LORC_KQ_TILE(lorc_avx2_tile_q5_K, lorc_block_q5_K, lorc_act_q16_K256, q5_K_block)

#else
typedef int lorc_avx2_q45k_unused; /* ISO C wants a declaration in every file */
#endif
