/* avx512_float.c — AVX-512 tiles for the float weight types F32, F16, BF16
 * (activations stay F32), decode and prompt alike, and attention's two
 * float kernels (Q·Kᵀ against K kept by dimension, P·V).
 *
 * The AVX2 tile (avx2_float.c) in ZMM registers: each pair's sum runs over
 * 16-value steps in order, a masked step for a tail, then one fixed
 * horizontal sum (hsum16). With 32 registers the tile is 4 weight rows x 6
 * activation rows: 24 accumulators, each weight vector converted once and
 * used for 6 FMAs, each activation vector for 4. These are other bits than
 * the AVX2 family's (16 lanes, not 8), the same for any nr, nc, packed or
 * not: the tile and the packed tile run the same FMAs on the same values
 * in the same order.
 *
 * Packed tiles (prompts): a tile's rows (pack_rows) interleaved per
 * 16-value step — step s holds row 0's 16 values, then row 1's, ... — so
 * the packed tile reads one sequential stream; the last step is
 * zero-filled. F16 and BF16 stay 16-bit
 * in the pack and are converted in the tile. Their packed tile is 6 weight
 * rows x 4 activation rows (24 accumulators again): each conversion feeds 4
 * FMAs, and the 4 activation rows (32 KB at n = 2048) fit in Zen 5's 48 KB
 * L1 beside the chunk's packed tiles, which stream past them from L2. The
 * 6 activation rows of the 4 x 6 tile (48 KB) did not; 8 x 3 kept 3 rows
 * in L1 but converted each weight vector for only 3 FMAs. Zen 5, pp512 of the F16
 * TinyLlama, 2 threads, builds alternating (4 rounds): 8 x 3 139-145, 6 x 4
 * 149-151, 5 x 5 147-150 tok/s (the FMA peak is ~106 GMAC/s a core). F32
 * weights stay 4 x 6: 8 rows of them a step (512 bytes) are more than L2
 * streams in time (35-38 against 46-58 GMAC/s in kernel_tile_bench). */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { KIND_F32, KIND_F16, KIND_BF16 };
enum { TILE_R = 4, TILE_C = 6, HALF_PACK_R = 6, HALF_PACK_C = 4, STEP = 16 };

/* The packed tile's shape: weight rows, activation rows. */
AI int pack_rows(int kind) { return kind == KIND_F32 ? TILE_R : HALF_PACK_R; }
AI int pack_cols(int kind) { return kind == KIND_F32 ? TILE_C : HALF_PACK_C; }

AI size_t elem_bytes(int kind) { return kind == KIND_F32 ? 4 : 2; }

/* The first k (<= 16) weights from element i of a row as floats, zeros
 * past k; nothing past them is read. Unmasked loads when `masked` is false
 * (k is all ones): on Zen 5 masked ones cut the packed tile's speed by
 * 13-18% even with every lane live. */
AI __m512 load_w16(int kind, bool masked, const uint8_t *row, int64_t i, __mmask16 k) {
    if (kind == KIND_F32) return masked ? _mm512_maskz_loadu_ps(k, row + 4 * i) : _mm512_loadu_ps(row + 4 * i);
    const __m256i h = masked ? _mm256_maskz_loadu_epi16(k, row + 2 * i)
                             : _mm256_loadu_si256((const __m256i *)(const void *)(row + 2 * i));
    if (kind == KIND_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); /* bf16 = top half of f32 */
}

/* Sum of the 16 lanes in one fixed order (the same for every pair). */
AI float hsum16(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return lorc_avx2_hsum(_mm256_add_ps(lo, hi));
}

/* One 16-value step from element i of every pair of the tile. */
AI void tile16_step(int kind, bool packed, bool masked, __mmask16 live, int NR, int NC, const uint8_t *const *wr,
                    size_t w_stride, const uint8_t *const *xr, int64_t i, __m512 acc[][TILE_C]) {
    const size_t eb = elem_bytes(kind);
    __m512 xv[TILE_C];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        const float *xc = (const float *)(const void *)xr[c] + i;
        xv[c] = masked ? _mm512_maskz_loadu_ps(live, xc) : _mm512_loadu_ps(xc);
    }
    if (!packed) lorc_float_rows_ahead(wr, NR, w_stride, (size_t)i * eb);
    LORC_UNROLL
    for (int r = 0; r < NR; r++) {
        /* a packed tile's steps are whole */
        const __m512 wv = packed ? load_w16(kind, false, wr[0], (i / STEP * pack_rows(kind) + r) * STEP, live)
                                 : load_w16(kind, masked, wr[r], i, live);
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
}

AI void float_tile16(int kind, bool packed, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr,
                     const void *x, size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const uint8_t *wr[HALF_PACK_R], *xr[TILE_C];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (packed ? 0 : (size_t)r * w_stride);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const uint8_t *)x + (size_t)c * x_stride;
    __m512 acc[HALF_PACK_R][TILE_C];
    LORC_UNROLL
    for (int r = 0; r < NR; r++)
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();
    /* whole steps unmasked, then the tail's step masked: zeros past n, in
     * the activations and (unpacked) the weights; a packed tile's last step
     * is zero-filled. The same FMAs either way. */
    const int64_t whole = n / STEP * STEP;
    for (int64_t i = 0; i < whole; i += STEP)
        tile16_step(kind, packed, false, (__mmask16)0xffff, NR, NC, wr, w_stride, xr, i, acc);
    if (whole < n)
        tile16_step(kind, packed, true, (__mmask16)((1u << (n - whole)) - 1u), NR, NC, wr, w_stride, xr, whole, acc);
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = hsum16(acc[r][c]);
}

