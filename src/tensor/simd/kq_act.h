/* kq_act.h — the activation formats the k-quant dot kernels (avx2_q*k.c)
 * take: F32 rows packed once per batch so the dots can run on integers.
 *
 *  q8_K256:  per 256 values a float scale, int8 values (|q| <= 127) and
 *            the sum of each 16 values as int16 (the Q2_K/Q4_K/Q5_K min
 *            terms and Q3_K's offset need sums of x, not dots). For
 *            Q2_K..Q5_K the weight error is >= 8x the error of 8-bit
 *            activations, so this adds little (test_kernels_kquants
 *            measures the ratio).
 *  q16_K256: per 256 values a float scale and int16 values with
 *            |q| <= 8191. For Q6_K 8-bit activations would add ~20% to
 *            the error; 14 bits make it negligible, and 8191 keeps Q6_K's
 *            prescaled int16 weights (|q*sc| <= 4096) times 32 values per
 *            int32 lane inside int32 (32*4096*8191 < 2^31).
 *
 * Scales are float, not fp16, so they add no rounding of their own. Every
 * field is bytes (alignment 1): packed rows may start at any address. */
#ifndef LORC_TENSOR_SIMD_KQ_ACT_H
#define LORC_TENSOR_SIMD_KQ_ACT_H

#include <stdint.h>

#include "../kernels.h"

#define LORC_KQ8_MAX 127
#define LORC_KQ16_MAX 8191

/* d: float32 LE; qs: int8; bsums: int16 LE, bsums[j] = sum of qs[16j..16j+15]. */
typedef struct { uint8_t d[4]; int8_t qs[256]; uint8_t bsums[32]; } lorc_act_q8_K256;
/* d: float32 LE; qs: int16 LE, each 32 values in the order 0-7, 16-23,
 * 8-15, 24-31 (lorc_kq16_slot): the order in which the Q6_K kernel's
 * in-lane byte-to-int16 unpacking leaves its weights. */
typedef struct { uint8_t d[4]; uint8_t qs[512]; } lorc_act_q16_K256;

_Static_assert(sizeof(lorc_act_q8_K256) == 292, "q8_K256 block");
_Static_assert(sizeof(lorc_act_q16_K256) == 516, "q16_K256 block");

/* Where value l (0..255) of a block sits in q16_K256's qs (in int16s). */
static inline int lorc_kq16_slot(int l) {
    const int in32 = l % 32;
    return l - in32 + (in32 % 16 < 8 ? 0 : 16) + (in32 < 16 ? 0 : 8) + in32 % 8;
}

extern const lorc_act_format lorc_act_fmt_q8_K256;
extern const lorc_act_format lorc_act_fmt_q16_K256;

/* Back to float (x = d*q): tests measure the activation error with these. */
void lorc_act_q8_K256_to_float(const void *src, float *dst, int64_t n);
void lorc_act_q16_K256_to_float(const void *src, float *dst, int64_t n);

#endif
