/* neon_act.c — the activation formats of the NEON kernels: F32 rows kept
 * as they are (float weight types), int8 blocks with their sum (4-bit
 * legacy types) and int16 blocks (Q8_0); see neon_common.h. Rounding is to
 * nearest (even) of x / d, d = amax / qmax: dividing (not multiplying by
 * qmax / amax) keeps every quotient within the range even for a subnormal
 * amax, and the clamp guards the rounding of a tiny d. */
#include "neon_common.h"

#if defined(__aarch64__)

static void f32_pack(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * sizeof(float)); }

/* The 32 values of one block as integers in [-qmax, qmax]; returns d
 * (0 for an all-zero block, whose quants are then all 0). */
static float block_round(const float *x, float qmax, int32x4_t out[8]) {
    float32x4_t v[8], amax = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        amax = vmaxq_f32(amax, vabsq_f32(v[k]));
    }
    const float d = vmaxvq_f32(amax) / qmax;
    if (d == 0.0f) {
        for (int k = 0; k < 8; k++) out[k] = vdupq_n_s32(0);
        return 0.0f;
    }
    const float32x4_t vd = vdupq_n_f32(d), lim = vdupq_n_f32(qmax), neg_lim = vdupq_n_f32(-qmax);
    for (int k = 0; k < 8; k++)
        out[k] = vcvtnq_s32_f32(vmaxq_f32(vminq_f32(vdivq_f32(v[k], vd), lim), neg_lim));
    return d;
}

static void q8s_pack(const float *x, void *dst, int64_t n) {
    lorc_neon_act_q8s *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b++, x += 32) {
        int32x4_t q[8];
        const float d = block_round(x, 127.0f, q);
        int32x4_t sum = vdupq_n_s32(0);
        for (int k = 0; k < 8; k++) sum = vaddq_s32(sum, q[k]);
        for (int h = 0; h < 2; h++) { /* values are within int8 already: the narrowing never saturates */
            const int16x8_t lo = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
            const int16x8_t hi = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
            vst1q_s8(b->q + 16 * h, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
        }
        lorc_neon_st_f32(b->d, d);
        lorc_neon_st_f32(b->s, d * (float)vaddvq_s32(sum));
    }
}

static void q16_pack(const float *x, void *dst, int64_t n) {
    lorc_neon_act_q16 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b++, x += 32) {
        int32x4_t q[8];
        const float d = block_round(x, 32767.0f, q);
        for (int k = 0; k < 4; k++) {
            const int16x8_t v = vcombine_s16(vqmovn_s32(q[2 * k]), vqmovn_s32(q[2 * k + 1]));
            vst1q_u8(b->q + 16 * k, vreinterpretq_u8_s16(v));
        }
        lorc_neon_st_f32(b->d, d);
    }
}

const lorc_act_format lorc_neon_act_f32_format = {"f32", 1, sizeof(float), f32_pack, true};
const lorc_act_format lorc_neon_act_q8s_format = {"neon_q8s", 32, sizeof(lorc_neon_act_q8s), q8s_pack, false};
const lorc_act_format lorc_neon_act_q16_format = {"neon_q16", 32, sizeof(lorc_neon_act_q16), q16_pack, false};

#else
typedef int lorc_neon_act_unused; /* ISO C wants a declaration in every file */
#endif
