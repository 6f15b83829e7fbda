/* neon_kquants.c — NEON tiles for Q4_K, Q5_K (against q8_K256 activations) and
 * Q6_K (against q16_K256: 8-bit activations would add ~20% to Q6_K's
 * error), the formats of kq_act.h, packed by portable C.
 *
 * Per super-block, each weight row is unpacked into registers once and
 * dotted with the same super-block of all nc activation rows; every pair's
 * super-block sum is an exact integer:
 *   Q4_K  isum = sum_j sc_j * dot(q_j, a_j)   (|isum| < 2^26, int32;
 *   Q5_K  the same with a fifth bit per quant)
 *         msum = sum_j m_j * (sum of a_j)      (from the activation's bsums)
 *   Q6_K  isum = sum_j sc_j * dot(q_j - 32, a_j), summed in int32 per half
 *         (<= 8 * 4 * 32 * 128 * 8191 < 2^31 per lane) and in int64 across
 *         lanes and halves (the whole block can exceed int32).
 * The integers go to float once (deterministic rounding) and meet the
 * scales in a vector whose lanes are the tile's weight rows:
 *   acc[c] += isum * (d * da)  [- msum * (dmin * da)]
 * so lanes never mix and a pair's result is the same whatever nr, nc and
 * its place (batch invariance), with or without the dot-product extension.
 *
 * Tile: 4 weight rows x 8 activation rows, as the AVX2 k-quant tiles:
 * unpacking a super-block costs about as much as a few column dots. */
#include "neon_common.h"

#if defined(__aarch64__)
#include "../quant_impl.h"
#include "kq_act.h"

#define KQ_ROWS 4
#define KQ_COLS 8

/* Exact per-pair sums of one super-block, as floats: [column][row]. */
typedef struct {
    float isum[KQ_COLS][KQ_ROWS];
    float msum[KQ_COLS][KQ_ROWS];
} kq_sums;

/* Shared by Q4_K and Q5_K (qh: Q5_K's fifth bits, NULL for Q4_K). */
static inline void q45_K_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const uint8_t *x,
                               size_t x_stride, int nc, int r, kq_sums *out) {
    uint8_t sc[8], m[8];
    lorc_kq_unpack_scales_mins(scales, sc, m);
    /* sub-block j (values 32j..32j+31) in wq[2j], wq[2j+1]: each 32 quant
     * bytes hold sub-block 2k in their low nibbles and 2k+1 in the high */
    int8x16_t wq[16];
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    for (int k = 0; k < 4; k++) {
        const uint8x16_t q0 = vld1q_u8(qs + 32 * k), q1 = vld1q_u8(qs + 32 * k + 16);
        wq[4 * k] = vreinterpretq_s8_u8(vandq_u8(q0, low4));
        wq[4 * k + 1] = vreinterpretq_s8_u8(vandq_u8(q1, low4));
        wq[4 * k + 2] = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4));
        wq[4 * k + 3] = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
    }
    if (qh) { /* value l of sub-block j: bit j of qh[l], moved to bit 4 */
        const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16), bit4 = vdupq_n_u8(0x10);
        for (int j = 0; j < 8; j++) {
            const int8x16_t shift = vdupq_n_s8((int8_t)(4 - j));
            wq[2 * j] = vorrq_s8(wq[2 * j], vreinterpretq_s8_u8(vandq_u8(vshlq_u8(h0, shift), bit4)));
            wq[2 * j + 1] = vorrq_s8(wq[2 * j + 1], vreinterpretq_s8_u8(vandq_u8(vshlq_u8(h1, shift), bit4)));
        }
    }
    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    for (int c = 0; c < nc; c++) {
        const lorc_act_q8_K256 *a = (const lorc_act_q8_K256 *)(const void *)(x + (size_t)c * x_stride);
        int32x4_t sum = vdupq_n_s32(0);
        for (int j = 0; j < 8; j++) {
            const int32x4_t p =
                lorc_neon_dot32_s8(wq[2 * j], wq[2 * j + 1], vld1q_s8(a->qs + 32 * j), vld1q_s8(a->qs + 32 * j + 16));
            sum = vmlaq_n_s32(sum, p, (int32_t)sc[j]);
        }
        /* the 16 per-16 sums pairwise: the 8 sub-blocks' sums (|.| <= 32*127) */
        const int16x8_t sub = vpaddq_s16(vreinterpretq_s16_u8(vld1q_u8(a->bsums)),
                                         vreinterpretq_s16_u8(vld1q_u8(a->bsums + 16)));
        const int32x4_t ms = vmlal_high_s16(vmull_s16(vget_low_s16(sub), vget_low_s16(mins)), sub, mins);
        out->isum[c][r] = (float)vaddvq_s32(sum);
        out->msum[c][r] = (float)vaddvq_s32(ms);
    }
}

