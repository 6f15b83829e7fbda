/* test_kernels_neon.c — the NEON family (src/tensor/simd/neon_*.c) on an
 * AArch64 CPU or under user-mode QEMU (scripts/test-neon.sh builds it with
 * the cross compiler; it lives outside tests/test_*.c so the x86 CTest
 * glob does not pick it up).
 *
 *  - the NEON family is built, chosen as the best family, and replaces the
 *    scalar entries of every type it claims, with the promised formats;
 *  - F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: each tile against the scalar family
 *    on random and extreme data (several n, every nr/nc at every place,
 *    unaligned rows, tiny/huge/zero scales), bit-identical pairs, nothing
 *    written outside nr x nc (kernel_check.c), and the accuracy rule: RMS
 *    error <= 0.3 x the scalar path's (F32: not meaningful, not asserted).
 *    Q4_K, Q5_K and Q6_K get the same checks from tests/test_kernels_kquants.c,
 *    which the script builds and runs under QEMU as well;
 *  - the vec helpers dot and axpy (unaligned, every tail length) against
 *    exact sums and fmaf;
 *  - the integer activation formats round to nearest: |x - d*q| <= d/2
 *    for every value (the tile checks' bound allows a whole step in the
 *    worst case, so truncation would slip through them), s = d*sum(q);
 *  - a digest of fixed tiles of every NEON type, which the script compares
 *    between the plain-NEON build and the dot-product build (the two
 *    integer paths must give bit-identical results). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "tensor/kernels.h"
#include "tensor/simd/neon_common.h"
#include "testutil.h"

typedef struct {
    uint32_t type;
    const char *act; /* the activation format the NEON family promises */
    int rows, cols;
} neon_entry;

static const neon_entry entries[] = {
    {LORC_TYPE_F32, "f32", 4, 4},       {LORC_TYPE_F16, "f32", 4, 4},       {LORC_TYPE_BF16, "f32", 4, 4},
    {LORC_TYPE_Q4_0, "neon_q8s", 4, 4}, {LORC_TYPE_Q4_1, "neon_q8s", 4, 4}, {LORC_TYPE_Q5_0, "neon_q8s", 4, 4},
    {LORC_TYPE_Q5_1, "neon_q8s", 4, 4}, {LORC_TYPE_Q8_0, "neon_q16", 4, 4}, {LORC_TYPE_Q4_K, "q8_K256", 4, 8},
    {LORC_TYPE_Q5_K, "q8_K256", 4, 8},  {LORC_TYPE_Q6_K, "q16_K256", 4, 8},
};
enum { N_ENTRIES = sizeof entries / sizeof entries[0], N_HARNESS = 8 /* the first eight: kernel_check */ };

#if defined(__aarch64__)
/* Packs blocks of extreme and ordinary values and checks each against the
 * format's own scale: round to nearest, within range, and the sum field. */
static void check_act_rounding(const lorc_act_format *fmt, int levels) {
    enum { N = 32 * 64 };
    kc_rng rng = {555 + (uint64_t)levels};
    float *x = malloc(N * sizeof(float));
    uint8_t *packed = malloc((size_t)(N / 32) * fmt->block_bytes);
    for (int b = 0; b < N / 32; b++) {
        const double scale = b % 4 == 0 ? 1e-30 : b % 4 == 1 ? 1e20 : b % 4 == 2 ? 0.0 : 1.0;
        for (int i = 0; i < 32; i++) x[32 * b + i] = (float)(kc_gauss(&rng) * scale);
        if (b % 8 == 3) x[32 * b + 5] *= 1000.0f; /* an outlier sets d */
    }
    fmt->from_float(x, packed, N);
    int bad_round = 0, bad_range = 0, bad_sum = 0;
    for (int b = 0; b < N / 32; b++) {
        const uint8_t *blk = packed + (size_t)b * fmt->block_bytes;
        const float d = lorc_neon_ld_f32(blk);
        long sum = 0;
        for (int i = 0; i < 32; i++) {
            int q;
            if (levels == 127) {
                q = ((const lorc_neon_act_q8s *)(const void *)blk)->q[i];
            } else {
                int16_t v;
                memcpy(&v, ((const lorc_neon_act_q16 *)(const void *)blk)->q + 2 * i, sizeof v);
                q = v;
            }
            sum += q;
            if (q > levels || q < -levels) bad_range++;
            const double err = fabs((double)x[32 * b + i] - (double)d * q);
            if (!(err <= (double)d * 0.5 * 1.0001 + 1e-45)) bad_round++;
        }
        if (levels == 127) {
            const float s = lorc_neon_ld_f32(((const lorc_neon_act_q8s *)(const void *)blk)->s);
            if (s != d * (float)sum) bad_sum++;
        }
    }
    CHECK_MSG(bad_round == 0 && bad_range == 0 && bad_sum == 0,
              "%s: %d values not rounded to nearest, %d out of range, %d wrong sums", fmt->name, bad_round, bad_range,
              bad_sum);
    free(x);
    free(packed);
}
#endif

