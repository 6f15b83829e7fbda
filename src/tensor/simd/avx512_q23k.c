/* avx512_q23k.c — the AVX-512 decode tiles (one activation row; several
 * rows keep the AVX2 tiles, prompts the packed ones of avx512_kq_pairs.c)
 * for Q2_K and Q3_K, the bulk of Q2_K and Q3_K_* files. Need VNNI.
 *
 * The AVX2 tile (avx2_q23k.c) unpacks a super-block into 8 registers of
 * 32 quants and spends a vpmaddubsw, a vpmaddwd and a vpaddd on each; on
 * Zen 5 it held a Q2_K decode to 36% of the bandwidth roofline. Here the
 * 64 qs bytes are one register: each 2-bit shift of it is 64 quants
 * (Q3_K's third bits come in with one rotate of the broadcast hmask),
 * and one vpmaddubsw and one vpdpwssd with the sub-blocks' scales (int16
 * pairs) add them to the sums.
 *
 * Bits: lane j of the AVX2 sum (j < 8) holds, over the 8 registers t,
 * sc * (q . a) of values 32t + 4j .. 32t + 4j + 3. Shift s here is AVX2
 * register s in its low 256 bits and register 4 + s in its high 256 (the
 * two halves of qs), so lane j + 8 of the 16 holds register 4 + s's lane
 * j: adding the halves gives the AVX2 integers exactly, and the AVX2
 * tile's min (Q2_K) or offset (Q3_K) term, float steps and horizontal sum
 * follow unchanged. */
#include "avx2_q23k.h"

#if defined(__x86_64__)
#include "../kernels.h"

#define AI static inline __attribute__((always_inline))

enum { ROWS = LORC_KQ_TILE_ROWS };

/* The activations shift s meets: values 32s .. 32s + 31 in the low half,
 * 32 (4 + s) .. 32 (4 + s) + 31 in the high half. */
AI void q23_act_zmm(const int8_t *q, __m512i av[4]) {
    for (int s = 0; s < 4; s++)
        av[s] = _mm512_inserti64x4(_mm512_castsi256_si512(lorc_kq_load(q + 32 * s)), lorc_kq_load(q + 32 * (4 + s)), 1);
}

/* Which of the 16 int16 scales each int16 of shift s takes: per 128-bit
 * lane, sub-blocks 2s, 2s + 1 (low half) and 8 + 2s, 9 + 2s (high half). */
#define PICK8(j) j, j, j, j, j, j, j, j
#define PICK(s) {PICK8(2 * (s)), PICK8(2 * (s) + 1), PICK8(8 + 2 * (s)), PICK8(9 + 2 * (s))}
static const int16_t scale_pick[4][32] = {PICK(0), PICK(1), PICK(2), PICK(3)};

/* One row's super-block (qs; Q3_K also hmask) against av: the exact int32
 * sums of sc * q * a, folded to the AVX2 tile's 8 lanes. sc16: the 16
 * scales as int16. Q3_K's q here is 0..7 (the third bit set), as in the
 * AVX2 tile. */
AI __m256i q23_row_sums(bool q3, const uint8_t *qs, const uint8_t *hmask, __m256i sc16, const __m512i av[4]) {
    const __m512i q = _mm512_loadu_si512((const void *)qs), low2 = _mm512_set1_epi8(3), bit2 = _mm512_set1_epi8(4);
    const __m512i scz = _mm512_castsi256_si512(sc16);
    __m512i hm = _mm512_setzero_si512();
    if (q3) hm = _mm512_broadcast_i64x4(lorc_kq_load(hmask));
    /* two sums, even and odd shifts: shorter vpdpwssd chains (integers) */
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    _Pragma("GCC unroll 4")
    for (int s = 0; s < 4; s++) {
        __m512i wq = _mm512_and_si512(s ? _mm512_srli_epi16(q, 2 * s) : q, low2);
        if (q3) { /* hmask bit s (low half) or 4 + s (high half) of each byte to bit 2 */
            const __m512i turn = _mm512_inserti64x4(_mm512_set1_epi64((2 - s) & 63), _mm256_set1_epi64x(62 - s), 1);
            wq = _mm512_or_si512(wq, _mm512_and_si512(_mm512_rolv_epi64(hm, turn), bit2));
        }
        const __m512i sc = _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)scale_pick[s]), scz);
        sum[s & 1] = _mm512_dpwssd_epi32(sum[s & 1], _mm512_maddubs_epi16(wq, av[s]), sc);
    }
    const __m512i t = _mm512_add_epi32(sum[0], sum[1]);
    return _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
}

