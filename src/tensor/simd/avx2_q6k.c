/* avx2_q6k.c — AVX2 tile for Q6_K (16 sub-blocks of 16, int8 scales,
 * 6-bit quants q-32) against q16_K256 activations (int16, see kq_act.h:
 * 8-bit activations would add ~20% to Q6_K's error).
 *
 * Each 32 weights (sub-blocks 2g, 2g+1 of a half) are widened to int16 in
 * lane (values 0-7 | 16-23 and 8-15 | 24-31, the order q16_K256 stores its
 * activations in). Several columns (q6_K_block): one register holding
 * sub-block 2g's scale in its low half and 2g+1's in its high half scales
 * both with vpmullw, then a column costs one vpmaddwd and one add per 16
 * values. One column (decode, q6_K_block_decode): the scale comes after
 * the dot, one vpmulld per 32 values. Prompts with more rows than a tile
 * use the packed tile (avx2_kq16_packed.c). All three put the same products
 * into the same int32 lane of a pair's super-block sum, exactly
 * (|(q-32)*sc| <= 4096: kq_act.h), then run the same float step, so a pair
 * gets the same bits from each. */
#include "avx2_q6k.h"

#if defined(__x86_64__)

#define AI static inline __attribute__((always_inline))

/* Several columns (NC, a compile-time count so the sums stay in registers),
 * one super-block of one row, group by group: the group's 32 weights are
 * unpacked and scaled once into 2 registers, then each column adds its two
 * vpmaddwd. xq[c] / da[c]: column c's values and scale for this super-block. */
AI void q6_K_block_cols(int NC, const lorc_block_q6_K *b, const uint8_t *const xq[LORC_KQ_TILE_COLS],
                        const float da[LORC_KQ_TILE_COLS], __m256 *acc) {
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < NC; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 4; g++) {
            __m256i w0, w1;
            q6_unpack_group(b, scb, h, g, &w0, &w1);
            for (int c = 0; c < NC; c++) {
                const uint8_t *aq = xq[c] + 256 * h + 64 * g;
                q6_madd_acc(&sum[c], w0, lorc_kq_load(aq));
                q6_madd_acc(&sum[c], w1, lorc_kq_load(aq + 32));
            }
        }
    const float d = lorc_kq_half(b->d);
    for (int c = 0; c < NC; c++) acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da[c]), acc[c]);
}

/* The tile for NC columns (2..8) without packing: batches of a few rows. */
AI void q6_tile_cols(int NC, int64_t nb, const lorc_block_q6_K *const rows[], int nr, const uint8_t *x,
                     size_t x_stride, float *y, size_t y_stride) {
    __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS];
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xq[LORC_KQ_TILE_COLS];
        float da[LORC_KQ_TILE_COLS];
        for (int c = 0; c < NC; c++) {
            const lorc_act_q16_K256 *a = (const lorc_act_q16_K256 *)(const void *)(x + (size_t)c * x_stride) + i;
            xq[c] = a->qs;
            da[c] = lorc_kq_rd_f32(a->d);
        }
        for (int r = 0; r < nr; r++) q6_K_block_cols(NC, rows[r] + i, xq, da, acc[r]);
    }
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(acc[r][c]);
}

#define Q6_TILE_COLS(NC)                                                                                        \
    static __attribute__((noinline)) void q6_tile_cols_##NC(int64_t nb, const lorc_block_q6_K *const rows[],    \
                                                            int nr, const uint8_t *x, size_t x_stride, float *y, \
                                                            size_t y_stride) {                                   \
        q6_tile_cols(NC, nb, rows, nr, x, x_stride, y, y_stride);                                                \
    }
Q6_TILE_COLS(2)
Q6_TILE_COLS(3)
Q6_TILE_COLS(4)
Q6_TILE_COLS(5)
Q6_TILE_COLS(6)
Q6_TILE_COLS(7)
Q6_TILE_COLS(8)

