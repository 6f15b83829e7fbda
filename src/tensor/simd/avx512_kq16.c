/* avx512_kq16.c — the AVX-512 decode tiles (one activation row; several
 * rows keep the AVX2 tiles, prompts the packed ones of avx512_kq_pairs.c)
 * for the k-quants that meet 16-bit activations (q16_K256): Q6_K and
 * Q5_K. Need VNNI.
 *
 * The AVX2 decode tiles (avx2_q6k.c, avx2_q45k.c) widen each group of 32
 * weights to int16 in two registers, in q16_K256's value order. On Zen 5
 * Q6_K's was the slowest tile of a Q4_K_M decode (19 GB/s on one core in
 * cache, where the Q4_K tile reads 36), and Q5_K's held a Q5_K_M decode
 * to 39% of the bandwidth roofline, no faster than llama.cpp. Here 64
 * weights are unpacked per register, each group is widened in value order
 * (vpmovsxbw, vpmovzxbw), scaled by its sub-block scales (vpmullw; |(q-32)
 * *sc| <= 4096 for Q6_K and q*sc <= 31*63 for Q5_K, as in the packed
 * tiles), and meets the activations in one vpdpwssd; the activations'
 * 16-value chunks are put into value order once per super-block instead.
 *
 * Bits: both AVX2 tiles' int32 lane j of a super-block holds, for j < 4,
 * the products of values (2j, 2j+1) and (8+2j, 9+2j) of every group of 32,
 * and for j >= 4 those of (8+2j, 9+2j) and (16+2j, 17+2j). Here lane l of
 * the 16 holds values (2l, 2l+1), so lane j of the AVX2 sum is lanes j +
 * j+4 (j < 4) or j+4 + j+8 (j >= 4) of this one: folded exactly, then the
 * same float steps and the same horizontal sum. */
#include "avx2_kq_common.h"

#if defined(__x86_64__)
#include "avx2_q4k_pack.h"
#include "avx2_q6k.h"

#define AI static inline __attribute__((always_inline))

/* Group g (values 32g .. 32g + 31) of one activation row's super-block,
 * its 32 int16 values in value order: q16_K256 stores the 8-value chunks
 * as 0, 2, 1, 3 (kq_act.h). */
AI __m512i kq16_act_group(const lorc_act_q16_K256 *a, int g) {
    const __m512i v = _mm512_loadu_si512((const void *)(a->qs + 64 * g));
    return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
}

/* The int16 pairs of 16 lanes folded to the AVX2 tiles' 8 int32 lanes
 * (see the top of the file). */
AI __m256i kq16_fold(__m512i s) {
    const __m512i t = _mm512_add_epi32(s, _mm512_shuffle_i64x2(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castsi512_si256(_mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(2, 0, 2, 0)));
}

/* Which of the 16 int16 scales each lane of group g takes: sub-block 2g in
 * lanes 0-15, 2g + 1 in lanes 16-31. */
#define PICK16(s) s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s
#define PICK(g) {PICK16(2 * (g)), PICK16(2 * (g) + 1)}
static const int16_t scale_pick[8][32] = {PICK(0), PICK(1), PICK(2), PICK(3), PICK(4), PICK(5), PICK(6), PICK(7)};

/* One row's super-block against the activation groups av[8]: the exact
 * int32 sums, 16 lanes. */
AI __m512i q6_row_sums(const lorc_block_q6_K *b, const __m512i av[8]) {
    const __m512i low4 = _mm512_set1_epi8(0x0f), hmask = _mm512_set1_epi8(0x30), bias = _mm512_set1_epi8(32);
    /* the qh shifts that bring bits 2g, 2g+1 to bits 4, 5: groups 0 | 1 and 2 | 3 */
    const __m512i shl01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    /* int16 scales; scale pair of group g: lanes 0-15 sub-block 2g, 16-31 2g+1 */
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)b->scales)));
    /* two sums, even and odd groups: two shorter vpdpwssd chains (integers,
     * so the total is the same) */
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        const __m512i qh = _mm512_broadcast_i64x4(lorc_kq_load(b->qh + 32 * h));
        const __m512i hi01 = _mm512_and_si512(_mm512_sllv_epi16(qh, shl01), hmask);
        const __m512i hi23 = _mm512_and_si512(_mm512_srlv_epi16(qh, shr23), hmask);
        /* groups 0 | 1 and 2 | 3 of the half, q - 32 as int8 */
        const __m512i q01 = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(l, low4), hi01), bias);
        const __m512i q23 = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), hi23), bias);
        const __m256i grp[4] = {_mm512_castsi512_si256(q01), _mm512_extracti64x4_epi64(q01, 1),
                                _mm512_castsi512_si256(q23), _mm512_extracti64x4_epi64(q23, 1)};
        _Pragma("GCC unroll 4")
        for (int g = 0; g < 4; g++) {
            const __m512i sc = _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)scale_pick[4 * h + g]), sc16);
            const __m512i w = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(grp[g]), sc);
            sum[g & 1] = _mm512_dpwssd_epi32(sum[g & 1], w, av[4 * h + g]);
        }
    }
    return _mm512_add_epi32(sum[0], sum[1]);
}

