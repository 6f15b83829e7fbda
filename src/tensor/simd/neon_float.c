/* neon_float.c — NEON tiles for the float weight types F32, F16, BF16
 * (activations stay F32), and the table fill that also installs the vec
 * helpers of neon_vec.c.
 *
 * Tile: 4 weight rows x 4 activation rows, one 4-lane accumulator per pair
 * (16 of AArch64's 32 vector registers), each weight vector converted once
 * (fcvtl for F16, a 16-bit shift for BF16) and used for 4 FMAs. A pair's
 * sum runs over 4-value steps in order, a zero-filled step for a tail, then
 * one fixed horizontal sum: the same sequence for any nr, nc and place. */
#include "neon_common.h"

#if defined(__aarch64__)
#include "neon_tile.h"
#include "neon_vec.h"

enum { KIND_F32, KIND_F16, KIND_BF16 };

/* 4 weights from element i of a row, as floats (byte loads: rows may start
 * at any address). */
LORC_NEON_AI float32x4_t load_w4(int kind, const uint8_t *row, int64_t i) {
    if (kind == KIND_F32) return vreinterpretq_f32_u8(vld1q_u8(row + 4 * i));
    const uint16x4_t h = vreinterpret_u16_u8(vld1_u8(row + 2 * i));
    if (kind == KIND_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16)); /* bf16 = top half of f32 */
}

LORC_NEON_AI float32x4_t load_x4(const uint8_t *row, int64_t i) { return vreinterpretq_f32_u8(vld1q_u8(row + 4 * i)); }

LORC_NEON_AI void float_tile(int kind, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr,
                             const void *x, size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const size_t esize = kind == KIND_F32 ? 4 : 2;
    const uint8_t *wr[4], *xr[4];
    LORC_NEON_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const uint8_t *)x + (size_t)c * x_stride;
    float32x4_t acc[4][4];
    LORC_NEON_UNROLL
    for (int r = 0; r < NR; r++)
        LORC_NEON_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv[4];
        LORC_NEON_UNROLL
        for (int c = 0; c < NC; c++) xv[c] = load_x4(xr[c], i);
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) {
            const float32x4_t wv = load_w4(kind, wr[r], i);
            LORC_NEON_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = vfmaq_f32(acc[r][c], wv, xv[c]);
        }
    }
    if (i < n) { /* the last 1..3 values, copied so nothing past a row is read */
        const size_t k = (size_t)(n - i);
        float32x4_t xv[4];
        LORC_NEON_UNROLL
        for (int c = 0; c < NC; c++) {
            uint8_t buf[16] = {0};
            memcpy(buf, xr[c] + 4 * (size_t)i, 4 * k);
            xv[c] = load_x4(buf, 0);
        }
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) {
            uint8_t buf[16] = {0};
            memcpy(buf, wr[r] + esize * (size_t)i, esize * k);
            const float32x4_t wv = load_w4(kind, buf, 0);
            LORC_NEON_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = vfmaq_f32(acc[r][c], wv, xv[c]);
        }
    }
    LORC_NEON_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_NEON_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = vaddvq_f32(acc[r][c]);
}

#define F32_BODY(NR, NC, ...) float_tile(KIND_F32, NR, NC, __VA_ARGS__)
#define F16_BODY(NR, NC, ...) float_tile(KIND_F16, NR, NC, __VA_ARGS__)
#define BF16_BODY(NR, NC, ...) float_tile(KIND_BF16, NR, NC, __VA_ARGS__)
LORC_NEON_TILE_4x4(tile_f32, F32_BODY)
LORC_NEON_TILE_4x4(tile_f16, F16_BODY)
LORC_NEON_TILE_4x4(tile_bf16, BF16_BODY)

void lorc_kernels_fill_neon_float(lorc_kernels *k) {
    k->type[LORC_TYPE_F32] = lorc_tile_entry(&lorc_neon_act_f32_format, tile_f32, 4, 4);
    k->type[LORC_TYPE_F16] = lorc_tile_entry(&lorc_neon_act_f32_format, tile_f16, 4, 4);
    k->type[LORC_TYPE_BF16] = lorc_tile_entry(&lorc_neon_act_f32_format, tile_bf16, 4, 4);
    k->vec.dot_f32 = lorc_neon_dot_f32;
    k->vec.axpy_f32 = lorc_neon_axpy_f32;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_neon_float(lorc_kernels *k) { (void)k; }
#endif
