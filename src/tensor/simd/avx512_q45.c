/* avx512_q45.c — the AVX-512 decode tiles for the 4/5-bit block types
 * Q4_0, Q4_1, Q5_0 and Q5_1 (one activation row; several keep the AVX2
 * streaming tiles, prompts the packed tiles of avx512_legacy.c). Need VNNI
 * and VBMI.
 *
 * The AVX2 tile (avx2_q45.c) puts two rows' 16 quant bytes in a register
 * and folds the products of 8 rows with vphaddd, block by block; on Zen 5
 * it read 24 GB/s of Q4_0 on one core in cache (Q5_0 17, Q4_1 23 from
 * DRAM), below what a core reads from DRAM. Here a row's 4 blocks (72 to
 * 96 bytes) are two loads (bytes 0-63 and the span's last 64: plain
 * loads, 5% faster than the masked ones a row's last blocks need), and
 * one vpermt2b picks their 64 quant bytes out; two vpdpbusd against the 4
 * blocks' activations give each block's partial sums in one 128-bit lane,
 * and the rows' scales (and mins) are gathered by byte permutes merged
 * row by row. The Q5 types' fifth bits: per row two vpermt2b put each
 * quant's qh byte at its place, vptestmb against the bit it needs makes a
 * mask, and a masked add puts in the 16. Per 8 rows and 4 blocks a tree
 * of unpacks then puts each block's 8 row sums in the lanes of one vector.
 *
 * Bits: the block sums are the exact integers of the AVX2 tile, and each
 * block then takes the same float step (lorc_q45_block_step) in the same
 * order, so a pair gets the same bits as from every other tile of its
 * type. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"

/* The tiles' VBMI instructions (vpermt2b, vpermb): the fill below uses
 * them only where the CPU has them. Not in the tests' emulated build,
 * which must not let the compiler use AVX-512 registers at all. */
#if defined(LORC_TEST_AVX512_EMULATION)
#define LORC_VBMI
#else
#define LORC_VBMI __attribute__((target("avx512vbmi")))
#endif

#define AI static inline __attribute__((always_inline))

enum { SPAN = 4 };

/* Where a kind's parts sit in its block: d at 0, m at 2 (_1 types), qh
 * (Q5 types) before the 16 quant bytes. */
AI int qs_at(int kind) { return 2 + 2 * lorc_q45_has_min(kind) + 4 * lorc_q45_has_high_bit(kind); }
AI int qh_at(int kind) { return 2 + 2 * lorc_q45_has_min(kind); }

/* Byte k of each of the 4 128-bit lanes is base + k * step (k: the lane,
 * here a block of the span). */
AI __m512i per_block(int base, int step) {
    const int b[SPAN] = {base, base + step, base + 2 * step, base + 3 * step};
    const int v[SPAN] = {b[0] * 0x01010101, b[1] * 0x01010101, b[2] * 0x01010101, b[3] * 0x01010101};
    return _mm512_set_epi32(v[3], v[3], v[3], v[3], v[2], v[2], v[2], v[2], v[1], v[1], v[1], v[1], v[0], v[0],
                            v[0], v[0]);
}

/* Offsets into a span (< 128) as vpermt2b indices into (first, rest):
 * for a whole span rest holds its last 64 bytes, else bytes 64-127. */
AI __m512i span_index(__m512i offset, int span_bytes, bool whole) {
    if (!whole) return offset;
    const __mmask64 past = _mm512_cmpge_epu8_mask(offset, _mm512_set1_epi8(64));
    return _mm512_mask_add_epi8(offset, past, offset, _mm512_set1_epi8((char)(128 - span_bytes)));
}

/* The span's index vectors, from the block layout alone (q45_span makes
 * them; they do not change from span to span, and the compiler lifts
 * them out of the spans' loop). */
typedef struct {
    __m512i quant; /* byte 16 k + j: block k's quant byte j */
    __m512i d, m;  /* bytes 16 k + 2 r + h: byte h of block k's d (m) */
    __m512i qh_lo, qh_hi; /* byte 16 k + j: the qh byte holding the fifth bit of quant j (lo) or 16 + j (hi) */
} span_indices;

