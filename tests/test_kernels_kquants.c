/* test_kernels_kquants.c — the k-quant tiles (Q2_K..Q6_K) of every kernel
 * family this CPU runs, against exact products and the scalar family:
 *  - the fast tile equals the double-precision dot of the dequantized
 *    weights with the dequantized (packed) activations up to float rounding
 *    (the integer parts are exact, so a wrong bit or scale shows at once);
 *  - it is within the a-priori activation-quantization bound of the scalar
 *    tile (F32 activations);
 *  - each pair's float result is bit-identical for every nr, nc and place in
 *    the tile (batch invariance);
 *  - the accuracy rule of issue 7: RMS error against the dequantized-weight
 *    dot <= 0.3 x the scalar path's RMS error against the unquantized weights.
 * Cases: several row lengths, unaligned rows and strides, random bytes,
 * tiny / huge / zero scales, max-magnitude quants, extreme activations. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
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
static float rng_uniform(rng *r) { return (float)(rng_u32(r) >> 8) * 0x1p-24f; }
static float rng_gauss(rng *r) {
    float u = rng_uniform(r) + 0x1p-25f, v = rng_uniform(r);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static const lorc_type kq_types[] = {LORC_TYPE_Q2_K, LORC_TYPE_Q3_K, LORC_TYPE_Q4_K, LORC_TYPE_Q5_K, LORC_TYPE_Q6_K};
#define N_KQ (sizeof kq_types / sizeof kq_types[0])

/* Offsets of the fp16 super-block scales (d, then dmin where present). */
static void half_fields(lorc_type t, int *d, int *dmin) {
    *dmin = -1;
    switch (t) {
    case LORC_TYPE_Q2_K: *d = offsetof(lorc_block_q2_K, d), *dmin = offsetof(lorc_block_q2_K, dmin); break;
    case LORC_TYPE_Q3_K: *d = offsetof(lorc_block_q3_K, d); break;
    case LORC_TYPE_Q4_K: *d = offsetof(lorc_block_q4_K, d), *dmin = offsetof(lorc_block_q4_K, dmin); break;
    case LORC_TYPE_Q5_K: *d = offsetof(lorc_block_q5_K, d), *dmin = offsetof(lorc_block_q5_K, dmin); break;
    default: *d = offsetof(lorc_block_q6_K, d); break;
    }
}

enum { CASE_QUANTIZED, CASE_RANDOM, CASE_TINY, CASE_HUGE, CASE_ZERO, CASE_MAX, CASE_COUNT };
static const char *const case_names[CASE_COUNT] = {"quantized", "random-bytes", "tiny-scales",
                                                   "huge-scales", "zero-blocks", "max-quants"};

/* One weight row of n values for a case. */
static void make_row(lorc_type t, int kase, uint8_t *row, int64_t n, rng *r) {
    const lorc_type_info *ti = lorc_type_get(t);
    const size_t bb = ti->block_bytes;
    const int64_t nb = n / LORC_QK_K;
    if (kase == CASE_QUANTIZED) {
        float *f = malloc((size_t)n * sizeof *f);
        for (int64_t i = 0; i < n; i++) f[i] = rng_gauss(r);
        ti->from_float(f, row, n);
        free(f);
        return;
    }
    int fd, fm;
    half_fields(t, &fd, &fm);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = row + (size_t)b * bb;
        for (size_t k = 0; k < bb; k++) blk[k] = (uint8_t)rng_u32(r);
        if (kase == CASE_MAX) {
            /* largest products: Q6_K q = 0 (-32) with scale -128; others all bits set */
            memset(blk, t == LORC_TYPE_Q6_K ? 0x00 : 0xff, bb);
            if (t == LORC_TYPE_Q6_K) memset(((lorc_block_q6_K *)blk)->scales, 0x80, 16);
        }
        if (kase == CASE_ZERO && b % 2 == 0) memset(blk, 0, bb);
        for (int f = 0; f < 2; f++) {
            const int off = f == 0 ? fd : fm;
            if (off < 0) continue;
            float v = 0.002f + 0.02f * rng_uniform(r);
            uint16_t h = lorc_fp32_to_fp16(v);
            if (kase == CASE_TINY) h = (uint16_t)(1 + (rng_u32(r) & 3)); /* subnormal halves */
            if (kase == CASE_HUGE || kase == CASE_MAX) h = 0x7bff;        /* 65504 */
            if (kase == CASE_ZERO && b % 2 == 0) h = 0;
            lorc_wr_u16(blk + off, h);
        }
    }
}

