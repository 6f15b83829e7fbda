/* test_kernels_q6k_packed.c — the packed Q6_K tile (lorc_type_kernel.pack /
 * tile_packed) of every kernel family this CPU runs that packs Q6_K, and of
 * the AVX-512 family with emulated instructions:
 *  - every pair's result is bit-identical to the unpacked tile's, for every
 *    nr (1..tile_rows), nc (1..tile_cols) and place in the tile, and to the
 *    decode tile (nc = 1) on the same row and column (batch invariance:
 *    a prompt row equals the same row decoded alone);
 *  - it equals the double-precision dot of the dequantized weights with the
 *    dequantized activations up to float rounding (the integer part is
 *    exact, so an overflow or a wrong lane shows; the largest products —
 *    q = 0, scale -128, d = 65504, full-scale activations — included);
 *  - packed buffers at unaligned addresses give the same bits.
 * Cases: quantized Gaussian rows, random bytes, max-magnitude quants, zero
 * blocks; several row lengths; activation rows at odd strides. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/quant_impl.h"
#include "tensor/simd/kq_act.h"
#include "kernel_check.h"
#include "testutil.h"

typedef struct { uint64_t s; } rng;
static uint32_t rng_u32(rng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}
static float rng_gauss(rng *r) {
    const float u = (float)(rng_u32(r) >> 8) * 0x1p-24f + 0x1p-25f, v = (float)(rng_u32(r) >> 8) * 0x1p-24f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

enum { CASE_QUANTIZED, CASE_RANDOM, CASE_MAX, CASE_ZERO, CASE_COUNT };
static const char *const case_names[CASE_COUNT] = {"quantized", "random-bytes", "max-quants", "zero-blocks"};

#define ROWS 7 /* more than one tile, the last one partial */
#define COLS 11

static void make_rows(int kase, uint8_t *w, size_t rb, int64_t n, rng *r) {
    const lorc_type_info *ti = lorc_type_get(LORC_TYPE_Q6_K);
    float *f = malloc((size_t)n * sizeof *f);
    for (int i = 0; i < ROWS; i++) {
        uint8_t *row = w + (size_t)i * rb;
        if (kase == CASE_QUANTIZED) {
            for (int64_t k = 0; k < n; k++) f[k] = rng_gauss(r);
            ti->from_float(f, row, n);
            continue;
        }
        for (size_t k = 0; k < rb; k++) row[k] = (uint8_t)rng_u32(r);
        for (int64_t b = 0; b < n / LORC_QK_K; b++) {
            lorc_block_q6_K *blk = (lorc_block_q6_K *)(void *)(row + (size_t)b * sizeof *blk);
            uint16_t h = lorc_fp32_to_fp16(0.001f + 0.01f * (float)(rng_u32(r) % 100) / 100.0f);
            if (kase == CASE_MAX) { /* every quant 0 (-32), every scale -128, d the largest half */
                memset(blk->ql, 0, sizeof blk->ql);
                memset(blk->qh, 0, sizeof blk->qh);
                memset(blk->scales, 0x80, sizeof blk->scales);
                h = 0x7bff;
            }
            if (kase == CASE_ZERO && (b + i) % 2 == 0) {
                memset(blk, 0, sizeof *blk);
                h = 0;
            }
            lorc_wr_u16(blk->d, h);
        }
    }
    free(f);
}

