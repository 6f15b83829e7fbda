/* avx2_float_legacy.h — private to the AVX2 files of the float and legacy
 * types (avx2_float.c, avx2_legacy.c, avx2_act.c, avx2_vec.c): their
 * activation formats, the vec helpers' entry points, and small inline
 * helpers. Only included from files built with -mavx2 -mfma -mf16c (and
 * only on x86-64). */
#ifndef LORC_TENSOR_SIMD_AVX2_FLOAT_LEGACY_H
#define LORC_TENSOR_SIMD_AVX2_FLOAT_LEGACY_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "../kernels.h"

/* Activation block for the 4- and 5-bit weight types (int8 unsigned weights
 * times int8 signed activations through vpmaddubsw): x ≈ d * q, with the
 * sum of q so that an offset weight (q - 8, or d*q + m) needs no second
 * integer pass: the _0 types subtract 8 or 16 * sum from the integer dot,
 * the _1 types add m * s. Fields are read with unaligned loads: a packed
 * row may start anywhere. */
typedef struct {
    uint8_t d[4];   /* float: amax / 127 */
    uint8_t s[4];   /* float: d * sum(q) */
    uint8_t sum[4]; /* int32: sum(q) */
    int8_t q[32];
} lorc_avx2_act_q8s;
_Static_assert(sizeof(lorc_avx2_act_q8s) == 44, "q8s block");

/* Activation block for Q8_0 weights: int16 activations (x ≈ d * q with
 * |q| <= 32767) so the activation rounding stays ~256x below the weights'
 * own 8-bit rounding; multiplied with sign-extended weights by vpmaddwd. */
typedef struct {
    uint8_t d[4];  /* float: amax / 32767 */
    uint8_t q[64]; /* 32 int16, little-endian (bytes: the block has alignment 1) */
} lorc_avx2_act_q16;
_Static_assert(sizeof(lorc_avx2_act_q16) == 68, "q16 block");

extern const lorc_act_format lorc_avx2_act_q8s_format;
extern const lorc_act_format lorc_avx2_act_q16_format;
extern const lorc_act_format lorc_avx2_act_f32_format;

/* avx2_q45.c: the Q4_0, Q4_1, Q5_0 and Q5_1 entries */
void lorc_avx2_fill_q45(lorc_kernels *k);

/* avx2_vec.c */
float lorc_avx2_dot_f32(const float *a, const float *b, int64_t n);
void lorc_avx2_axpy_f32(float a, const float *x, float *y, int64_t n);
void lorc_avx2_softmax_f32(float *x, int64_t n);
void lorc_avx2_f16_to_f32(const void *src, float *dst, int64_t n);
void lorc_avx2_f32_to_f16(const float *src, void *dst, int64_t n);
/* exp of 8 floats; within a few ulp of expf over the whole float range
 * (0 below ~-103.97, +inf above ~88.72, NaN stays NaN). */
__m256 lorc_avx2_exp_ps(__m256 x);

static inline float lorc_avx2_ld_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

static inline int32_t lorc_avx2_ld_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void lorc_avx2_st_f32(uint8_t *p, float f) { memcpy(p, &f, sizeof f); }

static inline uint16_t lorc_avx2_ld_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v); /* x86 is little-endian like the file */
    return v;
}

/* Sum of the 8 lanes in one fixed order (the same for every pair of a tile:
 * part of batch invariance). */
static inline float lorc_avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* For an unpacked float tile of nr rows at element byte `at` of its rows,
 * once per cache line of the first row: the same place in the rows two
 * tiles on, asked into L2. Short row streams escape the hardware
 * prefetcher (a packed tile is one long stream and needs none); into L2
 * only: on Zen 4 the F16 tile read 14.5-15.6 GB/s from DRAM with
 * _MM_HINT_T0, 20-21.5 with T1 (kernel_tile_bench 65536 2048). */
static inline __attribute__((always_inline)) void lorc_float_rows_ahead(const uint8_t *const *wr, int nr,
                                                                        size_t w_stride, size_t at) {
    if (at % 64 != 0) return;
    for (int r = 0; r < nr; r++) _mm_prefetch((const char *)(wr[r] + (size_t)(2 * nr) * w_stride + at), _MM_HINT_T1);
}

static inline int32_t lorc_avx2_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#endif
#endif
