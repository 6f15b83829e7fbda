/* test_types_quant.c — kernels on random data: the fused dot equals
 * dequantize-then-dot (in double), quantize round-trips within each format's
 * error bound, and the formats' accuracy comes out in the expected order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/types.h"
#include "test_types_ref.h"
#include "testutil.h"

/* Small deterministic generator (tests must not depend on libc's rand). */
typedef struct { uint64_t s; } rng;
static uint32_t rng_u32(rng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_uniform(rng *r) { return (float)(rng_u32(r) >> 8) * 0x1p-24f; } /* [0, 1) */
static float rng_gauss(rng *r) {
    float u = rng_uniform(r) + 0x1p-25f, v = rng_uniform(r);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static const uint32_t all_types[] = {
    LORC_TYPE_F32,  LORC_TYPE_F16,  LORC_TYPE_BF16, LORC_TYPE_Q8_0, LORC_TYPE_Q8_1, LORC_TYPE_Q4_0,
    LORC_TYPE_Q4_1, LORC_TYPE_Q5_0, LORC_TYPE_Q5_1, LORC_TYPE_Q2_K, LORC_TYPE_Q3_K, LORC_TYPE_Q4_K,
    LORC_TYPE_Q5_K, LORC_TYPE_Q6_K, LORC_TYPE_Q8_K,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Byte offsets of the fp16 scale fields in one block (-1 ends). */
static const int *half_fields(uint32_t type) {
    static const int none[] = {-1}, at0[] = {0, -1}, at02[] = {0, 2, -1};
    static const int q2k[] = {80, 82, -1}, q3k[] = {108, -1}, q6k[] = {208, -1};
    switch (type) {
    case LORC_TYPE_Q4_0: case LORC_TYPE_Q5_0: case LORC_TYPE_Q8_0: return at0;
    case LORC_TYPE_Q4_1: case LORC_TYPE_Q5_1: case LORC_TYPE_Q8_1: case LORC_TYPE_Q4_K: case LORC_TYPE_Q5_K: return at02;
    case LORC_TYPE_Q2_K: return q2k;
    case LORC_TYPE_Q3_K: return q3k;
    case LORC_TYPE_Q6_K: return q6k;
    default: return none;
    }
}

/* A row of n values of `type` made of random bytes (every bit pattern of the
 * quants), with the scale fields set to finite values of moderate size. */
static void random_row(uint32_t type, uint8_t *row, int64_t n, rng *r) {
    const lorc_type_info *t = lorc_type_get(type);
    size_t bytes = lorc_row_bytes(type, n);
    for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)rng_u32(r);
    if (type == LORC_TYPE_F32 || type == LORC_TYPE_F16 || type == LORC_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float v = rng_gauss(r);
            if (type == LORC_TYPE_F32) memcpy(row + 4 * i, &v, 4);
            uint16_t h = type == LORC_TYPE_F16 ? lorc_fp32_to_fp16(v) : lorc_fp32_to_bf16(v);
            if (type != LORC_TYPE_F32) row[2 * i] = (uint8_t)h, row[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    }
    for (int64_t blk = 0; blk < n / t->block_size; blk++) {
        uint8_t *b = row + blk * (int64_t)t->block_bytes;
        if (type == LORC_TYPE_Q8_K) {
            float d = 0.01f * (rng_uniform(r) + 0.1f);
            memcpy(b, &d, 4); /* the tests run on little-endian hosts */
            continue;
        }
        for (const int *f = half_fields(type); *f >= 0; f++) {
            uint16_t h = lorc_fp32_to_fp16((rng_uniform(r) - 0.3f) * 0.05f);
            b[*f] = (uint8_t)h, b[*f + 1] = (uint8_t)(h >> 8);
        }
    }
}

/* Fused dot vs dequantize-then-dot in double, on random rows. */
static void test_vec_dot(void) {
    rng r = {42};
    static const int64_t lens_1[] = {1, 7, 33, 100, 4096};
    static const int64_t lens_32[] = {32, 64, 96, 352, 4096};
    static const int64_t lens_256[] = {256, 512, 2816, 4096};
    uint8_t *w = malloc(4096 * 4 + 1);
    float *x = malloc(4096 * sizeof(float)), *wd = malloc(4096 * sizeof(float));
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const lorc_type_info *t = lorc_type_get(all_types[ti]);
        const int64_t *lens = t->block_size == 1 ? lens_1 : t->block_size == 32 ? lens_32 : lens_256;
        int nlens = t->block_size == 256 ? 4 : 5;
        for (int li = 0; li < nlens; li++) {
            int64_t n = lens[li];
            for (int rep = 0; rep < 3; rep++) {
                if (rep < 2 || !t->from_float) {
                    random_row(all_types[ti], w, n, &r);
                } else { /* also blocks our own quantizer writes */
                    for (int64_t i = 0; i < n; i++) wd[i] = rng_gauss(&r);
                    t->from_float(wd, w, n);
                }
                for (int64_t i = 0; i < n; i++) x[i] = rng_gauss(&r);
                t->to_float(w, wd, n);
                double ref = 0.0, mag = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)wd[i] * x[i];
                    mag += fabs((double)wd[i] * x[i]);
                }
                double got = t->vec_dot(w, x, n);
                if (all_types[ti] != LORC_TYPE_F32) { /* blocks need no alignment: same result at an odd address */
                    size_t bytes = lorc_row_bytes(all_types[ti], n);
                    memmove(w + 1, w, bytes);
                    CHECK_MSG(t->vec_dot(w + 1, x, n) == (float)got, "%s: unaligned row", t->name);
                    t->to_float(w + 1, wd, n);
                    memmove(w, w + 1, bytes);
                }
                /* float accumulation: relative to the sum of |terms| */
                CHECK_MSG(fabs(got - ref) <= 2e-5 * mag + 1e-30, "%s n=%lld: fused %.9g, reference %.9g (mag %g)",
                          t->name, (long long)n, got, ref, mag);
            }
        }
    }
    free(w);
    free(x);
    free(wd);
}

