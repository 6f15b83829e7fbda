/* neon_common.h — private to src/tensor/simd/neon_*.c: the activation
 * formats of the NEON integer kernels and the small inline helpers every
 * NEON file needs. Only meaningful on AArch64 (NEON is part of the base
 * ISA there, so these files need no extra target flags).
 *
 * Integer sums are exact, and each tile turns a pair's exact block sum into
 * float with one fixed sequence of operations in a vector lane of its own
 * (lanes = weight rows), so a pair's result does not depend on nr, nc or
 * its place in the tile (batch invariance), and the dot-product extension
 * and its plain-NEON fallback give bit-identical results. */
#ifndef LORC_TENSOR_SIMD_NEON_COMMON_H
#define LORC_TENSOR_SIMD_NEON_COMMON_H

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "../kernels.h"

/* Activation block for the 4-bit legacy weight types: x ≈ d * q with
 * |q| <= 127, and s = d * sum(q) for offset weights (d*q + m). 8-bit
 * activations add well under 10% to Q4's error (test_kernels_neon measures
 * the ratio). Fields are bytes: a packed row may start anywhere. */
typedef struct {
    uint8_t d[4]; /* float: amax / 127 */
    uint8_t s[4]; /* float: d * sum(q) */
    int8_t q[32];
} lorc_neon_act_q8s;
_Static_assert(sizeof(lorc_neon_act_q8s) == 40, "neon q8s block");

/* Activation block for Q8_0 weights: int16 activations (|q| <= 32767) so
 * the activation rounding stays ~256x below the weights' own 8-bit
 * rounding (8-bit activations would about double Q8_0's error). */
typedef struct {
    uint8_t d[4];  /* float: amax / 32767 */
    uint8_t q[64]; /* 32 int16, little-endian, in value order */
} lorc_neon_act_q16;
_Static_assert(sizeof(lorc_neon_act_q16) == 68, "neon q16 block");

extern const lorc_act_format lorc_neon_act_f32_format;
extern const lorc_act_format lorc_neon_act_q8s_format;
extern const lorc_act_format lorc_neon_act_q16_format;

/* Fully unrolls loops over a tile's rows or columns so that accumulator
 * arrays become registers. */
#define LORC_NEON_UNROLL _Pragma("GCC unroll 8")
#define LORC_NEON_AI static inline __attribute__((always_inline))

static inline float lorc_neon_ld_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, sizeof f); /* AArch64 Linux is little-endian, like the formats */
    return f;
}

static inline void lorc_neon_st_f32(uint8_t *p, float f) { memcpy(p, &f, sizeof f); }

static inline uint16_t lorc_neon_ld_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Four fp16 values -> float (exact, subnormals included). */
static inline float32x4_t lorc_neon_half4(const uint16_t h[4]) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* sum(w[i] * a[i]) over 32 int8 pairs (w0|w1 against a0|a1) as 4 int32
 * lanes, exact. Requires |a| <= 127 (the activation formats clamp to it):
 * the fallback adds two products in int16 before widening, and
 * 2 * 128 * 127 < 2^15. */
static inline int32x4_t lorc_neon_dot32_s8(int8x16_t w0, int8x16_t w1, int8x16_t a0, int8x16_t a1) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, a0), w1, a1);
#else
    int16x8_t p0 = vmull_s8(vget_low_s8(w0), vget_low_s8(a0));
    p0 = vmlal_high_s8(p0, w0, a0);
    int16x8_t p1 = vmull_s8(vget_low_s8(w1), vget_low_s8(a1));
    p1 = vmlal_high_s8(p1, w1, a1);
    return vpadalq_s16(vpaddlq_s16(p0), p1);
#endif
}

/* Four rows' lane vectors -> one vector whose lane r is the total of s[r]
 * (integer: exact, so the order of the additions does not matter). */
static inline int32x4_t lorc_neon_rows4(int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3) {
    return vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
}

#endif
#endif
