/* avx512_attention.c — attention's float kernels in 512-bit registers:
 * Q·Kᵀ against K kept by dimension (scores_cols), the scaled softmax of a
 * query's scores, and P·V (weighted_rows_f32).
 *
 * The softmax is the AVX2 one (avx2_vec.c) at twice the width: the same
 * exp polynomial lane by lane, so each exp is the AVX2 family's bits; the
 * sum (in double, a context can be long) runs in 4 chains of 8 lanes, an
 * order of its own. The AVX2 softmax, 8 lanes and one exp call per 8,
 * held 3-9% of a Q4_0 prompt's time (pp512-pp2048 on Zen 5). */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include <math.h>

#include "avx2_tile_instances.h" /* LORC_UNROLL */

#define AI static inline __attribute__((always_inline))

/* exp of 16 floats: lorc_avx2_exp_ps lane by lane (the same operations in
 * the same order, so the same bits). */
AI __m512 exp16(__m512 x) {
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i ni = _mm512_cvtps_epi32(n);
    const __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 f1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const __m512 f2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mask_blend_ps(nan, _mm512_mul_ps(_mm512_mul_ps(p, f1), f2), x);
}

/* e = exp(x·scale - max) for the 16 lanes m of x + i, stored; returns e
 * with the lanes past m zero. */
AI __m512 exp_step(float *x, int64_t i, __mmask16 m, bool masked, __m512 vs, __m512 mx) {
    const __m512 v = masked ? _mm512_maskz_loadu_ps(m, x + i) : _mm512_loadu_ps(x + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_mul_ps(v, vs), mx));
    if (!masked) {
        _mm512_storeu_ps(x + i, e);
        return e;
    }
    _mm512_mask_storeu_ps(x + i, m, e);
    return _mm512_maskz_mov_ps(m, e);
}

AI __m512d lo_pd(__m512 e) { return _mm512_cvtps_pd(_mm512_castps512_ps256(e)); }
AI __m512d hi_pd(__m512 e) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
}

/* The largest of 16 lanes, and the sum of 8 doubles in one fixed order
 * (halves, then quarters, then the last two). */
AI float max16(__m512 v) {
    __m256 m = _mm256_max_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    return _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
}
AI double sum8d(__m512d v) {
    const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}

/* softmax(x · scale) in place; the scale is applied where x is read (the
 * rounding of a separate x[i] *= scale pass, so scale 1 is the plain
 * softmax). */
AI void softmax16(float *x, int64_t n, float scale) {
    const int64_t full = n & ~(int64_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n - full)) - 1u);
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < full; i += 16) vmax = _mm512_max_ps(vmax, _mm512_mul_ps(_mm512_loadu_ps(x + i), vs));
    if (full < n) vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), vs));
    const __m512 mx = _mm512_set1_ps(max16(vmax));

    /* four chains of 8 doubles: two steps of 16 per turn */
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 32 <= full; i += 32) {
        const __m512 e0 = exp_step(x, i, 0xffff, false, vs, mx), e1 = exp_step(x, i + 16, 0xffff, false, vs, mx);
        s0 = _mm512_add_pd(s0, lo_pd(e0));
        s1 = _mm512_add_pd(s1, hi_pd(e0));
        s2 = _mm512_add_pd(s2, lo_pd(e1));
        s3 = _mm512_add_pd(s3, hi_pd(e1));
    }
    if (i < full) {
        const __m512 e = exp_step(x, i, 0xffff, false, vs, mx);
        s0 = _mm512_add_pd(s0, lo_pd(e));
        s1 = _mm512_add_pd(s1, hi_pd(e));
    }
    if (full < n) {
        const __m512 e = exp_step(x, full, tail, true, vs, mx);
        s2 = _mm512_add_pd(s2, lo_pd(e));
        s3 = _mm512_add_pd(s3, hi_pd(e));
    }
    const double sum = sum8d(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (i = 0; i < full; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (full < n) _mm512_mask_storeu_ps(x + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), inv));
}

static void softmax_f32(float *x, int64_t n) { softmax16(x, n, 1.0f); }
static void softmax_scaled_f32(float *x, int64_t n, float scale) { softmax16(x, n, scale); }

/* Scores of NC queries against 16 positions (m: the live ones) of K kept
 * by dimension: one accumulator per query, one FMA per dimension. */
AI void scores_cols16(int NC, int hd, const float *q, const uint8_t *k, bool f16, size_t k_stride, __mmask16 m,
                      float *s, size_t s_stride) {
    __m512 acc[8];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const uint8_t *p = k + (size_t)d * k_stride * (f16 ? 2 : 4);
        /* plain loads for a whole page of 16 (masked ones are slower on Zen 5) */
        const __m512 kv =
            m == 0xffff ? (f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p))
                               : _mm512_loadu_ps(p))
                        : (f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)) : _mm512_maskz_loadu_ps(m, p));
        LORC_UNROLL
        for (int c = 0; c < NC; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(q[(size_t)c * (size_t)hd + (size_t)d]), kv, acc[c]);
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(s + (size_t)c * s_stride, m, acc[c]);
}

