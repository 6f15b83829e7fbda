/* avx512_kquants.c — AVX-512 VNNI packed tiles (prompts, batches) for Q4_K
 * and Q6_K, the two types of a Q4_K_M file (Q6_K below).
 *
 * As avx512_legacy.c does for the legacy types: 16 weight rows in the 16
 * lanes of a ZMM register, a group of 4 quants of 16 rows against 4
 * broadcast activation bytes in one vpdpbusd. Per super-block and pair it
 * computes the AVX2 tiles' exact integers (avx2_q45k.c)
 *   S = sum_j sc_j * T_j   (T_j: sub-block j's dot, from vpdpbusd; the
 *                           scale by vpmulld once per sub-block)
 *   M = sum_j m_j * (sub-block j's activation sum)   (vpdpwssd)
 * and then the AVX2 float step on each lane, so a pair here has the bits
 * of the AVX2 streaming tile that decode keeps using.
 *
 * Packed super-block of 16 rows: the AVX2 8-row layout (avx2_q4k_pack.h)
 * of rows 0-7 and of rows 8-15 side by side in each 64-byte group and each
 * sub-block's scale and min lines, then d and dmin of the 16 rows. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include "avx2_q4k_pack.h"
#include "avx2_q6k.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"
#include "avx512_row_lanes.h"

#define AI static inline __attribute__((always_inline))

enum {
    ROWS = LORC_ZMM_ROW_LANES,
    COLS = LORC_TILE_COLS_6,
    GROUP = 64,
    Q4K16_SC = 8 * 8 * GROUP,
    Q4K16_MIN = Q4K16_SC + 8 * 64,
    Q4K16_D = Q4K16_MIN + 8 * 64,
    Q4K16_DMIN = Q4K16_D + 64,
    Q4K16_BLOCK = Q4K16_DMIN + 64
};

static size_t q4k_pack16_bytes(int64_t n) { return (size_t)(n / LORC_QK_K) * Q4K16_BLOCK; }

static void q4k_pack16(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const uint8_t *wr[ROWS];
    lorc_zl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += Q4K16_BLOCK)
        for (int h = 0; h < 2; h++) {
            const uint8_t *wb[8];
            for (int r = 0; r < 8; r++) wb[r] = wr[8 * h + r] + (size_t)i * sizeof(lorc_block_q4_K);
            lorc_q4k_pack_block8(wb, nr - 8 * h, out + 32 * h, GROUP, out + Q4K16_SC + 32 * h,
                                 out + Q4K16_MIN + 32 * h, 64, out + Q4K16_D + 32 * h, out + Q4K16_DMIN + 32 * h);
        }
}

AI int32_t ld_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

AI void q4k_tile_packed16(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                          size_t y_stride) {
    __m512 acc[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    const __m512i low16 = _mm512_set1_epi32(0xffff);
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)i * Q4K16_BLOCK;
        const lorc_act_q8_K256 *a[COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            a[c] = (const lorc_act_q8_K256 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride +
                                                            (size_t)i * sizeof(lorc_act_q8_K256));
        __m512i S[COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) S[c] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            /* two running sums per column (even and odd groups), so the
             * dependent vpdpbusd chains do not leave the units idle */
            __m512i even[COLS], odd[COLS];
            LORC_UNROLL
            for (int c = 0; c < NC; c++) even[c] = odd[c] = _mm512_setzero_si512();
            LORC_UNROLL
            for (int g = 0; g < 8; g += 2) {
                const __m512i w0 = _mm512_loadu_si512((const void *)(pb + (size_t)(8 * j + g) * GROUP));
                const __m512i w1 = _mm512_loadu_si512((const void *)(pb + (size_t)(8 * j + g + 1) * GROUP));
                LORC_UNROLL
                for (int c = 0; c < NC; c++) {
                    const int8_t *q = a[c]->qs + 32 * j + 4 * g;
                    even[c] = _mm512_dpbusd_epi32(even[c], w0, _mm512_set1_epi32(ld_i32(q)));
                    odd[c] = _mm512_dpbusd_epi32(odd[c], w1, _mm512_set1_epi32(ld_i32(q + 4)));
                }
            }
            /* the pack stores each scale as an int16 pair [sc, sc]: its low half */
            const __m512i scj = _mm512_and_si512(_mm512_loadu_si512((const void *)(pb + Q4K16_SC + 64 * j)), low16);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) S[c] = _mm512_add_epi32(S[c], _mm512_mullo_epi32(_mm512_add_epi32(even[c], odd[c]), scj));
        }
        __m512i M[COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) M[c] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const __m512i mj = _mm512_loadu_si512((const void *)(pb + Q4K16_MIN + 64 * j));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) /* the sub-block's two per-16 activation sums, an int16 pair */
                M[c] = _mm512_dpwssd_epi32(M[c], mj, _mm512_set1_epi32(ld_i32(a[c]->bsums + 4 * j)));
        }
        const __m512 d = _mm512_loadu_ps((const void *)(pb + Q4K16_D));
        const __m512 dmin = _mm512_loadu_ps((const void *)(pb + Q4K16_DMIN));
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            /* the AVX2 q4k_step on 16 lanes */
            const __m512 da = _mm512_set1_ps(lorc_kq_rd_f32(a[c]->d));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[c]), _mm512_mul_ps(d, da), acc[c]);
            acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(M[c]), _mm512_mul_ps(dmin, da), acc[c]);
        }
    }
    lorc_zl_store(NC, acc, nr, y, y_stride);
}

