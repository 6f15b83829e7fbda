/* neon_vec.c — NEON versions of the float vec helpers that attention uses
 * (dot, axpy). softmax stays the scalar one: it needs a vector exp, which
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

#else
typedef int lorc_neon_vec_unused; /* ISO C wants a declaration in every file */
#endif