static void make_acts(int kase, float *x, int64_t n, rng *r) {
    for (int c = 0; c < COLS; c++)
        for (int64_t k = 0; k < n; k++) {
            float v = rng_gauss(r) * (c % 3 == 2 ? 1e3f : 1.0f);
            if (kase == CASE_MAX) v = (k + c) % 2 ? -1.0f : 1.0f; /* every activation at +-8191 after packing */
            x[(size_t)c * (size_t)n + (size_t)k] = v;
        }
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_case(const lorc_kernels *k, int kase, int64_t n, unsigned seed) {
    const lorc_type_kernel *tk = &k->type[LORC_TYPE_Q6_K];
    const lorc_type_info *ti = lorc_type_get(LORC_TYPE_Q6_K);
    const char *isa = lorc_isa_name(k->isa), *cn = case_names[kase];
    rng r = {seed};
    const size_t rb = lorc_row_bytes(LORC_TYPE_Q6_K, n);
    const size_t x_stride = (size_t)(n / tk->act->block) * tk->act->block_bytes + 6; /* odd stride */
    const size_t pb = tk->pack_bytes(n);
    uint8_t *wbuf = malloc(rb * ROWS + 1), *w = wbuf + 1; /* unaligned rows */
    uint8_t *xbuf = malloc(x_stride * COLS + 3), *xq = xbuf + 3;
    uint8_t *packed = aligned_alloc(64, (pb + 16 + 63) / 64 * 64);
    float *xf = malloc((size_t)n * COLS * sizeof *xf), *xd = malloc((size_t)n * COLS * sizeof *xd);
    float *wd = malloc((size_t)n * ROWS * sizeof *wd);
    float y_ref[ROWS * COLS], y[16 * 16], y1[4];
    make_rows(kase, w, rb, n, &r);
    make_acts(kase, xf, n, &r);
    for (int i = 0; i < ROWS; i++) ti->to_float(w + (size_t)i * rb, wd + (size_t)i * (size_t)n, n);
    for (int c = 0; c < COLS; c++) {
        tk->act->from_float(xf + (size_t)c * (size_t)n, xq + (size_t)c * x_stride, n);
        lorc_act_q16_K256_to_float(xq + (size_t)c * x_stride, xd + (size_t)c * (size_t)n, n);
    }
    /* the reference: every pair from the decode tile (one row, one column) */
    for (int i = 0; i < ROWS; i++)
        for (int c = 0; c < COLS; c++) {
            tk->tile(n, w + (size_t)i * rb, rb, 1, xq + (size_t)c * x_stride, x_stride, 1, y1, 1);
            y_ref[c * ROWS + i] = y1[0];
        }
    int bad_exact = 0, bad_tile = 0, bad_packed = 0, bad_align = 0;
    for (int i = 0; i < ROWS; i++)
        for (int c = 0; c < COLS; c++) {
            double exact = 0, mag = 0;
            for (int64_t q = 0; q < n; q++) {
                const double p = (double)wd[(size_t)i * (size_t)n + (size_t)q] * xd[(size_t)c * (size_t)n + (size_t)q];
                exact += p;
                mag += fabs(p);
            }
            const float got = y_ref[c * ROWS + i];
            if (!(fabs(got - exact) <= 2e-5 * mag + 1e-30) && bad_exact++ < 3)
                fprintf(stderr, "%s Q6_K %s n=%lld (%d,%d): decode tile %.9g, exact %.9g\n", isa, cn, (long long)n, i,
                        c, (double)got, exact);
        }
    for (int r0 = 0; r0 < ROWS; r0++)
        for (int nr = 1; nr <= tk->tile_rows && r0 + nr <= ROWS; nr++) {
            tk->pack(n, w + (size_t)r0 * rb, rb, nr, packed);
            for (int c0 = 0; c0 < COLS; c0++)
                for (int nc = 1; nc <= tk->tile_cols && c0 + nc <= COLS; nc++) {
                    const uint8_t *xc = xq + (size_t)c0 * x_stride;
                    tk->tile(n, w + (size_t)r0 * rb, rb, nr, xc, x_stride, nc, y, 16);
                    for (int c = 0; c < nc; c++)
                        for (int i = 0; i < nr; i++)
                            if (!same_bits(y[c * 16 + i], y_ref[(c0 + c) * ROWS + r0 + i]) && bad_tile++ < 3)
                                fprintf(stderr, "%s Q6_K %s n=%lld: tile %dx%d at (%d,%d): pair (%d,%d) %.9g, alone %.9g\n",
                                        isa, cn, (long long)n, nr, nc, r0, c0, r0 + i, c0 + c, (double)y[c * 16 + i],
                                        (double)y_ref[(c0 + c) * ROWS + r0 + i]);
                    tk->tile_packed(n, packed, 0, nr, xc, x_stride, nc, y, 16);
                    for (int c = 0; c < nc; c++)
                        for (int i = 0; i < nr; i++)
                            if (!same_bits(y[c * 16 + i], y_ref[(c0 + c) * ROWS + r0 + i]) && bad_packed++ < 3)
                                fprintf(stderr,
                                        "%s Q6_K %s n=%lld: packed %dx%d at (%d,%d): pair (%d,%d) %.9g, alone %.9g\n",
                                        isa, cn, (long long)n, nr, nc, r0, c0, r0 + i, c0 + c, (double)y[c * 16 + i],
                                        (double)y_ref[(c0 + c) * ROWS + r0 + i]);
                }
            /* the same packed bytes 16 bytes further on: same bits */
            memmove(packed + 16, packed, pb);
            tk->tile_packed(n, packed + 16, 0, nr, xq, x_stride, tk->tile_cols < COLS ? tk->tile_cols : COLS, y, 16);
            for (int c = 0; c < (tk->tile_cols < COLS ? tk->tile_cols : COLS); c++)
                for (int i = 0; i < nr; i++)
                    if (!same_bits(y[c * 16 + i], y_ref[c * ROWS + r0 + i]) && bad_align++ < 3)
                        fprintf(stderr, "%s Q6_K %s n=%lld: unaligned packed tile, pair (%d,%d) differs\n", isa, cn,
                                (long long)n, r0 + i, c);
        }
    CHECK_MSG(bad_exact == 0, "%s Q6_K %s n=%lld: %d pairs off the exact dot", isa, cn, (long long)n, bad_exact);
    CHECK_MSG(bad_tile == 0, "%s Q6_K %s n=%lld: %d tile pairs differ from decode", isa, cn, (long long)n, bad_tile);
    CHECK_MSG(bad_packed == 0, "%s Q6_K %s n=%lld: %d packed pairs differ from decode", isa, cn, (long long)n,
              bad_packed);
    CHECK_MSG(bad_align == 0, "%s Q6_K %s n=%lld: %d unaligned packed pairs differ", isa, cn, (long long)n, bad_align);
    free(wbuf), free(xbuf), free(packed), free(xf), free(xd), free(wd);
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    static const int64_t lens[] = {256, 256 * 8, 256 * 11};
    int tested = 0;
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa)) continue;
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        const lorc_type_kernel *tk = &k.type[LORC_TYPE_Q6_K];
        if (k.isa != (lorc_isa)isa || !tk->tile_packed) {
            printf("%s: no packed Q6_K tile, not tested\n", lorc_isa_name((lorc_isa)isa));
            continue;
        }
        CHECK(tk->pack && tk->pack_bytes && tk->pack_bytes(512) == 2 * tk->pack_bytes(256));
        for (int kase = 0; kase < CASE_COUNT; kase++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                check_case(&k, kase, lens[li], (unsigned)(100 * kase + li + 1));
        tested++;
    }
#if defined(__x86_64__)
    /* the AVX2 family packs Q6_K: on an AVX2 machine this test must not be empty */
    if (cpu.avx2 && cpu.fma && cpu.f16c) CHECK_MSG(tested > 0, "AVX2 CPU, but no packed Q6_K tile was tested");
#endif
    /* The AVX-512 family's Q6_K tile (two pairs per ZMM register, VNNI)
     * with emulated instructions, on CPUs without AVX-512 VNNI. */
    lorc_kernels e;
    if (!(lorc_isa_supported(&cpu, LORC_ISA_AVX512) && cpu.avx512vnni)) {
        if (kc_avx512_emulated(&e, &cpu)) {
            printf("AVX-512 family with emulated instructions:\n");
            for (int kase = 0; kase < CASE_COUNT; kase++)
                for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                    check_case(&e, kase, lens[li], (unsigned)(100 * kase + li + 1));
            kc_check_packed(&e, LORC_TYPE_Q6_K, 6060); /* against the AVX2 tile, bit for bit */
        } else {
            CHECK_MSG(!lorc_isa_supported(&cpu, LORC_ISA_AVX2), "no emulated AVX-512 family: install libsimde-dev");
        }
    }
    return test_finish("test_kernels_q6k_packed");
}
