/* avx2_short.c — AVX2 tiles for products with short weight rows (at most
 * LORC_SHORT_ROW_MAX values: a LoRA B matrix, r values a row), F32 and F16
 * weights against F32 activation rows.
 *
 * The usual float tile keeps one pair's partial sums across the lanes and
 * adds them up at the end: for 16 values that horizontal sum costs more
 * than the multiply-adds. Here 8 weight rows sit in the lanes instead:
 * column k (value k of the 8 rows) is one FMA with the activation's value
 * k broadcast. Each output is one FMA chain over k in order (k < n,
 * nothing padded). The streaming tile transposes 8 x 8 blocks of the rows
 * as it goes; for prompts the rows are packed once per chunk into columns
 * (as floats), which is the same chain on the same values: a row's result
 * has the same bits alone or in a batch, packed or not.
 *
 * A tile holds 16 rows in two vectors; the tiles that add into the output
 * (tile_acc, tile_packed_acc: a LoRA term's B·t) do y += alpha * sum right
 * there, without lorc_matmul's buffer. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../lora_cols.h"
#include "../quant_impl.h"
#include "avx2_row_lanes.h"
#include "avx2_short.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

/* A tile holds 16 rows, two halves of 8 (one vector each): two FMA chains
 * per activation row, so that one activation row (decode) is not bound by
 * the FMA latency of a single chain. */
enum { HALF = LORC_ROW_LANES, SHORT_ROWS = 2 * HALF, SHORT_COLS = LORC_TILE_COLS_6 };
_Static_assert((int)SHORT_ROWS == (int)LORC_SHORT_TILE_ROWS && (int)SHORT_COLS == (int)LORC_SHORT_TILE_COLS, "avx2_short.h");
_Static_assert((int)SHORT_ROWS == LORC_LORA_COLS_BLOCK, "a tile is one block of the column layout");

/* 8 rows of 8 floats -> 8 columns (column k: value k of rows 0..7). */
AI void transpose8x8_ps(__m256 v[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20);
        v[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
    }
}

/* Values k0 .. k0+7 of a row (fewer at the end: zeros past n). */
AI __m256 load8(int is_f16, const uint8_t *row, int64_t k0, int64_t n) {
    const int64_t left = n - k0;
    if (is_f16) {
        if (left >= 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * k0)));
        uint16_t h[8] = {0};
        memcpy(h, row + 2 * k0, (size_t)left * 2);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h));
    }
    if (left >= 8) return _mm256_loadu_ps((const float *)(const void *)(row + 4 * k0));
    float f[8] = {0};
    memcpy(f, row + 4 * k0, (size_t)left * 4);
    return _mm256_loadu_ps(f);
}

/* FMAs for values k0 .. k0+7 of 8 rows (rows + r w_stride; those past
 * `valid` repeat the last valid one, in bounds, their lanes never stored):
 * the rows' blocks transposed into columns, then each column times the
 * activations' value k broadcast. */
AI void half_step(int is_f16, int NC, const uint8_t *rows, size_t w_stride, int valid, int64_t k0, int64_t n,
                  const float *const xr[SHORT_COLS], __m256 *acc) {
    __m256 col[8];
    LORC_UNROLL
    for (int r = 0; r < 8; r++) col[r] = load8(is_f16, rows + (size_t)(r < valid ? r : valid - 1) * w_stride, k0, n);
    transpose8x8_ps(col);
    const int kn = n - k0 < 8 ? (int)(n - k0) : 8;
    for (int k = 0; k < kn; k++)
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = _mm256_fmadd_ps(col[k], _mm256_broadcast_ss(xr[c] + k0 + k), acc[c]);
}

/* y[c * y_stride + r] += alpha[c] * lane r of acc[c] for r < nr <= 8,
 * rounded as the C statement y[r] += alpha * d[r] of lorc_matmul's other
 * terms (this file is built without FP contraction: the product, then the
 * sum). */
AI void half_add(int NC, const __m256 *acc, int nr, const float *alpha, float *y, size_t y_stride) {
    const __m256i live = lorc_rl_live(nr);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        float *yc = y + (size_t)c * y_stride;
        const __m256 add = _mm256_mul_ps(_mm256_broadcast_ss(alpha + c), acc[c]);
        if (nr == HALF)
            _mm256_storeu_ps(yc, _mm256_add_ps(_mm256_loadu_ps(yc), add));
        else
            _mm256_maskstore_ps(yc, live, _mm256_add_ps(_mm256_maskload_ps(yc, live), add));
    }
}

/* Half h's outputs (nr <= 8 rows): written (lorc_rl_store), or added with
 * each column's factor (half_add). */
