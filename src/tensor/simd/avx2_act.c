/* avx2_act.c — the activation formats of the AVX2 kernels: F32 rows kept
 * as they are (float weight types), int8 blocks with their sum (4/5-bit
 * weight types) and int16 blocks (Q8_0). A row is packed once per batch, so
 * this is not the hot loop, but it is vectorized anyway (it is per token in
 * decode). Rounding is to nearest (even) against the float scale stored. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)

static void f32_pack(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * sizeof(float)); }

/* Largest |x| of 32 values, broadcast to all lanes. */
static inline __m256 block_absmax(const __m256 v[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1]));
    a = _mm256_max_ps(a, _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    a = _mm256_max_ps(a, _mm256_permute2f128_ps(a, a, 1));
    a = _mm256_max_ps(a, _mm256_shuffle_ps(a, a, 0x4e));
    return _mm256_max_ps(a, _mm256_shuffle_ps(a, a, 0xb1));
}

/* Rounds the 32 values of one block to integers in [-qmax, qmax] against
 * the scale d = amax / qmax; returns d. Dividing by d (not multiplying by
 * 127/amax) keeps the quotient within the range even for a subnormal amax;
 * a zero block gets d = 0 and all-zero quants. */
static inline float block_round(const float *x, float qmax, __m256i out[4]) {
    __m256 v[4];
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 amax = block_absmax(v);
    const float d = _mm256_cvtss_f32(amax) / qmax;
    const __m256 vd = _mm256_set1_ps(d), lim = _mm256_set1_ps(qmax), neg_lim = _mm256_set1_ps(-qmax);
    const __m256 nonzero = _mm256_cmp_ps(vd, _mm256_setzero_ps(), _CMP_NEQ_OQ);
    for (int k = 0; k < 4; k++) {
        __m256 q = _mm256_and_ps(_mm256_div_ps(v[k], vd), nonzero);
        q = _mm256_max_ps(_mm256_min_ps(q, lim), neg_lim); /* guards the rounding of a tiny d */
        out[k] = _mm256_cvtps_epi32(q);
    }
    return d;
}

static void q8s_pack(const float *x, void *dst, int64_t n) {
    lorc_avx2_act_q8s *b = dst;
    /* packs interleave 128-bit lanes; this puts the 4-byte groups back in order */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / 32; i++, b++, x += 32) {
        __m256i q[4];
        const float d = block_round(x, 127.0f, q);
        const int32_t sum = lorc_avx2_hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
        _mm256_storeu_si256((__m256i *)(void *)b->q, q8);
        lorc_avx2_st_f32(b->d, d);
        lorc_avx2_st_f32(b->s, d * (float)sum);
        memcpy(b->sum, &sum, sizeof sum);
    }
}

static void q16_pack(const float *x, void *dst, int64_t n) {
    lorc_avx2_act_q16 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b++, x += 32) {
        __m256i q[4];
        const float d = block_round(x, 32767.0f, q);
        const __m256i lo = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xd8);
        const __m256i hi = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xd8);
        _mm256_storeu_si256((__m256i *)(void *)b->q, lo);
        _mm256_storeu_si256((__m256i *)(void *)(b->q + 32), hi);
        lorc_avx2_st_f32(b->d, d);
    }
}

const lorc_act_format lorc_avx2_act_f32_format = {"f32", 1, sizeof(float), f32_pack, true};
const lorc_act_format lorc_avx2_act_q8s_format = {"avx2_q8s", 32, sizeof(lorc_avx2_act_q8s), q8s_pack, false};
const lorc_act_format lorc_avx2_act_q16_format = {"avx2_q16", 32, sizeof(lorc_avx2_act_q16), q16_pack, false};

#else
typedef int lorc_avx2_act_unused; /* keeps the translation unit non-empty */
#endif
