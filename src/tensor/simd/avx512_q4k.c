/* avx512_q4k.c — the AVX-512 VNNI packed tile (prompts, batches) for
 * Q4_K, the bulk of a Q4_K_M file (its Q6_K: avx512_kq_pairs.c).
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

void lorc_kernels_fill_avx512_q4k(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* without VNNI the AVX2 tiles stay */
    lorc_type_kernel *e = &k->type[LORC_TYPE_Q4_K];
    e->pack = q4k_pack16;
    e->pack_bytes = q4k_pack16_bytes;
    e->tile_packed = q4k_packed16_any;
    e->packed_rows = ROWS;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q4k(lorc_kernels *k) { (void)k; }
#endif
