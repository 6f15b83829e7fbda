/* avx512_q4k.c — the AVX-512 VNNI tiles for Q4_K, the bulk of a Q4_K_M
 * file (its Q6_K: avx512_kq_pairs.c, avx512_kq16.c): the packed tile
 * (prompts, batches) here, and the streaming tile (decode) further down.
 *
 * As avx512_legacy.c does for the legacy types: 16 weight rows in the 16
 * lanes of a ZMM register, a group of 4 quants of 16 rows against 4
 * broadcast activation bytes in one vpdpbusd. Per super-block and pair it
 * computes the AVX2 tiles' exact integers (avx2_q45k.c)
 *   S = sum_j sc_j * T_j   (T_j: sub-block j's dot, from vpdpbusd; the
 *                           scale by vpmulld once per sub-block)
 *   M = sum_j m_j * (sub-block j's activation sum)   (vpdpwssd)
 * and then the AVX2 float step on each lane, so a pair here has the bits
 * of the AVX2 tiles and of the streaming tile below.
 *
 * Packed super-block of 16 rows: the AVX2 8-row layout (avx2_q4k_pack.h)
 * of rows 0-7 and of rows 8-15 side by side in each 64-byte group and each
 * sub-block's scale and min lines, then d and dmin of the 16 rows. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include "avx2_q4k_heads.h"
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

/* ---------------------------------------------- streaming tile (decode) */

/* One activation row's super-block in the order the nibble vectors of a
 * row meet it: the low nibbles of qs[0..63] are values 0-31 | 64-95, the
 * high ones 32-63 | 96-127; those of qs[64..127] are 128-159 | 192-223 and
 * 160-191 | 224-255. */
AI void q4k_act_zmm(const int8_t *q, __m512i v[4]) {
    LORC_UNROLL
    for (int k = 0; k < 4; k++) {
        const int8_t *p = q + 128 * (k / 2) + 32 * (k % 2);
        v[k] = _mm512_inserti64x4(_mm512_castsi256_si512(lorc_kq_load(p)), lorc_kq_load(p + 64), 1);
    }
}

/* vpshufb control: from a row's 8 scale bytes (byte j: sub-block j) to
 * int16 pairs [sc, sc] of sub-block lo in the low 256 bits and of hi in
 * the high 256 bits. */
AI __m512i q4k_scale_pick(int lo, int hi) {
    const int plo = (int)(0x80008000u | (unsigned)lo | (unsigned)lo << 16);
    const int phi = (int)(0x80008000u | (unsigned)hi | (unsigned)hi << 16);
    return _mm512_inserti64x4(_mm512_set1_epi32(plo), _mm256_set1_epi32(phi), 1);
}

/* Decode's tile: 8 rows, as the AVX2 streaming tile (avx2_q45k.c) reads
 * them, with the same heads, min sums and float step, but each row's S at
 * full width: per 64 quant bytes two nibble vectors, vpmaddubsw against
 * the activations (pairs of products, |.| <= 2*15*127) and vpdpwssd with
 * the sub-blocks' scales, so a row's super-block is 4 + 4 instructions per
 * activation row where the AVX2 tile needs 16. S is exact, so the bits are
 * those of every other Q4_K tile. On Zen 5 the AVX2 tile ran at 25 GB/s
 * in cache on one core, below the 30 GB/s each core reads from DRAM. */
AI void q4k_tile_stream(int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                        float *y, size_t y_stride) {
    const size_t bb = sizeof(lorc_block_q4_K);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const __m512i pick[4] = {q4k_scale_pick(0, 2), q4k_scale_pick(1, 3), q4k_scale_pick(4, 6), q4k_scale_pick(5, 7)};
    __m256 acc[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const lorc_act_q8_K256 *a[COLS];
        __m512i av[COLS][4];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            a[c] = (const lorc_act_q8_K256 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride +
                                                            (size_t)i * sizeof(lorc_act_q8_K256));
            q4k_act_zmm(a[c]->qs, av[c]);
        }
        const uint8_t *wb[8];
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)i * bb;
        lorc_rl_prefetch_next(wr[0], w_stride, i, bb, LORC_PREFETCH_L2);
        lorc_q4k_heads h;
        lorc_q4k_load_heads(wb, &h);
        __m256i S[COLS][8];
        for (int r = 0; r < 8; r++) {
            const uint8_t *qs = ((const lorc_block_q4_K *)(const void *)wb[r])->qs;
            const __m512i q0 = _mm512_loadu_si512((const void *)qs), q1 = _mm512_loadu_si512((const void *)(qs + 64));
            const __m512i v[4] = {_mm512_and_si512(q0, low4), _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4),
                                  _mm512_and_si512(q1, low4), _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4)};
            const __m512i scb = _mm512_set1_epi64((long long)h.sc[r]);
            __m512i s[COLS];
            LORC_UNROLL
            for (int c = 0; c < NC; c++) s[c] = _mm512_setzero_si512();
            LORC_UNROLL
            for (int k = 0; k < 4; k++) {
                const __m512i sck = _mm512_shuffle_epi8(scb, pick[k]);
                LORC_UNROLL
                for (int c = 0; c < NC; c++) s[c] = _mm512_dpwssd_epi32(s[c], _mm512_maddubs_epi16(v[k], av[c][k]), sck);
            }
            LORC_UNROLL
            for (int c = 0; c < NC; c++)
                S[c][r] = _mm256_add_epi32(_mm512_castsi512_si256(s[c]), _mm512_extracti64x4_epi64(s[c], 1));
        }
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            acc[c] = lorc_q4k_step(lorc_rl_reduce8(S[c]), lorc_q4k_min_sums(&h, a[c]), h.d, h.dmin, a[c], acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

#define Q4K_STREAM(UNUSED, NC) q4k_tile_stream(NC, n, w, w_stride, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(q4k_stream_any, Q4K_STREAM, 0)

void lorc_kernels_fill_avx512_q4k(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* without VNNI the AVX2 tiles stay */
    lorc_type_kernel *e = &k->type[LORC_TYPE_Q4_K];
    e->tile = q4k_stream_any;
    e->pack = q4k_pack16;
    e->pack_bytes = q4k_pack16_bytes;
    e->tile_packed = q4k_packed16_any;
    e->packed_rows = ROWS;
    /* Packing a Q4_K tile costs about three passes of the streaming tile:
     * up to 18 activation rows the streaming tile runs faster (Zen 5, 2
     * threads: pp8 84-89 -> 113-121 tok/s, pp18 139-150 -> 155-157, pp24
     * about even; docs/PERFORMANCE.md). */
    e->pack_min_rows = 19;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q4k(lorc_kernels *k) { (void)k; }
#endif
