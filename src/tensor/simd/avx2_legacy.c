/* avx2_legacy.c — AVX2 integer tiles for the 32-value block types Q4_0,
 * Q4_1, Q5_0, Q5_1 and Q8_0.
 *
 * 4/5-bit types: weights unpacked to unsigned bytes q (0..15 / 0..31), the
 * activations are int8 blocks (avx2_q8s, see avx2_float_legacy.h), and
 * vpmaddubsw + vpmaddwd give sum(q * qx) exactly in int32 lanes. The
 * weights' offset (-8, -16) or min m only needs the activation block's sum:
 *   block dot = dw*dx*sum(q*qx) + cw*s,  cw = -8dw | -16dw | m,  s = dx*sum(qx)
 * so the integer part is one pass, and cw*s for 4 rows is one 4-lane FMA.
 * Q8_0: int8 weights sign-extended to int16 times int16 activations
 * (avx2_q16: keeps activation rounding far below the weights' own).
 *
 * Tile: 4 weight rows x 3 activation rows. The 4/5-bit rows go in pairs:
 * two rows' blocks share one register (row A's 16 quant bytes in the low
 * half, B's in the high half), so two vpmaddubsw (values 0..15 and
 * 16..31, against activation halves broadcast to both register halves),
 * one vpmaddwd, one conversion and one FMA serve two rows; a row's result
 * is the sum of its half. Against one row
 * per register this cut decode time for Q4_0 by ~15% (Q5: about even;
 * bench/kernel_tile_bench, noisy shared machine). A weight block is
 * unpacked once for the 3 activation rows, an activation block loaded once
 * for the 4 weight rows. Each pair's sum runs block by block in order with
 * the same operations whatever nr, nc (batch invariance): a row's lanes
 * never mix with its partner's (absent partner: zeros), and the rows'
 * scales sit in separate lanes of a 4-lane vector. Q8_0 keeps one row per
 * register (12 accumulators: GCC keeps a few in L1; still faster in prompt
 * processing than 4 x 2 tiles without spills). */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { KIND_Q4_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1 };

AI size_t block_bytes(int kind) {
    switch (kind) {
    case KIND_Q4_0: return sizeof(lorc_block_q4_0);
    case KIND_Q4_1: return sizeof(lorc_block_q4_1);
    case KIND_Q5_0: return sizeof(lorc_block_q5_0);
    default: return sizeof(lorc_block_q5_1);
    }
}

AI int has_min(int kind) { return kind == KIND_Q4_1 || kind == KIND_Q5_1; }
AI int has_high_bit(int kind) { return kind == KIND_Q5_0 || kind == KIND_Q5_1; }

/* Two rows' blocks side by side: A in the low 128-bit half, B in the high
 * one (B may be absent: zeros). lo gets the values 0..15 of each block,
 * hi the values 16..31, as unsigned bytes (Q5: the fifth bit included), so
 * that one vpmaddubsw serves two rows against an activation half
 * broadcast to both halves. */
AI void unpack_pair(int kind, const uint8_t *blk_a, const uint8_t *blk_b, __m256i *lo, __m256i *hi) {
    const size_t qs_off = (size_t)2 + (has_min(kind) ? 2 : 0) + (has_high_bit(kind) ? 4 : 0);
    const __m128i qa = _mm_loadu_si128((const __m128i *)(const void *)(blk_a + qs_off));
    const __m256i v = blk_b ? _mm256_inserti128_si256(_mm256_castsi128_si256(qa),
                                                      _mm_loadu_si128((const __m128i *)(const void *)(blk_b + qs_off)), 1)
                            : _mm256_zextsi128_si256(qa);
    const __m256i low_nibble = _mm256_set1_epi8(0x0f);
    *lo = _mm256_and_si256(v, low_nibble);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_nibble);
    if (has_high_bit(kind)) {
        /* each half holds its block's 32-bit mask in every dword (broadcast
         * loads, one blend; without B its half gets A's mask, computed but
         * never used); byte j of lo takes mask byte j/8 (values 0..15), of
         * hi byte 2 + j/8 (values 16..31), then tests bit j%8 */
        const size_t qh_off = (size_t)2 + (has_min(kind) ? 2 : 0);
        const __m256i mask_a = _mm256_castps_si256(_mm256_broadcast_ss((const float *)(const void *)(blk_a + qh_off)));
        const __m256i mask =
            blk_b ? _mm256_blend_epi32(mask_a,
                                       _mm256_castps_si256(_mm256_broadcast_ss((const float *)(const void *)(blk_b + qh_off))),
                                       0xf0)
                  : mask_a;
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull), five = _mm256_set1_epi8(0x10);
        const __m256i spread_lo = _mm256_shuffle_epi8(mask, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                                                                             0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        const __m256i spread_hi = _mm256_shuffle_epi8(mask, _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2,
                                                                             2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        *lo = _mm256_or_si256(*lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread_lo, bit), bit), five));
        *hi = _mm256_or_si256(*hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread_hi, bit), bit), five));
    }
}

