/* avx512_emulation.h — lets a file of AVX-512 kernels build and run on a CPU
 * without AVX-512, for tests: each _mm512_* intrinsic the kernels use
 * becomes SIMDe's portable version (Debian's libsimde-dev), which SIMDe
 * checks against real AVX-512 hardware. The few SIMDe 0.7 lacks are
 * written out here, element by element, from Intel's definitions.
 *
 * Included before everything else in the file (immintrin.h first, so the
 * compiler's own declarations are read before the names are redefined). */
#ifndef LORC_TESTS_AVX512_EMULATION_H
#define LORC_TESTS_AVX512_EMULATION_H

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include <simde/x86/avx512.h>

#define __m512 simde__m512
#define __m512i simde__m512i
#define __mmask16 simde__mmask16
#define __mmask64 simde__mmask64
#define __m512d simde__m512d

#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps simde_mm512_castsi512_ps
#undef _mm512_castps512_ps256
#define _mm512_castps512_ps256 simde_mm512_castps512_ps256
#undef _mm512_extractf64x4_pd
#define _mm512_extractf64x4_pd simde_mm512_extractf64x4_pd
#undef _mm512_castps_pd
#define _mm512_castps_pd simde_mm512_castps_pd
#undef _mm512_mullo_epi32
#define _mm512_mullo_epi32 simde_mm512_mullo_epi32
#undef _mm512_and_si512
#define _mm512_and_si512 simde_mm512_and_si512
#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps simde_mm512_fnmadd_ps
#undef _mm512_broadcast_i64x4
#define _mm512_broadcast_i64x4 simde_mm512_broadcast_i64x4
#undef _mm512_insertf64x4
#define _mm512_insertf64x4 simde_mm512_insertf64x4
#undef _mm512_castpd_ps
#define _mm512_castpd_ps simde_mm512_castpd_ps
#undef _mm512_add_epi32
#define _mm512_add_epi32 simde_mm512_add_epi32
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 simde_mm512_dpbusd_epi32
#undef _mm512_mask_dpbusd_epi32
#define _mm512_mask_dpbusd_epi32 simde_mm512_mask_dpbusd_epi32
#undef _mm512_madd_epi16
#define _mm512_madd_epi16 simde_mm512_madd_epi16
#undef _mm512_dpwssd_epi32
#define _mm512_dpwssd_epi32 simde_mm512_dpwssd_epi32
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps simde_mm512_fmadd_ps
#undef _mm512_loadu_ps
#define _mm512_loadu_ps simde_mm512_loadu_ps
#undef _mm512_storeu_ps
#define _mm512_storeu_ps simde_mm512_storeu_ps
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 simde_mm512_loadu_si512
#undef _mm512_mul_ps
#define _mm512_mul_ps simde_mm512_mul_ps
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 simde_mm512_set1_epi32
#undef _mm512_set1_ps
#define _mm512_set1_ps simde_mm512_set1_ps
#undef _mm512_setzero_ps
#define _mm512_setzero_ps simde_mm512_setzero_ps
#undef _mm512_setzero_si512
#define _mm512_setzero_si512 simde_mm512_setzero_si512
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 simde_mm512_slli_epi32
#undef _mm512_sub_epi32
#define _mm512_sub_epi32 simde_mm512_sub_epi32
#undef _mm512_unpacklo_ps
#define _mm512_unpacklo_ps simde_mm512_unpacklo_ps
#undef _mm512_unpackhi_ps
#define _mm512_unpackhi_ps simde_mm512_unpackhi_ps
#undef _mm512_shuffle_ps
#define _mm512_shuffle_ps simde_mm512_shuffle_ps
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4 simde_mm512_shuffle_f32x4
#undef _mm512_add_ps
#define _mm512_add_ps simde_mm512_add_ps
#undef _mm512_set_epi32
#define _mm512_set_epi32 simde_mm512_set_epi32
#undef _mm512_cmpge_epu8_mask
#define _mm512_cmpge_epu8_mask simde_mm512_cmpge_epu8_mask
#undef _mm512_mask_add_epi8
#define _mm512_mask_add_epi8 simde_mm512_mask_add_epi8
#undef _mm512_test_epi8_mask
#define _mm512_test_epi8_mask simde_mm512_test_epi8_mask
#undef _mm512_mask_blend_epi8
#define _mm512_mask_blend_epi8 simde_mm512_mask_blend_epi8
#undef _mm512_broadcast_i32x4
#define _mm512_broadcast_i32x4 simde_mm512_broadcast_i32x4
#undef _mm512_add_epi8
#define _mm512_add_epi8 simde_mm512_add_epi8
#undef _mm512_rolv_epi64
#define _mm512_rolv_epi64 simde_mm512_rolv_epi64
#undef _mm512_permutex2var_epi8
#define _mm512_permutex2var_epi8 simde_mm512_permutex2var_epi8
#undef _mm512_mask_permutexvar_epi8
#define _mm512_mask_permutexvar_epi8 simde_mm512_mask_permutexvar_epi8
#undef _mm512_unpacklo_epi32
#define _mm512_unpacklo_epi32 simde_mm512_unpacklo_epi32
#undef _mm512_unpackhi_epi32
#define _mm512_unpackhi_epi32 simde_mm512_unpackhi_epi32
#undef _mm512_unpacklo_epi64
#define _mm512_unpacklo_epi64 simde_mm512_unpacklo_epi64
#undef _mm512_unpackhi_epi64
#define _mm512_unpackhi_epi64 simde_mm512_unpackhi_epi64
#undef _mm512_permutex2var_epi64
#define _mm512_permutex2var_epi64 simde_mm512_permutex2var_epi64
#undef _mm512_set_epi64
#define _mm512_set_epi64 simde_mm512_set_epi64
#undef _mm512_storeu_si512
#define _mm512_storeu_si512 simde_mm512_storeu_si512
#undef _mm512_shuffle_i64x2
#define _mm512_shuffle_i64x2 simde_mm512_shuffle_i64x2
#undef _mm512_sllv_epi16
#define _mm512_sllv_epi16 simde_mm512_sllv_epi16
#undef _mm512_srlv_epi16
#define _mm512_srlv_epi16 simde_mm512_srlv_epi16
#undef _mm512_set1_epi16
#define _mm512_set1_epi16 simde_mm512_set1_epi16
#undef _mm512_sub_epi8
#define _mm512_sub_epi8 simde_mm512_sub_epi8
#undef _mm512_or_si512
#define _mm512_or_si512 simde_mm512_or_si512
#undef _mm512_permutexvar_epi16
#define _mm512_permutexvar_epi16 simde_mm512_permutexvar_epi16
#undef _mm512_permutexvar_epi32
#define _mm512_permutexvar_epi32 simde_mm512_permutexvar_epi32
#undef _mm512_add_epi16
#define _mm512_add_epi16 simde_mm512_add_epi16
#undef _mm512_mullo_epi16
#define _mm512_mullo_epi16 simde_mm512_mullo_epi16
#undef _mm512_cvtepi8_epi16
#define _mm512_cvtepi8_epi16 simde_mm512_cvtepi8_epi16
#undef _mm512_inserti64x4
#define _mm512_inserti64x4 simde_mm512_inserti64x4
#undef _mm512_castsi256_si512
#define _mm512_castsi256_si512 simde_mm512_castsi256_si512
#undef _mm512_castsi512_si256
#define _mm512_castsi512_si256 simde_mm512_castsi512_si256
#undef _mm512_extracti64x4_epi64
#define _mm512_extracti64x4_epi64 simde_mm512_extracti64x4_epi64
#undef _mm512_set1_epi8
#define _mm512_set1_epi8 simde_mm512_set1_epi8
#undef _mm512_set1_epi64
#define _mm512_set1_epi64 simde_mm512_set1_epi64
#undef _mm512_srli_epi16
#define _mm512_srli_epi16 simde_mm512_srli_epi16
#undef _mm512_shuffle_epi8
#define _mm512_shuffle_epi8 simde_mm512_shuffle_epi8
#undef _mm512_maddubs_epi16
#define _mm512_maddubs_epi16 simde_mm512_maddubs_epi16

