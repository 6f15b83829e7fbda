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
 * has the same bits alone or in a batch, packed or not. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"

#define AI static inline __attribute__((always_inline))

enum { SHORT_ROWS = LORC_ROW_LANES, SHORT_COLS = LORC_TILE_COLS_6 };

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

AI void short_tile(int is_f16, int NC, int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                   size_t x_stride, float *y, size_t y_stride) {
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const float *xr[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const float *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m256 acc[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += 8) {
        __m256 col[8];
        LORC_UNROLL
        for (int r = 0; r < 8; r++) col[r] = load8(is_f16, wr[r], k0, n);
        transpose8x8_ps(col);
        const int kn = n - k0 < 8 ? (int)(n - k0) : 8;
        for (int k = 0; k < kn; k++)
            LORC_UNROLL
            for (int c = 0; c < NC; c++) acc[c] = _mm256_fmadd_ps(col[k], _mm256_broadcast_ss(xr[c] + k0 + k), acc[c]);
    }
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* Packed: the n columns of 8 floats (rows past nr are zeros). */
static size_t short_pack_bytes(int64_t n) { return (size_t)n * 32; }

AI void short_pack(int is_f16, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    float *out = dst;
    for (int64_t k0 = 0; k0 < n; k0 += 8) {
        __m256 col[8];
        for (int r = 0; r < 8; r++) col[r] = r < nr ? load8(is_f16, wr[r], k0, n) : _mm256_setzero_ps();
        transpose8x8_ps(col);
        const int kn = n - k0 < 8 ? (int)(n - k0) : 8;
        for (int k = 0; k < kn; k++) _mm256_storeu_ps(out + 8 * (k0 + k), col[k]);
    }
}

/* The packed tile's sums for NC activation rows into acc. */
AI void short_sums_packed(int NC, int64_t n, const void *w, const void *x, size_t x_stride, __m256 *acc) {
    const float *cols = w;
    const float *xr[SHORT_COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const float *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const __m256 col = _mm256_loadu_ps(cols + 8 * k);
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = _mm256_fmadd_ps(col, _mm256_broadcast_ss(xr[c] + k), acc[c]);
    }
}

AI void short_tile_packed(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                          size_t y_stride) {
    __m256 acc[SHORT_COLS];
    short_sums_packed(NC, n, w, x, x_stride, acc);
    lorc_rl_store(NC, acc, nr, y, y_stride);
}

/* y += alpha[c] * sum, rounded as the C statement y[r] += alpha * d[r]
 * (this file is built without FP contraction: the product, then the sum). */
AI void short_tile_packed_acc(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride,
                              const float *alpha, float *y, size_t y_stride) {
    __m256 acc[SHORT_COLS];
    short_sums_packed(NC, n, w, x, x_stride, acc);
    const __m256i live = lorc_rl_live(nr);
    LORC_UNROLL
    for (int c = 0; c < NC; c++) {
        float *yc = y + (size_t)c * y_stride;
        const __m256 add = _mm256_mul_ps(_mm256_broadcast_ss(alpha + c), acc[c]);
        if (nr == SHORT_ROWS)
            _mm256_storeu_ps(yc, _mm256_add_ps(_mm256_loadu_ps(yc), add));
        else
            _mm256_maskstore_ps(yc, live, _mm256_add_ps(_mm256_maskload_ps(yc, live), add));
    }
}

#define SHORT_STREAMING(IS_F16, NC) short_tile(IS_F16, NC, n, w, w_stride, nr, x, x_stride, y, y_stride)
#define SHORT_PACKED(UNUSED, NC) short_tile_packed(NC, n, w, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(short_f32, SHORT_STREAMING, 0)
LORC_TILE_UP_TO_6_COLS(short_f16, SHORT_STREAMING, 1)
LORC_TILE_UP_TO_6_COLS(short_packed, SHORT_PACKED, 0)

#define SHORT_ACC_ARGS                                                                                    \
    int64_t n, const void *w, int nr, const void *x, size_t x_stride, int nc, const float *alpha, float *y, \
        size_t y_stride
#define SHORT_ACC_INSTANCE(NC)                                                \
    static void short_packed_acc_c##NC(SHORT_ACC_ARGS) {                      \
        (void)nc;                                                             \
        short_tile_packed_acc(NC, n, w, nr, x, x_stride, alpha, y, y_stride); \
    }
SHORT_ACC_INSTANCE(1)
SHORT_ACC_INSTANCE(2)
SHORT_ACC_INSTANCE(3)
SHORT_ACC_INSTANCE(4)
SHORT_ACC_INSTANCE(5)
SHORT_ACC_INSTANCE(6)

static void short_packed_acc(SHORT_ACC_ARGS) {
    static void (*const by_cols[SHORT_COLS])(SHORT_ACC_ARGS) = {short_packed_acc_c1, short_packed_acc_c2,
                                                               short_packed_acc_c3, short_packed_acc_c4,
                                                               short_packed_acc_c5, short_packed_acc_c6};
    by_cols[nc - 1](n, w, nr, x, x_stride, nc, alpha, y, y_stride);
}

static void short_f32_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    short_pack(0, n, w, w_stride, nr, dst);
}

static void short_f16_pack(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    short_pack(1, n, w, w_stride, nr, dst);
}

static const lorc_type_kernel short_f32_entry = {
    .act = &lorc_avx2_act_f32_format, .tile = short_f32, .tile_rows = SHORT_ROWS, .tile_cols = SHORT_COLS,
    .pack = short_f32_pack, .pack_bytes = short_pack_bytes, .tile_packed = short_packed,
    .tile_packed_acc = short_packed_acc};
static const lorc_type_kernel short_f16_entry = {
    .act = &lorc_avx2_act_f32_format, .tile = short_f16, .tile_rows = SHORT_ROWS, .tile_cols = SHORT_COLS,
    .pack = short_f16_pack, .pack_bytes = short_pack_bytes, .tile_packed = short_packed,
    .tile_packed_acc = short_packed_acc};

void lorc_kernels_fill_avx2_short(lorc_kernels *k) {
    /* only where the activation rows are plain F32 */
    if (k->type[LORC_TYPE_F32].act == &lorc_avx2_act_f32_format) k->type[LORC_TYPE_F32].short_rows = &short_f32_entry;
    if (k->type[LORC_TYPE_F16].act == &lorc_avx2_act_f32_format) k->type[LORC_TYPE_F16].short_rows = &short_f16_entry;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx2_short(lorc_kernels *k) { (void)k; }
#endif