static void q4_K_block(const lorc_block_q4_K *b, const uint8_t *x, size_t x_stride, int nc, int r, kq_sums *out) {
    q45_K_block(b->scales, b->qs, NULL, x, x_stride, nc, r, out);
}

static void q5_K_block(const lorc_block_q5_K *b, const uint8_t *x, size_t x_stride, int nc, int r, kq_sums *out) {
    q45_K_block(b->scales, b->qs, b->qh, x, x_stride, nc, r, out);
}

/* The 4-bit field `nib` and the 2-bit field at bit `shift` of qh as the
 * signed 6-bit quant q - 32 (lane-local shifts: nothing crosses a byte). */
static inline int8x16_t q6_value(uint8x16_t nib, uint8x16_t qh, int shift) {
    const uint8x16_t hi = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - shift))), vdupq_n_u8(0x30));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(nib, hi)), vdupq_n_s8(32));
}

static void q6_K_block(const lorc_block_q6_K *b, const uint8_t *x, size_t x_stride, int nc, int r, kq_sums *out) {
    int64_t total[KQ_COLS];
    for (int c = 0; c < nc; c++) total[c] = 0;
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        /* group g holds values 128h+32g..+31 (ql nibbles, qh bits 2g, 2g+1);
         * w[4g..4g+3]: values 0-7, 16-23, 8-15, 24-31 of the group, the
         * order q16_K256 stores its activations in */
        int16x8_t wv[16];
        for (int half16 = 0; half16 < 2; half16++) {
            const uint8x16_t l0 = vld1q_u8(ql + 16 * half16), l1 = vld1q_u8(ql + 32 + 16 * half16);
            const uint8x16_t hb = vld1q_u8(qh + 16 * half16);
            const int8x16_t q[4] = {q6_value(vandq_u8(l0, low4), hb, 0), q6_value(vandq_u8(l1, low4), hb, 2),
                                    q6_value(vshrq_n_u8(l0, 4), hb, 4), q6_value(vshrq_n_u8(l1, 4), hb, 6)};
            for (int g = 0; g < 4; g++) {
                wv[4 * g + half16] = vmovl_s8(vget_low_s8(q[g]));   /* values 16*half16 + 0..7 */
                wv[4 * g + 2 + half16] = vmovl_high_s8(q[g]);       /* values 16*half16 + 8..15 */
            }
        }
        for (int c = 0; c < nc; c++) {
            const lorc_act_q16_K256 *a = (const lorc_act_q16_K256 *)(const void *)(x + (size_t)c * x_stride);
            const uint8_t *aq = a->qs + 256 * h;
            int32x4_t sum = vdupq_n_s32(0);
            for (int g = 0; g < 4; g++) {
                int16x8_t av[4];
                for (int k = 0; k < 4; k++) av[k] = vreinterpretq_s16_u8(vld1q_u8(aq + 64 * g + 16 * k));
                /* slots 0 and 2 are values 0-15 (scale 2g), 1 and 3 values 16-31 (2g+1) */
                int32x4_t p0 = vmull_s16(vget_low_s16(wv[4 * g]), vget_low_s16(av[0]));
                p0 = vmlal_high_s16(p0, wv[4 * g], av[0]);
                p0 = vmlal_s16(p0, vget_low_s16(wv[4 * g + 2]), vget_low_s16(av[2]));
                p0 = vmlal_high_s16(p0, wv[4 * g + 2], av[2]);
                int32x4_t p1 = vmull_s16(vget_low_s16(wv[4 * g + 1]), vget_low_s16(av[1]));
                p1 = vmlal_high_s16(p1, wv[4 * g + 1], av[1]);
                p1 = vmlal_s16(p1, vget_low_s16(wv[4 * g + 3]), vget_low_s16(av[3]));
                p1 = vmlal_high_s16(p1, wv[4 * g + 3], av[3]);
                sum = vmlaq_n_s32(sum, p0, (int32_t)sc[2 * g]);
                sum = vmlaq_n_s32(sum, p1, (int32_t)sc[2 * g + 1]);
            }
            total[c] += vaddlvq_s32(sum);
        }
    }
    for (int c = 0; c < nc; c++) {
        out->isum[c][r] = (float)total[c];
        out->msum[c][r] = 0.0f;
    }
}

