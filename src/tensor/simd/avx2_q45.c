/* avx2_q45.c — AVX2 tiles for the 32-value block types with 4- and 5-bit
 * quants: Q4_0, Q4_1, Q5_0, Q5_1.
 *
 * Weights are unsigned bytes q (0..15 / 0..31), activations int8 blocks
 * (avx2_q8s: qx, scale dx, sum(qx) and dx * sum(qx)), and vpmaddubsw +
 * vpmaddwd give each block's integer dot exactly. One pair (weight row,
 * activation row) always runs this float sequence, block by block:
 *
 *   _0 types: i = sum(q * qx) - off * sum(qx)     (exact; off = 8 or 16)
 *             acc = fma(float(i), dw * dx, acc)
 *   _1 types: acc = fma(float(sum(q * qx)), dw * dx, acc)
 *             acc = fma(m, dx * sum(qx), acc)
 *
 * and its result is acc. Both tiles keep 8 weight rows in the 8 lanes of
 * one float vector per activation row, so the float work (conversion,
 * scale, FMA) is one instruction per block for 8 pairs, and the order of
 * the integer work does not matter (integer sums are exact): a pair's
 * bits do not depend on the tile, its shape or its place (batch
 * invariance).
 *
 * - The streaming tile (decode, small batches) reads the file's blocks: two
 *   rows per register (row r in the low half, row r + 4 in the high one),
 *   vpmaddubsw against the activation halves, then three vphaddd fold the
 *   four pair registers into one vector of the 8 rows' block sums.
 * - The packed tile (prompts): a chunk's rows are rewritten once per
 *   product into groups of 4 quants of each of 8 rows (32 bytes), so one
 *   vpmaddubsw against 4 activation bytes broadcast serves 8 rows; the
 *   int16 sums of a block are added up before a single vpmaddwd. This does
 *   about half the vector work per multiply-add of a tile that reduces each
 *   pair's lanes separately. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { Q45_ROWS = LORC_ROW_LANES, Q45_COLS = LORC_TILE_COLS_6 };

/* ------------------------------------------------------ streaming tile */

AI void q45_tile(int kind, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                 size_t x_stride, float *y, size_t y_stride) {
    const size_t bb = lorc_q45_block_bytes(kind);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const lorc_avx2_act_q8s *xr[Q45_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[Q45_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb[8];
        LORC_UNROLL
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)b * bb;
        lorc_rl_prefetch_next(wr[0], w_stride, b, bb, LORC_PREFETCH_L1);
        const __m256 dw = lorc_rl_gather_f16x8(wb, 0);
        const __m256 m = lorc_q45_has_min(kind) ? lorc_rl_gather_f16x8(wb, 2) : _mm256_setzero_ps();
        __m256i lo[4], hi[4];
        LORC_UNROLL
        for (int p = 0; p < 4; p++) lorc_q45_unpack_pair(kind, wb[p], wb[p + 4], &lo[p], &hi[p]);
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            const lorc_avx2_act_q8s *xb = xr[c] + b;
            const __m256i x_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)xb->q));
            const __m256i x_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(xb->q + 16)));
            __m256i s[4];
            LORC_UNROLL
            for (int p = 0; p < 4; p++)
                /* int16 lanes: 4 products each, |.| <= 4 * 31 * 127 */
                s[p] = _mm256_madd_epi16(
                    _mm256_add_epi16(_mm256_maddubs_epi16(lo[p], x_lo), _mm256_maddubs_epi16(hi[p], x_hi)), ones);
            /* s[p] = [row p: 4 partial sums | row p + 4: 4]; after the folds,
             * lane r holds row r's block sum */
            const __m256i isum = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
            acc[c] = lorc_q45_block_step(kind, isum, xb, dw, m, acc[c]);
        }
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* ------------------------------------------------------ packed tile
 *
 * Per 32-value block of the 8 rows: 8 groups of 32 bytes (group g: quants
 * 4g..4g+3 of row 0, then of row 1, ... row 7), dw of the 8 rows as
 * floats, and for the _1 types m as floats. Rows past nr are zeros. */
enum { PACKED_QUANTS = 8 * 32, PACKED_DW = PACKED_QUANTS, PACKED_M = PACKED_DW + 32 };

AI size_t packed_block_bytes(int kind) { return (size_t)PACKED_M + (lorc_q45_has_min(kind) ? 32 : 0); }

AI void q45_pack(int kind, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t bb = lorc_q45_block_bytes(kind), pb = packed_block_bytes(kind);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / 32; b++, out += pb) {
        const uint8_t *wb[8];
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)b * bb;
        lorc_q45_pack_block8(kind, wb, nr, out, 32, out + PACKED_DW, out + PACKED_M);
    }
}

/* The integer dots of one packed block with NC activation blocks, lanes =
 * rows: each weight group is loaded once for the NC activation rows. */
