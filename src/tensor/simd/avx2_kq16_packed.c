/* avx2_kq16_packed.c — the packed prompt tiles of the k-quants with int16
 * weights against q16_K256 activations: Q6_K (see avx2_q6k.h for its
 * layout) and Q5_K (avx2_q5k.h).
 *
 * In a prompt every activation tile met by a chunk's weight rows used to
 * unpack the quants again (Q6_K: ql nibbles, qh pairs, minus 32, widening,
 * scaling: about as much work as three columns' dots; Q5_K likewise).
 * Packing does that once per chunk; the packed tile then only loads int16
 * weights and runs vpmaddwd. Its loop takes the 4 rows x 2 columns at a
 * time: 8 int32 sums, 4 weight and 2 activation registers fit the 16 ymm
 * registers, and each load feeds 2 or 4 vpmaddwd. Columns rather than rows
 * go in pairs because activation loads are the ones that straddle cache
 * lines (a q16_K256 block starts its values 4 bytes in; the packed weights
 * are 64-byte aligned).
 *
 * Same bits as the unpacked tiles (avx2_q6k.c, avx2_q45k.c): the weights
 * are the same int16 values (q6_unpack_group, lorc_q5k_unpack_half), each
 * int32 lane of a pair's super-block sum holds the same products summed
 * exactly (the same lanes: the value in slot s of a group's 32, q16_K256
 * order, always lands in int32 lane (s mod 16) / 2), and the float steps
 * are the same: acc += float(sum) * (d * da), for Q5_K then acc -=
 * float(minsum) * (dmin * da), then the same horizontal sum. */
#include "avx2_q5k.h"
#include "avx2_q6k.h"

#if defined(__x86_64__)

#define AI static inline __attribute__((always_inline))

_Static_assert(LORC_Q5K_PACKED_ROW == LORC_Q6K_PACKED_ROW, "one weight loop reads both packs");

size_t lorc_avx2_pack_bytes_q6_K(int64_t n) { return (size_t)(n / LORC_QK_K) * LORC_Q6K_PACKED_BLOCK; }

void lorc_avx2_pack_q6_K(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t rows_in_order[LORC_KQ_TILE_ROWS] = {0, LORC_Q6K_PACKED_ROW, 2 * LORC_Q6K_PACKED_ROW,
                                                           3 * LORC_Q6K_PACKED_ROW};
    q6_pack_rows(n, w, w_stride, nr, dst, rows_in_order, 32);
}

size_t lorc_avx2_pack_bytes_q5_K(int64_t n) { return (size_t)(n / LORC_QK_K) * LORC_Q5K_PACKED_BLOCK; }

void lorc_avx2_pack_q5_K(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    static const size_t rows_in_order[LORC_KQ_TILE_ROWS] = {0, LORC_Q5K_PACKED_ROW, 2 * LORC_Q5K_PACKED_ROW,
                                                           3 * LORC_Q5K_PACKED_ROW};
    static const size_t mins_in_order[LORC_KQ_TILE_ROWS] = {LORC_Q5K_PACKED_MINS, LORC_Q5K_PACKED_MINS + 64,
                                                           LORC_Q5K_PACKED_MINS + 128, LORC_Q5K_PACKED_MINS + 192};
    lorc_q5k_pack_rows(n, w, w_stride, nr, dst, rows_in_order, 32, mins_in_order, 32);
}

/* Q5_K's mins term of row r against one activation row (xq: its values;
 * the per-16 sums follow them): the int32 lanes of q5_K_block's msum. */
AI __m256i q5_min_sum(const uint8_t *pb, int r, const uint8_t *xq) {
    const uint8_t *sums = xq + (offsetof(lorc_act_q16_K256, sums) - offsetof(lorc_act_q16_K256, qs));
    const uint8_t *m = pb + LORC_Q5K_PACKED_MINS + 64 * (size_t)r;
    return _mm256_add_epi32(_mm256_mullo_epi32(lorc_kq_load(sums), lorc_kq_load(m)),
                            _mm256_mullo_epi32(lorc_kq_load(sums + 32), lorc_kq_load(m + 32)));
}