/* Activation row c of n values: plain, tiny, huge, constant, zero block,
 * spikes, constant negative. */
static void make_act(int c, float *x, int64_t n, rng *r) {
    for (int64_t i = 0; i < n; i++) {
        float g = rng_gauss(r);
        switch (c % 8) {
        case 2: x[i] = 1e-4f * g; break;
        case 3: x[i] = 1e4f * g; break;
        case 4: x[i] = 1.0f; break;
        case 5: x[i] = i < LORC_QK_K ? 0.0f : g; break;
        case 6: x[i] = i % 97 == 0 ? 50.0f * g : g; break;
        case 7: x[i] = -3.0f; break;
        default: x[i] = g;
        }
    }
}

static void act_to_float(const lorc_act_format *a, const void *src, float *dst, int64_t n) {
    if (strcmp(a->name, "q8_K256") == 0)
        lorc_act_q8_K256_to_float(src, dst, n);
    else if (strcmp(a->name, "q16_K256") == 0)
        lorc_act_q16_K256_to_float(src, dst, n);
    else
        memcpy(dst, src, (size_t)n * sizeof(float));
}

/* A family may pack q8_K256 / q16_K256 with its own instructions; the
 * bytes must be kq_act.c's (the formats are one definition, kq_act.h).
 * Rows: make_act's cases, half-integer ties after scaling (amax = qmax, so
 * the scale is 1), NaN and infinities, subnormal blocks (their inverse
 * scale overflows), FLT_MAX and -0. */
