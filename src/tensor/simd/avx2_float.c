/* avx2_float.c — AVX2 + FMA + F16C tiles for the float weight types F32,
 * F16, BF16 (activations stay F32), and the table fill that also installs
 * the vec helpers (avx2_vec.c).
 *
 * Tile: 4 weight rows x 3 activation rows, one 8-lane accumulator per pair
 * (12 registers), each weight vector converted once and used for 3 FMAs.
 * A pair's sum runs over 8-value steps in order, a masked step for a tail,
 * then one fixed horizontal sum: the same sequence for any nr, nc, packed
 * or not. Other shapes measured slower with the 512-row prompt in
 * lorc_matmul's order (kernel_tile_bench ... chunked): 3x4, 2x6, 6x2, 5x2.
 *
 * Packed tiles (prompts, lorc_type_kernel.pack): a tile's rows interleaved
 * per 8-value step — step s holds row 0's 8 values, then row 1's, ... —
 * so the packed tile reads one sequential stream instead of 4 rows a
 * stride apart (no prefetching needed, no tail copies: the last step is
 * zero-filled when packing). F16 and BF16 stay 16-bit in the pack and are
 * converted in the tile: converting them to F32 when packing doubled the
 * bytes the tile reads from L2 for every activation tile and measured
 * ~10% slower. The packed tile runs the same FMAs on the same values in the
 * same order as the unpacked one — only where a weight vector is loaded
 * from differs — so it gives the same bits. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { KIND_F32, KIND_F16, KIND_BF16 };
enum { TILE_R = 4, TILE_C = 3 };

AI size_t elem_bytes(int kind) { return kind == KIND_F32 ? 4 : 2; }

/* 8 weights from element i of a row, as floats. */
AI __m256 load_w8(int kind, const uint8_t *row, int64_t i) {
    if (kind == KIND_F32) return _mm256_loadu_ps((const float *)(const void *)(row + 4 * i));
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * i));
    if (kind == KIND_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16 = top half of f32 */
}

/* The last k < 8 weights of a row, zero-filled (copied so nothing past the
 * row is read). */
AI __m256 load_w_tail(int kind, const uint8_t *row, int64_t i, int64_t k) {
    uint8_t buf[32] = {0};
    memcpy(buf, row + elem_bytes(kind) * (size_t)i, elem_bytes(kind) * (size_t)k);
    return load_w8(kind, buf, 0);
}

/* Row r's 8 weights of the step at element i (a multiple of 8) in a packed
 * tile. */
AI __m256 load_packed(int kind, const uint8_t *pk, int r, int64_t i) {
    return load_w8(kind, pk, (i / 8 * TILE_R + r) * 8);
}

AI void float_tile(int kind, bool packed, int NR, int NC, int64_t n, const void *w, size_t w_stride, int nr,
                   const void *x, size_t x_stride, int nc, float *y, size_t y_stride) {
    (void)nr;
    (void)nc;
    const uint8_t *wr[TILE_R], *xr[TILE_C];
    LORC_UNROLL
    for (int r = 0; r < NR; r++) wr[r] = (const uint8_t *)w + (packed ? 0 : (size_t)r * w_stride);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const uint8_t *)x + (size_t)c * x_stride;
    __m256 acc[TILE_R][TILE_C];
    LORC_UNROLL
    for (int r = 0; r < NR; r++)
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    const size_t eb = elem_bytes(kind);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv[TILE_C];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) xv[c] = _mm256_loadu_ps((const float *)(const void *)xr[c] + i);
        if (!packed) lorc_float_rows_ahead(wr, NR, w_stride, (size_t)i * eb);
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256 wv = packed ? load_packed(kind, wr[0], r, i) : load_w8(kind, wr[r], i);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (i < n) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv[TILE_C];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) xv[c] = _mm256_maskload_ps((const float *)(const void *)xr[c] + i, m);
        LORC_UNROLL
        for (int r = 0; r < NR; r++) {
            const __m256 wv = packed ? load_packed(kind, wr[0], r, i) : load_w_tail(kind, wr[r], i, n - i);
            LORC_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    LORC_UNROLL
    for (int c = 0; c < NC; c++)
        LORC_UNROLL
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_avx2_hsum(acc[r][c]);
}

