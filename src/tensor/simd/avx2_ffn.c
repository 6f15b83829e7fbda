/* avx2_ffn.c — the feed-forward block's elementwise step on AVX2:
 * gate = silu(gate) * up = gate / (1 + exp(-gate)) * up, 8 values at a time
 * with the vector exp (within a few ulp of expf). The last n % 8 values go
 * through the same vector code from a padded copy, so every element gets
 * the same operations wherever it sits (batch invariance). */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)

static inline __m256 swiglu8(__m256 g, __m256 u) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = lorc_avx2_exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
}

static void swiglu_f32(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        float g[8] = {0}, u[8] = {0};
        memcpy(g, gate + i, (size_t)(n - i) * sizeof(float));
        memcpy(u, up + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(g, swiglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
        memcpy(gate + i, g, (size_t)(n - i) * sizeof(float));
    }
}

void lorc_kernels_fill_avx2_ffn(lorc_kernels *k) { k->vec.swiglu_f32 = swiglu_f32; }

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_ffn(lorc_kernels *k) { (void)k; }
#endif