static void scores_cols(int n_q, int hd, const float *q, const void *k, bool f16, size_t k_stride, int n_t, float *s,
                        size_t s_stride) {
    const size_t eb = f16 ? 2 : 4;
    for (int t0 = 0; t0 < n_t; t0 += 16) {
        const int nt = n_t - t0 < 16 ? n_t - t0 : 16;
        const __mmask16 m = (__mmask16)((1u << nt) - 1u);
        const uint8_t *kt = (const uint8_t *)k + (size_t)t0 * eb;
        for (int c0 = 0; c0 < n_q; c0 += 8) {
            const float *qc = q + (size_t)c0 * (size_t)hd;
            float *sc = s + (size_t)c0 * s_stride + (size_t)t0;
            const int nc = n_q - c0 < 8 ? n_q - c0 : 8;
            if (nc == 8 && nt == 16 && f16) { /* the common case, with its branches resolved */
                scores_cols16(8, hd, qc, kt, true, k_stride, (__mmask16)0xffff, sc, s_stride);
                continue;
            }
            switch (nc) {
            case 8: scores_cols16(8, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 7: scores_cols16(7, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 6: scores_cols16(6, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 5: scores_cols16(5, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 4: scores_cols16(4, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 3: scores_cols16(3, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            case 2: scores_cols16(2, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            default: scores_cols16(1, hd, qc, kt, f16, k_stride, m, sc, s_stride); break;
            }
        }
    }
}

/* Attention's P·V for NQ queries x ND zmm of columns from column j, over
 * n_t positions: the AVX2 kernel (avx2_vec.c) at twice the width. A head
 * of 64 values is 4 registers, so each V row is loaded once and each
 * weight broadcast once for the whole head (AVX2 walks the positions once
 * per 16 columns). Each element still takes one fmadd per position in t
 * order (as axpy's acc = p·v + acc): the bits of every other family's.
 * `masked`: the last register is the row's tail (lanes `tail`). */
enum { WR_QUERIES = 4, WR_REGS = 4 };
AI void weighted_block16(int NQ, int ND, bool masked, __mmask16 tail, int n_t, const float *p, size_t p_stride,
                         const float *v, size_t v_stride, float *const *out, int64_t j) {
    __m512 acc[WR_QUERIES][WR_REGS];
    LORC_UNROLL
    for (int c = 0; c < NQ; c++)
        LORC_UNROLL
        for (int d = 0; d < ND; d++)
            acc[c][d] = masked && d == ND - 1 ? _mm512_maskz_loadu_ps(tail, out[c] + j + 16 * d)
                                              : _mm512_loadu_ps(out[c] + j + 16 * d);
    for (int t = 0; t < n_t; t++) {
        const float *vt = v + (size_t)t * v_stride + j;
        __m512 vv[WR_REGS];
        LORC_UNROLL
        for (int d = 0; d < ND; d++)
            vv[d] = masked && d == ND - 1 ? _mm512_maskz_loadu_ps(tail, vt + 16 * d) : _mm512_loadu_ps(vt + 16 * d);
        LORC_UNROLL
        for (int c = 0; c < NQ; c++) {
            const __m512 pc = _mm512_set1_ps(p[(size_t)c * p_stride + (size_t)t]);
            LORC_UNROLL
            for (int d = 0; d < ND; d++) acc[c][d] = _mm512_fmadd_ps(pc, vv[d], acc[c][d]);
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NQ; c++)
        LORC_UNROLL
        for (int d = 0; d < ND; d++) {
            if (masked && d == ND - 1)
                _mm512_mask_storeu_ps(out[c] + j + 16 * d, tail, acc[c][d]);
            else
                _mm512_storeu_ps(out[c] + j + 16 * d, acc[c][d]);
        }
}

/* NQ queries over all n columns: 64 at a time, then 16, then the tail. */
AI void weighted_queries16(int NQ, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                           float *const *out, int64_t n) {
    int64_t j = 0;
    for (; j + 16 * WR_REGS <= n; j += 16 * WR_REGS)
        weighted_block16(NQ, WR_REGS, false, 0xffff, n_t, p, p_stride, v, v_stride, out, j);
    for (; j + 16 <= n; j += 16) weighted_block16(NQ, 1, false, 0xffff, n_t, p, p_stride, v, v_stride, out, j);
    if (j < n)
        weighted_block16(NQ, 1, true, (__mmask16)((1u << (n - j)) - 1u), n_t, p, p_stride, v, v_stride, out, j);
}

static void weighted_rows_f32(int n_q, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                              float *const *out, int64_t n) {
    int c = 0;
    for (; c + WR_QUERIES <= n_q; c += WR_QUERIES)
        weighted_queries16(WR_QUERIES, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n);
    switch (n_q - c) {
    case 3: weighted_queries16(3, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 2: weighted_queries16(2, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 1: weighted_queries16(1, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    default: break;
    }
}

void lorc_kernels_fill_avx512_attention(lorc_kernels *k) {
    k->vec.scores_cols = scores_cols;
    k->vec.softmax_f32 = softmax_f32;
    k->vec.softmax_scaled_f32 = softmax_scaled_f32;
    k->vec.weighted_rows_f32 = weighted_rows_f32;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_attention(lorc_kernels *k) { (void)k; }
#endif
