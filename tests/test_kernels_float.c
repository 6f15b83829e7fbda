/* test_kernels_float.c — the AVX2 tiles of F32, F16, BF16 against the
 * scalar reference (every nr/nc and place, unaligned rows, tails shorter
 * than a vector, extreme values, bit-identical pairs), the accuracy ratio
 * of F16/BF16, and the vec helpers: dot, axpy, softmax, and the vector exp
 * against expf in ulps over the whole float range. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/simd/avx2_exp.h"
#include "testutil.h"

static const uint32_t types[] = {LORC_TYPE_F32, LORC_TYPE_F16, LORC_TYPE_BF16};
enum { N_TYPES = sizeof types / sizeof types[0] };

static void check_tiles(const lorc_kernels *fast, const lorc_kernels *ref) {
    for (int i = 0; i < N_TYPES; i++) {
        const uint32_t t = types[i];
        const lorc_type_kernel *k = &fast->type[t];
        kc_check_tile(fast, ref, t, 500 + (uint64_t)t);
        /* F32 weights have no quantization error, so the ratio's denominator
         * is float rounding only: not meaningful, not asserted. */
        const double ratio = t == LORC_TYPE_F32 ? 0.0 : kc_accuracy_ratio(fast, ref, t, 99 + (uint64_t)t);
        printf("%-6s %-5s tile %dx%d act %-4s accuracy ratio %s%.5f\n", lorc_isa_name(fast->isa), lorc_type_name(t),
               k->tile_rows, k->tile_cols, k->act->name, t == LORC_TYPE_F32 ? "(n/a) " : "", ratio);
        CHECK_MSG(ratio <= 0.3, "%s: accuracy ratio %.4f > 0.3", lorc_type_name(t), ratio);
    }
}

#if defined(__x86_64__)
/* Distance in representable floats (same sign assumed; 0 for equal). */
static int64_t ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    if (ia < 0) ia = (int32_t)(0x80000000u - (uint32_t)ia);
    if (ib < 0) ib = (int32_t)(0x80000000u - (uint32_t)ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

static void check_exp(void) {
    /* A dense sweep over [-110, 95]: overflow, the normal range, the
     * subnormal range and underflow to 0; plus the special values. */
    enum { N = 400000 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int i = 0; i < N - 8; i++) x[i] = -110.0f + 205.0f * (float)i / (float)(N - 8);
    const float specials[8] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-30f, -87.5f, 88.7f};
    memcpy(x + N - 8, specials, sizeof specials);
    lorc_avx2_exp_f32(x, y, N);
    int64_t worst = 0;
    float worst_x = 0;
    for (int i = 0; i < N; i++) {
        const float want = expf(x[i]);
        if (isnan(want)) {
            CHECK_MSG(isnan(y[i]), "exp(%g) = %g, want NaN", (double)x[i], (double)y[i]);
            continue;
        }
        const int64_t d = ulp_diff(y[i], want);
        if (d > worst) worst = d, worst_x = x[i];
    }
    printf("avx2 exp: max %lld ulp from expf over [-110, 95] (at x = %.7g)\n", (long long)worst, (double)worst_x);
    CHECK_MSG(worst <= 2, "vector exp is %lld ulp from expf at %g", (long long)worst, (double)worst_x);
    CHECK(y[N - 6] == INFINITY && y[N - 5] == 0.0f && y[N - 8] == 1.0f);
    free(x);
    free(y);
}
#endif