#define Q4K_PACKED16(UNUSED, NC) q4k_tile_packed16(NC, n, w, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(q4k_packed16_any, Q4K_PACKED16, 0)

/* ------------------------------------------------------ Q6_K
 *
 * The AVX2 packed Q6_K tile (avx2_q6k_packed.c) keeps one pair's super-block
 * sum in the 8 int32 lanes of a YMM register: vpmaddwd of 16 int16 weights
 * (q - 32) * sc with 16 int16 activations, then vpaddd. Here a ZMM register
 * holds two pairs side by side — rows 2p and 2p + 1 against the same
 * activation row — and one vpdpwssd does both multiply-adds. Each half
 * sums the same products in the same lanes as the AVX2 tile, and the float
 * step and horizontal sum run on each half as there: the same bits.
 *
 * Packed super-block: the AVX2 one (avx2_q6k.h: int16 weights in
 * q16_K256's order, 4 rows, then their d), with the rows of each pair
 * interleaved per 16-value step, so that one 64-byte load brings a step of
 * both rows: step k of row r at (r / 2) * 1024 + 64 k + 32 (r % 2). */

enum { Q6_PAIR_BYTES = 2 * LORC_Q6K_PACKED_ROW, Q6_COLS = 4 };

static void q6k_pack_pairs(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t pairs_interleaved[LORC_KQ_TILE_ROWS] = {0, 32, Q6_PAIR_BYTES, Q6_PAIR_BYTES + 32};
    q6_pack_rows(n, w, w_stride, nr, dst, pairs_interleaved, 64);
}

/* Low (h = 0) or high (h = 1) 8 lanes of v. */
AI __m256 half8(__m512 v, int h) {
    return h ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)) : _mm512_castps512_ps256(v);
}

/* NP row pairs against columns c0..c0+CC-1, one super-block (pb), into the
 * pairs' float accumulators acc[p][c]. */
