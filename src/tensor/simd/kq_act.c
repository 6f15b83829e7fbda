/* kq_act.c — packing F32 activation rows into the k-quant kernels' formats
 * (see kq_act.h). Portable C, and the reference: the NEON family packs with
 * it, the AVX2 and AVX-512 families with avx2_kq_act.c, which must give
 * these bytes (test_kernels_kquants compares them). */
#include "kq_act.h"

#include <float.h>
#include <math.h>
#include <string.h>

static void wr_f32(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(u >> (8 * k));
}

static float rd_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void wr_i16(uint8_t *p, int v) {
    const uint16_t u = (uint16_t)v;
    p[0] = (uint8_t)(u & 0xff);
    p[1] = (uint8_t)(u >> 8);
}

static int rd_i16(const uint8_t *p) { return (int16_t)(uint16_t)(p[0] | (p[1] << 8)); }

/* Scale of a block of 256 so its largest magnitude maps to qmax; writes d and
 * returns the inverse (0 for an all-zero block: every q becomes 0). A NaN or
 * infinity makes d NaN, so every dot with the block is NaN, as with F32. */
static float block_scale(const float *x, int qmax, uint8_t d_out[4]) {
    /* comparisons, not fmaxf (a library call here) or a short-circuit:
     * this runs on every matmul input of a decode step */
    float amax = 0.0f;
    int finite = 1;
    for (int l = 0; l < 256; l++) {
        const float a = fabsf(x[l]);
        finite &= a <= FLT_MAX;
        amax = a > amax ? a : amax;
    }
    if (!finite) {
        wr_f32(d_out, NAN);
        return 0.0f;
    }
    wr_f32(d_out, amax / (float)qmax);
    return amax > 0.0f ? (float)qmax / amax : 0.0f;
}

/* Clamped before the conversion: never out of int range, NaN (inf * 0) -> -qmax
 * (the first comparison is false for NaN). Then rounded half to even, as
 * nearbyintf does in the default mode, but without a library call: adding
 * 1.5 * 2^23 to a float of magnitude below 2^22 leaves no fraction bits, so
 * the sum is rounded to an integer and the subtraction is exact. */
#if FLT_EVAL_METHOD != 0
#error "quantize_one rounds by float addition: it needs float arithmetic in float precision"
#endif
static int quantize_one(float v, float id, int qmax) {
    float s = v * id;
    s = s > (float)-qmax ? s : (float)-qmax;
    s = s < (float)qmax ? s : (float)qmax;
    return (int)((s + 12582912.0f) - 12582912.0f);
}

static void q8_K256_from_float(const float *x, void *dst, int64_t n) {
    lorc_act_q8_K256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, b++, x += 256) {
        const float id = block_scale(x, LORC_KQ8_MAX, b->d);
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 16 * j; l < 16 * j + 16; l++) {
                const int q = quantize_one(x[l], id, LORC_KQ8_MAX);
                b->qs[l] = (int8_t)q;
                sum += q;
            }
            wr_i16(b->bsums + 2 * j, sum);
        }
    }
}

static void q16_K256_from_float(const float *x, void *dst, int64_t n) {
    lorc_act_q16_K256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, b++, x += 256) {
        const float id = block_scale(x, LORC_KQ16_MAX, b->d);
        for (int j = 0; j < 16; j++) {
            int32_t sum = 0;
            for (int l = 16 * j; l < 16 * j + 16; l++) {
                const int q = quantize_one(x[l], id, LORC_KQ16_MAX);
                wr_i16(b->qs + 2 * lorc_kq16_slot(l), q);
                sum += q;
            }
            for (int k = 0; k < 4; k++) b->sums[4 * j + k] = (uint8_t)((uint32_t)sum >> (8 * k));
        }
    }
}

void lorc_act_q8_K256_to_float(const void *src, float *y, int64_t n) {
    const lorc_act_q8_K256 *b = src;
    for (int64_t i = 0; i < n / 256; i++, b++, y += 256) {
        const float d = rd_f32(b->d);
        for (int l = 0; l < 256; l++) y[l] = d * (float)b->qs[l];
    }
}

void lorc_act_q16_K256_to_float(const void *src, float *y, int64_t n) {
    const lorc_act_q16_K256 *b = src;
    for (int64_t i = 0; i < n / 256; i++, b++, y += 256) {
        const float d = rd_f32(b->d);
        for (int l = 0; l < 256; l++) y[l] = d * (float)rd_i16(b->qs + 2 * lorc_kq16_slot(l));
    }
}

const lorc_act_format lorc_act_fmt_q8_K256 = {"q8_K256", 256, sizeof(lorc_act_q8_K256), q8_K256_from_float, false};
const lorc_act_format lorc_act_fmt_q16_K256 = {"q16_K256", 256, sizeof(lorc_act_q16_K256), q16_K256_from_float, false};