/* ---------------- quantize round trip ---------------- */

/* Per-value bound of the grid formats: a value inside its block's grid is
 * at most half a step away; outside the grid, it lands on the grid's end. */
static double grid_bound(ref_value g, double x) {
    if (x < g.lo) return g.lo - x;
    if (x > g.hi) return x - g.hi;
    return 0.5 * g.step;
}

/* How far beyond the grid a value may legally fall ("overshoot"), per type:
 *  Q8_0/Q8_1: the grid ends at +-127*d with d = amax/127 rounded to fp16, so
 *             only that rounding (2^-11 relative) can leave amax outside;
 *  Q4_0/Q5_0: the largest magnitude maps onto the extra negative code, so a
 *             value of the other sign and equal size falls one step beyond;
 *  Q4_1/Q5_1: min and (max-min)/levels rounded to fp16;
 *  k-quants:  scales and mins quantized to 4/6/8-bit codes: up to one code
 *             step of the super-block scale times the top quant, checked
 *             through the RMS and max-error limits instead (overshoot is
 *             allowed here when least squares prefers it). */
static double overshoot_limit(uint32_t type, const float *x, int64_t bs) {
    double amax = 0, mn = x[0], mx = x[0];
    for (int64_t i = 0; i < bs; i++) {
        amax = fmax(amax, fabs(x[i]));
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    switch (type) {
    case LORC_TYPE_Q8_0: case LORC_TYPE_Q8_1: return amax * 0x1p-10;
    case LORC_TYPE_Q4_0: return amax / 8 * (1 + 0x1p-10) + amax * 0x1p-10;
    case LORC_TYPE_Q5_0: return amax / 16 * (1 + 0x1p-10) + amax * 0x1p-10;
    case LORC_TYPE_Q4_1: case LORC_TYPE_Q5_1: return (fabs(mn) + (mx - mn)) * 0x1p-10;
    default: return INFINITY;
    }
}

typedef struct quant_stats {
    double sum_err2, sum_x2, max_rel; /* max |err| / block range */
    int bad;
} quant_stats;

/* Quantizes x (n values) to `type`, decodes, checks the per-value bounds,
 * and adds to the error statistics. */
static void round_trip(uint32_t type, const float *x, int64_t n, quant_stats *st, const char *what) {
    const lorc_type_info *t = lorc_type_get(type);
    uint8_t *q = malloc(lorc_row_bytes(type, n));
    float *y = malloc((size_t)n * sizeof(float));
    t->from_float(x, q, n);
    t->to_float(q, y, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)y[i] - x[i]);
        st->sum_err2 += err * err;
        st->sum_x2 += (double)x[i] * x[i];
        if (!(err == err)) { /* NaN */
            bad++;
            continue;
        }
        double bound;
        if (type == LORC_TYPE_F32) {
            bound = 0;
        } else if (type == LORC_TYPE_F16) {
            bound = fabs(x[i]) * 0x1p-11 + 0x1p-25; /* half an ulp; subnormal spacing 2^-24 */
        } else if (type == LORC_TYPE_BF16) {
            bound = fabs(x[i]) * 0x1p-8;
        } else {
            int64_t blk = i / t->block_size, e = i % t->block_size;
            const float *xb = x + blk * t->block_size;
            ref_value g = ref_decode((int)type, q + blk * (int64_t)t->block_bytes, (int)e);
            CHECK_MSG((float)g.v == y[i], "%s: table decode != layout decode at %lld", t->name, (long long)i);
            double over = overshoot_limit(type, xb, t->block_size);
            double lo = xb[0], hi = xb[0];
            for (int64_t k = 0; k < t->block_size; k++) lo = fmin(lo, xb[k]), hi = fmax(hi, xb[k]);
            double slack = 1e-6 * fmax(fabs(lo), fabs(hi)); /* float arithmetic in the quantizer */
            bound = fmin(grid_bound(g, x[i]), 0.5 * g.step + over) + slack;
            if (hi > lo) st->max_rel = fmax(st->max_rel, err / (hi - lo));
        }
        if (err > bound) {
            if (bad < 3) fprintf(stderr, "  %s %s: value %lld x=%.8g y=%.8g err %.3g > bound %.3g\n", t->name, what,
                                 (long long)i, x[i], y[i], err, bound);
            bad++;
        }
    }
    st->bad += bad;
    free(q);
    free(y);
}