AI void packed_isums(int kind, int NC, const uint8_t *pb, const lorc_avx2_act_q8s *const xb[Q45_COLS], __m256i ones,
                     __m256i isum[Q45_COLS]) {
    /* int16 lanes gather 2 products per group: 8 groups of 4-bit values
     * stay within 8 * 2 * 15 * 127 < 32768, 5-bit ones only 4 groups */
    const int run = lorc_q45_has_high_bit(kind) ? 4 : 8;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) isum[c] = _mm256_setzero_si256();
    LORC_UNROLL
    for (int g0 = 0; g0 < 8; g0 += run) {
        __m256i s16[Q45_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) s16[c] = _mm256_setzero_si256();
        LORC_UNROLL
        for (int g = g0; g < g0 + run; g++) {
            const __m256i wg = _mm256_loadu_si256((const __m256i *)(const void *)(pb + 32 * g));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                int32_t xg;
                memcpy(&xg, xb[c]->q + 4 * g, sizeof xg);
                s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(wg, _mm256_set1_epi32(xg)));
                /* keeps the running sum: left free, GCC reassociates the
                 * adds into a tree of all 32 products and spills them */
                __asm__("" : "+x"(s16[c]));
            }
        }
        LORC_UNROLL
        for (int c = 0; c < NC; c++) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16[c], ones));
    }
}

AI void q45_tile_packed(int kind, int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride,
                        float *y, size_t y_stride) {
    const size_t pbytes = packed_block_bytes(kind);
    const lorc_avx2_act_q8s *xr[Q45_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[Q45_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)b * pbytes;
        const lorc_avx2_act_q8s *xb[Q45_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) xb[c] = xr[c] + b;
        __m256i isum[Q45_COLS];
        packed_isums(kind, NC, pb, xb, ones, isum);
        const __m256 dw = _mm256_loadu_ps((const float *)(const void *)(pb + PACKED_DW));
        const __m256 m = lorc_q45_has_min(kind) ? _mm256_loadu_ps((const float *)(const void *)(pb + PACKED_M)) : _mm256_setzero_ps();
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = lorc_q45_block_step(kind, isum[c], xb[c], dw, m, acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* ------------------------------------------------------ instances */

#define Q45_STREAMING(KIND, NC) q45_tile(KIND, NC, n, w, w_stride, nr, x, x_stride, y, y_stride)
#define Q45_PACKED(KIND, NC) q45_tile_packed(KIND, NC, n, w, nr, x, x_stride, y, y_stride)
#define Q45_INSTANCES(TYPE, KIND)                                                                     \
    LORC_TILE_UP_TO_6_COLS(tile_##TYPE, Q45_STREAMING, KIND)                                          \
    LORC_TILE_UP_TO_6_COLS(packed_##TYPE, Q45_PACKED, KIND)                                           \
    static void pack_##TYPE(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {           \
        q45_pack(KIND, n, w, w_stride, nr, dst);                                                      \
    }                                                                                                 \
    static size_t pack_bytes_##TYPE(int64_t n) { return (size_t)(n / 32) * packed_block_bytes(KIND); }

Q45_INSTANCES(q4_0, LORC_KIND_Q4_0)
Q45_INSTANCES(q4_1, LORC_KIND_Q4_1)
Q45_INSTANCES(q5_0, LORC_KIND_Q5_0)
Q45_INSTANCES(q5_1, LORC_KIND_Q5_1)

void lorc_avx2_tile_q4_0(LORC_TILE_ARGS) { tile_q4_0(LORC_TILE_PASS); }
void lorc_avx2_tile_q4_1(LORC_TILE_ARGS) { tile_q4_1(LORC_TILE_PASS); }
void lorc_avx2_tile_q5_0(LORC_TILE_ARGS) { tile_q5_0(LORC_TILE_PASS); }
void lorc_avx2_tile_q5_1(LORC_TILE_ARGS) { tile_q5_1(LORC_TILE_PASS); }

#define Q45_ENTRY(TYPE)                                                                                          \
    (lorc_type_kernel) {                                                                                         \
        .act = &lorc_avx2_act_q8s_format, .tile = tile_##TYPE, .tile_rows = Q45_ROWS, .tile_cols = Q45_COLS,     \
        .pack = pack_##TYPE, .pack_bytes = pack_bytes_##TYPE, .tile_packed = packed_##TYPE                       \
    }

void lorc_avx2_fill_q45(lorc_kernels *k) {
    k->type[LORC_TYPE_Q4_0] = Q45_ENTRY(q4_0);
    k->type[LORC_TYPE_Q4_1] = Q45_ENTRY(q4_1);
    k->type[LORC_TYPE_Q5_0] = Q45_ENTRY(q5_0);
    k->type[LORC_TYPE_Q5_1] = Q45_ENTRY(q5_1);
}

#else
typedef int lorc_avx2_q45_unused; /* keeps the translation unit non-empty */
#endif
