/* avx512_short.c — the AVX-512 short-row tile (LoRA B·t, F16 B) for one
 * activation row: decode. Several rows keep the AVX2 tiles (avx2_short.c).
 *
 * The AVX2 tile keeps 8 rows in the lanes of a vector and turns each 8 x 8
 * block of the rows into columns with 24 shuffles; for the rows of 16
 * values a rank-16 B has, that transposing is most of its work, and with
 * the base's decode tiles at full width B·t on all seven linears cost ~10%
 * of a Q4_K_M token on Zen 5. Here 16 rows sit in the lanes of a ZMM
 * register: each row's 16 values are converted at once (vcvtph2ps), a
 * 16 x 16 float transpose makes the columns, and each column is one FMA.
 *
 * An adapter keeps B in columns too (lora_cols.h): then the column tile
 * loads each column as one vector and needs no transposing. On TinyLlama
 * shapes (Q4_K_M, rank 16 on all seven linears, Zen 5) that took decode
 * with the adapter from 0.886 to 0.920 of the base's speed (5 alternating
 * pairs).
 *
 * Bits: as in the AVX2 tile, each output is one FMA chain over the values
 * k < n in order, from zero (no padded value enters it), then written, or
 * added as y + alpha * sum (a multiply, then an add). */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_short.h"

#define AI static inline __attribute__((always_inline))

enum { ROWS = LORC_SHORT_TILE_ROWS, BLOCK = 16 };

/* 16 rows of 16 floats -> 16 columns (column k: value k of rows 0..15). */
AI void transpose16x16_ps(__m512 v[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    /* u[4 i + m], 128-bit lane L: value 4 L + m of rows 4 i .. 4 i + 3 */
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int m = 0; m < 4; m++) {
        const __m512 a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
        const __m512 c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
        v[m] = _mm512_shuffle_f32x4(a, c, 0x88);
        v[8 + m] = _mm512_shuffle_f32x4(a, c, 0xdd);
        v[4 + m] = _mm512_shuffle_f32x4(b, d, 0x88);
        v[12 + m] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
}

/* nr <= 16 outputs in the lanes of acc: written, or (add) added as
 * y + alpha * sum. */
AI void short16_out(int add, __m512 acc, int nr, const float *alpha, float *y) {
    if (nr == ROWS) {
        /* y in two halves: the base tiles wrote it 8 floats at a time, and
         * a 512-bit (or masked) load over two such stores is not forwarded
         * from them; it waited for them on every call */
        __m256 lo = _mm512_castps512_ps256(acc), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
        if (add) {
            const __m256 a = _mm256_set1_ps(alpha[0]);
            lo = _mm256_add_ps(_mm256_loadu_ps(y), _mm256_mul_ps(a, lo));
            hi = _mm256_add_ps(_mm256_loadu_ps(y + 8), _mm256_mul_ps(a, hi));
        }
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    const __mmask16 rows = (__mmask16)((1u << nr) - 1u);
    if (add)
        acc = _mm512_add_ps(_mm512_maskz_loadu_ps(rows, y), _mm512_mul_ps(_mm512_set1_ps(alpha[0]), acc));
    _mm512_mask_storeu_ps(y, rows, acc);
}

/* One activation row x against nr <= 16 rows of n <= LORC_SHORT_ROW_MAX
 * F16 values: y[r] = sum, or (add) y[r] + alpha * sum. */
static void short16_row(int add, int64_t n, const uint8_t *w, size_t w_stride, int nr, const float *x,
                        const float *alpha, float *y) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += BLOCK) {
        const int kn = n - k0 < BLOCK ? (int)(n - k0) : BLOCK;
        const __mmask16 live = (__mmask16)((1u << kn) - 1u);
        __m512 v[ROWS];
        for (int r = 0; r < ROWS; r++) { /* rows past nr repeat the last one (in bounds, never stored) */
            const uint8_t *row = w + (size_t)(r < nr ? r : nr - 1) * w_stride + 2 * (size_t)k0;
            v[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(live, (const void *)row));
        }
        transpose16x16_ps(v);
        for (int k = 0; k < kn; k++) acc = _mm512_fmadd_ps(v[k], _mm512_set1_ps(x[k0 + k]), acc);
    }
    short16_out(add, acc, nr, alpha, y);
}

/* One activation row against nr <= 16 rows of B in the column layout
 * (lora_cols.h): per value k, the 16 rows' values as one vector, so no
 * transposing. The same chain as short16_row. */
static void cols16_row(int64_t n, const uint16_t *cols, int nr, const float *x, const float *alpha, float *y) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k++)
        acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(cols + ROWS * k))),
                              _mm512_set1_ps(x[k]), acc);
    short16_out(1, acc, nr, alpha, y);
}

static void short16(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                    float *y, size_t y_stride) {
    if (nc == 1)
        short16_row(0, n, w, w_stride, nr, x, NULL, y);
    else
        lorc_avx2_short_f16(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);
}

static void short16_acc(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                        const float *alpha, float *y, size_t y_stride) {
    if (nc == 1)
        short16_row(1, n, w, w_stride, nr, x, alpha, y);
    else
        lorc_avx2_short_f16_acc(n, w, w_stride, nr, x, x_stride, nc, alpha, y, y_stride);
}

static void cols16_acc(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                       const float *alpha, float *y, size_t y_stride) {
    if (nc == 1)
        cols16_row(n, w, nr, x, alpha, y);
    else
        lorc_avx2_short_cols16_acc(n, w, w_stride, nr, x, x_stride, nc, alpha, y, y_stride);
}

static const lorc_type_kernel short_f16_entry = {
    .act = &lorc_avx2_act_f32_format, .tile = short16, .tile_rows = ROWS, .tile_cols = LORC_SHORT_TILE_COLS,
    .pack = lorc_avx2_short_f16_pack, .pack_bytes = lorc_avx2_short_pack_bytes,
    .tile_packed = lorc_avx2_short_packed, .tile_acc = short16_acc, .tile_packed_acc = lorc_avx2_short_packed_acc,
    .tile_cols_acc = cols16_acc};

void lorc_kernels_fill_avx512_short(lorc_kernels *k) {
    /* only over the AVX2 entry (F32 activation rows), whose other tiles it keeps */
    if (k->type[LORC_TYPE_F16].short_rows) k->type[LORC_TYPE_F16].short_rows = &short_f16_entry;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_short(lorc_kernels *k) { (void)k; }
#endif