static void q6_tile_decode_zmm(int64_t nb, const uint8_t *w, size_t w_stride, int nr, const lorc_act_q16_K256 *a,
                             float *y) {
    __m256 acc[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* the next tile's rows, walked in address order (as the AVX2 tile) */
        lorc_kq_prefetch(w + (size_t)LORC_KQ_TILE_ROWS * w_stride + (size_t)i * LORC_KQ_TILE_ROWS * sizeof(lorc_block_q6_K),
                         LORC_KQ_TILE_ROWS * sizeof(lorc_block_q6_K));
        __m512i av[8];
        for (int g = 0; g < 8; g++) av[g] = kq16_act_group(a + i, g);
        const float da = lorc_kq_rd_f32(a[i].d);
        for (int r = 0; r < nr; r++) {
            const lorc_block_q6_K *b = (const lorc_block_q6_K *)(const void *)(w + (size_t)r * w_stride) + i;
            const __m256i sum = kq16_fold(q6_row_sums(b, av));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(lorc_kq_half(b->d) * da), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = lorc_kq_hsum(acc[r]);
}

static void q6_tile(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                    float *y, size_t y_stride) {
    if (nc == 1)
        q6_tile_decode_zmm(n / LORC_QK_K, w, w_stride, nr, x, y);
    else
        lorc_avx2_tile_q6_K(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);
}

/* ---------------------------------------------------------------- Q5_K */

/* The qh shifts that bring the fifth bit of sub-blocks (s | s + 2) to bit 4
 * of each byte (16-bit shifts: the 0x10 mask drops what crosses a byte):
 * left for half 0 (bits 0 | 2 and 1 | 3), right for half 1 (4 | 6, 5 | 7). */
AI __m512i q5_shift_pair(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1);
}

/* One row's super-block against the activation groups av[8]: the exact
 * int32 sums, 16 lanes. Its 64 quant bytes of half h hold sub-blocks 4h
 * (low nibbles) and 4h + 1 (high) in bytes 0-31, 4h + 2 and 4h + 3 in
 * bytes 32-63; qh bit j of byte l is value l's fifth bit in sub-block j. */
AI __m512i q5_row_sums(const lorc_block_q5_K *b, uint64_t sc, const __m512i av[8]) {
    const __m512i low4 = _mm512_set1_epi8(0x0f), bit4 = _mm512_set1_epi8(0x10);
    const __m512i qh = _mm512_broadcast_i64x4(lorc_kq_load(b->qh));
    /* int16 scales, sub-block j in lane j */
    const __m512i sc16 = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_cvtsi64_si128((long long)sc)));
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512((const void *)(b->qs + 64 * h));
        const __m512i fifth_lo = h == 0 ? _mm512_sllv_epi16(qh, q5_shift_pair(4, 2))
                                        : _mm512_srlv_epi16(qh, q5_shift_pair(0, 2));
        const __m512i fifth_hi = h == 0 ? _mm512_sllv_epi16(qh, q5_shift_pair(3, 1))
                                        : _mm512_srlv_epi16(qh, q5_shift_pair(1, 3));
        /* sub-blocks 4h | 4h + 2 and 4h + 1 | 4h + 3, 5-bit quants */
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(fifth_lo, bit4));
        const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                           _mm512_and_si512(fifth_hi, bit4));
        const __m256i grp[4] = {_mm512_castsi512_si256(lo), _mm512_castsi512_si256(hi),
                                _mm512_extracti64x4_epi64(lo, 1), _mm512_extracti64x4_epi64(hi, 1)};
        _Pragma("GCC unroll 4")
        for (int k = 0; k < 4; k++) {
            const int g = 4 * h + k;
            const __m512i scg = _mm512_permutexvar_epi16(_mm512_set1_epi16((short)g), sc16);
            const __m512i w = _mm512_mullo_epi16(_mm512_cvtepu8_epi16(grp[k]), scg);
            sum[k & 1] = _mm512_dpwssd_epi32(sum[k & 1], w, av[g]);
        }
    }
    return _mm512_add_epi32(sum[0], sum[1]);
}

