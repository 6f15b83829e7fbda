/* avx2_legacy.c — AVX2 integer tiles for the 32-value block types Q4_0,
 * Q4_1, Q5_0, Q5_1 and Q8_0.
 *
 * 4/5-bit types: weights unpacked to unsigned bytes q (0..15 / 0..31), the
 * activations are int8 blocks (avx2_q8s, see avx2_common.h), and
 * vpmaddubsw + vpmaddwd give sum(q * qx) exactly in int32 lanes. The
 * weights' offset (-8, -16) or min m only needs the activation block's sum:
 *   block dot = dw*dx*sum(q*qx) + cw*s,  cw = -8dw | -16dw | m,  s = dx*sum(qx)
 * so the integer part is one pass, and cw*s for 4 rows is one 4-lane FMA.
 * Q8_0: int8 weights sign-extended to int16 times int16 activations
 * (avx2_q16: keeps activation rounding far below the weights' own).
 *
 * Tile: 4 weight rows x 3 activation rows. A weight block is unpacked once
 * and used for the 3 activation rows, an activation block for 4 weight
 * rows. 12 accumulators leave too few registers for everything else, so
 * GCC keeps a few in L1 (store-forwarded); measured ~10% faster in prompt
 * processing than 4 x 2 without spills. Each pair's sum runs block by
 * block in order with the same operations whatever nr, nc (batch
 * invariance); the rows' scales are gathered in a 4-lane vector whose
 * lanes never mix. */
#include "avx2_common.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_tile.h"

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

/* The block's 32 quants as unsigned bytes in value order: nibbles give
 * values j (low) and j+16 (high); Q5's 32-bit mask adds 16 to value j when
 * bit j is set. */
AI __m256i unpack_q45(int kind, const uint8_t *blk) {
    const size_t qs_off = (size_t)2 + (has_min(kind) ? 2 : 0) + (has_high_bit(kind) ? 4 : 0);
    /* the 16 bytes in both halves (a load, no shuffle), then the upper half
     * shifted down a nibble: values 0..15 low, 16..31 high */
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(blk + qs_off)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
    if (has_high_bit(kind)) {
        /* the 32-bit mask in every dword (broadcast straight from memory),
         * byte j of the result takes mask byte j/8, then tests bit j%8 */
        const __m256i mask32 = _mm256_castps_si256(
            _mm256_broadcast_ss((const float *)(const void *)(blk + 2 + (has_min(kind) ? 2 : 0))));
        const __m256i spread = _mm256_shuffle_epi8(mask32, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
    }
    return q;
}

/* The fp16 fields at byte `off` of block b of up to 4 rows, as 4 floats
 * (rows past NR read as 0). */
AI __m128 gather_half4(int NR, const uint8_t *const wr[4], size_t off) {
    uint16_t h[4] = {0, 0, 0, 0};
    LORC_UNROLL
    for (int r = 0; r < NR; r++) h[r] = lorc_avx2_ld_u16(wr[r] + off);
    return _mm_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], 0, 0, 0, 0));
}

AI void q45_tile(int kind, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                 size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t bb = block_bytes(kind);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_avx2_act_q8s *xr[3];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc[4][3];
    __m128 corr[3];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        corr[c] = _mm_setzero_ps();
        LORC_UNROLL
        for (int r = 0; r < NR; r++) acc[r][c] = _mm256_setzero_ps();
    }
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bb;
        const uint8_t *wb[4] = {0, 0, 0, 0};
        LORC_UNROLL
        for (int r = 0; r < NR; r++) wb[r] = wr[r] + off;
        const __m128 dw = gather_half4(NR, wb, 0);
        const __m128 cw = has_min(kind) ? gather_half4(NR, wb, 2)
                                        : _mm_mul_ps(dw, _mm_set1_ps(kind == KIND_Q4_0 ? -8.0f : -16.0f));
        float scale[3][4];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            const lorc_avx2_act_q8s *xb = xr[c] + b;
            corr[c] = _mm_fmadd_ps(cw, _mm_set1_ps(lorc_avx2_ld_f32(xb->s)), corr[c]);
            _mm_storeu_ps(scale[c], _mm_mul_ps(dw, _mm_set1_ps(lorc_avx2_ld_f32(xb->d))));
        }
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256i q = unpack_q45(kind, wb[r]);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)xr[c][b].q);
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), ones16);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&scale[c][r]), acc[r][c]);
            }
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        float cr[4];
        _mm_storeu_ps(cr, corr[c]);
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_avx2_hsum(acc[r][c]) + cr[r];
    }
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
        LORC_UNROLL
        for (int r = 0; r < NR; r++) wb[r] = wr[r] + off;
        const __m128 dw = gather_half4(NR, wb, 0);
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
LORC_TILE_4x3(tile_q4_0, Q4_0_BODY)
LORC_TILE_4x3(tile_q4_1, Q4_1_BODY)
LORC_TILE_4x3(tile_q5_0, Q5_0_BODY)
LORC_TILE_4x3(tile_q5_1, Q5_1_BODY)
LORC_TILE_4x3(tile_q8_0, Q8_0_BODY)

void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) {
    k->type[LORC_TYPE_Q4_0] = (lorc_type_kernel){&lorc_avx2_act_q8s_format, tile_q4_0, 4, 3};
    k->type[LORC_TYPE_Q4_1] = (lorc_type_kernel){&lorc_avx2_act_q8s_format, tile_q4_1, 4, 3};
    k->type[LORC_TYPE_Q5_0] = (lorc_type_kernel){&lorc_avx2_act_q8s_format, tile_q5_0, 4, 3};
    k->type[LORC_TYPE_Q5_1] = (lorc_type_kernel){&lorc_avx2_act_q8s_format, tile_q5_1, 4, 3};
    k->type[LORC_TYPE_Q8_0] = (lorc_type_kernel){&lorc_avx2_act_q16_format, tile_q8_0, 4, 3};
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) { (void)k; }
#endif