/* Sum of 4 lanes in a fixed order. */
static inline float hsum4(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

/* The fp16 scale at the start of a block, for up to 4 rows, as 4 floats
 * (rows past NR read as 0). Assembled in a general register: inserting
 * halves one by one into a vector costs vector-pipe work that the
 * integer-dot loop needs (measured ~25% of decode time). */
AI __m128 gather_d4(int NR, const uint8_t *const wb[4]) {
    uint64_t h = 0;
    LORC_UNROLL
    for (int r = 0; r < NR; r++) h |= (uint64_t)lorc_avx2_ld_u16(wb[r]) << (16 * r);
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h));
}

/* Both fp16 fields d (byte 0) and m (byte 2) of the _1 types for up to 4
 * rows: one 32-bit load per row, one conversion, one lane shuffle. */
AI void gather_dm4(int NR, const uint8_t *const wb[4], __m128 *d, __m128 *m) {
    uint32_t dm[4] = {0, 0, 0, 0};
    LORC_UNROLL
    for (int r = 0; r < NR; r++) memcpy(&dm[r], wb[r], sizeof dm[r]);
    const __m128i halves = _mm_set_epi64x((long long)((uint64_t)dm[3] << 32 | dm[2]),
                                          (long long)((uint64_t)dm[1] << 32 | dm[0]));
    const __m256 f = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(halves), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    *d = _mm256_castps256_ps128(f);
    *m = _mm256_extractf128_ps(f, 1);
}

/* Pointers to block `off` of the NR rows, and a prefetch of the same place
 * in the rows two tiles on (they follow these in memory): a row is only a
 * few dozen cache lines, too short a stream for the hardware prefetcher to
 * lock on to. */
AI void block_rows(int NR, const uint8_t *const wr[4], size_t off, size_t w_stride, const uint8_t *wb[4]) {
    LORC_UNROLL
    for (int r = 0; r < NR; r++) {
        wb[r] = wr[r] + off;
        _mm_prefetch((const char *)(wb[r] + (size_t)(2 * NR) * w_stride), _MM_HINT_T0);
    }
}

/* One row pair against one activation block: acc += (the pair's integer
 * dots, 4 lanes per row) * s, with s the block's scales in pair lanes. The
 * unpacked and the packed tile both use it (and q45_store), so they give
 * the same bits. */
AI __m256 q45_pair_dot(__m256i lo, __m256i hi, const int8_t *xq, __m256 s, __m256 acc) {
    const __m256i x_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)xq));
    const __m256i x_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(xq + 16)));
    /* each int16 lane: 4 products, |.| <= 4 * 31 * 127: no saturation */
    const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x_lo), _mm256_maddubs_epi16(hi, x_hi));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))), s, acc);
}

/* The tile's outputs: each row's half of its pair accumulator summed in a
 * fixed order, plus its offset term. */
AI void q45_store(int NR, int NC, __m256 acc[2][3], const __m128 corr[3], float *y, size_t y_stride) {
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        float cr[4];
        _mm_storeu_ps(cr, corr[c]);
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256 a = acc[r / 2][c];
            const __m128 half = (r & 1) ? _mm256_extractf128_ps(a, 1) : _mm256_castps256_ps128(a);
            y[(size_t)c * y_stride + (size_t)r] = hsum4(half) + cr[r];
        }
    }
}