static void check_act_bytes(const lorc_kernels *k) {
    enum { N = 256 * 11, CASES = 16 };
    float *x = malloc(N * sizeof *x);
    uint8_t *got = malloc(N * 4), *want = malloc(N * 4);
    int bad = 0, checked = 0;
    for (size_t ti = 0; ti < N_KQ; ti++) {
        const lorc_act_format *f = k->type[kq_types[ti]].act, *ref = NULL;
        if (strcmp(f->name, "q8_K256") == 0) ref = &lorc_act_fmt_q8_K256;
        if (strcmp(f->name, "q16_K256") == 0) ref = &lorc_act_fmt_q16_K256;
        if (!ref) continue;
        const float qmax = ref == &lorc_act_fmt_q8_K256 ? LORC_KQ8_MAX : LORC_KQ16_MAX;
        const size_t bytes = (size_t)(N / ref->block) * ref->block_bytes;
        for (int kase = 0; kase < CASES; kase++) {
            rng r = {4000u + (unsigned)kase};
            make_act(kase, x, N, &r);
            for (int64_t i = 0; i < N; i++) {
                const int64_t in_block = i % LORC_QK_K;
                switch (kase) {
                case 8: x[i] = in_block == 0 ? qmax : (float)(i % (2 * (int64_t)qmax)) * 0.5f - qmax * 0.5f; break;
                case 9: x[i] = i == 300 ? NAN : x[i]; break;
                case 10: x[i] = i == 600 ? INFINITY : (i == 2000 ? -INFINITY : x[i]); break;
                case 11: x[i] = i < 2 * LORC_QK_K ? x[i] * 1e-40f : x[i]; break;
                case 12: x[i] = in_block == 5 ? FLT_MAX : (in_block == 6 ? -FLT_MAX : x[i]); break;
                case 13: x[i] = i % 3 == 0 ? -0.0f : x[i]; break;
                case 14: x[i] = i < LORC_QK_K ? 0x1p-149f * (float)(i % 5) : x[i]; break;
                default: break;
                }
            }
            memset(got, 0xa5, bytes);
            memset(want, 0x5a, bytes);
            f->from_float(x, got, N);
            ref->from_float(x, want, N);
            checked++;
            if (memcmp(got, want, bytes) != 0 && bad++ < 3)
                fprintf(stderr, "%s %s: packing case %d differs from kq_act.c's bytes\n", lorc_isa_name(k->isa),
                        f->name, kase);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d k-quant activation packings differ from kq_act.c's", lorc_isa_name(k->isa), bad);
    if (k->isa != LORC_ISA_SCALAR) CHECK_MSG(checked > 0, "%s: no k-quant activation format checked", lorc_isa_name(k->isa));
    free(x), free(got), free(want);
}

/* Checks one family's tile for type t on one case and row length. */
static void check_tile(const lorc_kernels *fast, const lorc_kernels *ref, lorc_type t, int kase, int64_t n,
                       unsigned seed) {
    rng r = {seed};
    const lorc_type_kernel *tk = &fast->type[t], *rk = &ref->type[t];
    const lorc_type_info *ti = lorc_type_get(t);
    const int R = tk->tile_rows, C = tk->tile_cols;
    const size_t row_bytes = lorc_row_bytes(t, n), w_stride = row_bytes + 3;
    /* unaligned rows and strides; F32 rows (the scalar family) stay float-aligned */
    const bool f32_act = strcmp(tk->act->name, "f32") == 0;
    const size_t act_bytes = (size_t)(n / tk->act->block) * tk->act->block_bytes;
    const size_t x_stride = act_bytes + (f32_act ? 4 : 5);
    const size_t off = 1 + seed % 3, x_off = f32_act ? 4 : off;
    uint8_t *wbuf = calloc(1, off + (size_t)R * w_stride), *w = wbuf + off;
    uint8_t *xbuf = calloc(1, x_off + (size_t)C * x_stride), *xq = xbuf + x_off;
    float *xf = malloc((size_t)C * (size_t)n * sizeof *xf), *xd = malloc((size_t)C * (size_t)n * sizeof *xd);
    float *wd = malloc((size_t)R * (size_t)n * sizeof *wd);
    for (int i = 0; i < R; i++) {
        make_row(t, kase, w + (size_t)i * w_stride, n, &r);
        ti->to_float(w + (size_t)i * w_stride, wd + (size_t)i * (size_t)n, n);
    }
    for (int c = 0; c < C; c++) {
        make_act(c, xf + (size_t)c * (size_t)n, n, &r);
        tk->act->from_float(xf + (size_t)c * (size_t)n, xq + (size_t)c * x_stride, n);
        act_to_float(tk->act, xq + (size_t)c * x_stride, xd + (size_t)c * (size_t)n, n);
    }
    const size_t ys = (size_t)R + 2;
    float *y = malloc((size_t)C * ys * sizeof *y), *ys_ref = malloc((size_t)C * ys * sizeof *ys_ref);
    float *yt = malloc((size_t)C * ys * sizeof *yt);
    tk->tile(n, w, w_stride, R, xq, x_stride, C, y, ys);
    /* the scalar reference, F32 activations (its own packing) */
    uint8_t *xr = malloc((size_t)C * (size_t)n * rk->act->block_bytes);
    const size_t xr_stride = (size_t)n * rk->act->block_bytes / (size_t)rk->act->block;
    for (int c = 0; c < C; c++) rk->act->from_float(xf + (size_t)c * (size_t)n, xr + (size_t)c * xr_stride, n);
    rk->tile(n, w, w_stride, R, xr, xr_stride, C, ys_ref, ys);

    int bad_exact = 0, bad_ref = 0, bad_inv = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++) {
            const float *wr = wd + (size_t)i * (size_t)n, *xa = xd + (size_t)c * (size_t)n,
                        *xo = xf + (size_t)c * (size_t)n;
            double exact = 0, mag = 0, act_bound = 0, mag_ref = 0, blk_w = 0, blk_amax = 0;
            for (int64_t k = 0; k < n; k++) {
                exact += (double)wr[k] * xa[k];
                mag += fabs((double)wr[k] * xa[k]);
                mag_ref += fabs((double)wr[k] * xo[k]);
                blk_w += fabs((double)wr[k]);
                blk_amax = fmax(blk_amax, fabs((double)xo[k]));
                if ((k + 1) % LORC_QK_K == 0) { /* |x - xq| <= d/2 per value, d = amax/qmax */
                    const int qmax = strcmp(tk->act->name, "q16_K256") == 0 ? LORC_KQ16_MAX : LORC_KQ8_MAX;
                    if (strcmp(tk->act->name, "f32") != 0) act_bound += blk_w * blk_amax / qmax * 0.5001;
                    blk_w = blk_amax = 0;
                }
            }
            const float got = y[(size_t)c * ys + (size_t)i], want_ref = ys_ref[(size_t)c * ys + (size_t)i];
            const double tol = 2e-5 * mag + 1e-30, tol_ref = act_bound + 2e-5 * (mag + mag_ref) + 1e-30;
            if (!(fabs(got - exact) <= tol) && bad_exact++ < 3)
                fprintf(stderr, "%s %s %s n=%lld r=%d c=%d: tile %.9g, exact %.9g (tol %.3g)\n",
                        lorc_isa_name(fast->isa), ti->name, case_names[kase], (long long)n, i, c, got, exact, tol);
            if (!(fabs((double)got - want_ref) <= tol_ref) && bad_ref++ < 3)
                fprintf(stderr, "%s %s %s n=%lld r=%d c=%d: tile %.9g, scalar %.9g (tol %.3g)\n",
                        lorc_isa_name(fast->isa), ti->name, case_names[kase], (long long)n, i, c, got, want_ref,
                        tol_ref);
        }
    /* every sub-tile at every place gives bit-identical pairs */
    for (int nr = 1; nr <= R; nr++)
        for (int nc = 1; nc <= C; nc++)
            for (int r0 = 0; r0 + nr <= R; r0++)
                for (int c0 = 0; c0 + nc <= C; c0++) {
                    tk->tile(n, w + (size_t)r0 * w_stride, w_stride, nr, xq + (size_t)c0 * x_stride, x_stride, nc,
                             yt, ys);
                    for (int c = 0; c < nc; c++)
                        for (int i = 0; i < nr; i++)
                            if (memcmp(&yt[(size_t)c * ys + (size_t)i], &y[(size_t)(c0 + c) * ys + (size_t)(r0 + i)],
                                       sizeof(float)) != 0 &&
                                bad_inv++ < 3)
                                fprintf(stderr, "%s %s %s n=%lld: pair (%d,%d) differs in a %dx%d tile at (%d,%d)\n",
                                        lorc_isa_name(fast->isa), ti->name, case_names[kase], (long long)n, r0 + i,
                                        c0 + c, nr, nc, r0, c0);
                }
    /* a packed tile (prompts) gives the unpacked tile's bits, for every nr
     * (padding rows) and nc, and writes nothing past them */
    int bad_packed = 0;
    if (tk->pack) {
        uint8_t *packed = malloc(tk->pack_bytes(n));
        for (int nr = 1; nr <= R; nr++) {
            tk->pack(n, w, w_stride, nr, packed);
            for (int nc = 1; nc <= C; nc++) {
                for (size_t k = 0; k < (size_t)C * ys; k++) yt[k] = -7.0f;
                tk->tile_packed(n, packed, 0, nr, xq, x_stride, nc, yt, ys);
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < (int)ys; i++) {
                        const size_t at = (size_t)c * ys + (size_t)i;
                        const bool inside = c < nc && i < nr;
                        if ((inside ? memcmp(&yt[at], &y[at], sizeof(float)) != 0 : yt[at] != -7.0f) &&
                            bad_packed++ < 3)
                            fprintf(stderr, "%s %s %s n=%lld: packed %dx%d tile, pair (%d,%d) %s\n",
                                    lorc_isa_name(fast->isa), ti->name, case_names[kase], (long long)n, nr, nc, i,
                                    c, inside ? "differs from the unpacked tile" : "written outside the tile");
                    }
            }
        }
        free(packed);
    }
    CHECK_MSG(bad_packed == 0, "%s %s %s n=%lld: %d packed-tile mismatches", lorc_isa_name(fast->isa), ti->name,
              case_names[kase], (long long)n, bad_packed);
    CHECK_MSG(bad_exact == 0, "%s %s %s n=%lld: %d pairs off the exact dot", lorc_isa_name(fast->isa), ti->name,
              case_names[kase], (long long)n, bad_exact);
    CHECK_MSG(bad_ref == 0, "%s %s %s n=%lld: %d pairs off the scalar tile", lorc_isa_name(fast->isa), ti->name,
              case_names[kase], (long long)n, bad_ref);
    CHECK_MSG(bad_inv == 0, "%s %s %s n=%lld: %d batch-invariance failures", lorc_isa_name(fast->isa), ti->name,
              case_names[kase], (long long)n, bad_inv);
    free(wbuf), free(xbuf), free(xf), free(xd), free(wd), free(y), free(ys_ref), free(yt), free(xr);
}

