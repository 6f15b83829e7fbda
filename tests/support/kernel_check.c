/* kernel_check.c — see kernel_check.h. */
#include "kernel_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/types.h"
#include "testutil.h"

uint64_t kc_next(kc_rng *r) {
    /* splitmix64: good enough spread for test data, trivially seeded */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double kc_uniform(kc_rng *r) { return (double)(kc_next(r) >> 11) * 0x1p-53; }

double kc_gauss(kc_rng *r) {
    double u = kc_uniform(r) + 0x1p-60, v = kc_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Quantization levels of an activation format's integers (0: F32, exact). */
static double act_levels(const lorc_act_format *act) {
    if (act->block == 1) return 0;
    if (strcmp(act->name, "avx2_q8s") == 0) return 127;
    if (strcmp(act->name, "avx2_q16") == 0) return 32767;
    if (strcmp(act->name, "neon_q8s") == 0) return 127;
    if (strcmp(act->name, "neon_q16") == 0) return 32767;
    return -1;
}

/* Header bytes (scales) in front of a legacy block's quants, 0 otherwise. */
static int legacy_header(uint32_t type) {
    switch (type) {
    case LORC_TYPE_Q4_0:
    case LORC_TYPE_Q5_0:
    case LORC_TYPE_Q8_0: return 2;
    case LORC_TYPE_Q4_1:
    case LORC_TYPE_Q5_1: return 4;
    default: return 0;
    }
}

static void put_half(uint8_t *p, float v) {
    uint16_t h = lorc_fp32_to_fp16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* One weight row of n values with a scale regime chosen per 32 values:
 * ordinary, tiny (subnormal fp16 scales), huge, all zero, max-magnitude
 * quants. Float types are written through their converter; quantized
 * blocks are random bytes with the scale fields set. */
static void make_weight_row(uint32_t type, int64_t n, uint8_t *row, kc_rng *rng) {
    const lorc_type_info *ti = lorc_type_get(type);
    if (!ti->quantized) {
        float *v = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i += 32) {
            const int mode = (int)(kc_next(rng) % 5);
            double scale = 1.0;
            if (mode == 1) scale = type == LORC_TYPE_F16 ? 1e-6 : 1e-30;
            if (mode == 2) scale = type == LORC_TYPE_F16 ? 2e4 : 1e12;
            for (int64_t j = i; j < i + 32 && j < n; j++) {
                double g = mode == 3 ? 0.0 : kc_gauss(rng) * scale;
                if (type == LORC_TYPE_F16) g = fmax(-65504.0, fmin(65504.0, g));
                if (mode == 4) g = (j & 1) ? 65504.0 : -65504.0; /* largest finite fp16 */
                v[j] = (float)g;
            }
        }
        ti->from_float(v, row, n);
        free(v);
        return;
    }
    const int hdr = legacy_header(type);
    const size_t bb = ti->block_bytes;
    for (int64_t b = 0; b < n / ti->block_size; b++) {
        uint8_t *blk = row + (size_t)b * bb;
        for (size_t k = 0; k < bb; k++) blk[k] = (uint8_t)kc_next(rng);
        const int mode = (int)(kc_next(rng) % 6);
        float d = (float)(kc_gauss(rng) * 0.02), m = (float)(kc_gauss(rng) * 0.1);
        if (mode == 1) d = (float)(kc_gauss(rng) * 1e-7), m = (float)(kc_gauss(rng) * 1e-6); /* subnormal halves */
        if (mode == 2) d = (kc_next(rng) & 1) ? 65504.0f : -60000.0f, m = -30000.0f;
        if (mode == 3) d = 0, m = 0;
        if (mode == 4 || mode == 5) {
            /* extreme quants: every value at the top or bottom level */
            uint8_t fill = type == LORC_TYPE_Q8_0 ? (mode == 4 ? 0x7f : 0x80) : (mode == 4 ? 0xff : 0x00);
            memset(blk + hdr, fill, bb - (size_t)hdr);
        }
        put_half(blk, d);
        if (hdr == 4) put_half(blk + 2, m);
    }
}

static void make_act_row(int64_t n, float *x, kc_rng *rng) {
    for (int64_t i = 0; i < n; i += 32) {
        const int mode = (int)(kc_next(rng) % 6);
        double scale = mode == 1 ? 1e-20 : mode == 2 ? 1e8 : mode == 3 ? 0.0 : 1.0;
        for (int64_t j = i; j < i + 32 && j < n; j++) x[j] = (float)(kc_gauss(rng) * scale);
        if (mode == 4) x[i] *= 1000.0f; /* one outlier sets the block scale */
        if (mode == 5 && i + 31 < n) x[i + 31] = -x[i + 31] * 1e4f;
    }
}

/* Bound on |fast - ref| for one pair: the activation rounding (half a step
 * per value, step = block amax / levels) times the weights' magnitudes,
 * plus float rounding of both sums relative to sum |w x|. */
static double pair_tolerance(const float *wd, const float *x, int64_t n, int64_t block, double levels) {
    double bound = 0, mag = 0;
    for (int64_t i = 0; i < n; i += block) {
        double amax = 0, wsum = 0;
        for (int64_t j = i; j < i + block && j < n; j++) {
            amax = fmax(amax, fabs((double)x[j]));
            wsum += fabs((double)wd[j]);
            mag += fabs((double)wd[j] * (double)x[j]);
        }
        if (levels > 0) bound += amax / levels * 0.5 * wsum * 1.0001;
    }
    return bound + 2e-5 * mag + 1e-38;
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* offset: how far (0..3 bytes) the fast kernel's rows are moved off
 * alignment, with odd row strides as well when it is non-zero. */
static void check_one_n(const lorc_kernels *fast, const lorc_kernels *ref, uint32_t type, int64_t n, int offset,
                        kc_rng *rng) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *fk = &fast->type[type], *rk = &ref->type[type];
    const int R = fk->tile_rows, C = fk->tile_cols;
    const double levels = act_levels(fk->act);
    CHECK_MSG(levels >= 0, "%s: unknown activation format %s", ti->name, fk->act->name);
    const size_t wrow = lorc_row_bytes(type, n), w_stride = wrow + (offset ? 3 : 0);
    uint8_t *wbuf = malloc((size_t)R * w_stride + 8), *w = wbuf + offset;
    float *wd = malloc((size_t)R * (size_t)n * sizeof(float));
    float *x = malloc((size_t)C * (size_t)n * sizeof(float));
    for (int r = 0; r < R; r++) {
        make_weight_row(type, n, w + (size_t)r * w_stride, rng);
        ti->to_float(w + (size_t)r * w_stride, wd + (size_t)r * (size_t)n, n);
    }
    for (int c = 0; c < C; c++) make_act_row(n, x + (size_t)c * (size_t)n, rng);

    /* fast activation rows, unaligned, odd stride */
    const size_t xrow = (size_t)(round_up(n, fk->act->block) / fk->act->block) * fk->act->block_bytes;
    const size_t x_stride = xrow + (offset ? 1 : 0);
    uint8_t *xbuf = calloc((size_t)C * x_stride + 8, 1), *xp = xbuf + (offset ? 4 - offset : 0);
    for (int c = 0; c < C; c++) fk->act->from_float(x + (size_t)c * (size_t)n, xp + (size_t)c * x_stride, n);
    /* reference activation rows, aligned (the scalar family reads them as
     * float arrays), and an aligned copy of each weight row */
    const size_t rrow = (size_t)(round_up(n, rk->act->block) / rk->act->block) * rk->act->block_bytes;
    uint8_t *rx = malloc((size_t)C * rrow);
    for (int c = 0; c < C; c++) rk->act->from_float(x + (size_t)c * (size_t)n, rx + (size_t)c * rrow, n);
    uint8_t *wa = malloc((size_t)R * wrow);
    for (int r = 0; r < R; r++) memcpy(wa + (size_t)r * wrow, w + (size_t)r * w_stride, wrow);

    /* full tile, against the reference */
    const size_t y_stride = (size_t)R + 2;
    float *yfull = malloc((size_t)C * y_stride * sizeof(float));
    fk->tile(n, w, w_stride, R, xp, x_stride, C, yfull, y_stride);
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) {
            float yr;
            rk->tile(n, wa + (size_t)r * wrow, wrow, 1, rx + (size_t)c * rrow, rrow, 1, &yr, 1);
            const double tol = pair_tolerance(wd + (size_t)r * (size_t)n, x + (size_t)c * (size_t)n, n,
                                              fk->act->block, levels);
            const float yf = yfull[(size_t)c * y_stride + (size_t)r];
            if (!(fabs((double)yf - (double)yr) <= tol) && bad++ < 3)
                CHECK_MSG(0, "%s n=%lld pair (%d,%d): fast %.9g ref %.9g tol %.3g", ti->name, (long long)n, r, c,
                          (double)yf, (double)yr, tol);
        }
    CHECK_MSG(bad == 0, "%s n=%lld: %d pairs out of tolerance", ti->name, (long long)n, bad);

    /* every nr x nc at every place: bit-identical, nothing else written */
    const float sentinel = -1.2345678e30f;
    float *y = malloc((size_t)C * y_stride * sizeof(float));
    int diffs = 0, stray = 0;
    for (int nr = 1; nr <= R; nr++)
        for (int nc = 1; nc <= C; nc++)
            for (int r0 = 0; r0 + nr <= R; r0++)
                for (int c0 = 0; c0 + nc <= C; c0++) {
                    for (size_t k = 0; k < (size_t)C * y_stride; k++) y[k] = sentinel;
                    fk->tile(n, w + (size_t)r0 * w_stride, w_stride, nr, xp + (size_t)c0 * x_stride, x_stride, nc,
                             y, y_stride);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < (int)y_stride; r++) {
                            const float got = y[(size_t)c * y_stride + (size_t)r];
                            if (c < nc && r < nr) {
                                const float want = yfull[(size_t)(c0 + c) * y_stride + (size_t)(r0 + r)];
                                if (memcmp(&got, &want, sizeof got) != 0) diffs++;
                            } else if (memcmp(&got, &sentinel, sizeof got) != 0) {
                                stray++;
                            }
                        }
                }
    CHECK_MSG(diffs == 0, "%s n=%lld: %d results differ with nr/nc/place (batch invariance)", ti->name, (long long)n,
              diffs);
    CHECK_MSG(stray == 0, "%s n=%lld: %d outputs outside nr x nc written", ti->name, (long long)n, stray);
    free(y);
    free(yfull);
    free(wa);
    free(rx);
    free(xbuf);
    free(x);
    free(wd);
    free(wbuf);
}