AI void q45_tile(int kind, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                 size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const int NP = (NR + 1) / 2; /* row pairs; the last one may have no B row */
    const size_t bb = block_bytes(kind);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_avx2_act_q8s *xr[3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    /* pair p's scales: lanes 0-3 row 2p, lanes 4-7 row 2p+1 */
    const __m256i pair_lanes[2] = {_mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)};
    __m256 acc[2][3]; /* [pair][col]: low half row 2p, high half row 2p+1 */
    __m128 corr[3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        corr[c] = _mm_setzero_ps();
        LORC_UNROLL
        for (int p = 0; p < NP; p++) acc[p][c] = _mm256_setzero_ps();
    }
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bb;
        const uint8_t *wb[4] = {0, 0, 0, 0};
        block_rows(NR, wr, off, w_stride, wb);
        __m128 dw, cw;
        if (has_min(kind)) {
            gather_dm4(NR, wb, &dw, &cw);
        } else {
            dw = gather_d4(NR, wb);
            cw = _mm_mul_ps(dw, _mm_set1_ps(kind == KIND_Q4_0 ? -8.0f : -16.0f));
        }
        __m256 scale[3];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            const lorc_avx2_act_q8s *xb = xr[c] + b;
            corr[c] = _mm_fmadd_ps(cw, _mm_set1_ps(lorc_avx2_ld_f32(xb->s)), corr[c]);
            scale[c] = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_set1_ps(lorc_avx2_ld_f32(xb->d))));
        }
        LORC_UNROLL
        for (int p = 0; p < NP; p++) {
            __m256i lo, hi;
            unpack_pair(kind, wb[2 * p], 2 * p + 1 < NR ? wb[2 * p + 1] : NULL, &lo, &hi);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const int8_t *xq = xr[c][b].q;
                acc[p][c] = q45_pair_dot(lo, hi, xq, _mm256_permutevar8x32_ps(scale[c], pair_lanes[p]), acc[p][c]);
            }
        }
    }
    q45_store(NR, NC, acc, corr, y, y_stride);
}

/* ------------------------------------------------------ packed tiles
 *
 * For prompts, part of the tile above is the same for every activation tile
 * a chunk of weight rows meets: unpacking the quants, gathering the fp16
 * scales, laying them out per row pair. A packed tile does that once
 * (lorc_type_kernel.pack): per 32-value block, each pair's lo and hi
 * registers, each pair's scales d already in pair lanes (rows 2p, 2p+1:
 * 4 lanes each), and the 4 rows' offset terms cw. The packed tile then runs
 * the integer dots and the same float operations on the same values in the
 * same order as q45_tile (lanes = d_row * d_x, then the FMA; cw * s), so
 * it gives the same bits. Without the unpacking, its loop is about a fifth
 * shorter and keeps more accumulators in registers. */
enum {
    PACKED_PAIR = 64,                          /* lo, hi of one pair */
    PACKED_DP = 2 * PACKED_PAIR,               /* 8 floats per pair */
    PACKED_CW = PACKED_DP + 2 * 32,            /* 4 floats */
    PACKED_BLOCK = PACKED_CW + 16
};

static size_t q45_pack_bytes(int64_t n) { return (size_t)(n / 32) * PACKED_BLOCK; }

AI void q45_pack(int kind, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t bb = block_bytes(kind);
    const __m256i pair_lanes[2] = {_mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)};
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / 32; b++, out += PACKED_BLOCK) {
        const uint8_t *wb[4] = {0, 0, 0, 0};
        for (int r = 0; r < nr; r++) wb[r] = (const uint8_t *)w + (size_t)r * w_stride + (size_t)b * bb;
        __m128 dw, cw;
        if (has_min(kind)) {
            gather_dm4(nr, wb, &dw, &cw);
        } else {
            dw = gather_d4(nr, wb);
            cw = _mm_mul_ps(dw, _mm_set1_ps(kind == KIND_Q4_0 ? -8.0f : -16.0f));
        }
        for (int p = 0; p < 2; p++) {
            __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
            if (2 * p < nr) unpack_pair(kind, wb[2 * p], 2 * p + 1 < nr ? wb[2 * p + 1] : NULL, &lo, &hi);
            _mm256_storeu_si256((__m256i *)(void *)(out + p * PACKED_PAIR), lo);
            _mm256_storeu_si256((__m256i *)(void *)(out + p * PACKED_PAIR + 32), hi);
            _mm256_storeu_ps((float *)(void *)(out + PACKED_DP + 32 * p),
                             _mm256_permutevar8x32_ps(_mm256_castps128_ps256(dw), pair_lanes[p]));
        }
        _mm_storeu_ps((float *)(void *)(out + PACKED_CW), cw);
    }
}

/* q45_tile over a packed tile (w; w_stride unused). */
AI void q45_tile_packed(int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                        size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)w_stride;
    (void)nr;
    (void)nc;
    const int NP = (NR + 1) / 2;
    const lorc_avx2_act_q8s *xr[3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[2][3];
    __m128 corr[3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        corr[c] = _mm_setzero_ps();
        LORC_UNROLL
        for (int p = 0; p < NP; p++) acc[p][c] = _mm256_setzero_ps();
    }
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)b * PACKED_BLOCK;
        const __m128 cw = _mm_loadu_ps((const float *)(const void *)(pb + PACKED_CW));
        LORC_UNROLL
        for (int c = 0; c < NC; c++) corr[c] = _mm_fmadd_ps(cw, _mm_set1_ps(lorc_avx2_ld_f32(xr[c][b].s)), corr[c]);
        LORC_UNROLL
        for (int p = 0; p < NP; p++) {
            const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)(pb + p * PACKED_PAIR));
            const __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(pb + p * PACKED_PAIR + 32));
            const __m256 dp = _mm256_loadu_ps((const float *)(const void *)(pb + PACKED_DP + 32 * p));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const int8_t *xq = xr[c][b].q;
                const __m256 sc = _mm256_mul_ps(dp, _mm256_set1_ps(lorc_avx2_ld_f32(xr[c][b].d)));
                acc[p][c] = q45_pair_dot(lo, hi, xq, sc, acc[p][c]);
            }
        }
    }
    q45_store(NR, NC, acc, corr, y, y_stride);
}