/* Issue 7's accuracy rule for one type: RMS(fast - dot(dequantized w, x))
 * over RMS(scalar - dot(original w, x)), Gaussian weights and activations;
 * with `outliers`, every 100th activation is 10x larger (as in real models'
 * hidden states), which coarsens a per-256 activation scale. */
static double accuracy_ratio(const lorc_kernels *fast, const lorc_kernels *ref, lorc_type t, bool outliers) {
    rng r = {777 + (unsigned)t};
    enum { N = 4096, ROWS = 32, COLS = 16 };
    const lorc_type_info *ti = lorc_type_get(t);
    const lorc_type_kernel *tk = &fast->type[t], *rk = &ref->type[t];
    const size_t rb = lorc_row_bytes(t, N);
    const size_t fb = (size_t)N / (size_t)tk->act->block * tk->act->block_bytes;
    const size_t rfb = (size_t)N / (size_t)rk->act->block * rk->act->block_bytes;
    float *w = malloc((size_t)ROWS * N * sizeof *w), *wd = malloc((size_t)ROWS * N * sizeof *wd);
    float *x = malloc((size_t)COLS * N * sizeof *x);
    uint8_t *wq = malloc((size_t)ROWS * rb), *xq = malloc((size_t)COLS * fb), *xr = malloc((size_t)COLS * rfb);
    for (size_t i = 0; i < (size_t)ROWS * N; i++) w[i] = rng_gauss(&r);
    for (size_t i = 0; i < (size_t)COLS * N; i++) x[i] = rng_gauss(&r) * (outliers && i % 100 == 7 ? 10.0f : 1.0f);
    for (int i = 0; i < ROWS; i++) {
        ti->from_float(w + (size_t)i * N, wq + (size_t)i * rb, N);
        ti->to_float(wq + (size_t)i * rb, wd + (size_t)i * N, N);
    }
    for (int c = 0; c < COLS; c++) {
        tk->act->from_float(x + (size_t)c * N, xq + (size_t)c * fb, N);
        rk->act->from_float(x + (size_t)c * N, xr + (size_t)c * rfb, N);
    }
    double e_fast = 0, e_ref = 0;
    float yf[4 * 4], yr[4 * 4];
    for (int i = 0; i < ROWS; i++)
        for (int c = 0; c < COLS; c++) {
            tk->tile(N, wq + (size_t)i * rb, rb, 1, xq + (size_t)c * fb, fb, 1, yf, 1);
            rk->tile(N, wq + (size_t)i * rb, rb, 1, xr + (size_t)c * rfb, rfb, 1, yr, 1);
            double dq = 0, orig = 0;
            for (int k = 0; k < N; k++) {
                dq += (double)wd[(size_t)i * N + k] * x[(size_t)c * N + k];
                orig += (double)w[(size_t)i * N + k] * x[(size_t)c * N + k];
            }
            e_fast += (yf[0] - dq) * (yf[0] - dq);
            e_ref += (yr[0] - orig) * (yr[0] - orig);
        }
    free(w), free(wd), free(x), free(wq), free(xq), free(xr);
    return sqrt(e_fast / e_ref);
}