/* The quantizable types, from most to least accurate on Gaussian data
 * (the order the RMS errors must come out in). */
static const uint32_t by_accuracy[] = {LORC_TYPE_Q8_0, LORC_TYPE_Q6_K, LORC_TYPE_Q5_K,
                                       LORC_TYPE_Q4_K, LORC_TYPE_Q3_K, LORC_TYPE_Q2_K};

/* Limits on N(0,1) data, about 10% above what lorc measures (the data are
 * deterministic): relative RMS error, and the largest single error as a
 * fraction of its block's range. For comparison, ggml's reference
 * quantizers (no importance matrix) measured, on the same kind of data,
 * Q2_K 0.250, Q3_K 0.130, Q4_K 0.061, Q5_K 0.031, Q6_K 0.015, Q4_0 0.073,
 * Q8_0 0.0045: the k-quant limits below are all under those. */
typedef struct { uint32_t type; double rms, max_rel; } quality_limit;
static const quality_limit limits[] = {
    {LORC_TYPE_F32, 0, 0},          {LORC_TYPE_F16, 2.5e-4, 0},     {LORC_TYPE_BF16, 1.9e-3, 0},
    {LORC_TYPE_Q8_0, 0.005, 0.0035}, {LORC_TYPE_Q8_1, 0.005, 0.0035}, {LORC_TYPE_Q8_K, 0.0065, 0.003},
    {LORC_TYPE_Q6_K, 0.0155, 0.012}, {LORC_TYPE_Q5_1, 0.036, 0.02},  {LORC_TYPE_Q5_0, 0.039, 0.034},
    {LORC_TYPE_Q5_K, 0.0325, 0.027}, {LORC_TYPE_Q4_1, 0.074, 0.04},  {LORC_TYPE_Q4_0, 0.080, 0.07},
    {LORC_TYPE_Q4_K, 0.0655, 0.058}, {LORC_TYPE_Q3_K, 0.134, 0.13},  {LORC_TYPE_Q2_K, 0.255, 0.25},
};

static quality_limit limit_of(uint32_t type) {
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].type == type) return limits[i];
    quality_limit none = {type, 0, 0};
    return none;
}