AI void make_indices(int kind, bool whole, span_indices *ix) {
    const int bb = (int)lorc_q45_block_bytes(kind), span_bytes = SPAN * bb;
    const __m512i iota16 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i byte01 = _mm512_set1_epi16(0x0100), half01 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x0101010101010101, 0));
    ix->quant = span_index(_mm512_add_epi8(per_block(qs_at(kind), bb), iota16), span_bytes, whole);
    ix->d = span_index(_mm512_add_epi8(per_block(0, bb), byte01), span_bytes, whole);
    ix->m = span_index(_mm512_add_epi8(per_block(2, bb), byte01), span_bytes, whole);
    ix->qh_lo = span_index(_mm512_add_epi8(per_block(qh_at(kind), bb), half01), span_bytes, whole);
    ix->qh_hi = span_index(_mm512_add_epi8(per_block(qh_at(kind) + 2, bb), half01), span_bytes, whole);
}

/* Lane r of the result: the sum of the 4 int32 lanes of 128-bit lane k of
 * s[r], for each k: rows 0-3 of block k in lane k of the result. */
AI __m512i sum4_rows4(const __m512i s[4]) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

AI __m256i ld256(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* Row r's d (or m) of the span's blocks into its two bytes of each block's
 * 16: one vpermb when they all sit in the first 64 bytes (Q4_0, Q4_1),
 * else a vpermt2b and a blend. */
LORC_VBMI AI __m512i gather_half(int kind, int r, __m512i acc, __m512i idx, __m512i first, __m512i rest, int at) {
    const __mmask64 row = (__mmask64)0x0003000300030003ull << (2 * r);
    if ((SPAN - 1) * (int)lorc_q45_block_bytes(kind) + at + 1 < 64)
        return _mm512_mask_permutexvar_epi8(acc, row, idx, first);
    return _mm512_mask_blend_epi8(row, acc, _mm512_permutex2var_epi8(first, idx, rest));
}

/* Blocks b .. b + nk - 1 (nk <= SPAN; whole: nk == SPAN) of the 8 rows
 * into acc. */
LORC_VBMI AI __m256 q45_span(int kind, bool whole, int64_t b, int nk, const uint8_t *const wr[8], size_t w_stride,
                             const lorc_avx2_act_q8s *xa, __m256 acc) {
    const size_t bb = lorc_q45_block_bytes(kind);
    span_indices ix;
    make_indices(kind, whole, &ix);
    const __m512i low4 = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
    const __m512i bit_of = _mm512_set1_epi64((long long)0x8040201008040201ull); /* byte j: 1 << (j % 8) */
    /* 64-bit lanes: block 0 (rows 0-3, 4-7) | block 1, and blocks 2 | 3 */
    const __m512i pick01 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i pick23 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    for (int k = 0; k < nk; k++) lorc_rl_prefetch_next(wr[0], w_stride, b + k, bb, LORC_PREFETCH_L1);
    /* the 4 blocks' activations: values 0-15 of each in x_lo, 16-31 in
     * x_hi (past the row's end: its last block again, unused) */
    const lorc_avx2_act_q8s *xb[SPAN];
    for (int k = 0; k < SPAN; k++) xb[k] = xa + b + (k < nk ? k : nk - 1);
    const __m512i q01 = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(xb[0]->q)), ld256(xb[1]->q), 1);
    const __m512i q23 = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(xb[2]->q)), ld256(xb[3]->q), 1);
    const __m512i x_lo = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i x_hi = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(3, 1, 3, 1));
    /* a partial span's bytes, never past its end (the last row may end the mapping) */
    const unsigned bytes = (unsigned)nk * (unsigned)bb;
    const __mmask64 m_first = bytes >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << bytes) - 1;
    const __mmask64 m_rest = bytes > 64 ? ((__mmask64)1 << (bytes - 64)) - 1 : 0;
    __m512i s[8], d16 = _mm512_setzero_si512(), m16 = _mm512_setzero_si512();
    for (int r = 0; r < 8; r++) {
        const uint8_t *p = wr[r] + (size_t)b * bb;
        __m512i first, rest;
        if (whole) { /* plain loads, the second of the span's last 64 bytes */
            first = _mm512_loadu_si512((const void *)p);
            rest = _mm512_loadu_si512((const void *)(p + SPAN * bb - 64));
        } else {
            first = _mm512_maskz_loadu_epi8(m_first, (const void *)p);
            rest = _mm512_maskz_loadu_epi8(m_rest, (const void *)(p + 64));
        }
        const __m512i q = _mm512_permutex2var_epi8(first, ix.quant, rest);
        d16 = gather_half(kind, r, d16, ix.d, first, rest, 0);
        if (lorc_q45_has_min(kind)) m16 = gather_half(kind, r, m16, ix.m, first, rest, 2);
        __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        if (lorc_q45_has_high_bit(kind)) {
            const __mmask64 fifth_lo = _mm512_test_epi8_mask(_mm512_permutex2var_epi8(first, ix.qh_lo, rest), bit_of);
            const __mmask64 fifth_hi = _mm512_test_epi8_mask(_mm512_permutex2var_epi8(first, ix.qh_hi, rest), bit_of);
            lo = _mm512_mask_add_epi8(lo, fifth_lo, lo, sixteen);
            hi = _mm512_mask_add_epi8(hi, fifth_hi, hi, sixteen);
        }
        s[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x_lo), hi, x_hi);
    }
    const __m512i rows03 = sum4_rows4(s), rows47 = sum4_rows4(s + 4);
    const __m512i b01 = _mm512_permutex2var_epi64(rows03, pick01, rows47);
    const __m512i b23 = _mm512_permutex2var_epi64(rows03, pick23, rows47);
    const __m256i isum[SPAN] = {_mm512_castsi512_si256(b01), _mm512_extracti64x4_epi64(b01, 1),
                                _mm512_castsi512_si256(b23), _mm512_extracti64x4_epi64(b23, 1)};
    uint16_t dh[64 / 2], mh[64 / 2];
    _mm512_storeu_si512((void *)dh, d16);
    if (lorc_q45_has_min(kind)) _mm512_storeu_si512((void *)mh, m16);
    for (int k = 0; k < nk; k++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(dh + 8 * k)));
        const __m256 m = lorc_q45_has_min(kind) ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(mh + 8 * k)))
                                                : _mm256_setzero_ps();
        acc = lorc_q45_block_step(kind, isum[k], xa + b + k, dw, m, acc);
    }
    return acc;
}