/* A NaN or infinity in an activation block makes every dot with it NaN
 * (the F32 path gives NaN or inf; a finite wrong number would hide it). */
static void check_nonfinite(const lorc_kernels *k, lorc_type t) {
    const int64_t n = 512;
    const lorc_type_kernel *tk = &k->type[t];
    const size_t xb = (size_t)(n / tk->act->block) * tk->act->block_bytes;
    uint8_t *w = malloc(lorc_row_bytes(t, n)), *xq = malloc(xb);
    float x[512], y[1];
    rng r = {99};
    make_row(t, CASE_QUANTIZED, w, n, &r);
    for (int bad = 0; bad < 3; bad++) {
        for (int i = 0; i < n; i++) x[i] = rng_gauss(&r);
        x[300] = bad == 0 ? NAN : (bad == 1 ? INFINITY : -INFINITY);
        tk->act->from_float(x, xq, n);
        tk->tile(n, w, 0, 1, xq, 0, 1, y, 1);
        CHECK_MSG(!isfinite(y[0]), "%s %s: activation %g gave %g", lorc_isa_name(k->isa), lorc_type_name(t),
                  (double)x[300], (double)y[0]);
    }
    free(w), free(xq);
}

/* The AVX-512 family's tiles (VNNI): its own decode tile (one activation
 * row) for each k-quant, and packed tiles, Q4_K's 16 rows in lanes and the
 * others' row pairs. Each must give the AVX2 tile's bits (check_tile: the
 * extreme cases, every nr and nc of the tile; kc_check_packed: every nr up
 * to the packed rows, more blocks). */