/* Bytes of a packed tile: pack_rows rows x 16 values per step, the last
 * step zero-filled past n (rows past nr are zeros too). */
AI size_t pack16_bytes(int kind, int64_t n) {
    return (size_t)((n + STEP - 1) / STEP) * (size_t)pack_rows(kind) * STEP * elem_bytes(kind);
}

AI void float_pack16(int kind, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t eb = elem_bytes(kind), step_bytes = STEP * eb;
    uint8_t *out = dst;
    for (int64_t i = 0; i < n; i += STEP) {
        const size_t k = (size_t)(n - i < STEP ? n - i : STEP);
        for (int r = 0; r < pack_rows(kind); r++, out += step_bytes) {
            const uint8_t *src = (const uint8_t *)w + (size_t)r * w_stride + (size_t)i * eb;
            if (r < nr && k == STEP) { /* a copy of constant size: inlined, no call per step */
                memcpy(out, src, step_bytes);
                continue;
            }
            memset(out, 0, step_bytes);
            if (r < nr) memcpy(out, src, k * eb);
        }
    }
}

#define TILE16_BODY(KIND, PACKED, NR, NC, ...) float_tile16(KIND, PACKED, NR, NC, __VA_ARGS__)
#define F32_BODY(NR, NC, ...) TILE16_BODY(KIND_F32, false, NR, NC, __VA_ARGS__)
#define F16_BODY(NR, NC, ...) TILE16_BODY(KIND_F16, false, NR, NC, __VA_ARGS__)
#define BF16_BODY(NR, NC, ...) TILE16_BODY(KIND_BF16, false, NR, NC, __VA_ARGS__)
#define F32_PACKED_BODY(NR, NC, ...) TILE16_BODY(KIND_F32, true, NR, NC, __VA_ARGS__)
#define F16_PACKED_BODY(NR, NC, ...) TILE16_BODY(KIND_F16, true, NR, NC, __VA_ARGS__)
#define BF16_PACKED_BODY(NR, NC, ...) TILE16_BODY(KIND_BF16, true, NR, NC, __VA_ARGS__)
LORC_TILE_4x6(tile16_f32, F32_BODY)
LORC_TILE_4x6(tile16_f16, F16_BODY)
LORC_TILE_4x6(tile16_bf16, BF16_BODY)
LORC_TILE_4x6(tile16_f32_packed, F32_PACKED_BODY)
LORC_TILE_6x4(tile16_f16_packed, F16_PACKED_BODY)
LORC_TILE_6x4(tile16_bf16_packed, BF16_PACKED_BODY)

/* Packing only moves bytes, so F16 and BF16 (both 2 bytes) share one. */
static void pack16_4_bytes(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    float_pack16(KIND_F32, n, w, w_stride, nr, dst);
}
static void pack16_2_bytes(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    float_pack16(KIND_F16, n, w, w_stride, nr, dst);
}
static size_t pack16_bytes_4(int64_t n) { return pack16_bytes(KIND_F32, n); }
static size_t pack16_bytes_2(int64_t n) { return pack16_bytes(KIND_F16, n); }

/* The entry's tiles only: its activation format (F32 rows) and the short
 * rows entry the AVX2 fill set stay. */
static void use_tiles16(lorc_type_kernel *e, lorc_tile_fn tile, lorc_tile_fn tile_packed, bool wide) {
    e->tile = tile;
    e->tile_rows = TILE_R;
    e->tile_cols = TILE_C;
    e->pack = wide ? pack16_4_bytes : pack16_2_bytes;
    e->pack_bytes = wide ? pack16_bytes_4 : pack16_bytes_2;
    e->tile_packed = tile_packed;
    e->packed_rows = pack_rows(wide ? KIND_F32 : KIND_F16);
    e->packed_cols = pack_cols(wide ? KIND_F32 : KIND_F16);
}

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

void lorc_kernels_fill_avx512_float(lorc_kernels *k) {
    k->vec.scores_cols = scores_cols;
    k->vec.weighted_rows_f32 = weighted_rows_f32;
    use_tiles16(&k->type[LORC_TYPE_F32], tile16_f32, tile16_f32_packed, true);
    use_tiles16(&k->type[LORC_TYPE_F16], tile16_f16, tile16_f16_packed, false);
    use_tiles16(&k->type[LORC_TYPE_BF16], tile16_bf16, tile16_bf16_packed, false);
    /* 16-bit packing pays back from about 40 activation rows on: each
     * packed chunk is at least 64 rows (matmul.c), copied before its few
     * activation tiles run. Zen 5, 2 threads, TinyLlama shapes, unpacked
     * against packed: F16 pp16 102-106 against 75-84 tok/s, pp32 104-112
     * against 95-100, pp40 even, pp64 102-112 against 114-115; BF16 pp12
     * 105-108 against 71-72, pp24 102-115 against 92-97, pp36 116-125
     * against 111-113. */
    k->type[LORC_TYPE_F16].pack_min_rows = 40;
    k->type[LORC_TYPE_BF16].pack_min_rows = 40;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_float(lorc_kernels *k) { (void)k; }
#endif
