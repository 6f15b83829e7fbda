/* avx2_q6k.c — AVX2 tile for Q6_K (16 sub-blocks of 16, int8 scales,
 * 6-bit quants q-32) against q16_K256 activations (int16, see kq_act.h:
 * 8-bit activations would add ~20% to Q6_K's error).
 *
 * Each 32 weights (sub-blocks 2g, 2g+1 of a half) are widened to int16 in
 * lane (values 0-7 | 16-23 and 8-15 | 24-31, the order q16_K256 stores its
 * activations in), so one register holding sub-block 2g's scale in its low
 * half and 2g+1's in its high half scales both with vpmullw. A column then
 * costs one vpmaddwd and one add per 16 values; |(q-32)*sc| <= 4096 keeps
 * the int32 lanes exact (kq_act.h). */
#include "avx2_q6k.h"

#if defined(__x86_64__)

/* Half h (values 128h..128h+127) as 8 registers of 16 int16 weights
 * (q-32)*sc; w[2g], w[2g+1] hold values 128h+32g.. in q16_K256's order. */
static inline void q6_unpack_half(const lorc_block_q6_K *b, __m256i scb, int h, __m256i w[8]) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi8(32), zero = _mm256_setzero_si256();
    const __m256i l0 = lorc_kq_load(b->ql + 64 * h), l1 = lorc_kq_load(b->ql + 64 * h + 32);
    const __m256i qh = lorc_kq_load(b->qh + 32 * h);
    for (int g = 0; g < 4; g++) {
        const __m256i src = (g & 1) ? l1 : l0;
        const __m256i nib = g < 2 ? _mm256_and_si256(src, low4) : _mm256_and_si256(_mm256_srli_epi16(src, 4), low4);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, q6_high_bits(qh, g)), bias);
        const __m256i sign = _mm256_cmpgt_epi8(zero, q);
        const __m256i sc = lorc_kq_bcast2_i8_as_i16(scb, 8 * h + 2 * g, 8 * h + 2 * g + 1);
        w[2 * g] = _mm256_mullo_epi16(_mm256_unpacklo_epi8(q, sign), sc);
        w[2 * g + 1] = _mm256_mullo_epi16(_mm256_unpackhi_epi8(q, sign), sc);
    }
}

/* A full tile of columns, group by group: 2 weight registers at a time and
 * the 8 columns' integer sums in registers (the half-at-a-time loop below
 * holds 8 weight registers and spills). Integer sums are exact in any
 * order, the float step is the same: bit-identical. */
static inline void q6_K_block_full(const lorc_block_q6_K *b, const uint8_t *x, size_t x_stride, __m256 *acc) {
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < LORC_KQ_TILE_COLS; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 4; g++) {
            __m256i w0, w1;
            q6_unpack_group(b, scb, h, g, &w0, &w1);
            for (int c = 0; c < LORC_KQ_TILE_COLS; c++) {
                const uint8_t *aq = ((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->qs + 256 * h + 64 * g;
                sum[c] = _mm256_add_epi32(sum[c], _mm256_add_epi32(_mm256_madd_epi16(w0, lorc_kq_load(aq)),
                                                                   _mm256_madd_epi16(w1, lorc_kq_load(aq + 32))));
            }
        }
    const float d = lorc_kq_half(b->d);
    for (int c = 0; c < LORC_KQ_TILE_COLS; c++) {
        const float da = lorc_kq_rd_f32(((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da), acc[c]);
    }
}

static inline void q6_K_block(const lorc_block_q6_K *b, const uint8_t *x, size_t x_stride, int nc, __m256 *acc) {
    if (nc == LORC_KQ_TILE_COLS) {
        q6_K_block_full(b, x, x_stride, acc);
        return;
    }
    const __m256i scb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i sum[LORC_KQ_TILE_COLS];
    for (int c = 0; c < nc; c++) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        __m256i w[8];
        q6_unpack_half(b, scb, h, w);
        for (int c = 0; c < nc; c++) {
            const uint8_t *aq = ((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->qs + 256 * h;
            __m256i s = sum[c];
            for (int k = 0; k < 8; k++) s = _mm256_add_epi32(s, _mm256_madd_epi16(w[k], lorc_kq_load(aq + 32 * k)));
            sum[c] = s;
        }
    }
    const float d = lorc_kq_half(b->d);
    for (int c = 0; c < nc; c++) {
        const float da = lorc_kq_rd_f32(((const lorc_act_q16_K256 *)(x + (size_t)c * x_stride))->d);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_set1_ps(d * da), acc[c]);
    }
}

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

/* Decode and prompt tiles are separate functions so that each gets its own
 * register allocation (one body holding both spilled in the prompt loop). */
static __attribute__((noinline)) void q6_tile_decode(int64_t nb, const lorc_block_q6_K *const rows[], int nr,
                                                     size_t w_stride, const lorc_act_q16_K256 *a, float *y) {
    __m256 acc[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++)
        for (int r = 0; r < nr; r++) {
            lorc_kq_prefetch((const uint8_t *)(rows[r] + i) + (size_t)(2 * LORC_KQ_TILE_ROWS) * w_stride,
                             sizeof(lorc_block_q6_K));
            q6_K_block_decode(rows[r] + i, a + i, &acc[r]);
        }
    for (int r = 0; r < nr; r++) y[r] = lorc_kq_hsum(acc[r]);
}

static __attribute__((noinline)) void q6_tile_columns(int64_t nb, const lorc_block_q6_K *const rows[], int nr,
                                                      const uint8_t *x, size_t x_stride, int nc, float *y,
                                                      size_t y_stride) {
    __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS];
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++)
        for (int r = 0; r < nr; r++)
            q6_K_block(rows[r] + i, x + (size_t)i * sizeof(lorc_act_q16_K256), x_stride, nc, acc[r]);
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(acc[r][c]);
}

void lorc_avx2_tile_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride) {
    const lorc_block_q6_K *rows[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) rows[r] = (const lorc_block_q6_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride);
    if (nc == 1)
        q6_tile_decode(n / LORC_QK_K, rows, nr, w_stride, x, y);
    else
        q6_tile_columns(n / LORC_QK_K, rows, nr, x, x_stride, nc, y, y_stride);
}

#else
typedef int lorc_avx2_q6k_unused; /* ISO C wants a declaration in every file */
#endif
