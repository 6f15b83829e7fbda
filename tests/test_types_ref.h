/* test_types_ref.h — the tests' own decoder of ggml blocks, one value at a
 * time, written straight from the layout (value index e -> bytes), with no
 * code shared with src/tensor. Also reports the value grid the value was
 * picked from (step and representable range), for error-bound tests. */
#ifndef LORC_TESTS_TYPES_REF_H
#define LORC_TESTS_TYPES_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/types.h"

typedef struct ref_value {
    double v;    /* decoded value */
    double step; /* distance between neighbouring codes (>= 0) */
    double lo;   /* smallest value the block's grid for e can take */
    double hi;   /* largest */
} ref_value;

static inline uint16_t ref_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Independent half -> double: sign * 2^(exp-15) * 1.mant, or subnormal. */
static inline double ref_half(const uint8_t *p) {
    uint16_t h = ref_u16(p);
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp((double)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(1.0 + m / 1024.0, e - 15);
    return s ? -v : v;
}

/* A grid of codes qlo..qhi: value = a*q + b. */
static inline ref_value ref_grid(double a, double b, int q, int qlo, int qhi) {
    ref_value r;
    r.v = a * q + b;
    r.step = fabs(a);
    double e1 = a * qlo + b, e2 = a * qhi + b;
    r.lo = e1 < e2 ? e1 : e2;
    r.hi = e1 < e2 ? e2 : e1;
    return r;
}

/* Q4_K/Q5_K 6-bit scale and min of sub-block j, as ggml describes them. */
static inline void ref_k4_scale_min(const uint8_t *p, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = p[j] & 63;
        *m = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 15) | ((p[j - 4] >> 6) << 4);
        *m = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
    }
}

/* Value e of the block at blk (e < block size of type). */
static inline ref_value ref_decode(int type, const uint8_t *blk, int e) {
    switch (type) {
    case LORC_TYPE_Q4_0: {
        double d = ref_half(blk);
        int q = e < 16 ? (blk[2 + e] & 15) : (blk[2 + e - 16] >> 4);
        return ref_grid(d, 0, q - 8, -8, 7);
    }
    case LORC_TYPE_Q4_1: {
        double d = ref_half(blk), m = ref_half(blk + 2);
        int q = e < 16 ? (blk[4 + e] & 15) : (blk[4 + e - 16] >> 4);
        return ref_grid(d, m, q, 0, 15);
    }
    case LORC_TYPE_Q5_0: {
        double d = ref_half(blk);
        uint32_t qh = (uint32_t)blk[2] | ((uint32_t)blk[3] << 8) | ((uint32_t)blk[4] << 16) | ((uint32_t)blk[5] << 24);
        int q = (e < 16 ? (blk[6 + e] & 15) : (blk[6 + e - 16] >> 4)) | (int)(((qh >> e) & 1) << 4);
        return ref_grid(d, 0, q - 16, -16, 15);
    }
    case LORC_TYPE_Q5_1: {
        double d = ref_half(blk), m = ref_half(blk + 2);
        uint32_t qh = (uint32_t)blk[4] | ((uint32_t)blk[5] << 8) | ((uint32_t)blk[6] << 16) | ((uint32_t)blk[7] << 24);
        int q = (e < 16 ? (blk[8 + e] & 15) : (blk[8 + e - 16] >> 4)) | (int)(((qh >> e) & 1) << 4);
        return ref_grid(d, m, q, 0, 31);
    }
    case LORC_TYPE_Q8_0:
        return ref_grid(ref_half(blk), 0, (int8_t)blk[2 + e], -128, 127);
    case LORC_TYPE_Q8_1:
        return ref_grid(ref_half(blk), 0, (int8_t)blk[4 + e], -128, 127);
    case LORC_TYPE_Q2_K: {
        const uint8_t *scales = blk, *qs = blk + 16;
        double d = ref_half(blk + 80), dmin = ref_half(blk + 82);
        int sc = scales[e / 16];
        int q = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        return ref_grid(d * (sc & 15), -dmin * (sc >> 4), q, 0, 3);
    }
    case LORC_TYPE_Q3_K: {
        const uint8_t *hmask = blk, *qs = blk + 32, *p = blk + 96;
        double d = ref_half(blk + 108);
        int j = e / 16;
        int lo = j < 8 ? (p[j] & 15) : (p[j - 8] >> 4);
        int sc = (lo | (((p[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        int q = ((qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) - (((hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
        return ref_grid(d * sc, 0, q, -4, 3);
    }
    case LORC_TYPE_Q4_K: {
        double d = ref_half(blk), dmin = ref_half(blk + 2);
        const uint8_t *qs = blk + 16;
        int sc, m;
        ref_k4_scale_min(blk + 4, e / 32, &sc, &m);
        uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = (e % 64) < 32 ? (byte & 15) : (byte >> 4);
        return ref_grid(d * sc, -dmin * m, q, 0, 15);
    }
    case LORC_TYPE_Q5_K: {
        double d = ref_half(blk), dmin = ref_half(blk + 2);
        const uint8_t *qh = blk + 16, *qs = blk + 48;
        int sc, m;
        ref_k4_scale_min(blk + 4, e / 32, &sc, &m);
        uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = ((e % 64) < 32 ? (byte & 15) : (byte >> 4)) | (((qh[e % 32] >> (e / 32)) & 1) << 4);
        return ref_grid(d * sc, -dmin * m, q, 0, 31);
    }
    case LORC_TYPE_Q6_K: {
        const uint8_t *ql = blk, *qh = blk + 128;
        const int8_t sc = (int8_t)blk[192 + e / 16];
        double d = ref_half(blk + 208);
        int h = e / 128, g = (e % 128) / 32, l = e % 32;
        uint8_t lowbyte = ql[64 * h + 32 * (g & 1) + l];
        int nib = g < 2 ? (lowbyte & 15) : (lowbyte >> 4);
        int hi = (qh[32 * h + l] >> (2 * g)) & 3;
        return ref_grid(d * sc, 0, (nib | (hi << 4)) - 32, -32, 31);
    }
    case LORC_TYPE_Q8_K: {
        uint32_t u = (uint32_t)blk[0] | ((uint32_t)blk[1] << 8) | ((uint32_t)blk[2] << 16) | ((uint32_t)blk[3] << 24);
        float d;
        memcpy(&d, &u, sizeof d);
        return ref_grid(d, 0, (int8_t)blk[4 + e], -128, 127);
    }
    default: {
        ref_value r = {NAN, NAN, NAN, NAN};
        return r;
    }
    }
}

#endif
