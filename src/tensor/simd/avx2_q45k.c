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
#include "avx2_q4k_heads.h"
#include "avx2_q5k.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

/* ------------------------------------------------------ Q4_K, row lanes */

enum { Q4K_ROWS = LORC_ROW_LANES, Q4K_COLS = LORC_TILE_COLS_6 };

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
        lorc_q4k_heads h;
        lorc_q4k_load_heads(wb, &h);
        __m256i S[Q4K_COLS][8];
        for (int r = 0; r < 8; r++) {
            __m256i s[Q4K_COLS];
            q4k_row_sums(NC, ((const lorc_block_q4_K *)(const void *)wb[r])->qs, h.sc[r], a, s);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) S[c][r] = s[c];
        }
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = lorc_q4k_step(lorc_rl_reduce8(S[c]), lorc_q4k_min_sums(&h, a[c]), h.d, h.dmin, a[c], acc[c]);
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
        for (int c = 0; c < NC; c++) acc[c] = lorc_q4k_step(S[c], M[c], d, dmin, a[c], acc[c]);
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