static void test_round_trip(void) {
    rng r = {7};
    const int64_t n = 256 * 64;
    float *x = malloc((size_t)n * sizeof(float));
    double rms[LORC_TYPE_COUNT] = {0};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = all_types[ti];
        const lorc_type_info *t = lorc_type_get(type);
        if (!t->from_float) continue;
        quant_stats gauss = {0}, other = {0};

        /* Gaussian data: bounds and the RMS figure */
        for (int64_t i = 0; i < n; i++) x[i] = rng_gauss(&r);
        round_trip(type, x, n, &gauss, "gaussian");
        rms[type] = sqrt(gauss.sum_err2 / gauss.sum_x2);

        /* awkward data: bounds only */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f; /* all zero */
        round_trip(type, x, 256, &other, "zeros");
        for (int64_t i = 0; i < 256; i++) x[i] = -0.75f; /* constant */
        round_trip(type, x, 256, &other, "constant");
        for (int64_t i = 0; i < 256; i++) x[i] = 2.0f + rng_uniform(&r); /* all positive, offset */
        round_trip(type, x, 256, &other, "positive");
        for (int64_t i = 0; i < 256; i++) x[i] = -5.0f - rng_uniform(&r); /* all negative */
        round_trip(type, x, 256, &other, "negative");
        for (int64_t i = 0; i < 256; i++) x[i] = 0.01f * rng_gauss(&r);
        x[37] = 30.0f, x[200] = -12.0f; /* outliers */
        round_trip(type, x, 256, &other, "outliers");
        for (int64_t i = 0; i < 256; i++) x[i] = 1e-3f * rng_gauss(&r) * (float)(1 + (i / 16) % 4); /* small */
        round_trip(type, x, 256, &other, "small");
        for (int64_t i = 0; i < 256; i++) x[i] = 0.1f + 2.0f * cosf((float)i + 0.5f); /* ggml's test signal */
        round_trip(type, x, 256, &other, "cosine");
        for (int64_t i = 0; i < 256; i++) x[i] = (float)((int)(rng_u32(&r) % 17) - 8) * 0.125f; /* exact grid */
        round_trip(type, x, 256, &other, "grid");

        CHECK_MSG(gauss.bad == 0 && other.bad == 0, "%s: %d gaussian + %d other values beyond the bound", t->name,
                  gauss.bad, other.bad);
        const quality_limit lim = limit_of(type);
        CHECK_MSG(rms[type] <= lim.rms, "%s: relative RMS error %.5f > %.5f", t->name, rms[type], lim.rms);
        CHECK_MSG(gauss.max_rel <= lim.max_rel, "%s: max error %.4f of the block range > %.4f", t->name, gauss.max_rel,
                  lim.max_rel);
        fprintf(stderr, "  %-5s relative RMS error %.5f (limit %.4f), max error / block range %.4f (limit %.4f)\n",
                t->name, rms[type], lim.rms, gauss.max_rel, lim.max_rel);
    }
    for (size_t i = 0; i + 1 < sizeof by_accuracy / sizeof by_accuracy[0]; i++)
        CHECK_MSG(rms[by_accuracy[i]] < rms[by_accuracy[i + 1]], "%s should beat %s", lorc_type_name(by_accuracy[i]),
                  lorc_type_name(by_accuracy[i + 1]));
    CHECK(rms[LORC_TYPE_Q5_0] < rms[LORC_TYPE_Q4_0]);
    CHECK(rms[LORC_TYPE_Q5_1] < rms[LORC_TYPE_Q4_1]);
    CHECK(rms[LORC_TYPE_Q4_K] < rms[LORC_TYPE_Q4_0]); /* the k-quant search pays for itself */
    CHECK(rms[LORC_TYPE_Q5_K] < rms[LORC_TYPE_Q5_0]);
    CHECK(rms[LORC_TYPE_F16] < rms[LORC_TYPE_BF16] && rms[LORC_TYPE_BF16] < rms[LORC_TYPE_Q8_0]);
    free(x);
}

/* Quantizing already-quantized values is stable for the simple formats: the
 * grid is found again (Q8_0 exactly, others up to one re-rounding of d). */
static void test_requantize(void) {
    rng r = {99};
    float x[256], y[256], z[256];
    uint8_t q[512];
    const lorc_type_info *t = lorc_type_get(LORC_TYPE_Q8_0);
    for (int i = 0; i < 256; i++) x[i] = rng_gauss(&r);
    t->from_float(x, q, 256);
    t->to_float(q, y, 256);
    t->from_float(y, q, 256);
    t->to_float(q, z, 256);
    CHECK(memcmp(y, z, sizeof y) == 0);
}

int main(void) {
    test_vec_dot();
    test_round_trip();
    test_requantize();
    return test_finish("test_types_quant");
}
