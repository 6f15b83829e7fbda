/* avx2_vec.c — AVX2 + FMA float helpers for attention and the small ops:
 * dot, axpy, softmax with a vector exp, and attention's blocked P·V
 * (weighted_rows_f32). Tails shorter than 8 go through
 * masked loads/stores, so every element takes the same vector path. */
#include "avx2_float_legacy.h"
#include "avx2_exp.h"

#if defined(__x86_64__)
#include <math.h>
#include <string.h>

/* All-ones in the first k lanes (0 <= k <= 8). */
static inline __m256i lane_mask(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

float lorc_avx2_dot_f32(const float *a, const float *b, int64_t n) {
    /* Four accumulators hide the FMA latency on long rows (head_dim, ...). */
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        const __m256i m = lane_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return lorc_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void lorc_avx2_axpy_f32(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        const __m256i m = lane_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m)));
    }
}

/* P·V for up to WR_QUERIES queries × nd ymm of columns starting at column
 * j, over n_t positions: the accumulators stay in registers for the whole
 * run, each V load serves every query of the block, and each element still
 * takes one fmadd per position in t order (as axpy's acc = p·v + acc), so
 * its bits do not depend on the block. `masked`: the last ymm is the row's
 * tail, its lanes past the row read as 0 and are not stored. nq, nd and
 * masked are constants at every call, so the loops unroll into registers:
 * 4 × 2 accumulators + 2 V rows + 1 broadcast of the 16 ymm. */
#define WR_QUERIES 4
#define WR_COLS 2
static inline __attribute__((always_inline)) void weighted_block(const int nq, const int nd, const bool masked,
                                                                 __m256i tail, int n_t, const float *p,
                                                                 size_t p_stride, const float *v, size_t v_stride,
                                                                 float *const *out, int64_t j) {
    __m256 acc[WR_QUERIES][WR_COLS];
    for (int c = 0; c < nq; c++)
        for (int d = 0; d < nd; d++)
            acc[c][d] = masked && d == nd - 1 ? _mm256_maskload_ps(out[c] + j + 8 * d, tail)
                                              : _mm256_loadu_ps(out[c] + j + 8 * d);
    for (int t = 0; t < n_t; t++) {
        const float *vt = v + (size_t)t * v_stride + j;
        __m256 vv[WR_COLS];
        for (int d = 0; d < nd; d++)
            vv[d] = masked && d == nd - 1 ? _mm256_maskload_ps(vt + 8 * d, tail) : _mm256_loadu_ps(vt + 8 * d);
        for (int c = 0; c < nq; c++) {
            const __m256 pc = _mm256_broadcast_ss(p + (size_t)c * p_stride + (size_t)t);
            for (int d = 0; d < nd; d++) acc[c][d] = _mm256_fmadd_ps(pc, vv[d], acc[c][d]);
        }
    }
    for (int c = 0; c < nq; c++)
        for (int d = 0; d < nd; d++) {
            if (masked && d == nd - 1)
                _mm256_maskstore_ps(out[c] + j + 8 * d, tail, acc[c][d]);
            else
                _mm256_storeu_ps(out[c] + j + 8 * d, acc[c][d]);
        }
}

/* One block of nq (a constant in each case) queries over all n columns. */
static inline __attribute__((always_inline)) void weighted_queries(const int nq, int n_t, const float *p,
                                                                   size_t p_stride, const float *v,
                                                                   size_t v_stride, float *const *out, int64_t n) {
    const __m256i all = _mm256_set1_epi32(-1);
    int64_t j = 0;
    for (; j + 8 * WR_COLS <= n; j += 8 * WR_COLS)
        weighted_block(nq, WR_COLS, false, all, n_t, p, p_stride, v, v_stride, out, j);
    if (j + 8 <= n) {
        weighted_block(nq, 1, false, all, n_t, p, p_stride, v, v_stride, out, j);
        j += 8;
    }
    if (j < n) weighted_block(nq, 1, true, lane_mask(n - j), n_t, p, p_stride, v, v_stride, out, j);
}