/* Bytes of a packed tile: TILE_R rows x 8 values per step, the last step
 * zero-filled past n (rows past nr are zeros too: never read, but defined). */
AI size_t pack_bytes(int kind, int64_t n) { return (size_t)((n + 7) / 8) * TILE_R * 8 * elem_bytes(kind); }

AI void float_pack(int kind, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t eb = elem_bytes(kind), step_bytes = 8 * eb;
    uint8_t *out = dst;
    for (int64_t i = 0; i < n; i += 8) {
        const size_t k = (size_t)(n - i < 8 ? n - i : 8);
        for (int r = 0; r < TILE_R; r++, out += step_bytes) {
            if (r < nr && k == 8) {
                memcpy(out, (const uint8_t *)w + (size_t)r * w_stride + (size_t)i * eb, step_bytes);
            } else {
                memset(out, 0, step_bytes);
                if (r < nr) memcpy(out, (const uint8_t *)w + (size_t)r * w_stride + (size_t)i * eb, k * eb);
            }
        }
    }
}

#define TILE_BODY(KIND, PACKED, NR, NC, ...) float_tile(KIND, PACKED, NR, NC, __VA_ARGS__)
#define F32_BODY(NR, NC, ...) TILE_BODY(KIND_F32, false, NR, NC, __VA_ARGS__)
#define F16_BODY(NR, NC, ...) TILE_BODY(KIND_F16, false, NR, NC, __VA_ARGS__)
#define BF16_BODY(NR, NC, ...) TILE_BODY(KIND_BF16, false, NR, NC, __VA_ARGS__)
#define F32_PACKED_BODY(NR, NC, ...) TILE_BODY(KIND_F32, true, NR, NC, __VA_ARGS__)
#define F16_PACKED_BODY(NR, NC, ...) TILE_BODY(KIND_F16, true, NR, NC, __VA_ARGS__)
#define BF16_PACKED_BODY(NR, NC, ...) TILE_BODY(KIND_BF16, true, NR, NC, __VA_ARGS__)
LORC_TILE_4x3(tile_f32, F32_BODY)
LORC_TILE_4x3(tile_f16, F16_BODY)
LORC_TILE_4x3(tile_bf16, BF16_BODY)
LORC_TILE_4x3(tile_f32_packed, F32_PACKED_BODY)
LORC_TILE_4x3(tile_f16_packed, F16_PACKED_BODY)
LORC_TILE_4x3(tile_bf16_packed, BF16_PACKED_BODY)

/* Packing only moves bytes, so F16 and BF16 (both 2 bytes) share one. */
static void pack_4_bytes(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    float_pack(KIND_F32, n, w, w_stride, nr, dst);
}
static void pack_2_bytes(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    float_pack(KIND_F16, n, w, w_stride, nr, dst);
}
static size_t pack_bytes_4(int64_t n) { return pack_bytes(KIND_F32, n); }
static size_t pack_bytes_2(int64_t n) { return pack_bytes(KIND_F16, n); }

static lorc_type_kernel float_entry(lorc_tile_fn tile, lorc_tile_fn tile_packed, bool wide) {
    return (lorc_type_kernel){.act = &lorc_avx2_act_f32_format,
                              .tile = tile,
                              .tile_rows = TILE_R,
                              .tile_cols = TILE_C,
                              .pack = wide ? pack_4_bytes : pack_2_bytes,
                              .pack_bytes = wide ? pack_bytes_4 : pack_bytes_2,
                              .tile_packed = tile_packed};
}

void lorc_kernels_fill_avx2_float(lorc_kernels *k) {
    k->type[LORC_TYPE_F32] = float_entry(tile_f32, tile_f32_packed, true);
    k->type[LORC_TYPE_F16] = float_entry(tile_f16, tile_f16_packed, false);
    k->type[LORC_TYPE_BF16] = float_entry(tile_bf16, tile_bf16_packed, false);
    k->vec.dot_f32 = lorc_avx2_dot_f32;
    k->vec.axpy_f32 = lorc_avx2_axpy_f32;
    k->vec.softmax_f32 = lorc_avx2_softmax_f32;
    k->vec.f16_to_f32 = lorc_avx2_f16_to_f32;
    k->vec.f32_to_f16 = lorc_avx2_f32_to_f16;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_float(lorc_kernels *k) { (void)k; }
#endif