LORC_VBMI AI void q45_tile_decode(int kind, int64_t n, const void *w, size_t w_stride, int nr, const lorc_avx2_act_q8s *xa,
                                  float *y) {
    const int64_t nb = n / 32, whole_end = nb - nb % SPAN;
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < whole_end; b += SPAN) acc = q45_span(kind, true, b, SPAN, wr, w_stride, xa, acc);
    if (whole_end < nb) acc = q45_span(kind, false, whole_end, (int)(nb - whole_end), wr, w_stride, xa, acc);
    lorc_rl_store(1, &acc, nr, y, 1);
}

#define Q45_DECODE_TILE(TYPE, KIND)                                                                              \
    LORC_VBMI static void decode_##TYPE(int64_t n, const void *w, size_t w_stride, int nr, const void *x,      \
                                        float *y) {                                                            \
        q45_tile_decode(KIND, n, w, w_stride, nr, x, y);                                                         \
    }                                                                                                            \
    static void tile_##TYPE(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,  \
                            int nc, float *y, size_t y_stride) {                                                 \
        if (nc == 1)                                                                                             \
            decode_##TYPE(n, w, w_stride, nr, x, y);                                                             \
        else                                                                                                     \
            lorc_avx2_tile_##TYPE(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);                             \
    }

Q45_DECODE_TILE(q4_0, LORC_KIND_Q4_0)
Q45_DECODE_TILE(q4_1, LORC_KIND_Q4_1)
Q45_DECODE_TILE(q5_0, LORC_KIND_Q5_0)
Q45_DECODE_TILE(q5_1, LORC_KIND_Q5_1)

void lorc_kernels_fill_avx512_q45(lorc_kernels *k) {
    if (!k->cpu.avx512vnni || !k->cpu.avx512vbmi) return;
    k->type[LORC_TYPE_Q4_0].tile = tile_q4_0;
    k->type[LORC_TYPE_Q4_1].tile = tile_q4_1;
    k->type[LORC_TYPE_Q5_0].tile = tile_q5_0;
    k->type[LORC_TYPE_Q5_1].tile = tile_q5_1;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q45(lorc_kernels *k) { (void)k; }
#endif