void kc_check_tile(const lorc_kernels *fast, const lorc_kernels *ref, uint32_t type, uint64_t seed) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *fk = &fast->type[type];
    CHECK_MSG(fk->tile && fk->act && fk->tile_rows >= 1 && fk->tile_cols >= 1, "%s: no kernel", ti->name);
    if (!fk->tile || !fk->act) return;
    kc_rng rng = {seed};
    static const int64_t float_ns[] = {1, 7, 8, 37, 1000, 2048};
    static const int64_t block_counts[] = {1, 37, 64};
    const int count = ti->quantized ? 3 : 6;
    /* The scalar family reads F32/F16 rows as typed arrays, so it is only
     * run on aligned rows (as GGUF data and lorc's buffers are); the SIMD
     * families must take rows at any address. */
    const int offsets = fast->isa == LORC_ISA_SCALAR ? 1 : 4;
    for (int k = 0; k < count; k++) {
        const int64_t n = ti->quantized ? block_counts[k] * ti->block_size : float_ns[k];
        for (int offset = 0; offset < offsets; offset++) check_one_n(fast, ref, type, n, offset, &rng);
    }
}

double kc_accuracy_ratio(const lorc_kernels *fast, const lorc_kernels *ref, uint32_t type, uint64_t seed) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *fk = &fast->type[type], *rk = &ref->type[type];
    enum { ROWS = 128, COLS = 4 };
    const int64_t n = 1024;
    kc_rng rng = {seed};
    const size_t wrow = lorc_row_bytes(type, n);
    float *worig = malloc(sizeof(float) * ROWS * (size_t)n), *wd = malloc(sizeof(float) * ROWS * (size_t)n);
    float *x = malloc(sizeof(float) * COLS * (size_t)n);
    uint8_t *wq = malloc(wrow * ROWS);
    for (int64_t i = 0; i < ROWS * n; i++) worig[i] = (float)kc_gauss(&rng);
    for (int64_t i = 0; i < COLS * n; i++) x[i] = (float)kc_gauss(&rng);
    for (int r = 0; r < ROWS; r++) {
        ti->from_float(worig + (size_t)r * (size_t)n, wq + (size_t)r * wrow, n);
        ti->to_float(wq + (size_t)r * wrow, wd + (size_t)r * (size_t)n, n);
    }
    const size_t fx = (size_t)(n / fk->act->block) * fk->act->block_bytes;
    const size_t rx = (size_t)(n / rk->act->block) * rk->act->block_bytes;
    uint8_t *xf = malloc(fx * COLS), *xr = malloc(rx * COLS);
    for (int c = 0; c < COLS; c++) {
        fk->act->from_float(x + (size_t)c * (size_t)n, xf + (size_t)c * fx, n);
        rk->act->from_float(x + (size_t)c * (size_t)n, xr + (size_t)c * rx, n);
    }
    double e_fast = 0, e_scalar = 0;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            double exact_orig = 0, exact_deq = 0;
            for (int64_t i = 0; i < n; i++) {
                exact_orig += (double)worig[(size_t)r * (size_t)n + (size_t)i] * x[(size_t)c * (size_t)n + (size_t)i];
                exact_deq += (double)wd[(size_t)r * (size_t)n + (size_t)i] * x[(size_t)c * (size_t)n + (size_t)i];
            }
            float yf, yr;
            fk->tile(n, wq + (size_t)r * wrow, wrow, 1, xf + (size_t)c * fx, fx, 1, &yf, 1);
            rk->tile(n, wq + (size_t)r * wrow, wrow, 1, xr + (size_t)c * rx, rx, 1, &yr, 1);
            e_fast += ((double)yf - exact_deq) * ((double)yf - exact_deq);
            e_scalar += ((double)yr - exact_orig) * ((double)yr - exact_orig);
        }
    free(xr);
    free(xf);
    free(wq);
    free(x);
    free(wd);
    free(worig);
    return e_scalar > 0 ? sqrt(e_fast / e_scalar) : (e_fast > 0 ? INFINITY : 0.0);
}