AI void half_out(int add, int NC, const __m256 *acc, int nr, const float *alpha, float *y, size_t y_stride) {
    if (add)
        half_add(NC, acc, nr, alpha, y, y_stride);
    else
        lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* Both halves' outputs of a tile of nr rows. */
AI void halves_out(int add, int NC, const __m256 *acc0, const __m256 *acc1, int nr, const float *alpha, float *y,
                   size_t y_stride) {
    half_out(add, NC, acc0, nr < HALF ? nr : HALF, alpha, y, y_stride);
    if (nr > HALF) half_out(add, NC, acc1, nr - HALF, alpha, y + HALF, y_stride);
}

/* The streaming tile, writing its outputs or (add) adding them. A second
 * half only when the tile has its rows. With few columns the halves
 * alternate block by block (their chains overlap); with more, the
 * accumulators of both would not fit the 16 registers next to the 8
 * columns, and each half runs and stores before the next. */
AI void short_streaming(int is_f16, int NC, int add, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                        size_t x_stride, const float *alpha, float *y, size_t y_stride) {
    const float *xr[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const float *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    const int nr0 = nr < HALF ? nr : HALF, nr1 = nr - nr0;
    /* the second half's rows, only formed when the tile has them */
    const uint8_t *rows0 = w, *rows1 = nr1 > 0 ? rows0 + HALF * w_stride : rows0;
    if (2 * NC + 8 <= 16 && nr1 > 0) {
        __m256 acc0[SHORT_COLS], acc1[SHORT_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();
        for (int64_t k0 = 0; k0 < n; k0 += 8) {
            half_step(is_f16, NC, rows0, w_stride, nr0, k0, n, xr, acc0);
            half_step(is_f16, NC, rows1, w_stride, nr1, k0, n, xr, acc1);
        }
        halves_out(add, NC, acc0, acc1, nr, alpha, y, y_stride);
        return;
    }
    for (int h = 0; h < (nr1 > 0 ? 2 : 1); h++) {
        __m256 acc[SHORT_COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
        for (int64_t k0 = 0; k0 < n; k0 += 8)
            half_step(is_f16, NC, h ? rows1 : rows0, w_stride, h ? nr1 : nr0, k0, n, xr, acc);
        half_out(add, NC, acc, h ? nr1 : nr0, alpha, y + h * HALF, y_stride);
    }
}

/* Packed: per value k, the column of 16 floats (rows past nr are zeros). */
static size_t short_pack_bytes(int64_t n) { return (size_t)n * SHORT_ROWS * sizeof(float); }

AI void short_pack(int is_f16, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    float *out = dst;
    for (int h = 0; h < 2; h++)
        for (int64_t k0 = 0; k0 < n; k0 += 8) {
            __m256 col[8];
            for (int r = 0; r < 8; r++) {
                const int row = h * HALF + r;
                col[r] = row < nr ? load8(is_f16, (const uint8_t *)w + (size_t)row * w_stride, k0, n)
                                  : _mm256_setzero_ps();
            }
            transpose8x8_ps(col);
            const int kn = n - k0 < 8 ? (int)(n - k0) : 8;
            for (int k = 0; k < kn; k++) _mm256_storeu_ps(out + SHORT_ROWS * (k0 + k) + h * HALF, col[k]);
        }
}

/* Half h of column k in the packed layout (floats) or in the column
 * layout of an F16 B (lora_cols.h; that of an F32 B is the packed one):
 * 16 values per k either way. */
AI __m256 column8(int is_f16, const void *cols, int64_t k, int h) {
    const size_t at = (size_t)(SHORT_ROWS * k + h * HALF);
    if (is_f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)cols + at)));
    return _mm256_loadu_ps((const float *)cols + at);
}

/* The packed tile (or, is_f16, the column tile of an F16 B), writing its
 * outputs or (add) adding them: per value k, one FMA per half and
 * activation row. */
AI void short_tile_packed(int is_f16, int NC, int add, int64_t n, const void *w, int nr, const void *x,
                          size_t x_stride, const float *alpha, float *y, size_t y_stride) {
    const float *xr[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const float *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc0[SHORT_COLS], acc1[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const __m256 col0 = column8(is_f16, w, k, 0), col1 = column8(is_f16, w, k, 1);
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            const __m256 xk = _mm256_broadcast_ss(xr[c] + k);
            acc0[c] = _mm256_fmadd_ps(col0, xk, acc0[c]);
            acc1[c] = _mm256_fmadd_ps(col1, xk, acc1[c]);
        }
    }
    halves_out(add, NC, acc0, acc1, nr, alpha, y, y_stride);
}

#define SHORT_STREAMING(IS_F16, NC) short_streaming(IS_F16, NC, 0, n, w, w_stride, nr, x, x_stride, NULL, y, y_stride)
#define SHORT_PACKED(UNUSED, NC) short_tile_packed(0, NC, 0, n, w, nr, x, x_stride, NULL, y, y_stride)
LORC_TILE_UP_TO_6_COLS(short_f32, SHORT_STREAMING, 0)
LORC_TILE_UP_TO_6_COLS(short_f16, SHORT_STREAMING, 1)
LORC_TILE_UP_TO_6_COLS(short_packed, SHORT_PACKED, 0)

/* The adding tiles (lorc_tile_acc_fn), one instance per column count. */
#define SHORT_ACC_ARGS                                                                                   \
    (int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,           \
     const float *alpha, float *y, size_t y_stride)
#define SHORT_ACC_PASS (n, w, w_stride, nr, x, x_stride, nc, alpha, y, y_stride)
#define ADD_STREAMING(IS_F16, NC) short_streaming(IS_F16, NC, 1, n, w, w_stride, nr, x, x_stride, alpha, y, y_stride)
#define ADD_PACKED(IS_F16, NC) short_tile_packed(IS_F16, NC, 1, n, w, nr, x, x_stride, alpha, y, y_stride)
LORC_COLS_INSTANCES(short_f32_acc, SHORT_ACC_ARGS, SHORT_ACC_PASS, ADD_STREAMING, 0)
LORC_COLS_INSTANCES(short_f16_acc, SHORT_ACC_ARGS, SHORT_ACC_PASS, ADD_STREAMING, 1)
LORC_COLS_INSTANCES(short_packed_acc, SHORT_ACC_ARGS, SHORT_ACC_PASS, ADD_PACKED, 0)
LORC_COLS_INSTANCES(short_cols16_acc, SHORT_ACC_ARGS, SHORT_ACC_PASS, ADD_PACKED, 1)

static void short_f32_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    short_pack(0, n, w, w_stride, nr, dst);
}