AI void q6z_block(int NP, int CC, const uint8_t *pb, int c0, const uint8_t *const xq[LORC_KQ_TILE_COLS],
                  const float da[LORC_KQ_TILE_COLS], __m512 acc[2][LORC_KQ_TILE_COLS]) {
    __m512i s[2][Q6_COLS];
    LORC_UNROLL
    for (int p = 0; p < NP; p++)
        LORC_UNROLL
        for (int c = 0; c < CC; c++) s[p][c] = _mm512_setzero_si512();
    for (int k = 0; k < 16; k++) {
        __m512i wv[2], xv[Q6_COLS];
        LORC_UNROLL
        for (int p = 0; p < NP; p++) wv[p] = _mm512_loadu_si512((const void *)(pb + (size_t)p * Q6_PAIR_BYTES + 64 * (size_t)k));
        LORC_UNROLL
        for (int c = 0; c < CC; c++) /* the same 16 activations for both rows of a pair */
            xv[c] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(xq[c0 + c] + 32 * k)));
        LORC_UNROLL
        for (int p = 0; p < NP; p++)
            LORC_UNROLL
            for (int c = 0; c < CC; c++) s[p][c] = _mm512_dpwssd_epi32(s[p][c], wv[p], xv[c]);
    }
    float d[LORC_KQ_TILE_ROWS];
    memcpy(d, pb + LORC_Q6K_PACKED_D, sizeof d);
    LORC_UNROLL
    for (int p = 0; p < NP; p++)
        LORC_UNROLL
        for (int c = 0; c < CC; c++) {
            /* the AVX2 tile's scale, d[r] * da[c] in float, for each half */
            const __m512 scale = _mm512_castpd_ps(_mm512_insertf64x4(
                _mm512_castps_pd(_mm512_set1_ps(d[2 * p] * da[c0 + c])),
                _mm256_castps_pd(_mm256_set1_ps(d[2 * p + 1] * da[c0 + c])), 1));
            acc[p][c0 + c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[p][c]), scale, acc[p][c0 + c]);
        }
}

AI void q6z_tile(int NP, int64_t n, const uint8_t *w, int nr, const void *x, size_t x_stride, int nc, float *y,
                 size_t y_stride) {
    __m512 acc[2][LORC_KQ_TILE_COLS];
    for (int p = 0; p < NP; p++)
        for (int c = 0; c < nc; c++) acc[p][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = w + (size_t)i * LORC_Q6K_PACKED_BLOCK;
        const uint8_t *xq[LORC_KQ_TILE_COLS];
        float da[LORC_KQ_TILE_COLS];
        q6_act_rows(x, x_stride, nc, i, xq, da);
        for (int c0 = 0; c0 < nc; c0 += Q6_COLS) {
            switch (nc - c0 < Q6_COLS ? nc - c0 : Q6_COLS) {
            case 1: q6z_block(NP, 1, pb, c0, xq, da, acc); break;
            case 2: q6z_block(NP, 2, pb, c0, xq, da, acc); break;
            case 3: q6z_block(NP, 3, pb, c0, xq, da, acc); break;
            default: q6z_block(NP, 4, pb, c0, xq, da, acc); break;
            }
        }
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(half8(acc[r / 2][c], r % 2));
}

static void q6z_tile_1(int64_t n, const uint8_t *w, int nr, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6z_tile(1, n, w, nr, x, xs, nc, y, ys);
}
static void q6z_tile_2(int64_t n, const uint8_t *w, int nr, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6z_tile(2, n, w, nr, x, xs, nc, y, ys);
}

static void q6k_tile_pairs(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                           float *y, size_t y_stride) {
    (void)w_stride;
    (nr <= 2 ? q6z_tile_1 : q6z_tile_2)(n, w, nr, x, x_stride, nc, y, y_stride);
}

void lorc_kernels_fill_avx512_kquants(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* without VNNI the AVX2 tiles stay */
    lorc_type_kernel *e = &k->type[LORC_TYPE_Q4_K];
    e->pack = q4k_pack16;
    e->pack_bytes = q4k_pack16_bytes;
    e->tile_packed = q4k_packed16_any;
    e->packed_rows = ROWS;
    e = &k->type[LORC_TYPE_Q6_K]; /* same pack size and rows as AVX2's */
    e->pack = q6k_pack_pairs;
    e->tile_packed = q6k_tile_pairs;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_kquants(lorc_kernels *k) { (void)k; }
#endif