static void weighted_rows_f32(int n_q, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                                 float *const *out, int64_t n) {
    int c = 0;
    for (; c + WR_QUERIES <= n_q; c += WR_QUERIES)
        weighted_queries(WR_QUERIES, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n);
    switch (n_q - c) {
    case 3: weighted_queries(3, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 2: weighted_queries(2, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 1: weighted_queries(1, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    default: break;
    }
}

/* 8 positions (nt <= 8 live) of dimension d of K kept by dimension, as
 * floats; zeros past nt, nothing past them read. Inlined, so that a
 * caller with nt a constant 8 gets the plain load alone. */
static inline __attribute__((always_inline)) __m256 cols8(const uint8_t *k, bool f16, size_t k_stride, int d, int nt) {
    const uint8_t *p = k + (size_t)d * k_stride * (f16 ? 2 : 4);
    if (nt == 8) return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)) : _mm256_loadu_ps((const float *)(const void *)p);
    uint8_t buf[32] = {0};
    memcpy(buf, p, (size_t)nt * (f16 ? 2 : 4));
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)buf)) : _mm256_loadu_ps((const float *)(const void *)buf);
}

/* Scores of NC queries against 16 positions (nt <= 16 live) as two halves
 * of 8: two accumulators per query, so that 8 FMA chains are in flight. */
static inline __attribute__((always_inline)) void scores_cols16(int NC, int hd, const float *q, const uint8_t *k,
                                                              bool f16, size_t k_stride, int nt, float *s,
                                                              size_t s_stride) {
    const int nt_lo = nt < 8 ? nt : 8, nt_hi = nt - nt_lo;
    const uint8_t *k_hi = k + 8 * (f16 ? 2 : 4);
    __m256 lo[4], hi[4];
    for (int c = 0; c < NC; c++) lo[c] = hi[c] = _mm256_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const __m256 kl = cols8(k, f16, k_stride, d, nt_lo);
        const __m256 kh = nt_hi > 0 ? cols8(k_hi, f16, k_stride, d, nt_hi) : _mm256_setzero_ps();
        for (int c = 0; c < NC; c++) {
            const __m256 qv = _mm256_set1_ps(q[(size_t)c * (size_t)hd + (size_t)d]);
            lo[c] = _mm256_fmadd_ps(qv, kl, lo[c]);
            hi[c] = _mm256_fmadd_ps(qv, kh, hi[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        float out[16];
        _mm256_storeu_ps(out, lo[c]);
        _mm256_storeu_ps(out + 8, hi[c]);
        memcpy(s + (size_t)c * s_stride, out, (size_t)nt * sizeof(float));
    }
}

static void scores_cols(int n_q, int hd, const float *q, const void *k, bool f16, size_t k_stride, int n_t, float *s,
                        size_t s_stride) {
    for (int t0 = 0; t0 < n_t; t0 += 16) {
        const int nt = n_t - t0 < 16 ? n_t - t0 : 16;
        const uint8_t *kt = (const uint8_t *)k + (size_t)t0 * (f16 ? 2 : 4);
        for (int c0 = 0; c0 < n_q; c0 += 4) {
            const float *qc = q + (size_t)c0 * (size_t)hd;
            float *sc = s + (size_t)c0 * s_stride + (size_t)t0;
            const int nc = n_q - c0 < 4 ? n_q - c0 : 4;
            if (nc == 4 && nt == 16 && f16) /* the common case, with its branches resolved */
                scores_cols16(4, hd, qc, kt, true, k_stride, 16, sc, s_stride);
            else if (nc == 4)
                scores_cols16(4, hd, qc, kt, f16, k_stride, nt, sc, s_stride);
            else if (nc == 3)
                scores_cols16(3, hd, qc, kt, f16, k_stride, nt, sc, s_stride);
            else if (nc == 2)
                scores_cols16(2, hd, qc, kt, f16, k_stride, nt, sc, s_stride);
            else
                scores_cols16(1, hd, qc, kt, f16, k_stride, nt, sc, s_stride);
        }
    }
}

/* F16C converts 8 values at a time, exactly (to F32) or rounding to nearest
 * even (to F16), as the scalar conversions do; a tail goes through a zeroed
 * 8-value buffer so nothing past the row is touched. */
void lorc_avx2_f16_to_f32(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))));
    if (i < n) {
        uint16_t h[8] = {0};
        float f[8];
        memcpy(h, p + 2 * i, (size_t)(n - i) * 2);
        _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h)));
        memcpy(dst + i, f, (size_t)(n - i) * sizeof(float));
    }
}

