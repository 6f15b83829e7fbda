/* avx512_kq_pairs.c — AVX-512 VNNI packed tiles (prompts, batches) for the
 * k-quants whose AVX2 tile is the 4-row x 8-column one: Q2_K, Q3_K
 * (avx2_q23k.c), Q5_K (avx2_q45k.c) and Q6_K (avx2_q6k.c).
 *
 * That AVX2 tile keeps each (row, column) pair's super-block sum in the 8
 * int32 lanes of a YMM register, runs the float step on each lane, and the
 * pair's result is the lanes' horizontal sum at the end. Here one ZMM
 * register holds two pairs side by side — rows 2p and 2p + 1 against the
 * same activation row — and one VNNI instruction does the multiply-adds of
 * both. Each half sums the same products into the same lanes as the AVX2
 * tile (exact integers), and the float step and the horizontal sum run on
 * each half as there: the same bits as the streaming tiles decode uses
 * (the AVX2 ones; for Q6_K with VNNI avx512_kq16.c, which folds to the
 * same lanes).
 *
 * Q5_K, Q6_K (q16_K256 activations): int16 weights q*sc (Q6_K (q-32)*sc)
 * in q16_K256's value order, one vpdpwssd per 16 values of both rows.
 * Q2_K, Q3_K (q8_K256): a lane of the AVX2 sum adds sc * q * a over 4
 * neighbouring values, all in one 16-value sub-block, so the pack can
 * multiply the scale in and one vpdpbusd does the rest. vpdpbusd wants
 * unsigned weight bytes: Q2_K's q * sc is at most 3 * 15. Q3_K's scales
 * are signed, so the pack keeps q * |sc| (at most 7 * 32) and a mask of
 * the lanes whose scale is negative; those lanes go into a second sum
 * (masked vpdpbusd), subtracted at the end.
 *
 * Packed super-block of 4 rows (pair p: rows 2p, 2p + 1; rows past nr are
 * zeros). Each part below holds the pairs one after another, and piece k
 * (32 bytes) of row r sits 64 k + 32 (r % 2) into its pair (piece_at), so
 * one 64-byte load brings piece k of both rows:
 *   weights: 8 pieces of 32 quants (Q2_K, Q3_K) or 16 pieces of 16 int16
 *            (Q5_K, Q6_K: avx2_q5k.h's and avx2_q6k.h's layouts, interleaved);
 *   extras:  Q2_K the 16 mins as int16, Q3_K the 16 scales as int16 (for
 *            the AVX2 tiles' min and offset terms), Q5_K the mins as int32
 *            per lane of the int32 per-16 sums (two pieces);
 *   masks:   Q3_K, the negative lanes of each pair and step (16 bits);
 *   then d (and dmin) of the 4 rows as floats, padded to whole lines. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include <stdlib.h>

#include "../kernels.h"
#include "avx2_q23k.h"
#include "avx2_q5k.h"
#include "avx2_q6k.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum kq_kind { KIND_Q2, KIND_Q3, KIND_Q5, KIND_Q6 };

enum {
    ROWS = LORC_KQ_TILE_ROWS,
    COLS = LORC_KQ_TILE_COLS,
    COLS_AT_ONCE = 4, /* a block's sums, weights and activations fit the 32 registers */
    /* Q2_K, Q3_K */
    B_PAIR = 8 * 64,
    B_EXTRA = 2 * B_PAIR,
    B_MASK = B_EXTRA + 2 * 64,
    B_D = B_MASK + 2 * 8 * 2,
    B_DMIN = B_D + ROWS * 4,
    B_BLOCK = B_DMIN + ROWS * 4,
    /* Q5_K, Q6_K */
    W_PAIR = 16 * 64,
    W_EXTRA = 2 * W_PAIR
};
_Static_assert(B_BLOCK % 64 == 0 && LORC_Q5K_PACKED_BLOCK % 64 == 0, "packed super-blocks fill whole cache lines");
_Static_assert(LORC_Q6K_PACKED_D == W_EXTRA && LORC_Q5K_PACKED_MINS == W_EXTRA && ROWS == 4,
               "the Q5_K and Q6_K packs are avx2_q5k.h's and avx2_q6k.h's");

