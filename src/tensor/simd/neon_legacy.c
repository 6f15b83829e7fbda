/* neon_legacy.c — NEON integer tiles for the 32-value block types Q4_0,
 * Q4_1, Q5_0, Q5_1 and Q8_0.
 *
 * 4/5-bit types: the 16 quant bytes (and Q5's 32-bit mask of fifth bits)
 * unpack to 32 int8 weights (q - 8 for Q4_0, q - 16 for Q5_0, q for the
 * types with a min), dotted with int8 activations (neon_q8s) by vdotq_s32
 * where the CPU has the dot-product extension, else by widening multiplies:
 * either way the block's integer sum is exact. Per block and activation
 * row the 4 weight rows' sums are gathered into one int32x4 (lane = row)
 * and one FMA with the rows' dw times the activation's dx adds them to a
 * float accumulator whose lanes never mix. Q4_1's and Q5_1's min m meets the
 * activation block's s = dx*sum(qx) in a second FMA: m*s per block.
 * Q8_0: int8 weights widened to int16 times int16 activations (neon_q16),
 * vmull/vmlal into int32 (8 products of at most 127*32767 per lane).
 *
 * Tile: 4 weight rows x 4 activation rows; a weight block is unpacked once
 * for the 4 activation rows. Accumulators are one vector per activation
 * row, so 4 columns cost only 4 registers. */
#include "neon_common.h"

#if defined(__aarch64__)
#include "../quant_impl.h"
#include "q45_kind.h"
#include "neon_tile.h"

/* 0x10 in byte j of the result where bit j of the 16-bit mask m is set. */
LORC_NEON_AI uint8x16_t fifth_bits(uint32_t m) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t spread = vcombine_u8(vdup_n_u8((uint8_t)(m & 0xff)), vdup_n_u8((uint8_t)((m >> 8) & 0xff)));
    return vandq_u8(vtstq_u8(spread, vld1q_u8(bit)), vdupq_n_u8(0x10));
}

/* The fp16 field at byte `off` of the current block of up to 4 rows, as 4
 * floats (rows past NR read as 0, so their lanes stay 0). */
LORC_NEON_AI float32x4_t gather_half4(int NR, const uint8_t *const wb[4], size_t off) {
    uint16_t h[4] = {0, 0, 0, 0};
    LORC_NEON_UNROLL
    for (int r = 0; r < NR; r++) h[r] = lorc_neon_ld_u16(wb[r] + off);
    return lorc_neon_half4(h);
}

LORC_NEON_AI void q45_tile(int kind, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr,
                          const void *x, size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t bb = lorc_q45_block_bytes(kind);
    const size_t qh_off = lorc_q45_has_min(kind) ? 4 : 2, qs_off = qh_off + (lorc_q45_has_high_bit(kind) ? 4 : 0);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_neon_act_q8s *xr[4];
    LORC_NEON_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++)
        xr[c] = (const lorc_neon_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    float32x4_t acc[4];
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = vdupq_n_f32(0.0f);
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    const int8x16_t offset = vdupq_n_s8(kind == LORC_KIND_Q4_0 ? 8 : kind == LORC_KIND_Q5_0 ? 16 : 0);
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb[4] = {0, 0, 0, 0};
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) wb[r] = wr[r] + (size_t)b * bb;
        const float32x4_t dw = gather_half4(NR, wb, 0);
        const float32x4_t mw = lorc_q45_has_min(kind) ? gather_half4(NR, wb, 2) : vdupq_n_f32(0.0f);
        /* low nibbles are values 0..15, high nibbles 16..31 */
        int8x16_t wlo[4], whi[4];
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) {
            const uint8x16_t qs = vld1q_u8(wb[r] + qs_off);
            uint8x16_t lo = vandq_u8(qs, low4), hi = vshrq_n_u8(qs, 4);
            if (lorc_q45_has_high_bit(kind)) {
                uint32_t mask;
                memcpy(&mask, wb[r] + qh_off, sizeof mask); /* little-endian, like the file */
                lo = vorrq_u8(lo, fifth_bits(mask));
                hi = vorrq_u8(hi, fifth_bits(mask >> 16));
            }
            wlo[r] = vsubq_s8(vreinterpretq_s8_u8(lo), offset);
            whi[r] = vsubq_s8(vreinterpretq_s8_u8(hi), offset);
        }
        LORC_NEON_UNROLL
        for (int c = 0; c < NC; c++) {
            const lorc_neon_act_q8s *xb = xr[c] + b;
            const int8x16_t a0 = vld1q_s8(xb->q), a1 = vld1q_s8(xb->q + 16);
            int32x4_t s[4];
            LORC_NEON_UNROLL
            for (int r = 0; r < 4; r++) s[r] = r < NR ? lorc_neon_dot32_s8(wlo[r], whi[r], a0, a1) : vdupq_n_s32(0);
            const int32x4_t rows = lorc_neon_rows4(s[0], s[1], s[2], s[3]);
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(rows), vmulq_n_f32(dw, lorc_neon_ld_f32(xb->d)));
            if (lorc_q45_has_min(kind)) acc[c] = vfmaq_n_f32(acc[c], mw, lorc_neon_ld_f32(xb->s));
        }
    }
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++) {
        float out[4];
        vst1q_f32(out, acc[c]);
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = out[r];
    }
}