/* (GCC defines some intrinsics as macros when not optimizing: hence the
 * #undef before each name) */

/* vcvtdq2ps: each int32 to the nearest float (the default rounding mode,
 * as C's conversion) */
static inline simde__m512 lorc_emu_cvtepi32_ps(simde__m512i a) {
    int32_t v[16];
    float f[16];
    memcpy(v, &a, sizeof v);
    for (int i = 0; i < 16; i++) f[i] = (float)v[i];
    return simde_mm512_loadu_ps(f);
}
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps lorc_emu_cvtepi32_ps

/* vpmovzxbw / vpmovzxbd: each of the 32 / 16 bytes zero-extended. */
static inline simde__m512i lorc_emu_cvtepu8_epi16(__m256i a) {
    uint8_t b[32];
    uint16_t w[32];
    memcpy(b, &a, sizeof b);
    for (int i = 0; i < 32; i++) w[i] = b[i];
    return simde_mm512_loadu_si512(w);
}
#undef _mm512_cvtepu8_epi16
#define _mm512_cvtepu8_epi16 lorc_emu_cvtepu8_epi16

static inline simde__m512i lorc_emu_cvtepu8_epi32(__m128i a) {
    uint8_t b[16];
    uint32_t d[16];
    memcpy(b, &a, sizeof b);
    for (int i = 0; i < 16; i++) d[i] = b[i];
    return simde_mm512_loadu_si512(d);
}
#undef _mm512_cvtepu8_epi32
#define _mm512_cvtepu8_epi32 lorc_emu_cvtepu8_epi32

/* vmovups with a write mask: only the lanes whose mask bit is set are
 * stored; memory under the other lanes is not touched. */