/* The NR rows against columns c0..c0+CC-1, one super-block: pb is the
 * packed super-block, xq[c] / da[c] the activation values and scale of
 * column c's super-block. Each step loads NR weight and CC activation
 * registers (pinned: GCC would fold each activation load into every
 * vpmaddwd that uses it, twice the loads) for NR*CC vpmaddwd. MINS: Q5_K
 * (its mins term and its layout's d and dmin), else Q6_K. */
AI void kq16p_block(int MINS, int NR, int CC, const uint8_t *pb, int c0, const uint8_t *const xq[LORC_KQ_TILE_COLS],
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
    float d[LORC_KQ_TILE_ROWS], dmin[LORC_KQ_TILE_ROWS] = {0};
    memcpy(d, pb + (MINS ? LORC_Q5K_PACKED_D : LORC_Q6K_PACKED_D), sizeof d);
    if (MINS) memcpy(dmin, pb + LORC_Q5K_PACKED_DMIN, sizeof dmin);
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < CC; c++) {
            __m256 a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r][c]), _mm256_set1_ps(d[r] * da[c0 + c]), acc[r][c0 + c]);
            if (MINS)
                a = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(q5_min_sum(pb, r, xq[c0 + c])),
                                     _mm256_set1_ps(dmin[r] * da[c0 + c]), a);
            acc[r][c0 + c] = a;
        }
}

/* The packed tile for NR rows (a compile-time count: the loops above then
 * unroll into registers). */
AI void kq16p_tile(int MINS, int NR, int64_t n, const uint8_t *w, const void *x, size_t x_stride, int nc, float *y,
                   size_t y_stride) {
    const size_t block = MINS ? LORC_Q5K_PACKED_BLOCK : LORC_Q6K_PACKED_BLOCK;
    __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / LORC_QK_K; i++) {
        const uint8_t *pb = w + (size_t)i * block;
        const uint8_t *xq[LORC_KQ_TILE_COLS];
        float da[LORC_KQ_TILE_COLS];
        q6_act_rows(x, x_stride, nc, i, xq, da);
        int c0 = 0;
        for (; c0 + 2 <= nc; c0 += 2) kq16p_block(MINS, NR, 2, pb, c0, xq, da, acc);
        if (c0 < nc) kq16p_block(MINS, NR, 1, pb, c0, xq, da, acc);
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < NR; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(acc[r][c]);
}

typedef void (*kq16p_fn)(int64_t, const uint8_t *, const void *, size_t, int, float *, size_t);

#define KQ16P_TILES(NAME, MINS)                                                                                \
    static void NAME##_1(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        kq16p_tile(MINS, 1, n, w, x, xs, nc, y, ys);                                                          \
    }                                                                                                          \
    static void NAME##_2(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        kq16p_tile(MINS, 2, n, w, x, xs, nc, y, ys);                                                          \
    }                                                                                                          \
    static void NAME##_3(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        kq16p_tile(MINS, 3, n, w, x, xs, nc, y, ys);                                                          \
    }                                                                                                          \
    static void NAME##_4(int64_t n, const uint8_t *w, const void *x, size_t xs, int nc, float *y, size_t ys) { \
        kq16p_tile(MINS, 4, n, w, x, xs, nc, y, ys);                                                          \
    }                                                                                                          \
    static const kq16p_fn NAME[LORC_KQ_TILE_ROWS] = {NAME##_1, NAME##_2, NAME##_3, NAME##_4};

KQ16P_TILES(q6_by_rows, 0)
KQ16P_TILES(q5_by_rows, 1)

void lorc_avx2_tile_packed_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, float *y, size_t y_stride) {
    (void)w_stride;
    q6_by_rows[nr - 1](n, w, x, x_stride, nc, y, y_stride);
}

void lorc_avx2_tile_packed_q5_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, float *y, size_t y_stride) {
    (void)w_stride;
    q5_by_rows[nr - 1](n, w, x, x_stride, nc, y, y_stride);
}

#else
typedef int lorc_avx2_kq16_packed_unused; /* ISO C wants a declaration in every file */
#endif