/* sum(w * a) over one block: 32 int16 weights (4 vectors) times 32 int16
 * activations, as 4 int32 lanes (exact: 8 products of <= 127*32767 each). */
LORC_NEON_AI int32x4_t dot32_s16(const int16x8_t wv[4], const int16x8_t av[4]) {
    int32x4_t s = vmull_s16(vget_low_s16(wv[0]), vget_low_s16(av[0]));
    s = vmlal_high_s16(s, wv[0], av[0]);
    LORC_NEON_UNROLL
    for (int k = 1; k < 4; k++) {
        s = vmlal_s16(s, vget_low_s16(wv[k]), vget_low_s16(av[k]));
        s = vmlal_high_s16(s, wv[k], av[k]);
    }
    return s;
}

LORC_NEON_AI void q8_0_tile(int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                            size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t bb = sizeof(lorc_block_q8_0);
    const uint8_t *wr[4] = {0, 0, 0, 0};
    const lorc_neon_act_q16 *xr[4];
    LORC_NEON_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++)
        xr[c] = (const lorc_neon_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    float32x4_t acc[4];
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = vdupq_n_f32(0.0f);
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb[4] = {0, 0, 0, 0};
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) wb[r] = wr[r] + (size_t)b * bb;
        const float32x4_t dw = gather_half4(NR, wb, 0);
        int16x8_t wv[4][4];
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) {
            const int8x16_t q0 = vld1q_s8((const int8_t *)(const void *)(wb[r] + 2));
            const int8x16_t q1 = vld1q_s8((const int8_t *)(const void *)(wb[r] + 18));
            wv[r][0] = vmovl_s8(vget_low_s8(q0));
            wv[r][1] = vmovl_high_s8(q0);
            wv[r][2] = vmovl_s8(vget_low_s8(q1));
            wv[r][3] = vmovl_high_s8(q1);
        }
        LORC_NEON_UNROLL
        for (int c = 0; c < NC; c++) {
            const lorc_neon_act_q16 *xb = xr[c] + b;
            int16x8_t av[4];
            LORC_NEON_UNROLL
            for (int k = 0; k < 4; k++) av[k] = vreinterpretq_s16_u8(vld1q_u8(xb->q + 16 * k));
            int32x4_t s[4];
            LORC_NEON_UNROLL
            for (int r = 0; r < 4; r++) s[r] = r < NR ? dot32_s16(wv[r], av) : vdupq_n_s32(0);
            const int32x4_t rows = lorc_neon_rows4(s[0], s[1], s[2], s[3]);
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(rows), vmulq_n_f32(dw, lorc_neon_ld_f32(xb->d)));
        }
    }
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++) {
        float out[4];
        vst1q_f32(out, acc[c]);
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = out[r];
    }
}

#define Q4_0_BODY(NR, NC, ...) q45_tile(LORC_KIND_Q4_0, NR, NC, __VA_ARGS__)
#define Q4_1_BODY(NR, NC, ...) q45_tile(LORC_KIND_Q4_1, NR, NC, __VA_ARGS__)
#define Q5_0_BODY(NR, NC, ...) q45_tile(LORC_KIND_Q5_0, NR, NC, __VA_ARGS__)
#define Q5_1_BODY(NR, NC, ...) q45_tile(LORC_KIND_Q5_1, NR, NC, __VA_ARGS__)
#define Q8_0_BODY(NR, NC, ...) q8_0_tile(NR, NC, __VA_ARGS__)
LORC_NEON_TILE_4x4(tile_q4_0, Q4_0_BODY)
LORC_NEON_TILE_4x4(tile_q4_1, Q4_1_BODY)
LORC_NEON_TILE_4x4(tile_q5_0, Q5_0_BODY)
LORC_NEON_TILE_4x4(tile_q5_1, Q5_1_BODY)
LORC_NEON_TILE_4x4(tile_q8_0, Q8_0_BODY)

void lorc_kernels_fill_neon_legacy(lorc_kernels *k) {
    k->type[LORC_TYPE_Q4_0] = lorc_tile_entry(&lorc_neon_act_q8s_format, tile_q4_0, 4, 4);
    k->type[LORC_TYPE_Q4_1] = lorc_tile_entry(&lorc_neon_act_q8s_format, tile_q4_1, 4, 4);
    k->type[LORC_TYPE_Q5_0] = lorc_tile_entry(&lorc_neon_act_q8s_format, tile_q5_0, 4, 4);
    k->type[LORC_TYPE_Q5_1] = lorc_tile_entry(&lorc_neon_act_q8s_format, tile_q5_1, 4, 4);
    k->type[LORC_TYPE_Q8_0] = lorc_tile_entry(&lorc_neon_act_q16_format, tile_q8_0, 4, 4);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_neon_legacy(lorc_kernels *k) { (void)k; }
#endif
