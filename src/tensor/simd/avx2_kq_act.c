/* avx2_kq_act.c — the k-quant activation formats q8_K256 and q16_K256
 * (kq_act.h) packed with AVX2, for the AVX2 and AVX-512 families.
 *
 * kq_act.c's portable packing runs one value at a time; in a prompt it took
 * ~5% of a Q4_K_M forward pass (every matmul input of every token is
 * packed once). This file gives the same bytes 8 values at a time: the
 * same scale (amax / qmax, and its inverse qmax / amax computed as there),
 * the same product v * id, the same clamps (vmaxps / vminps keep the second
 * operand for a NaN, as kq_act.c's comparisons do), and vcvtps2dq rounds
 * half to even in the default mode, as kq_act.c's float addition does.
 * test_kernels_kquants compares the bytes with kq_act.c's on every family. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include <float.h>
#include <math.h>

#include "avx2_float_legacy.h"

/* The 256 values of a block as 32 vectors; returns qmax / amax (0 for an
 * all-zero block) and writes d = amax / qmax, or NaN (and returns 0) when a
 * value is not finite, as kq_act.c's block_scale. */
static float block_scale8(const float *x, float qmax, __m256 v[32], uint8_t d_out[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
    __m256 amax = _mm256_setzero_ps();
    int finite = 0xff;
    for (int k = 0; k < 32; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        const __m256 a = _mm256_andnot_ps(sign, v[k]);
        finite &= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_LE_OQ));
        amax = _mm256_max_ps(a, amax);
    }
    if (finite != 0xff) {
        const float nan = NAN;
        memcpy(d_out, &nan, 4);
        return 0.0f;
    }
    amax = _mm256_max_ps(amax, _mm256_permute2f128_ps(amax, amax, 1));
    amax = _mm256_max_ps(amax, _mm256_shuffle_ps(amax, amax, 0x4e));
    amax = _mm256_max_ps(amax, _mm256_shuffle_ps(amax, amax, 0xb1));
    const float m = _mm256_cvtss_f32(amax), d = m / qmax;
    memcpy(d_out, &d, 4);
    return m > 0.0f ? qmax / m : 0.0f;
}

/* Step t of a block (values 32t..32t+31, sub-blocks 2t and 2t + 1) as
 * int32 quants q[4]: v * id clamped to [-qmax, qmax] and rounded half to
 * even; and the two sub-blocks' sums of quants. */
static inline void quantize_step(const __m256 v[32], int t, __m256 id, float qmax, __m256i q[4], int32_t sums[2]) {
    const __m256 lo = _mm256_set1_ps(-qmax), hi = _mm256_set1_ps(qmax);
    for (int k = 0; k < 4; k++) {
        __m256 s = _mm256_mul_ps(v[4 * t + k], id);
        s = _mm256_max_ps(s, lo); /* NaN -> -qmax */
        s = _mm256_min_ps(s, hi);
        q[k] = _mm256_cvtps_epi32(s);
    }
    sums[0] = lorc_avx2_hsum_i32(_mm256_add_epi32(q[0], q[1]));
    sums[1] = lorc_avx2_hsum_i32(_mm256_add_epi32(q[2], q[3]));
}

static void q8_K256_pack(const float *x, void *dst, int64_t n) {
    /* packs interleave 128-bit lanes; this puts the 4-byte groups back in order */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    lorc_act_q8_K256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, b++, x += 256) {
        __m256 v[32];
        const __m256 id = _mm256_set1_ps(block_scale8(x, (float)LORC_KQ8_MAX, v, b->d));
        for (int t = 0; t < 8; t++) { /* 32 values: sub-blocks 2t and 2t + 1 */
            __m256i q[4];
            int32_t s[2];
            quantize_step(v, t, id, (float)LORC_KQ8_MAX, q, s);
            const int16_t s16[2] = {(int16_t)s[0], (int16_t)s[1]};
            memcpy(b->bsums + 4 * t, s16, sizeof s16);
            const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
            const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
            _mm256_storeu_si256((__m256i *)(void *)(b->qs + 32 * t), q8);
        }
    }
}

static void q16_K256_pack(const float *x, void *dst, int64_t n) {
    lorc_act_q16_K256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, b++, x += 256) {
        __m256 v[32];
        const __m256 id = _mm256_set1_ps(block_scale8(x, (float)LORC_KQ16_MAX, v, b->d));
        for (int t = 0; t < 8; t++) { /* 32 values: sub-blocks 2t and 2t + 1 */
            __m256i q[4];
            int32_t s[2];
            quantize_step(v, t, id, (float)LORC_KQ16_MAX, q, s);
            memcpy(b->sums + 8 * t, s, sizeof s);
            /* q16_K256's order within 32 values (lorc_kq16_slot): 0-7, 16-23,
             * then 8-15, 24-31; vpackssdw of (0-7, 16-23) gives 0-3, 16-19 |
             * 4-7, 20-23, and the 64-bit permute puts the quarters in order */
            const __m256i w0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[2]), 0xd8);
            const __m256i w1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[1], q[3]), 0xd8);
            _mm256_storeu_si256((__m256i *)(void *)(b->qs + 64 * t), w0);
            _mm256_storeu_si256((__m256i *)(void *)(b->qs + 64 * t + 32), w1);
        }
    }
}

const lorc_act_format lorc_avx2_act_fmt_q8_K256 = {"q8_K256", 256, sizeof(lorc_act_q8_K256), q8_K256_pack, false};
const lorc_act_format lorc_avx2_act_fmt_q16_K256 = {"q16_K256", 256, sizeof(lorc_act_q16_K256), q16_K256_pack, false};

#else
typedef int lorc_avx2_kq_act_unused; /* ISO C wants a declaration in every file */
#endif