static void check_vec(const lorc_kernels *k) {
    kc_rng rng = {4242};
    static const int64_t ns[] = {1, 3, 8, 9, 31, 64, 129, 1000, 4099};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        const int64_t n = ns[t];
        /* +1: unaligned starts */
        float *a = malloc((size_t)(n + 1) * sizeof(float)), *b = malloc((size_t)(n + 1) * sizeof(float));
        float *y = malloc((size_t)(n + 2) * sizeof(float)), *y0 = malloc((size_t)(n + 2) * sizeof(float));
        double exact = 0, mag = 0;
        for (int64_t i = 0; i <= n; i++) a[i] = (float)kc_gauss(&rng), b[i] = (float)kc_gauss(&rng);
        for (int64_t i = 1; i <= n; i++) exact += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
        const float dot = k->vec.dot_f32(a + 1, b + 1, n);
        CHECK_MSG(fabs(dot - exact) <= 1e-6 * mag + 1e-30, "%s dot n=%lld: %g vs %g", lorc_isa_name(k->isa),
                  (long long)n, (double)dot, exact);

        for (int64_t i = 0; i < n + 2; i++) y[i] = y0[i] = (float)kc_gauss(&rng);
        k->vec.axpy_f32(0.37f, a + 1, y + 1, n);
        int bad = 0;
        for (int64_t i = 1; i <= n; i++) {
            const float want = fmaf(0.37f, a[i], y0[i]);
            const float plain = y0[i] + 0.37f * a[i]; /* fused or not, both are correct */
            if (y[i] != want && y[i] != plain) bad++;
        }
        CHECK_MSG(bad == 0 && y[0] == y0[0] && y[n + 1] == y0[n + 1], "%s axpy n=%lld: %d wrong or stray writes",
                  lorc_isa_name(k->isa), (long long)n, bad);

        /* softmax: logits with a large spread and masked (-inf) entries, as
         * in attention; against the scalar reference */
        for (int64_t i = 0; i < n + 2; i++) y[i] = (float)(kc_gauss(&rng) * 20.0);
        for (int64_t i = 2; i <= n; i += 5) y[i] = -INFINITY;
        y[1] = 3.0f; /* at least one finite entry */
        memcpy(y0, y, (size_t)(n + 2) * sizeof(float));
        k->vec.softmax_f32(y + 1, n);
        lorc_softmax(y0 + 1, n);
        double err = 0, sum = 0;
        for (int64_t i = 1; i <= n; i++) err = fmax(err, fabs((double)y[i] - y0[i])), sum += y[i];
        CHECK_MSG(err <= 1e-6 && fabs(sum - 1.0) <= 1e-5 && y[0] == y0[0] && y[n + 1] == y0[n + 1],
                  "%s softmax n=%lld: max err %g, sum %.9g", lorc_isa_name(k->isa), (long long)n, err, sum);
        free(a);
        free(b);
        free(y);
        free(y0);
    }
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    check_tiles(&ref, &ref);
    check_vec(&ref);
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX2)) {
        lorc_kernels avx2;
        lorc_kernels_init(&avx2, &cpu, LORC_ISA_AVX2);
        for (int i = 0; i < N_TYPES; i++) CHECK(avx2.type[types[i]].tile != ref.type[types[i]].tile);
        CHECK(avx2.vec.softmax_f32 != ref.vec.softmax_f32);
        check_tiles(&avx2, &ref);
        check_vec(&avx2);
#if defined(__x86_64__)
        check_exp();
#endif
    } else {
        printf("this CPU has no AVX2+FMA+F16C: only the scalar path was checked\n");
    }
    /* The AVX-512 family's ZMM tiles: the real ones on a CPU with AVX-512,
     * and on every CPU with AVX2 the same code with emulated instructions. */
    lorc_kernels avx512;
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX512)) {
        lorc_kernels_init(&avx512, &cpu, LORC_ISA_AVX512);
        check_tiles(&avx512, &ref);
    }
    if (kc_avx512_emulated(&avx512, &cpu)) {
        for (int i = 0; i < N_TYPES; i++) CHECK(avx512.type[types[i]].tile_cols == 6);
        printf("AVX-512 family with emulated instructions:\n");
        check_tiles(&avx512, &ref);
    } else {
        CHECK_MSG(!lorc_isa_supported(&cpu, LORC_ISA_AVX2),
                  "the AVX-512 tiles cannot be checked: this build has no SIMDe (install libsimde-dev)");
    }
    return test_finish("kernels_float");
}