AI int words(int K) { return K >= KIND_Q5; }
AI size_t pair_bytes(int K) { return words(K) ? W_PAIR : B_PAIR; }
AI size_t d_at(int K) { return K == KIND_Q6 ? LORC_Q6K_PACKED_D : K == KIND_Q5 ? LORC_Q5K_PACKED_D : B_D; }
AI size_t dmin_at(int K) { return K == KIND_Q5 ? LORC_Q5K_PACKED_DMIN : B_DMIN; }
AI size_t block_bytes(int K) {
    return K == KIND_Q6 ? LORC_Q6K_PACKED_BLOCK : K == KIND_Q5 ? LORC_Q5K_PACKED_BLOCK : B_BLOCK;
}

/* Where row r's piece k of a part goes (see the layout above). */
static size_t piece_at(size_t part, size_t pair, int r, int k) {
    return part + (size_t)(r / 2) * pair + 64 * (size_t)k + 32 * (size_t)(r % 2);
}

static void store_piece(uint8_t *p, __m256i v) { _mm256_storeu_si256((__m256i *)(void *)p, v); }

/* ------------------------------------------------------------ packing */

/* q * m for the 16 quants in q; each product fits a byte. */
static __m128i times_scale(__m128i q, int m) {
    const __m256i p = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(q), _mm256_set1_epi16((short)m));
    return _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

/* Step t of a row: its 32 quants (sub-blocks 2t, 2t + 1) times those
 * sub-blocks' multipliers. */
static __m256i scaled_step(__m256i q, int m_lo, int m_hi) {
    return _mm256_setr_m128i(times_scale(_mm256_castsi256_si128(q), m_lo),
                             times_scale(_mm256_extracti128_si256(q, 1), m_hi));
}

static void put_floats(uint8_t *p, const float v[ROWS]) { memcpy(p, v, ROWS * sizeof(float)); }

static size_t q23_pack_bytes(int64_t n) { return (size_t)(n / LORC_QK_K) * B_BLOCK; }

static void q2k_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += B_BLOCK) {
        memset(out, 0, B_BLOCK);
        float d[ROWS] = {0}, dmin[ROWS] = {0};
        for (int r = 0; r < nr; r++) {
            const lorc_block_q2_K *b = (const lorc_block_q2_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride) + i;
            __m256i wq[8];
            lorc_q2_unpack(b->qs, wq);
            int16_t mins[16];
            for (int j = 0; j < 16; j++) mins[j] = (int16_t)(b->scales[j] >> 4);
            for (int t = 0; t < 8; t++)
                store_piece(out + piece_at(0, B_PAIR, r, t), scaled_step(wq[t], b->scales[2 * t] & 15, b->scales[2 * t + 1] & 15));
            memcpy(out + piece_at(B_EXTRA, 64, r, 0), mins, sizeof mins);
            d[r] = lorc_kq_half(b->d);
            dmin[r] = lorc_kq_half(b->dmin);
        }
        put_floats(out + B_D, d);
        put_floats(out + B_DMIN, dmin);
    }
}

static void q3k_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += B_BLOCK) {
        memset(out, 0, B_BLOCK);
        float d[ROWS] = {0};
        uint16_t neg[2][8] = {{0}}; /* [pair][step]: bit 8 (r % 2) + lane */
        for (int r = 0; r < nr; r++) {
            const lorc_block_q3_K *b = (const lorc_block_q3_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride) + i;
            int8_t sc[16];
            _mm_storeu_si128((__m128i *)(void *)sc, _mm_sub_epi8(lorc_q3_scales_biased(b->scales), _mm_set1_epi8(32)));
            __m256i wq[8];
            lorc_q3_unpack(b, wq);
            int16_t sc16[16];
            for (int j = 0; j < 16; j++) sc16[j] = sc[j];
            for (int t = 0; t < 8; t++) {
                store_piece(out + piece_at(0, B_PAIR, r, t), scaled_step(wq[t], abs(sc[2 * t]), abs(sc[2 * t + 1])));
                /* lanes 0-3 of a row's half are sub-block 2t, lanes 4-7 sub-block 2t + 1 */
                for (int s = 0; s < 2; s++)
                    if (sc[2 * t + s] < 0) neg[r / 2][t] |= (uint16_t)(0xfu << (8 * (r % 2) + 4 * s));
            }
            memcpy(out + piece_at(B_EXTRA, 64, r, 0), sc16, sizeof sc16);
            d[r] = lorc_kq_half(b->d);
        }
        memcpy(out + B_MASK, neg, sizeof neg);
        put_floats(out + B_D, d);
    }
}

static void q5k_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t pairs_interleaved[ROWS] = {0, 32, W_PAIR, W_PAIR + 32};
    static const size_t mins_pairs[ROWS] = {W_EXTRA, W_EXTRA + 32, W_EXTRA + 128, W_EXTRA + 160};
    lorc_q5k_pack_rows(n, w, w_stride, nr, dst, pairs_interleaved, 64, mins_pairs, 64);
}

