/* avx2_q6k_packed.c — the packed prompt tile for Q6_K (see avx2_q6k.h for
 * the layout).
 *
 * In a prompt every activation tile met by a chunk's weight rows used to
 * unpack the 6-bit quants again (ql nibbles, qh pairs, minus 32, widening,
 * scaling: about as much work as three columns' dots). Packing does that
 * once per chunk; the packed tile then only loads int16 weights and runs
 * vpmaddwd. Its loop takes the 4 rows x 2 columns at a time: 8 int32 sums,
 * 4 weight and 2 activation registers fit the 16 ymm registers, and each
 * load feeds 2 or 4 vpmaddwd. Columns rather than rows go in pairs because
 * activation loads are the ones that straddle cache lines (a q16_K256 block
 * starts its values 4 bytes in; the packed weights are 64-byte aligned).
 *
 * Same bits as the unpacked tile (avx2_q6k.c): the weights are the same
 * int16 values (q6_unpack_group), each int32 lane of a pair's super-block
 * sum holds the same products summed exactly (the same lanes: the value in
 * slot s of a group's 32, q16_K256 order, always lands in int32 lane
 * (s mod 16) / 2), and the float step is the same: acc += float(sum) * (d * da), then the same
 * horizontal sum. */
#include "avx2_q6k.h"

#if defined(__x86_64__)

#define AI static inline __attribute__((always_inline))

size_t lorc_avx2_pack_bytes_q6_K(int64_t n) { return (size_t)(n / LORC_QK_K) * LORC_Q6K_PACKED_BLOCK; }

void lorc_avx2_pack_q6_K(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t rows_in_order[LORC_KQ_TILE_ROWS] = {0, LORC_Q6K_PACKED_ROW, 2 * LORC_Q6K_PACKED_ROW,
                                                           3 * LORC_Q6K_PACKED_ROW};
    q6_pack_rows(n, w, w_stride, nr, dst, rows_in_order, 32);
}

/* The NR rows against columns c0..c0+CC-1, one super-block: pb is the
 * packed super-block, xq[c] / da[c] the activation values and scale of
 * column c's super-block. Each step loads NR weight and CC activation
 * registers (pinned: GCC would fold each activation load into every
 * vpmaddwd that uses it, twice the loads) for NR*CC vpmaddwd. */
AI void q6p_block(int NR, int CC, const uint8_t *pb, int c0, const uint8_t *const xq[LORC_KQ_TILE_COLS],
                  const float da[LORC_KQ_TILE_COLS], __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS]) {
    __m256i s[LORC_KQ_TILE_ROWS][2];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < CC; c++) s[r][c] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int k = 0; k < 16; k++) {
        __m256i wv[LORC_KQ_TILE_ROWS], xv[2];
        for (int r = 0; r < NR; r++) {
            wv[r] = lorc_kq_load(pb + (size_t)r * LORC_Q6K_PACKED_ROW + 32 * k);
            q6_keep(&wv[r]);
        }
        for (int c = 0; c < CC; c++) {
            xv[c] = lorc_kq_load(xq[c0 + c] + 32 * k);
            q6_keep(&xv[c]);
        }
        for (int r = 0; r < NR; r++)
            for (int c = 0; c < CC; c++) {
                q6_madd_acc(&s[r][c], wv[r], xv[c]);
            }
    }
    float d[LORC_KQ_TILE_ROWS];
    memcpy(d, pb + LORC_Q6K_PACKED_D, sizeof d);
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < CC; c++)
            acc[r][c0 + c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r][c]), _mm256_set1_ps(d[r] * da[c0 + c]), acc[r][c0 + c]);
}

/* The packed tile for NR rows (a compile-time count: the loops above then
 * unroll into registers). */
AI void q6p_tile(int NR, int64_t n, const uint8_t *w, const void *x, size_t x_stride, int nc, float *y,
                 size_t y_stride) {
    __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = w + (size_t)i * LORC_Q6K_PACKED_BLOCK;
        const uint8_t *xq[LORC_KQ_TILE_COLS];
        float da[LORC_KQ_TILE_COLS];
        q6_act_rows(x, x_stride, nc, i, xq, da);
        int c0 = 0;
        for (; c0 + 2 <= nc; c0 += 2) q6p_block(NR, 2, pb, c0, xq, da, acc);
        if (c0 < nc) q6p_block(NR, 1, pb, c0, xq, da, acc);
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(acc[r][c]);
}

static void q6p_tile_1(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6p_tile(1, n, w, x, xs, nc, y, ys);
}
static void q6p_tile_2(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6p_tile(2, n, w, x, xs, nc, y, ys);
}
static void q6p_tile_3(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6p_tile(3, n, w, x, xs, nc, y, ys);
}
static void q6p_tile_4(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) {
    q6p_tile(4, n, w, x, xs, nc, y, ys);
}

void lorc_avx2_tile_packed_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, float *y, size_t y_stride) {
    (void)w_stride;
    static void (*const by_rows[LORC_KQ_TILE_ROWS])(int64_t, const uint8_t *, const void *, size_t, int, float *,
                                                    size_t) = {q6p_tile_1, q6p_tile_2, q6p_tile_3, q6p_tile_4};
    by_rows[nr - 1](n, w, x, x_stride, nc, y, y_stride);
}

#else
typedef int lorc_avx2_q6k_packed_unused; /* ISO C wants a declaration in every file */
#endif