/* The packed tile of `type` against its own unpacked tile, for a type
 * whose kernel packs: random and extreme weight rows, several row lengths,
 * every nr <= packed rows (the pack's padding rows) and nc <= tile_cols.
 * Each output must have exactly the unpacked tile's bits (run over the
 * packed tile's rows tile_rows at a time), and nothing past the nr x nc
 * outputs may be written. */
void kc_check_packed(const lorc_kernels *fast, uint32_t type, uint64_t seed) {
    const lorc_type_info *ti = lorc_type_get(type);
    const lorc_type_kernel *fk = &fast->type[type];
    CHECK_MSG(fk->pack && fk->pack_bytes && fk->tile_packed, "%s: no packed tile to check", ti->name);
    if (!fk->pack || !fk->pack_bytes || !fk->tile_packed) return;
    const int R = lorc_packed_rows(fk), TR = fk->tile_rows, C = fk->tile_cols;
    CHECK_MSG(R % TR == 0, "%s: %d packed rows, not a multiple of the tile's %d", ti->name, R, TR);
    kc_rng rng = {seed};
    const int64_t block_counts[3] = {1, 7, 64};
    for (int k = 0; k < 3; k++) {
        const int64_t n = block_counts[k] * (ti->quantized ? ti->block_size : 32);
        const size_t wrow = lorc_row_bytes(type, n);
        const size_t xrow = (size_t)(n / fk->act->block) * fk->act->block_bytes;
        uint8_t *w = malloc(wrow * (size_t)R), *x = malloc(xrow * (size_t)C);
        uint8_t *packed = malloc(fk->pack_bytes(n));
        float *xf = malloc((size_t)n * sizeof(float));
        float *y_tile = malloc((size_t)(R * C) * sizeof(float)), *y_packed = malloc((size_t)(R * C) * sizeof(float));
        for (int r = 0; r < R; r++) make_weight_row(type, n, w + (size_t)r * wrow, &rng);
        for (int c = 0; c < C; c++) {
            make_act_row(n, xf, &rng);
            fk->act->from_float(xf, x + (size_t)c * xrow, n);
        }
        for (int nr = 1; nr <= R; nr++) {
            fk->pack(n, w, wrow, nr, packed);
            for (int nc = 1; nc <= C; nc++) {
                for (int i = 0; i < R * C; i++) y_tile[i] = y_packed[i] = -12345.0f;
                for (int r0 = 0; r0 < nr; r0 += TR)
                    fk->tile(n, w + (size_t)r0 * wrow, wrow, nr - r0 < TR ? nr - r0 : TR, x, xrow, nc, y_tile + r0,
                             (size_t)R);
                fk->tile_packed(n, packed, 0, nr, x, xrow, nc, y_packed, (size_t)R);
                int same = 1, untouched = 1;
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < R; r++) {
                        const size_t i = (size_t)(c * R + r);
                        if (c < nc && r < nr) same &= memcmp(&y_tile[i], &y_packed[i], sizeof(float)) == 0;
                        else untouched &= y_packed[i] == -12345.0f;
                    }
                CHECK_MSG(same, "%s n=%lld nr=%d nc=%d: packed tile differs from the unpacked tile", ti->name,
                          (long long)n, nr, nc);
                CHECK_MSG(untouched, "%s n=%lld nr=%d nc=%d: packed tile wrote past its outputs", ti->name,
                          (long long)n, nr, nc);
            }
        }
        free(y_packed);
        free(y_tile);
        free(xf);
        free(packed);
        free(x);
        free(w);
    }
}
