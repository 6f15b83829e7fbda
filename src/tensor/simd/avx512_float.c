/* avx512_float.c — AVX-512 tiles for the float weight types F32, F16, BF16
 * (activations stay F32), decode and prompt alike. Attention's float
 * kernels are in avx512_attention.c.
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

void lorc_kernels_fill_avx512_float(lorc_kernels *k) {
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