static void check_vec(const lorc_kernels *k, const lorc_kernels *ref) {
    CHECK(k->vec.dot_f32 != ref->vec.dot_f32 && k->vec.axpy_f32 != ref->vec.axpy_f32);
    kc_rng rng = {4243};
    static const int64_t ns[] = {1, 3, 4, 5, 15, 16, 17, 31, 64, 129, 1000, 4099};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        const int64_t n = ns[t];
        /* +1: unaligned starts */
        float *a = malloc((size_t)(n + 1) * sizeof(float)), *b = malloc((size_t)(n + 1) * sizeof(float));
        float *y = malloc((size_t)(n + 2) * sizeof(float)), *y0 = malloc((size_t)(n + 2) * sizeof(float));
        double exact = 0, mag = 0;
        for (int64_t i = 0; i <= n; i++) a[i] = (float)kc_gauss(&rng), b[i] = (float)kc_gauss(&rng);
        for (int64_t i = 1; i <= n; i++) exact += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
        const float dot = k->vec.dot_f32(a + 1, b + 1, n);
        CHECK_MSG(fabs(dot - exact) <= 1e-6 * mag + 1e-30, "neon dot n=%lld: %g vs %g", (long long)n, (double)dot,
                  exact);
        for (int64_t i = 0; i < n + 2; i++) y[i] = y0[i] = (float)kc_gauss(&rng);
        k->vec.axpy_f32(0.37f, a + 1, y + 1, n);
        int bad = 0;
        for (int64_t i = 1; i <= n; i++)
            if (y[i] != fmaf(0.37f, a[i], y0[i])) bad++;
        CHECK_MSG(bad == 0 && y[0] == y0[0] && y[n + 1] == y0[n + 1], "neon axpy n=%lld: %d wrong or stray writes",
                  (long long)n, bad);
        free(a), free(b), free(y), free(y0);
    }
}

/* FNV-1a over the bits of a tile's outputs for fixed data: a type's NEON
 * results in one number, to compare builds. */
static uint64_t tile_digest(const lorc_kernels *k, uint32_t type) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *tk = &k->type[type];
    const int64_t n = 1024;
    kc_rng rng = {31337 + type};
    const int R = tk->tile_rows, C = tk->tile_cols;
    const size_t wrow = lorc_row_bytes(type, n), xrow = (size_t)(n / tk->act->block) * tk->act->block_bytes;
    float *f = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)R * (size_t)C * sizeof(float));
    uint8_t *w = malloc((size_t)R * wrow), *x = malloc((size_t)C * xrow);
    for (int r = 0; r < R; r++) {
        for (int64_t i = 0; i < n; i++) f[i] = (float)kc_gauss(&rng);
        ti->from_float(f, w + (size_t)r * wrow, n);
    }
    for (int c = 0; c < C; c++) {
        for (int64_t i = 0; i < n; i++) f[i] = (float)(kc_gauss(&rng) * (c + 1));
        tk->act->from_float(f, x + (size_t)c * xrow, n);
    }
    tk->tile(n, w, wrow, R, x, xrow, C, y, (size_t)R);
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *bytes = (const uint8_t *)y;
    for (size_t i = 0; i < (size_t)R * (size_t)C * sizeof(float); i++) h = (h ^ bytes[i]) * 0x100000001b3ull;
    free(f), free(y), free(w), free(x);
    return h;
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    if (!lorc_isa_supported(&cpu, LORC_ISA_NEON)) {
        printf("this CPU has no NEON: nothing to test\n");
        return test_finish("kernels_neon");
    }
    printf("neon: dot-product extension %s\n", cpu.dotprod ? "compiled in (vdotq_s32)" : "not compiled in (fallback)");
    CHECK(lorc_isa_best(&cpu) == LORC_ISA_NEON);
    lorc_kernels neon;
    lorc_kernels_init(&neon, &cpu, LORC_ISA_NEON);
    CHECK(neon.isa == LORC_ISA_NEON);
    for (int i = 0; i < N_ENTRIES; i++) {
        const neon_entry *e = &entries[i];
        const lorc_type_kernel *k = &neon.type[e->type];
        CHECK_MSG(k->tile != ref.type[e->type].tile, "%s: still the scalar tile", lorc_type_name(e->type));
        CHECK_MSG(k->act && strcmp(k->act->name, e->act) == 0, "%s: activation format %s, want %s",
                  lorc_type_name(e->type), k->act ? k->act->name : "(none)", e->act);
        CHECK(k->tile_rows == e->rows && k->tile_cols == e->cols);
    }
    check_vec(&neon, &ref);
#if defined(__aarch64__)
    check_act_rounding(neon.type[LORC_TYPE_Q4_0].act, 127);
    check_act_rounding(neon.type[LORC_TYPE_Q8_0].act, 32767);
#endif
    for (int i = 0; i < N_HARNESS; i++) {
        const uint32_t t = entries[i].type;
        kc_check_tile(&neon, &ref, t, 2000 + (uint64_t)t);
        const double ratio = t == LORC_TYPE_F32 ? 0.0 : kc_accuracy_ratio(&neon, &ref, t, 88 + (uint64_t)t);
        printf("neon %-5s tile %dx%d act %-9s accuracy ratio %s%.4f\n", lorc_type_name(t), neon.type[t].tile_rows,
               neon.type[t].tile_cols, neon.type[t].act->name, t == LORC_TYPE_F32 ? "(n/a) " : "", ratio);
        CHECK_MSG(ratio <= 0.3, "%s: accuracy ratio %.4f > 0.3", lorc_type_name(t), ratio);
    }
    for (int i = 0; i < N_ENTRIES; i++)
        printf("digest %-5s %016llx\n", lorc_type_name(entries[i].type),
               (unsigned long long)tile_digest(&neon, entries[i].type));
    return test_finish("kernels_neon");
}