/* The tile loop both types share; `has_min`: subtract msum * dmin. */
#define KQ_TILE(NAME, BLOCK_T, ACT_T, BLOCK_FN, D_OFF, DMIN_OFF)                                               \
    static void NAME(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc, \
                     float *y, size_t y_stride) {                                                              \
        float32x4_t acc[KQ_COLS];                                                                              \
        for (int c = 0; c < nc; c++) acc[c] = vdupq_n_f32(0.0f);                                               \
        const int64_t nb = n / LORC_QK_K;                                                                      \
        for (int64_t i = 0; i < nb; i++) {                                                                     \
            kq_sums s;                                                                                         \
            memset(&s, 0, sizeof s);                                                                           \
            uint16_t dh[4] = {0, 0, 0, 0}, mh[4] = {0, 0, 0, 0};                                               \
            const uint8_t *xb = (const uint8_t *)x + (size_t)i * sizeof(ACT_T);                                \
            for (int r = 0; r < nr; r++) {                                                                     \
                const uint8_t *blk = (const uint8_t *)w + (size_t)r * w_stride + (size_t)i * sizeof(BLOCK_T);  \
                dh[r] = lorc_neon_ld_u16(blk + (D_OFF));                                                       \
                if ((DMIN_OFF) >= 0) mh[r] = lorc_neon_ld_u16(blk + (DMIN_OFF));                               \
                BLOCK_FN((const BLOCK_T *)(const void *)blk, xb, x_stride, nc, r, &s);                         \
            }                                                                                                  \
            const float32x4_t d4 = lorc_neon_half4(dh), m4 = lorc_neon_half4(mh);                              \
            for (int c = 0; c < nc; c++) {                                                                     \
                const float da = lorc_neon_ld_f32(((const ACT_T *)(const void *)(xb + (size_t)c * x_stride))->d); \
                acc[c] = vfmaq_f32(acc[c], vld1q_f32(s.isum[c]), vmulq_n_f32(d4, da));                         \
                if ((DMIN_OFF) >= 0) acc[c] = vfmsq_f32(acc[c], vld1q_f32(s.msum[c]), vmulq_n_f32(m4, da));    \
            }                                                                                                  \
        }                                                                                                      \
        for (int c = 0; c < nc; c++) {                                                                         \
            float out[4];                                                                                      \
            vst1q_f32(out, acc[c]);                                                                            \
            for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = out[r];                         \
        }                                                                                                      \
    }

KQ_TILE(tile_q4_K, lorc_block_q4_K, lorc_act_q8_K256, q4_K_block, offsetof(lorc_block_q4_K, d),
        (int)offsetof(lorc_block_q4_K, dmin))
KQ_TILE(tile_q5_K, lorc_block_q5_K, lorc_act_q8_K256, q5_K_block, offsetof(lorc_block_q5_K, d),
        (int)offsetof(lorc_block_q5_K, dmin))
KQ_TILE(tile_q6_K, lorc_block_q6_K, lorc_act_q16_K256, q6_K_block, offsetof(lorc_block_q6_K, d), -1)

void lorc_kernels_fill_neon_kquants(lorc_kernels *k) {
    k->type[LORC_TYPE_Q4_K] = lorc_tile_entry(&lorc_act_fmt_q8_K256, tile_q4_K, KQ_ROWS, KQ_COLS);
    k->type[LORC_TYPE_Q5_K] = lorc_tile_entry(&lorc_act_fmt_q8_K256, tile_q5_K, KQ_ROWS, KQ_COLS);
    k->type[LORC_TYPE_Q6_K] = lorc_tile_entry(&lorc_act_fmt_q16_K256, tile_q6_K, KQ_ROWS, KQ_COLS);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_neon_kquants(lorc_kernels *k) { (void)k; }
#endif
