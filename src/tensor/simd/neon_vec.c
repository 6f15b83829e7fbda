/* neon_vec.c — NEON versions of the float vec helpers that attention uses
 * (dot, axpy, and the blocked P·V weighted_rows_f32). softmax stays the scalar one: it needs a vector exp, which
 * the NEON family does not have yet. */
#include "neon_common.h"

#if defined(__aarch64__)
#include <math.h>

#include "neon_vec.h"

float lorc_neon_dot_f32(const float *a, const float *b, int64_t n) {
    /* 4 independent accumulators hide the FMA latency */
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

void lorc_neon_axpy_f32(float a, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* P·V for up to 4 queries × 16 columns from column j (nq, nd = 4-float
 * registers, constants at every call so the accumulators stay in
 * registers) over n_t positions: each element takes one fused
 * multiply-add per position in t order, the operations of neon axpy, so
 * its bits do not depend on the block. */
LORC_NEON_AI void weighted_block(const int nq, const int nd, int n_t, const float *p, size_t p_stride,
                                 const float *v, size_t v_stride, float *const *out, int64_t j) {
    float32x4_t acc[4][4];
    LORC_NEON_UNROLL
    for (int c = 0; c < nq; c++)
        LORC_NEON_UNROLL
        for (int d = 0; d < nd; d++) acc[c][d] = vld1q_f32(out[c] + j + 4 * d);
    for (int t = 0; t < n_t; t++) {
        const float *vt = v + (size_t)t * v_stride + j;
        float32x4_t vv[4];
        LORC_NEON_UNROLL
        for (int d = 0; d < nd; d++) vv[d] = vld1q_f32(vt + 4 * d);
        LORC_NEON_UNROLL
        for (int c = 0; c < nq; c++) {
            const float pc = p[(size_t)c * p_stride + (size_t)t];
            LORC_NEON_UNROLL
            for (int d = 0; d < nd; d++) acc[c][d] = vfmaq_n_f32(acc[c][d], vv[d], pc);
        }
    }
    LORC_NEON_UNROLL
    for (int c = 0; c < nq; c++)
        LORC_NEON_UNROLL
        for (int d = 0; d < nd; d++) vst1q_f32(out[c] + j + 4 * d, acc[c][d]);
}

LORC_NEON_AI void weighted_queries(const int nq, int n_t, const float *p, size_t p_stride, const float *v,
                                   size_t v_stride, float *const *out, int64_t n) {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) weighted_block(nq, 4, n_t, p, p_stride, v, v_stride, out, j);
    for (; j + 4 <= n; j += 4) weighted_block(nq, 1, n_t, p, p_stride, v, v_stride, out, j);
    for (int c = 0; c < nq; c++) /* the last n % 4 columns, fused like axpy's tail */
        for (int64_t i = j; i < n; i++)
            for (int t = 0; t < n_t; t++)
                out[c][i] = fmaf(p[(size_t)c * p_stride + (size_t)t], v[(size_t)t * v_stride + (size_t)i], out[c][i]);
}

static void weighted_rows_f32(int n_q, int n_t, const float *p, size_t p_stride, const float *v, size_t v_stride,
                              float *const *out, int64_t n) {
    int c = 0;
    for (; c + 4 <= n_q; c += 4) weighted_queries(4, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n);
    switch (n_q - c) {
    case 3: weighted_queries(3, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 2: weighted_queries(2, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    case 1: weighted_queries(1, n_t, p + (size_t)c * p_stride, p_stride, v, v_stride, out + c, n); break;
    default: break;
    }
}

void lorc_kernels_fill_neon_vec(lorc_kernels *k) { k->vec.weighted_rows_f32 = weighted_rows_f32; }

#else
#include "../kernels.h"

void lorc_kernels_fill_neon_vec(lorc_kernels *k) { (void)k; }
#endif