void lorc_avx2_f32_to_f16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(p + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {
        float f[8] = {0};
        uint16_t h[8];
        memcpy(f, src + i, (size_t)(n - i) * sizeof(float));
        _mm_storeu_si128((__m128i *)(void *)h,
                         _mm256_cvtps_ph(_mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        memcpy(p + 2 * i, h, (size_t)(n - i) * 2);
    }
}

/* exp(x) = 2^n * e^r with n = round(x / ln2) and |r| <= ln2/2: ln2 split in
 * a short high part (n * hi is exact) and a low correction, then a degree-7
 * Taylor polynomial (truncation error < 1e-8 relative, far below an ulp).
 * 2^n is applied as two factors 2^(n/2) so that results down in the
 * subnormal range (n < -126) and up to overflow come out right. */
__m256 lorc_avx2_exp_ps(__m256 x) {
    const __m256 nan_mask = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    /* Outside [-104, 89] expf is already 0 or inf; clamping keeps n small. */
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    const __m256 e = _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
    return _mm256_blendv_ps(e, x, nan_mask);
}

void lorc_avx2_exp_f32(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, lorc_avx2_exp_ps(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = lane_mask(n - i);
        _mm256_maskstore_ps(y + i, m, lorc_avx2_exp_ps(_mm256_maskload_ps(x + i, m)));
    }
}

/* softmax(x · scale) in place. The scale is applied where x is read, with
 * the same rounding as a separate x[i] *= scale pass, so scale 1 is the
 * plain softmax and any scale gives the bits of the two passes. */
static inline __attribute__((always_inline)) void softmax_scaled(float *x, int64_t n, const float scale) {
    const int64_t full = n & ~(int64_t)7;
    const __m256i tail = lane_mask(n - full);
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY), vs = _mm256_set1_ps(scale);
    __m256 vmax = neg_inf;
    for (int64_t i = 0; i < full; i += 8) vmax = _mm256_max_ps(vmax, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    if (full < n)
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(neg_inf, _mm256_mul_ps(_mm256_maskload_ps(x + full, tail), vs),
                                                    _mm256_castsi256_ps(tail)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(m4));

    /* The sum in double, like the scalar reference: n can be a long context. */
    __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
    for (int64_t i = 0; i < full; i += 8) {
        const __m256 e = lorc_avx2_exp_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), mx));
        _mm256_storeu_ps(x + i, e);
        sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (full < n) {
        __m256 e = lorc_avx2_exp_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(x + full, tail), vs), mx));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tail));
        _mm256_maskstore_ps(x + full, tail, e);
        sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    const __m256d s4 = _mm256_add_pd(sum_lo, sum_hi);
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
    const __m256 inv = _mm256_set1_ps((float)(1.0 / _mm_cvtsd_f64(s2)));
    for (int64_t i = 0; i < full; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    if (full < n) _mm256_maskstore_ps(x + full, tail, _mm256_mul_ps(_mm256_maskload_ps(x + full, tail), inv));
}

void lorc_avx2_softmax_f32(float *x, int64_t n) { softmax_scaled(x, n, 1.0f); }

static void softmax_scaled_f32(float *x, int64_t n, float scale) { softmax_scaled(x, n, scale); }

/* The AVX2 family's attention kernels (blocked P·V, scaled softmax).
 * Installed here rather than with the other vec helpers in avx2_float.c so
 * this file holds all of attention's own kernels. */
void lorc_kernels_fill_avx2_vec(lorc_kernels *k) {
    k->vec.weighted_rows_f32 = weighted_rows_f32;
    k->vec.softmax_scaled_f32 = softmax_scaled_f32;
    k->vec.scores_cols = scores_cols;
}

#else
#include "../kernels.h"

void lorc_kernels_fill_avx2_vec(lorc_kernels *k) { (void)k; }
#endif
