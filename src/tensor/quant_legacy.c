/* quant_legacy.c — ggml's original 32-value block types: Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, Q8_1. Dequantize, fused dot with an F32 row, and quantize.
 *
 * Layout facts (ggml): each block stores an fp16 scale d (and for the _1
 * types an fp16 offset m), then the quants. 4-bit nibbles pair value j (low
 * nibble) with value j+16 (high nibble) of the same block; Q5's fifth bits
 * are a little-endian 32-bit mask, bit j for value j.
 *
 * Dots: one float accumulator per block, scaled once by d, blocks summed in
 * float. Quantizers pick the scale like ggml's reference (max magnitude
 * onto the extreme level), then round every value against the fp16-rounded
 * scale actually stored, so the per-value error is at most half a step. */
#include <math.h>

#include "quant_impl.h"

/* Nearest integer of v clamped to [lo, hi] (ties up); NaN goes to lo.
 * Clamping in float first keeps the conversion defined for any input. */
static inline int round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) v = (float)lo; /* also catches NaN */
    if (v > (float)hi) v = (float)hi;
    return (int)(v - (float)lo + 0.5f) + lo; /* non-negative before the cast: truncation rounds */
}

static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void wr_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The value with the largest magnitude, sign kept (the symmetric types map
 * it onto their most negative level, which has one more step than the top). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < n; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    *mn = lo;
    *mx = hi;
}

/* Reciprocal of the stored scale (0 for a zero scale: every quant then sits
 * at the zero level). */
static inline float inv_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

/* ---------------- Q4_0: x = d * (q - 8), q in 0..15 ---------------- */

void lorc_q4_0_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) {
        const float d = lorc_rd_f16(b->d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((b->qs[j] & 0x0f) - 8) * d;
            dst[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

float lorc_q4_0_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q4_0 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) {
        float s0 = 0.0f, s1 = 0.0f;
        for (int j = 0; j < 16; j++) {
            s0 += (float)((b->qs[j] & 0x0f) - 8) * x[j];
            s1 += (float)((b->qs[j] >> 4) - 8) * x[j + 16];
        }
        sum += lorc_rd_f16(b->d) * (s0 + s1);
    }
    return sum;
}

void lorc_q4_0_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) {
        lorc_wr_f16(b->d, signed_absmax(src, LORC_QK) / -8.0f);
        const float id = inv_or_zero(lorc_rd_f16(b->d));
        for (int j = 0; j < 16; j++) {
            int q0 = round_clamp(src[j] * id + 8.0f, 0, 15);
            int q1 = round_clamp(src[j + 16] * id + 8.0f, 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* ---------------- Q4_1: x = d * q + m, q in 0..15 ---------------- */

void lorc_q4_1_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) {
        const float d = lorc_rd_f16(b->d), m = lorc_rd_f16(b->m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b->qs[j] & 0x0f) * d + m;
            dst[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

float lorc_q4_1_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q4_1 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) {
        float sq = 0.0f, sx = 0.0f;
        for (int j = 0; j < 16; j++) {
            sq += (float)(b->qs[j] & 0x0f) * x[j] + (float)(b->qs[j] >> 4) * x[j + 16];
            sx += x[j] + x[j + 16];
        }
        sum += lorc_rd_f16(b->d) * sq + lorc_rd_f16(b->m) * sx;
    }
    return sum;
}

void lorc_q4_1_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) {
        float mn, mx;
        min_max(src, LORC_QK, &mn, &mx);
        lorc_wr_f16(b->d, (mx - mn) / 15.0f);
        lorc_wr_f16(b->m, mn);
        const float id = inv_or_zero(lorc_rd_f16(b->d)), m = lorc_rd_f16(b->m);
        for (int j = 0; j < 16; j++) {
            int q0 = round_clamp((src[j] - m) * id, 0, 15);
            int q1 = round_clamp((src[j + 16] - m) * id, 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* ---------------- Q5_0: x = d * (q - 16), q in 0..31 ---------------- */

void lorc_q5_0_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) {
        const float d = lorc_rd_f16(b->d);
        const uint32_t qh = rd_u32(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j] = (float)(q0 - 16) * d;
            dst[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

float lorc_q5_0_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q5_0 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) {
        const uint32_t qh = rd_u32(b->qh);
        float s0 = 0.0f, s1 = 0.0f;
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            s0 += (float)(q0 - 16) * x[j];
            s1 += (float)(q1 - 16) * x[j + 16];
        }
        sum += lorc_rd_f16(b->d) * (s0 + s1);
    }
    return sum;
}

void lorc_q5_0_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) {
        lorc_wr_f16(b->d, signed_absmax(src, LORC_QK) / -16.0f);
        const float id = inv_or_zero(lorc_rd_f16(b->d));
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = round_clamp(src[j] * id + 16.0f, 0, 31);
            int q1 = round_clamp(src[j + 16] * id + 16.0f, 0, 31);
            b->qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        wr_u32(b->qh, qh);
    }
}