/* The next tile's rows, walked in address order (as avx512_kq16.c): at
 * block i the lines of bytes [4 i bb, 4 (i + 1) bb) of their span. Two
 * tiles ahead read the same from DRAM (Q3_K 17.9-19.3 GB/s on one core
 * either way, kernel_tile_bench 131072 2048). */
AI void q23_prefetch_next(const uint8_t *w, size_t w_stride, int64_t i, size_t bb) {
    lorc_kq_prefetch(w + (size_t)ROWS * w_stride + (size_t)i * ROWS * bb, ROWS * bb);
}

/* One row's super-block b into its accumulator: the AVX2 tile's min term
 * (Q2_K) or offset (Q3_K: q - 4, 4 * sum of sc * per-16 sums) and its float
 * steps (avx2_q23k.c). */
AI __m256 q2_row(const lorc_block_q2_K *b, const __m512i av[4], __m256i bsums, float da, __m256 acc) {
    const __m128i low4 = _mm_set1_epi8(0x0f);
    const __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)b->scales);
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low4));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
    const __m256i sum = q23_row_sums(false, b->qs, NULL, sc16, av);
    const __m256i msum = _mm256_madd_epi16(bsums, mins);
    const float d = lorc_kq_half(b->d), dmin = lorc_kq_half(b->dmin);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * da), acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dmin * da), acc);
}

AI __m256 q3_row(const lorc_block_q3_K *b, const __m512i av[4], __m256i bsums, float da, __m256 acc) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(lorc_q3_scales_biased(b->scales), _mm_set1_epi8(32)));
    const __m256i sum = q23_row_sums(true, b->qs, b->hmask, sc16, av);
    const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 2);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sum, offset)), _mm256_set1_ps(lorc_kq_half(b->d) * da),
                           acc);
}

AI void q23_decode(bool q3, int NR, int64_t nb, const uint8_t *w, size_t w_stride, const lorc_act_q8_K256 *a,
                   float *y) {
    const size_t bb = q3 ? sizeof(lorc_block_q3_K) : sizeof(lorc_block_q2_K);
    __m256 acc[ROWS];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < NR; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        q23_prefetch_next(w, w_stride, i, bb);
        __m512i av[4];
        q23_act_zmm(a[i].qs, av);
        const __m256i bsums = lorc_kq_load(a[i].bsums);
        const float da = lorc_kq_rd_f32(a[i].d);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < NR; r++) {
            const void *b = w + (size_t)r * w_stride + (size_t)i * bb;
            acc[r] = q3 ? q3_row(b, av, bsums, da, acc[r]) : q2_row(b, av, bsums, da, acc[r]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int r = 0; r < NR; r++) y[r] = lorc_kq_hsum(acc[r]);
}

/* Each type's decode tile (a whole tile's row count known at compile
 * time: the rows' loop unrolls and the accumulators stay in registers;
 * with nr known only at run time GCC keeps them in memory, a store and a
 * reload per row and super-block, 19% of a Q3_K decode's samples), and its
 * tile entry, which hands several activation rows to the AVX2 tile. */
#define Q23_TILE(TYPE, Q3)                                                                                       \
    static void decode_##TYPE(int64_t nb, const uint8_t *w, size_t w_stride, int nr, const lorc_act_q8_K256 *a, \
                              float *y) {                                                                        \
        if (nr == ROWS)                                                                                          \
            q23_decode(Q3, ROWS, nb, w, w_stride, a, y);                                                         \
        else                                                                                                     \
            q23_decode(Q3, nr, nb, w, w_stride, a, y);                                                           \
    }                                                                                                            \
    static void tile_##TYPE(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,  \
                            int nc, float *y, size_t y_stride) {                                                 \
        if (nc == 1)                                                                                             \
            decode_##TYPE(n / LORC_QK_K, w, w_stride, nr, x, y);                                                 \
        else                                                                                                     \
            lorc_avx2_tile_##TYPE(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);                             \
    }

Q23_TILE(q2_K, false)
Q23_TILE(q3_K, true)

void lorc_kernels_fill_avx512_q23k(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* vpdpwssd: without VNNI the AVX2 tiles stay */
    k->type[LORC_TYPE_Q2_K].tile = tile_q2_K;
    k->type[LORC_TYPE_Q3_K].tile = tile_q3_K;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q23k(lorc_kernels *k) { (void)k; }
#endif
