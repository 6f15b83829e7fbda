/* avx512_q8_0.c — the AVX-512 decode tile for Q8_0 (one activation row;
 * several keep the AVX2 streaming tile, prompts the packed tile of
 * avx512_legacy.c). Needs only AVX-512 F/BW.
 *
 * The AVX2 tile (avx2_legacy.c) multiplies a row's block in two halves
 * of 16 values and folds each row's 8 lanes with horizontal adds, block
 * by block; on Zen 5 it read 32 GB/s on one core in cache, about what a
 * core reads from DRAM, so decode waited on arithmetic as well as memory.
 * Here a row's block is one register: its 32 int8 weights sign-extended
 * to int16 (vpmovsxbw) and one vpmaddwd against the block's 32 int16
 * activations. Two blocks of 8 rows make 16 such vectors of 16 partial
 * sums, and a tree of in-lane unpacks and 128-bit shuffles (4 levels,
 * 3 instructions a node) sums each one to a lane.
 *
 * Bits: the block sums are the same exact integers as the AVX2 tile's
 * (|sum| <= 32 * 128 * 32767 < 2^31, whatever the order of the adds), and
 * each block then takes the same float step (lorc_q8_block_step) in the
 * same order, so a pair gets the same bits as from every other Q8_0 tile. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include <stdbool.h>

#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"

#define AI static inline __attribute__((always_inline))

enum { BLOCK = 34 };
_Static_assert(sizeof(lorc_block_q8_0) == BLOCK, "Q8_0 block");

/* The 16 partial sums of one row's block (quants at wb + 2) times the
 * block's activations x. */
AI __m512i block_dot(const uint8_t *wb, __m512i x) {
    const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 2));
    return _mm512_madd_epi16(_mm512_cvtepi8_epi16(q), x);
}

/* The tree's nodes. Within each 128-bit lane, fold32 gives [a0+a2, b0+b2,
 * a1+a3, b1+b3] and fold64 [a0+a2, a1+a3, b0+b2, b1+b3] of its inputs'
 * int32 lanes; fold128 sums 128-bit lanes: [a0+a1, a2+a3, b0+b1, b2+b3]. */
AI __m512i fold32(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}
AI __m512i fold64(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}
AI __m512i fold128(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The tree leaves block 0 of row r in lane 2r and block 1 in lane 2r + 1;
 * this order puts block 0 of rows 0-7 in the low half. */
static const int32_t block_order[16] = {0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15};

static void q8_tile_decode(int64_t n, const void *w, size_t w_stride, int nr, const lorc_avx2_act_q16 *xa, float *y) {
    const int64_t nb = n / 32;
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const __m512i by_block = _mm512_loadu_si512((const void *)block_order);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const bool pair = b + 1 < nb;
        lorc_rl_prefetch_next(wr[0], w_stride, b, BLOCK, LORC_PREFETCH_L2);
        if (pair) lorc_rl_prefetch_next(wr[0], w_stride, b + 1, BLOCK, LORC_PREFETCH_L2);
        /* without a second block: block b again times zero activations */
        const __m512i x0 = _mm512_loadu_si512((const void *)xa[b].q);
        const __m512i x1 = pair ? _mm512_loadu_si512((const void *)xa[b + 1].q) : _mm512_setzero_si512();
        const uint8_t *wb0[8], *wb1[8];
        __m512i u[8];
        for (int r = 0; r < 8; r++) {
            wb0[r] = wr[r] + (size_t)b * BLOCK;
            wb1[r] = pair ? wb0[r] + BLOCK : wb0[r];
            u[r] = fold32(block_dot(wb0[r], x0), block_dot(wb1[r], x1));
        }
        const __m512i v0 = fold64(u[0], u[1]), v1 = fold64(u[2], u[3]);
        const __m512i v2 = fold64(u[4], u[5]), v3 = fold64(u[6], u[7]);
        const __m512i s = _mm512_permutexvar_epi32(by_block, fold128(fold128(v0, v1), fold128(v2, v3)));
        acc = lorc_q8_block_step(_mm512_castsi512_si256(s), lorc_rl_gather_f16x8(wb0, 0), xa + b, acc);
        if (pair)
            acc = lorc_q8_block_step(_mm512_extracti64x4_epi64(s, 1), lorc_rl_gather_f16x8(wb1, 0), xa + b + 1, acc);
    }
    lorc_rl_store(1, &acc, nr, y, 1);
}

static void q8_tile(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                    float *y, size_t y_stride) {
    if (nc == 1)
        q8_tile_decode(n, w, w_stride, nr, x, y);
    else
        lorc_avx2_tile_q8_0(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);
}

void lorc_kernels_fill_avx512_q8_0(lorc_kernels *k) { k->type[LORC_TYPE_Q8_0].tile = q8_tile; }

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q8_0(lorc_kernels *k) { (void)k; }
#endif