static void q6k_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t pairs_interleaved[ROWS] = {0, 32, W_PAIR, W_PAIR + 32};
    q6_pack_rows(n, w, w_stride, nr, dst, pairs_interleaved, 64);
}

/* ------------------------------------------------------------ the tile */

/* lo in the low 8 lanes, hi in the high 8. */
AI __m512 halves_ps(float lo, float hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(lo)),
                                               _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

/* The same 32 bytes in both halves: what both rows of a pair meet. */
AI __m512i both_halves(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* Low (h = 0) or high (h = 1) 8 lanes of v. */
AI __m256 half8(__m512 v, int h) {
    return h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)) : _mm512_castps512_ps256(v);
}

/* NP row pairs against columns c0..c0+CC-1 of one super-block (pb: packed
 * weights; ab[c]: column c's activation block, scale da[c]), into the
 * pairs' float accumulators acc[p][c]. */
AI void pair_block(int K, int NP, int CC, const uint8_t *pb, int c0, const uint8_t *const ab[COLS],
                   const float da[COLS], __m512 acc[2][COLS]) {
    const size_t qs_at = words(K) ? offsetof(lorc_act_q16_K256, qs) : offsetof(lorc_act_q8_K256, qs);
    __m512i s[2][COLS_AT_ONCE], neg[2][COLS_AT_ONCE];
    LORC_UNROLL
    for (int p = 0; p < NP; p++)
        LORC_UNROLL
        for (int c = 0; c < CC; c++) s[p][c] = neg[p][c] = _mm512_setzero_si512();
    const int steps = words(K) ? 16 : 8;
    for (int k = 0; k < steps; k++) {
        __m512i wv[2], xv[COLS_AT_ONCE];
        __mmask16 kneg[2] = {0, 0};
        LORC_UNROLL
        for (int p = 0; p < NP; p++) {
            wv[p] = _mm512_loadu_si512((const void *)(pb + (size_t)p * pair_bytes(K) + 64 * (size_t)k));
            if (K == KIND_Q3) kneg[p] = (__mmask16)lorc_rd_u16(pb + B_MASK + 16 * p + 2 * k);
        }
        LORC_UNROLL
        for (int c = 0; c < CC; c++) xv[c] = both_halves(ab[c0 + c] + qs_at + 32 * (size_t)k);
        LORC_UNROLL
        for (int p = 0; p < NP; p++)
            LORC_UNROLL
            for (int c = 0; c < CC; c++) {
                if (K == KIND_Q2) s[p][c] = _mm512_dpbusd_epi32(s[p][c], wv[p], xv[c]);
                if (K == KIND_Q3) {
                    s[p][c] = _mm512_mask_dpbusd_epi32(s[p][c], (__mmask16)~kneg[p], wv[p], xv[c]);
                    neg[p][c] = _mm512_mask_dpbusd_epi32(neg[p][c], kneg[p], wv[p], xv[c]);
                }
                if (words(K)) s[p][c] = _mm512_dpwssd_epi32(s[p][c], wv[p], xv[c]);
            }
    }
    float d[ROWS], dmin[ROWS] = {0};
    memcpy(d, pb + d_at(K), sizeof d);
    if (K == KIND_Q2 || K == KIND_Q5) memcpy(dmin, pb + dmin_at(K), sizeof dmin);
    LORC_UNROLL
    for (int c = 0; c < CC; c++) {
        const uint8_t *a = ab[c0 + c];
        LORC_UNROLL
        for (int p = 0; p < NP; p++) {
            /* the AVX2 tiles' float steps, on each half */
            const float dc = da[c0 + c];
            const __m512 scale = halves_ps(d[2 * p] * dc, d[2 * p + 1] * dc);
            __m512 r = acc[p][c0 + c];
            if (K == KIND_Q2 || K == KIND_Q3) {
                const __m512i bsums = both_halves(a + offsetof(lorc_act_q8_K256, bsums));
                const __m512i e = _mm512_loadu_si512((const void *)(pb + B_EXTRA + 64 * (size_t)p));
                const __m512i m = _mm512_madd_epi16(bsums, e);
                if (K == KIND_Q2) {
                    r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[p][c]), scale, r);
                    r = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), halves_ps(dmin[2 * p] * dc, dmin[2 * p + 1] * dc), r);
                } else {
                    const __m512i v = _mm512_sub_epi32(_mm512_sub_epi32(s[p][c], neg[p][c]), _mm512_slli_epi32(m, 2));
                    r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), scale, r);
                }
            } else {
                r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[p][c]), scale, r);
                if (K == KIND_Q5) {
                    const uint8_t *sums = a + offsetof(lorc_act_q16_K256, sums);
                    const uint8_t *e = pb + LORC_Q5K_PACKED_MINS + 128 * (size_t)p;
                    const __m512i m = _mm512_add_epi32(
                        _mm512_mullo_epi32(both_halves(sums), _mm512_loadu_si512((const void *)e)),
                        _mm512_mullo_epi32(both_halves(sums + 32), _mm512_loadu_si512((const void *)(e + 64))));
                    r = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m), halves_ps(dmin[2 * p] * dc, dmin[2 * p + 1] * dc), r);
                }
            }
            acc[p][c0 + c] = r;
        }
    }
}