/* The AVX2 tile's min sum of a row (lanes j: per-16 sums j and 8 + j times
 * their sub-blocks' mins), from all 16 per-16 sums at once: exact. */
AI __m256i q5_min_sums(uint64_t m, const lorc_act_q16_K256 *a) {
    const __m128i mb = _mm_cvtsi64_si128((long long)m);
    const __m512i mins = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(mb, mb)); /* m0, m0, m1, m1, ..., m7, m7 */
    const __m512i p = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)a->sums), mins);
    return _mm256_add_epi32(_mm512_castsi512_si256(p), _mm512_extracti64x4_epi64(p, 1));
}

static void q5_tile_decode_zmm(int64_t nb, const uint8_t *w, size_t w_stride, int nr, const lorc_act_q16_K256 *a,
                               float *y) {
    __m256 acc[LORC_KQ_TILE_ROWS];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        lorc_kq_prefetch(w + (size_t)LORC_KQ_TILE_ROWS * w_stride + (size_t)i * LORC_KQ_TILE_ROWS * sizeof(lorc_block_q5_K),
                         LORC_KQ_TILE_ROWS * sizeof(lorc_block_q5_K));
        __m512i av[8];
        for (int g = 0; g < 8; g++) av[g] = kq16_act_group(a + i, g);
        const float da = lorc_kq_rd_f32(a[i].d);
        for (int r = 0; r < nr; r++) {
            const lorc_block_q5_K *b = (const lorc_block_q5_K *)(const void *)(w + (size_t)r * w_stride) + i;
            uint64_t sc, m;
            lorc_q45k_scales_mins(b->scales, &sc, &m);
            const __m256i sum = kq16_fold(q5_row_sums(b, sc, av));
            /* the AVX2 tile's float step (avx2_q45k.c) */
            const float d = lorc_kq_half(b->d), dmin = lorc_kq_half(b->dmin);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * da), acc[r]);
            acc[r] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(q5_min_sums(m, a + i)), _mm256_set1_ps(dmin * da), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = lorc_kq_hsum(acc[r]);
}

static void q5_tile(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                    float *y, size_t y_stride) {
    if (nc == 1)
        q5_tile_decode_zmm(n / LORC_QK_K, w, w_stride, nr, x, y);
    else
        lorc_avx2_tile_q5_K(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);
}

void lorc_kernels_fill_avx512_kq16(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* vpdpwssd: without VNNI the AVX2 tiles stay */
    k->type[LORC_TYPE_Q6_K].tile = q6_tile;
    k->type[LORC_TYPE_Q5_K].tile = q5_tile;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_kq16(lorc_kernels *k) { (void)k; }
#endif