/* Decode (one activation row): the group's 32 quants are widened as they
 * are (q-32, no scale), dotted with the activations (vpmaddwd: int32 lanes
 * 0-3 hold sub-block 2g's products, 4-7 sub-block 2g+1's), and only then
 * scaled, with one vpmulld on 8 int32 lanes instead of two vpmullw on 32
 * int16 weights. Each lane then holds the same integer as in q6_K_block
 * (the same products, summed exactly), so the float step gives the same
 * bits. The 8-lane scale vectors are sign-extended from memory: each scale
 * byte repeated 4 times, sub-block by sub-block (two shuffles per
 * super-block instead of two per group). */
static inline void q6_K_block_decode(const lorc_block_q6_K *b, const lorc_act_q16_K256 *a, __m256 *acc) {
    static const int8_t rep4[2][32] = {
        {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
        {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};
    int8_t sc4[64];
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    _mm256_storeu_si256((__m256i *)sc4, _mm256_shuffle_epi8(scb, lorc_kq_load(rep4[0])));
    _mm256_storeu_si256((__m256i *)(sc4 + 32), _mm256_shuffle_epi8(scb, lorc_kq_load(rep4[1])));
    /* GCC would otherwise pick the bytes back out of the registers with
     * three shuffles per group: the loads below must read memory */
    __asm__("" : "+m"(sc4));
    const __m256i low4 = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi8(32), zero = _mm256_setzero_si256();
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = lorc_kq_load(b->ql + 64 * h), l1 = lorc_kq_load(b->ql + 64 * h + 32);
        const __m256i qh = lorc_kq_load(b->qh + 32 * h);
        for (int g = 0; g < 4; g++) {
            const __m256i src = (g & 1) ? l1 : l0;
            const __m256i nib = g < 2 ? _mm256_and_si256(src, low4) : _mm256_and_si256(_mm256_srli_epi16(src, 4), low4);
            const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, q6_high_bits(qh, g)), bias);
            const __m256i sign = _mm256_cmpgt_epi8(zero, q);
            const uint8_t *aq = a->qs + 256 * h + 64 * g;
            const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi8(q, sign), lorc_kq_load(aq)),
                                               _mm256_madd_epi16(_mm256_unpackhi_epi8(q, sign), lorc_kq_load(aq + 32)));
            const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sc4 + 8 * (4 * h + g))));
            sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(p, sc));
            q6_keep(&sum);
        }
    }
    const float d = lorc_kq_half(b->d), da = lorc_kq_rd_f32(a->d);
    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * da), *acc);
}

/* Decode is its own function, apart from the several-column tiles, so that
 * each gets its own register allocation (one body holding both spilled in
 * the prompt loop). */
static __attribute__((noinline)) void q6_tile_decode(int64_t nb, const lorc_block_q6_K *const rows[], int nr,
                                                     size_t w_stride, const lorc_act_q16_K256 *a, float *y) {
    __m256 acc[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* the next tile's rows, walked in address order (as
         * lorc_rl_prefetch_next does for the row-lane tiles) */
        lorc_kq_prefetch((const uint8_t *)rows[0] + (size_t)LORC_KQ_TILE_ROWS * w_stride +
                             (size_t)i * LORC_KQ_TILE_ROWS * sizeof(lorc_block_q6_K),
                         LORC_KQ_TILE_ROWS * sizeof(lorc_block_q6_K));
        for (int r = 0; r < nr; r++) q6_K_block_decode(rows[r] + i, a + i, &acc[r]);
    }
    for (int r = 0; r < nr; r++) y[r] = lorc_kq_hsum(acc[r]);
}

void lorc_avx2_tile_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride) {
    const lorc_block_q6_K *rows[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) rows[r] = (const lorc_block_q6_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride);
    if (nc == 1)
        q6_tile_decode(n / LORC_QK_K, rows, nr, w_stride, x, y);
    else {
        static void (*const by_cols[LORC_KQ_TILE_COLS - 1])(int64_t, const lorc_block_q6_K *const[], int,
                                                             const uint8_t *, size_t, float *, size_t) = {
            q6_tile_cols_2, q6_tile_cols_3, q6_tile_cols_4, q6_tile_cols_5,
            q6_tile_cols_6, q6_tile_cols_7, q6_tile_cols_8};
        by_cols[nc - 2](n / LORC_QK_K, rows, nr, x, x_stride, y, y_stride);
    }
}

#else
typedef int lorc_avx2_q6k_unused; /* ISO C wants a declaration in every file */
#endif