AI void pair_tile(int K, int NP, int64_t n, const uint8_t *w, int nr, const void *x, size_t x_stride, int nc, float *y,
                  size_t y_stride) {
    const size_t act_bytes = words(K) ? sizeof(lorc_act_q16_K256) : sizeof(lorc_act_q8_K256);
    __m512 acc[2][COLS];
    for (int p = 0; p < NP; p++)
        for (int c = 0; c < nc; c++) acc[p][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = w + (size_t)i * block_bytes(K);
        const uint8_t *ab[COLS];
        float da[COLS];
        for (int c = 0; c < nc; c++) {
            ab[c] = (const uint8_t *)x + (size_t)c * x_stride + (size_t)i * act_bytes;
            da[c] = lorc_kq_rd_f32(ab[c]); /* d comes first in both formats */
        }
        for (int c0 = 0; c0 < nc; c0 += COLS_AT_ONCE) {
            switch (nc - c0 < COLS_AT_ONCE ? nc - c0 : COLS_AT_ONCE) {
            case 1: pair_block(K, NP, 1, pb, c0, ab, da, acc); break;
            case 2: pair_block(K, NP, 2, pb, c0, ab, da, acc); break;
            case 3: pair_block(K, NP, 3, pb, c0, ab, da, acc); break;
            default: pair_block(K, NP, 4, pb, c0, ab, da, acc); break;
            }
        }
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(half8(acc[r / 2][c], r % 2));
}

/* One entry per type: one pair for up to 2 rows, two for 3 or 4. */
#define PAIR_TILE(NAME, K)                                                                                            \
    static void NAME##_1(int64_t n, const uint8_t *w, int nr, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        pair_tile(K, 1, n, w, nr, x, xs, nc, y, ys);                                                                  \
    }                                                                                                                 \
    static void NAME##_2(int64_t n, const uint8_t *w, int nr, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        pair_tile(K, 2, n, w, nr, x, xs, nc, y, ys);                                                                  \
    }                                                                                                                 \
    static void NAME(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,       \
                     float *y, size_t y_stride) {                                                                     \
        (void)w_stride;                                                                                               \
        (nr <= 2 ? NAME##_1 : NAME##_2)(n, w, nr, x, x_stride, nc, y, y_stride);                                      \
    }

PAIR_TILE(q2k_tile_pairs, KIND_Q2)
PAIR_TILE(q3k_tile_pairs, KIND_Q3)
PAIR_TILE(q5k_tile_pairs, KIND_Q5)
PAIR_TILE(q6k_tile_pairs, KIND_Q6)

static void set_packed(lorc_type_kernel *e, lorc_pack_fn pack, size_t (*pack_bytes)(int64_t), lorc_tile_fn tile) {
    e->pack = pack;
    e->pack_bytes = pack_bytes;
    e->tile_packed = tile;
}

void lorc_kernels_fill_avx512_kq_pairs(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* without VNNI the AVX2 tiles stay */
    set_packed(&k->type[LORC_TYPE_Q2_K], q2k_pack, q23_pack_bytes, q2k_tile_pairs);
    set_packed(&k->type[LORC_TYPE_Q3_K], q3k_pack, q23_pack_bytes, q3k_tile_pairs);
    set_packed(&k->type[LORC_TYPE_Q5_K], q5k_pack, lorc_avx2_pack_bytes_q5_K, q5k_tile_pairs);
    set_packed(&k->type[LORC_TYPE_Q6_K], q6k_pack, lorc_avx2_pack_bytes_q6_K, q6k_tile_pairs);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_kq_pairs(lorc_kernels *k) { (void)k; }
#endif