/* ---------------- Q5_1: x = d * q + m, q in 0..31 ---------------- */

void lorc_q5_1_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) {
        const float d = lorc_rd_f16(b->d), m = lorc_rd_f16(b->m);
        const uint32_t qh = rd_u32(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j] = (float)q0 * d + m;
            dst[j + 16] = (float)q1 * d + m;
        }
    }
}

float lorc_q5_1_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q5_1 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) {
        const uint32_t qh = rd_u32(b->qh);
        float sq = 0.0f, sx = 0.0f;
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            sq += (float)q0 * x[j] + (float)q1 * x[j + 16];
            sx += x[j] + x[j + 16];
        }
        sum += lorc_rd_f16(b->d) * sq + lorc_rd_f16(b->m) * sx;
    }
    return sum;
}

void lorc_q5_1_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) {
        float mn, mx;
        min_max(src, LORC_QK, &mn, &mx);
        lorc_wr_f16(b->d, (mx - mn) / 31.0f);
        lorc_wr_f16(b->m, mn);
        const float id = inv_or_zero(lorc_rd_f16(b->d)), m = lorc_rd_f16(b->m);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = round_clamp((src[j] - m) * id, 0, 31);
            int q1 = round_clamp((src[j + 16] - m) * id, 0, 31);
            b->qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        wr_u32(b->qh, qh);
    }
}

/* ---------------- Q8_0: x = d * q, q in -127..127 ---------------- */

/* One block's values and dot product; Q8_1 blocks hold the same d and qs. */
static inline void q8_block_to_float(const uint8_t d_bytes[2], const int8_t *qs, float *dst) {
    const float d = lorc_rd_f16(d_bytes);
    for (int j = 0; j < LORC_QK; j++) dst[j] = (float)qs[j] * d;
}

static inline float q8_block_dot(const uint8_t d_bytes[2], const int8_t *qs, const float *x) {
    float s0 = 0.0f, s1 = 0.0f;
    for (int j = 0; j < LORC_QK; j += 2) {
        s0 += (float)qs[j] * x[j];
        s1 += (float)qs[j + 1] * x[j + 1];
    }
    return lorc_rd_f16(d_bytes) * (s0 + s1);
}

void lorc_q8_0_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) q8_block_to_float(b->d, b->qs, dst);
}

float lorc_q8_0_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q8_0 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) sum += q8_block_dot(b->d, b->qs, x);
    return sum;
}

/* Shared by Q8_0 and Q8_1: scale amax/127, quants against the stored scale;
 * returns the sum of the quants. */
static int quantize_q8_block(const float *x, uint8_t d_out[2], int8_t qs[LORC_QK]) {
    float amax = 0.0f;
    for (int j = 0; j < LORC_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    lorc_wr_f16(d_out, amax / 127.0f);
    const float id = inv_or_zero(lorc_rd_f16(d_out));
    int sum = 0;
    for (int j = 0; j < LORC_QK; j++) {
        qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
        sum += qs[j];
    }
    return sum;
}

void lorc_q8_0_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) quantize_q8_block(src, b->d, b->qs);
}

/* ---------------- Q8_1: Q8_0 plus s = d * sum(q) ---------------- */

void lorc_q8_1_to_float(const void *src, float *dst, int64_t n) {
    const lorc_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, dst += LORC_QK) q8_block_to_float(b->d, b->qs, dst);
}

float lorc_q8_1_vec_dot(const void *w, const void *xv, int64_t n) {
    const lorc_block_q8_1 *b = w;
    const float *x = xv;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, x += LORC_QK) sum += q8_block_dot(b->d, b->qs, x);
    return sum;
}

void lorc_q8_1_from_float(const float *src, void *dst, int64_t n) {
    lorc_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / LORC_QK; i++, b++, src += LORC_QK) {
        int sum = quantize_q8_block(src, b->d, b->qs);
        lorc_wr_f16(b->s, (float)sum * lorc_rd_f16(b->d));
    }
}