AI void q8_0_tile(int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                  int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t bb = sizeof(lorc_block_q8_0);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_avx2_act_q16 *xr[3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[4][3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) acc[r][c] = _mm256_setzero_ps();
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bb;
        const uint8_t *wb[4] = {0, 0, 0, 0};
        block_rows(NR, wr, off, w_stride, wb);
        const __m128 dw = gather_d4(NR, wb);
        float scale[3][4];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) _mm_storeu_ps(scale[c], _mm_mul_ps(dw, _mm_set1_ps(lorc_avx2_ld_f32(xr[c][b].d))));
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256i w_lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 2)));
            const __m256i w_hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 18)));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = xr[c][b].q;
                const __m256i p = _mm256_add_epi32(
                    _mm256_madd_epi16(w_lo, _mm256_loadu_si256((const __m256i *)(const void *)xq)),
                    _mm256_madd_epi16(w_hi, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 32))));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&scale[c][r]), acc[r][c]);
            }
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_avx2_hsum(acc[r][c]);
}

#define Q4_0_BODY(NR, NC, ...) q45_tile(KIND_Q4_0, NR, NC, __VA_ARGS__)
#define Q4_1_BODY(NR, NC, ...) q45_tile(KIND_Q4_1, NR, NC, __VA_ARGS__)
#define Q5_0_BODY(NR, NC, ...) q45_tile(KIND_Q5_0, NR, NC, __VA_ARGS__)
#define Q5_1_BODY(NR, NC, ...) q45_tile(KIND_Q5_1, NR, NC, __VA_ARGS__)
#define Q8_0_BODY(NR, NC, ...) q8_0_tile(NR, NC, __VA_ARGS__)
#define Q45_PACKED_BODY(NR, NC, ...) q45_tile_packed(NR, NC, __VA_ARGS__)
LORC_TILE_4x3(tile_q4_0, Q4_0_BODY)
LORC_TILE_4x3(tile_q4_1, Q4_1_BODY)
LORC_TILE_4x3(tile_q5_0, Q5_0_BODY)
LORC_TILE_4x3(tile_q5_1, Q5_1_BODY)
LORC_TILE_4x3(tile_q8_0, Q8_0_BODY)
/* One packed tile serves the four types: their differences (nibble or
 * 5-bit values, offset or min) are settled when packing. */
LORC_TILE_4x3(tile_q45_packed, Q45_PACKED_BODY)

#define PACK_FN(NAME, KIND) \
    static void NAME(int64_t n, const void *w, size_t w_stride, int nr, void *dst) { \
        q45_pack(KIND, n, w, w_stride, nr, dst);                                      \
    }
PACK_FN(pack_q4_0, KIND_Q4_0)
PACK_FN(pack_q4_1, KIND_Q4_1)
PACK_FN(pack_q5_0, KIND_Q5_0)
PACK_FN(pack_q5_1, KIND_Q5_1)

static lorc_type_kernel q45_entry(lorc_tile_fn tile, lorc_pack_fn pack) {
    return (lorc_type_kernel){.act = &lorc_avx2_act_q8s_format, .tile = tile, .tile_rows = 4, .tile_cols = 3,
                              .pack = pack, .pack_bytes = q45_pack_bytes, .tile_packed = tile_q45_packed};
}

void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) {
    k->type[LORC_TYPE_Q4_0] = q45_entry(tile_q4_0, pack_q4_0);
    k->type[LORC_TYPE_Q4_1] = q45_entry(tile_q4_1, pack_q4_1);
    k->type[LORC_TYPE_Q5_0] = q45_entry(tile_q5_0, pack_q5_0);
    k->type[LORC_TYPE_Q5_1] = q45_entry(tile_q5_1, pack_q5_1);
    k->type[LORC_TYPE_Q8_0] = lorc_tile_entry(&lorc_avx2_act_q16_format, tile_q8_0, 4, 3);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) { (void)k; }
#endif