static void short_f16_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    short_pack(1, n, w, w_stride, nr, dst);
}

static const lorc_type_kernel short_f32_entry = {
    .act = &lorc_avx2_act_f32_format, .tile = short_f32, .tile_rows = SHORT_ROWS, .tile_cols = SHORT_COLS,
    .pack = short_f32_pack, .pack_bytes = short_pack_bytes, .tile_packed = short_packed,
    .tile_acc = short_f32_acc, .tile_packed_acc = short_packed_acc, .tile_cols_acc = short_packed_acc};
static const lorc_type_kernel short_f16_entry = {
    .act = &lorc_avx2_act_f32_format, .tile = short_f16, .tile_rows = SHORT_ROWS, .tile_cols = SHORT_COLS,
    .pack = short_f16_pack, .pack_bytes = short_pack_bytes, .tile_packed = short_packed,
    .tile_acc = short_f16_acc, .tile_packed_acc = short_packed_acc, .tile_cols_acc = short_cols16_acc};

/* The F16 entry's functions, for the AVX-512 entry (avx512_short.c), which
 * replaces only the one-row tiles. */
void lorc_avx2_short_f16(LORC_TILE_ARGS) { short_f16(LORC_TILE_PASS); }
void lorc_avx2_short_f16_acc SHORT_ACC_ARGS { short_f16_acc SHORT_ACC_PASS; }
void lorc_avx2_short_f16_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    short_f16_pack(n, w, w_stride, nr, dst);
}
size_t lorc_avx2_short_pack_bytes(int64_t n) { return short_pack_bytes(n); }
void lorc_avx2_short_packed(LORC_TILE_ARGS) { short_packed(LORC_TILE_PASS); }
void lorc_avx2_short_packed_acc SHORT_ACC_ARGS { short_packed_acc SHORT_ACC_PASS; }
void lorc_avx2_short_cols16_acc SHORT_ACC_ARGS { short_cols16_acc SHORT_ACC_PASS; }

void lorc_kernels_fill_avx2_short(lorc_kernels *k) {
    /* only where the activation rows are plain F32 */
    if (k->type[LORC_TYPE_F32].act == &lorc_avx2_act_f32_format) k->type[LORC_TYPE_F32].short_rows = &short_f32_entry;
    if (k->type[LORC_TYPE_F16].act == &lorc_avx2_act_f32_format) k->type[LORC_TYPE_F16].short_rows = &short_f16_entry;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_short(lorc_kernels *k) { (void)k; }
#endif