static inline void lorc_emu_mask_storeu_ps(void *p, simde__mmask16 k, simde__m512 a) {
    float f[16];
    memcpy(f, &a, sizeof f);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) memcpy((char *)p + 4 * i, &f[i], sizeof f[i]);
}
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps lorc_emu_mask_storeu_ps

/* vmovups / vmovdqu16 with a zeroing mask: lanes whose bit is clear are
 * zero, and their memory is not read. */
static inline simde__m512 lorc_emu_maskz_loadu_ps(simde__mmask16 k, const void *p) {
    float f[16] = {0};
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) memcpy(&f[i], (const char *)p + 4 * i, sizeof f[i]);
    return simde_mm512_loadu_ps(f);
}
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps lorc_emu_maskz_loadu_ps

static inline simde__m512i lorc_emu_maskz_loadu_epi8(simde__mmask64 k, const void *p) {
    uint8_t b[64] = {0};
    for (int i = 0; i < 64; i++)
        if ((k >> i) & 1) b[i] = ((const uint8_t *)p)[i];
    return simde_mm512_loadu_si512(b);
}
#undef _mm512_maskz_loadu_epi8
#define _mm512_maskz_loadu_epi8 lorc_emu_maskz_loadu_epi8

static inline __m256i lorc_emu_maskz_loadu_epi16(simde__mmask16 k, const void *p) {
    uint16_t h[16] = {0};
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) memcpy(&h[i], (const char *)p + 2 * i, sizeof h[i]);
    return _mm256_loadu_si256((const __m256i *)(const void *)h);
}
#undef _mm256_maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 lorc_emu_maskz_loadu_epi16

/* vpmovzxwd: 16 unsigned 16-bit lanes to 32 bits */
static inline simde__m512i lorc_emu_cvtepu16_epi32(__m256i a) {
    uint16_t h[16];
    int32_t v[16];
    memcpy(h, &a, sizeof h);
    for (int i = 0; i < 16; i++) v[i] = h[i];
    return simde_mm512_loadu_si512(v);
}
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 lorc_emu_cvtepu16_epi32

/* vcvtph2ps: 16 halves to floats (exact), as F16C's 8-lane form twice */
static inline simde__m512 lorc_emu_cvtph_ps(__m256i a) {
    float f[16];
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(a)));
    _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(a, 1)));
    return simde_mm512_loadu_ps(f);
}
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps lorc_emu_cvtph_ps

#undef _mm512_add_pd
#define _mm512_add_pd simde_mm512_add_pd
#undef _mm512_cmp_ps_mask
#define _mm512_cmp_ps_mask simde_mm512_cmp_ps_mask
#undef _mm512_mask_blend_ps
#define _mm512_mask_blend_ps simde_mm512_mask_blend_ps
#undef _mm512_mask_max_ps
#define _mm512_mask_max_ps simde_mm512_mask_max_ps
#undef _mm512_maskz_mov_ps
#define _mm512_maskz_mov_ps simde_mm512_maskz_mov_ps
#undef _mm512_max_ps
#define _mm512_max_ps simde_mm512_max_ps
#undef _mm512_min_ps
#define _mm512_min_ps simde_mm512_min_ps
#undef _mm512_roundscale_ps
#define _mm512_roundscale_ps simde_mm512_roundscale_ps
#undef _mm512_setzero_pd
#define _mm512_setzero_pd simde_mm512_setzero_pd
#undef _mm512_sub_ps
#define _mm512_sub_ps simde_mm512_sub_ps
#undef _mm512_castpd512_pd256
#define _mm512_castpd512_pd256 simde_mm512_castpd512_pd256

/* vcvtps2dq: each float to int32, rounded to nearest even (the default
 * rounding mode, as lrintf) */
static inline simde__m512i lorc_emu_cvtps_epi32(simde__m512 a) {
    float f[16];
    int32_t v[16];
    memcpy(f, &a, sizeof f);
    for (int i = 0; i < 16; i++) v[i] = (int32_t)lrintf(f[i]);
    return simde_mm512_loadu_si512(v);
}
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 lorc_emu_cvtps_epi32

/* vcvtps2pd: 8 floats to doubles (exact) */
static inline simde__m512d lorc_emu_cvtps_pd(__m256 a) {
    float f[8];
    double d[8];
    _mm256_storeu_ps(f, a);
    for (int i = 0; i < 8; i++) d[i] = f[i];
    return simde_mm512_loadu_pd(d);
}
#undef _mm512_cvtps_pd
#define _mm512_cvtps_pd lorc_emu_cvtps_pd

/* vpsrad: each int32 shifted right by n, copying the sign bit */
static inline simde__m512i lorc_emu_srai_epi32(simde__m512i a, unsigned n) {
    int32_t v[16];
    memcpy(v, &a, sizeof v);
    for (int i = 0; i < 16; i++) v[i] = v[i] < 0 ? ~(~v[i] >> n) : v[i] >> n;
    return simde_mm512_loadu_si512(v);
}
#undef _mm512_srai_epi32
#define _mm512_srai_epi32 lorc_emu_srai_epi32

#endif
