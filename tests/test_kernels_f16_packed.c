/* test_kernels_f16_packed.c — the packed tiles of the float weight types
 * (F32, F16, BF16) against their unpacked tiles: for row lengths with and
 * without a tail shorter than a vector, every nr <= tile_rows and
 * nc <= tile_cols, padded weight rows, unaligned packed tiles, and extreme
 * values (largest finite, subnormal, signed zeros), the packed tile must
 * give exactly the unpacked tile's bits — a prompt's rows must equal the
 * same rows decoded alone. Also: packing writes only its pack_bytes, the
 * tile only its nr x nc outputs, and both agree with the double-precision
 * dot of the row's own values (so a pack that lost values fails even when
 * both paths agreed on it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_check.h"
#include "tensor/kernels.h"
#include "tensor/types.h"
#include "testutil.h"

static const uint32_t types[] = {LORC_TYPE_F32, LORC_TYPE_F16, LORC_TYPE_BF16};
enum { N_TYPES = sizeof types / sizeof types[0], GUARD = 64, Y_MAX = 16 * 16 };
static const uint8_t guard_byte = 0xA5;
static const float y_sentinel = -12345.0f;

/* A weight value for element i: mostly Gaussian, some extremes the type
 * holds exactly (largest finite, subnormal, signed zero). */
static float weight_value(kc_rng *rng, uint32_t type, int64_t i) {
    switch (kc_next(rng) % 16) {
    case 0: return type == LORC_TYPE_F16 ? 65504.0f : 3.0e38f;     /* largest finite-ish */
    case 1: return type == LORC_TYPE_F16 ? -5.9604645e-8f : 1e-40f; /* subnormal */
    case 2: return (i & 1) ? -0.0f : 0.0f;
    default: return (float)kc_gauss(rng);
    }
}

/* The row's own values back as floats (the reference for one pair). */
static double exact_dot(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    float *wf = malloc((size_t)n * sizeof(float));
    lorc_type_get(type)->to_float(row, wf, n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)wf[i] * (double)x[i];
    free(wf);
    return s;
}

static double abs_dot(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    float *wf = malloc((size_t)n * sizeof(float));
    lorc_type_get(type)->to_float(row, wf, n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)wf[i] * (double)x[i]);
    free(wf);
    return s;
}

static void check_type(const lorc_kernels *k, uint32_t type, int64_t n, int extremes, uint64_t seed) {
    const lorc_type_kernel *tk = &k->type[type];
    const lorc_type_info *ti = lorc_type_get(type);
    /* a packed tile's shape (lorc_packed_rows/cols), which may differ from
     * the unpacked tile's */
    const int tr = lorc_packed_rows(tk), tc = lorc_packed_cols(tk);
    CHECK_MSG(tk->pack && tk->pack_bytes && tk->tile_packed, "%s: %s has no packed tile", lorc_isa_name(k->isa),
              ti->name);
    if (!tk->pack || !tk->pack_bytes || !tk->tile_packed || tr * tc > Y_MAX) return;
    kc_rng rng = {seed};
    /* rows padded (stride > row bytes) and starting 2 bytes off alignment */
    const size_t rb = lorc_row_bytes(type, n), stride = rb + 6;
    uint8_t *wbuf = malloc(stride * (size_t)tr + 2);
    uint8_t *w = wbuf + 2;
    float *wf = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < tr; r++) {
        for (int64_t i = 0; i < n; i++) wf[i] = extremes ? weight_value(&rng, type, i) : (float)kc_gauss(&rng);
        ti->from_float(wf, w + (size_t)r * stride, n);
        memset(w + (size_t)r * stride + rb, 0x7f, stride - rb); /* padding that must never be read as values */
    }
    /* activations: small enough that extreme weights stay finite */
    const size_t xs = (size_t)n * sizeof(float) + 4;
    float *xbuf = malloc(xs * (size_t)tc);
    for (int c = 0; c < tc; c++) {
        float *xr = (float *)(void *)((uint8_t *)xbuf + xs * (size_t)c);
        for (int64_t i = 0; i < n; i++) xr[i] = extremes ? (float)(kc_gauss(&rng) * 1e-3) : (float)kc_gauss(&rng);
    }
    const size_t pb = tk->pack_bytes(n);
    uint8_t *pbuf = malloc(pb + 4 + GUARD);
    uint8_t *packed = pbuf + 4; /* the tile must not rely on alignment */
    float y_tile[Y_MAX], y_packed[Y_MAX];
    /* every pair through the unpacked tile, in tiles of its own shape */
    for (int c0 = 0; c0 < tc; c0 += tk->tile_cols)
        for (int r0 = 0; r0 < tr; r0 += tk->tile_rows) {
            const int nr = tr - r0 < tk->tile_rows ? tr - r0 : tk->tile_rows;
            const int nc = tc - c0 < tk->tile_cols ? tc - c0 : tk->tile_cols;
            tk->tile(n, w + (size_t)r0 * stride, stride, nr, (const uint8_t *)xbuf + xs * (size_t)c0, xs, nc,
                     y_tile + c0 * tr + r0, (size_t)tr);
        }
    int mismatches = 0, stray = 0, wrong = 0;
    for (int nr = 1; nr <= tr; nr++) {
        memset(pbuf, guard_byte, pb + 4 + GUARD);
        tk->pack(n, w, stride, nr, packed);
        int guard_hit = 0;
        for (size_t b = 0; b < GUARD; b++) guard_hit |= packed[pb + b] != guard_byte;
        for (size_t b = 0; b < 4; b++) guard_hit |= pbuf[b] != guard_byte;
        CHECK_MSG(!guard_hit, "%s n=%lld nr=%d: pack wrote outside its %zu bytes", ti->name, (long long)n, nr, pb);
        for (int nc = 1; nc <= tc; nc++) {
            for (int i = 0; i < Y_MAX; i++) y_packed[i] = y_sentinel;
            tk->tile_packed(n, packed, 0, nr, xbuf, xs, nc, y_packed, (size_t)tr);
            for (int c = 0; c < tc; c++)
                for (int r = 0; r < tr; r++) {
                    const int at = c * tr + r;
                    if (r >= nr || c >= nc) {
                        stray += y_packed[at] != y_sentinel;
                        continue;
                    }
                    if (memcmp(&y_tile[at], &y_packed[at], sizeof(float)) != 0 && mismatches++ < 3)
                        fprintf(stderr, "%s n=%lld nr=%d nc=%d pair (%d,%d): packed %.9g, unpacked %.9g\n", ti->name,
                                (long long)n, nr, nc, r, c, (double)y_packed[at], (double)y_tile[at]);
                    const float *xr = (const float *)(const void *)((const uint8_t *)xbuf + xs * (size_t)c);
                    const uint8_t *row = w + (size_t)r * stride;
                    const double want = exact_dot(type, row, xr, n), scale = abs_dot(type, row, xr, n);
                    /* F32 accumulation: one rounding per step of a pair's
                     * chain (n/8 steps, a tail, 3 in the horizontal sum;
                     * 16 lanes: n/16 steps, a tail, 4 in the sum) */
                    const double bound = (double)(n / 8 + 5) * 0x1p-24 * scale + 1e-30;
                    if (!(fabs((double)y_packed[at] - want) <= bound) && wrong++ < 3)
                        fprintf(stderr, "%s n=%lld nr=%d nc=%d pair (%d,%d): %.9g, exact %.9g\n", ti->name,
                                (long long)n, nr, nc, r, c, (double)y_packed[at], want);
                }
        }
    }
    CHECK_MSG(mismatches == 0, "%s/%s n=%lld: %d pairs differ between packed and unpacked tiles",
              lorc_isa_name(k->isa), ti->name, (long long)n, mismatches);
    CHECK_MSG(stray == 0, "%s n=%lld: the packed tile wrote %d outputs outside nr x nc", ti->name, (long long)n, stray);
    CHECK_MSG(wrong == 0, "%s n=%lld: %d packed results far from the exact dot", ti->name, (long long)n, wrong);
    free(pbuf);
    free(xbuf);
    free(wf);
    free(wbuf);
}

