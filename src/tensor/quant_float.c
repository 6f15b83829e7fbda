/* quant_float.c — scalar kernels of the unquantized types F32, F16, BF16.
 * Dots accumulate in float with 4 independent partial sums (lets the compiler
 * keep several lanes busy); F16/BF16 decode inline to avoid a call per value. */
#include <string.h>

#include "quant_impl.h"

void lorc_f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void lorc_f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

float lorc_f32_vec_dot(const void *w, const void *x, int64_t n) {
    const float *a = w, *b = x;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static inline float bf16_fast(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void lorc_f16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lorc_half_inline(lorc_rd_u16(p + 2 * i));
}

void lorc_f16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) lorc_wr_u16(p + 2 * i, lorc_fp32_to_fp16(src[i]));
}

float lorc_f16_vec_dot(const void *w, const void *x, int64_t n) {
    const uint8_t *p = w;
    const float *b = x;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += lorc_half_inline(lorc_rd_u16(p + 2 * i)) * b[i];
        s1 += lorc_half_inline(lorc_rd_u16(p + 2 * i + 2)) * b[i + 1];
    }
    for (; i < n; i++) s0 += lorc_half_inline(lorc_rd_u16(p + 2 * i)) * b[i];
    return s0 + s1;
}

void lorc_bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_fast(lorc_rd_u16(p + 2 * i));
}

void lorc_bf16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) lorc_wr_u16(p + 2 * i, lorc_fp32_to_bf16(src[i]));
}

float lorc_bf16_vec_dot(const void *w, const void *x, int64_t n) {
    const uint8_t *p = w;
    const float *b = x;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += bf16_fast(lorc_rd_u16(p + 2 * i)) * b[i];
        s1 += bf16_fast(lorc_rd_u16(p + 2 * i + 2)) * b[i + 1];
    }
    for (; i < n; i++) s0 += bf16_fast(lorc_rd_u16(p + 2 * i)) * b[i];
    return s0 + s1;
}