static void check_avx512_kquants(const lorc_kernels *e, const lorc_kernels *ref, const int64_t *lens, size_t n_lens) {
    const lorc_type_kernel *q4k = &e->type[LORC_TYPE_Q4_K];
    CHECK_MSG(lorc_packed_rows(q4k) == 16 && q4k->tile_rows == 8, "avx512 Q4_K: %d packed rows, tile of %d",
              lorc_packed_rows(q4k), q4k->tile_rows);
    lorc_kernels avx2;
    lorc_kernels_init(&avx2, &e->cpu, LORC_ISA_AVX2);
    for (size_t ti = 0; ti < N_KQ; ti++) {
        const lorc_type t = kq_types[ti];
        /* its own decode tile for every k-quant (check_tile's nc = 1 sub-tiles
         * then hold it to the AVX2 tile's bits) */
        CHECK_MSG(e->type[t].tile != avx2.type[t].tile, "avx512 %s: the AVX2 tile", lorc_type_name(t));
        for (int kase = 0; kase < CASE_COUNT; kase++)
            for (size_t li = 0; li < n_lens; li++) check_tile(e, ref, t, kase, lens[li], (unsigned)(77 + 10 * kase + li));
        kc_check_packed(e, t, 4242 + ti);
        printf("%s %s: %d-row packed tile checked against the %d-row tile\n", lorc_isa_name(e->isa),
               lorc_type_name(t), lorc_packed_rows(&e->type[t]), e->type[t].tile_rows);
    }
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_kernels ref;
    lorc_kernels_init_scalar(&ref);
    static const int64_t lens[] = {256, 256 * 8, 256 * 11};
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa)) {
            printf("%s: not supported by this CPU, not tested\n", lorc_isa_name((lorc_isa)isa));
            continue;
        }
        lorc_kernels k;
        lorc_kernels_init(&k, &cpu, (lorc_isa)isa);
        if (k.isa != (lorc_isa)isa) {
            printf("%s: not built into this binary, not tested\n", lorc_isa_name((lorc_isa)isa));
            continue;
        }
        check_act_bytes(&k);
        for (size_t ti = 0; ti < N_KQ; ti++) {
            const lorc_type t = kq_types[ti];
            const lorc_type_kernel *tk = &k.type[t];
            CHECK(tk->act && tk->tile && tk->tile_rows >= 1 && tk->tile_cols >= 1);
            if (isa == LORC_ISA_AVX2) { /* the formats this family promises */
                CHECK(strcmp(tk->act->name, t >= LORC_TYPE_Q5_K ? "q16_K256" : "q8_K256") == 0);
                if (t == LORC_TYPE_Q4_K) /* 8 rows in lanes, packed for prompts */
                    CHECK(tk->tile_rows == 8 && tk->tile_cols == 6 && tk->pack && tk->tile_packed);
                else
                    CHECK(tk->tile_rows == 4 && tk->tile_cols == 8);
            }
            for (int kase = 0; kase < CASE_COUNT; kase++)
                for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
                    check_tile(&k, &ref, t, kase, lens[li], (unsigned)(1000 * ti + 10 * kase + li));
            check_nonfinite(&k, t);
            const double ratio = accuracy_ratio(&k, &ref, t, false), ratio_out = accuracy_ratio(&k, &ref, t, true);
            printf("%s %s: act %s, tile %dx%d, error ratio %.4f (Gaussian), %.4f (1%% outliers at 10x)\n",
                   lorc_isa_name(k.isa), lorc_type_name(t), tk->act->name, tk->tile_rows, tk->tile_cols, ratio,
                   ratio_out);
            /* not the rule (that one is on Gaussian data), a guard
             * against losing what the outlier case measures today */
            CHECK_MSG(ratio_out <= 0.8, "%s %s: outlier error ratio %.4f", lorc_isa_name(k.isa), lorc_type_name(t),
                      ratio_out);
            if (isa == LORC_ISA_SCALAR)
                CHECK(ratio < 1e-3); /* same kernel, F32 activations: only the weight error is left */
            else
                CHECK_MSG(ratio <= 0.3, "%s %s: error ratio %.4f > 0.3", lorc_isa_name(k.isa), lorc_type_name(t),
                          ratio);
        }
    }
    /* The AVX-512 family's packed tiles: real where the CPU has AVX-512
     * VNNI, and with emulated instructions on every CPU with AVX2. */
    lorc_kernels e;
    if (lorc_isa_supported(&cpu, LORC_ISA_AVX512) && cpu.avx512vnni) {
        lorc_kernels_init(&e, &cpu, LORC_ISA_AVX512);
        check_avx512_kquants(&e, &ref, lens, sizeof lens / sizeof lens[0]);
    }
    if (kc_avx512_emulated(&e, &cpu))
        check_avx512_kquants(&e, &ref, lens, sizeof lens / sizeof lens[0]);
    else
        CHECK_MSG(!lorc_isa_supported(&cpu, LORC_ISA_AVX2), "no emulated AVX-512 family: install libsimde-dev");
    return test_finish("test_kernels_kquants");
}