static void check_family(const lorc_kernels *k, const char *note) {
    static const int64_t ns[] = {1, 7, 8, 13, 64, 100, 257, 2048, 2051};
    for (int t = 0; t < N_TYPES; t++) {
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (int extremes = 0; extremes < 2; extremes++)
                check_type(k, types[t], ns[i], extremes, 31 * (uint64_t)t + 7 * i + (uint64_t)extremes);
        const lorc_type_kernel *tk = &k->type[types[t]];
        printf("%s%s %-5s tile %dx%d, packed %dx%d: packed tiles (%zu bytes for n=2048) checked against unpacked\n",
               lorc_isa_name(k->isa), note, lorc_type_name(types[t]), tk->tile_rows, tk->tile_cols,
               lorc_packed_rows(tk), lorc_packed_cols(tk), tk->pack_bytes ? tk->pack_bytes(2048) : (size_t)0);
    }
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    if (!lorc_isa_supported(&cpu, LORC_ISA_AVX2)) {
        /* The scalar family has no packed float tiles; nothing else to test. */
        lorc_kernels ref;
        lorc_kernels_init_scalar(&ref);
        CHECK(ref.type[LORC_TYPE_F16].tile != NULL);
        printf("this CPU has no AVX2+FMA+F16C: no packed float tiles to check\n");
        return test_finish("kernels_f16_packed");
    }
    lorc_kernels k;
    lorc_kernels_init(&k, &cpu, LORC_ISA_AVX2);
    CHECK(k.isa == LORC_ISA_AVX2);
    check_family(&k, "");
    /* the AVX-512 family's ZMM tiles: real where the CPU has them, and
     * with emulated instructions on every CPU */
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX512)) {
        lorc_kernels_init(&k, &cpu, LORC_ISA_AVX512);
        /* F16 and BF16 pack 6 x 4 tiles (6 rows unlike the 4 x 6 tile, so
         * their pairs ran through two unpacked tiles each), F32 4 x 6 */
        for (int t = 0; t < N_TYPES; t++) {
            const int want_r = types[t] == LORC_TYPE_F32 ? 4 : 6, want_c = types[t] == LORC_TYPE_F32 ? 6 : 4;
            CHECK_MSG(lorc_packed_rows(&k.type[types[t]]) == want_r && lorc_packed_cols(&k.type[types[t]]) == want_c,
                      "avx512 %s: packed tile %dx%d, want %dx%d", lorc_type_name(types[t]),
                      lorc_packed_rows(&k.type[types[t]]), lorc_packed_cols(&k.type[types[t]]), want_r, want_c);
        }
        check_family(&k, "");
    }
    if (kc_avx512_emulated(&k, &cpu))
        check_family(&k, " (emulated)");
    else
        CHECK_MSG(false, "the AVX-512 tiles cannot be checked: this build has no SIMDe (install libsimde-dev)");
    return test_finish("kernels_f16_packed");
}
