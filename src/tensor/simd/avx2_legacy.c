/* avx2_legacy.c — AVX2 tiles for Q8_0 (the 4- and 5-bit block types are in
 * avx2_q45.c) and the fill of the legacy block types.
 *
 * Q8_0: int8 weights sign-extended to int16 times int16 activations
 * (avx2_q16: keeps activation rounding far below the weights' own) by
 * vpmaddwd, with 8 weight rows in the lanes of one vector per activation
 * row (avx2_row_lanes.h). One pair always runs, block by block:
 *   i = sum(q * qx)   (exact: |i| <= 32 * 128 * 32767 < 2^31)
 *   acc = fma(float(i), dw * dx, acc)
 * and its result is acc. The streaming tile (decode) gets each row's i
 * along the row and folds 8 rows' lanes into one vector; the packed tile
 * (prompts) reads pairs of int16 weights of 8 rows per register against
 * a broadcast pair of activations: one vpmaddwd and one add per 16
 * multiply-adds of 8 pairs, and one float step per block for 8 pairs. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { Q8_ROWS = LORC_ROW_LANES, Q8_COLS = LORC_TILE_COLS_6 };

AI void q8_0_tile(int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, float *y,
                  size_t y_stride) {
    const size_t bb = sizeof(lorc_block_q8_0);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const lorc_avx2_act_q16 *xr[Q8_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[Q8_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *wb[8];
        __m256i part[Q8_COLS][8];
        lorc_rl_prefetch_next(wr[0], w_stride, b, bb, LORC_PREFETCH_L2);
        LORC_UNROLL
        for (int r = 0; r < 8; r++) {
            wb[r] = wr[r] + (size_t)b * bb;
            const __m256i w_lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 2)));
            const __m256i w_hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb[r] + 18)));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const uint8_t *xq = xr[c][b].q;
                part[c][r] = _mm256_add_epi32(
                    _mm256_madd_epi16(w_lo, _mm256_loadu_si256((const __m256i *)(const void *)xq)),
                    _mm256_madd_epi16(w_hi, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 32))));
            }
        }
        const __m256 dw = lorc_rl_gather_f16x8(wb, 0);
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = lorc_q8_block_step(lorc_rl_reduce8(part[c]), dw, xr[c] + b, acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* Packed block of 8 rows: 16 groups of 32 bytes (group g: the int16
 * weights 2g, 2g+1 of rows 0..7), then dw of the 8 rows as floats. Rows
 * past nr are zeros. */
enum { Q8_PACKED_DW = 16 * 32, Q8_PACKED_BLOCK = Q8_PACKED_DW + 32 };

static size_t q8_0_pack_bytes(int64_t n) { return (size_t)(n / 32) * Q8_PACKED_BLOCK; }

static void q8_0_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t bb = sizeof(lorc_block_q8_0);
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / 32; b++, out += Q8_PACKED_BLOCK) {
        const uint8_t *wb[8];
        for (int r = 0; r < 8; r++) wb[r] = wr[r] + (size_t)b * bb;
        lorc_q8_0_pack_block8(wb, nr, out, 32, out + Q8_PACKED_DW);
    }
}

AI void q8_0_tile_packed(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                         size_t y_stride) {
    const lorc_avx2_act_q16 *xr[Q8_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[Q8_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)b * Q8_PACKED_BLOCK;
        __m256i isum[Q8_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) isum[c] = _mm256_setzero_si256();
        LORC_UNROLL
        for (int g = 0; g < 16; g++) {
            const __m256i wg = _mm256_loadu_si256((const __m256i *)(const void *)(pb + 32 * g));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                int32_t xg;
                memcpy(&xg, xr[c][b].q + 4 * g, sizeof xg);
                const __m256i prod = _mm256_madd_epi16(wg, _mm256_set1_epi32(xg));
                __asm__("vpaddd %1, %0, %0" : "+x"(isum[c]) : "x"(prod));
            }
        }
        const __m256 dw = _mm256_loadu_ps((const float *)(const void *)(pb + Q8_PACKED_DW));
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = lorc_q8_block_step(isum[c], dw, xr[c] + b, acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

#define Q8_STREAMING(UNUSED, NC) q8_0_tile(NC, n, w, w_stride, nr, x, x_stride, y, y_stride)
#define Q8_PACKED(UNUSED, NC) q8_0_tile_packed(NC, n, w, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(tile_q8_0, Q8_STREAMING, 0)
LORC_TILE_UP_TO_6_COLS(packed_q8_0, Q8_PACKED, 0)
void lorc_avx2_tile_q8_0(LORC_TILE_ARGS) { tile_q8_0(LORC_TILE_PASS); }

void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) {
    lorc_avx2_fill_q45(k);
    k->type[LORC_TYPE_Q8_0] =
        (lorc_type_kernel){.act = &lorc_avx2_act_q16_format, .tile = tile_q8_0, .tile_rows = Q8_ROWS,
                           .tile_cols = Q8_COLS, .pack = q8_0_pack, .pack_bytes = q8_0_pack_bytes,
                           .tile_packed = packed_q8_0};
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_legacy(lorc_kernels *k) { (void)k; }
#endif
