/* avx512_q4_0.c — the AVX-512 decode tile for Q4_0 (one activation row;
 * several keep the AVX2 streaming tile, prompts the packed tile of
 * avx512_legacy.c). Needs VNNI and VBMI.
 *
 * The AVX2 tile (avx2_q45.c) puts two rows' 16 quant bytes in a register
 * and folds the products of 8 rows with vphaddd, block by block; on Zen 5
 * it read 24 GB/s on one core in cache, below what a core reads from
 * DRAM. Here a row's 4 blocks (72 bytes) are two loads (bytes 0-63 and
 * 8-71: plain loads, 5% faster than the masked ones a row's last blocks
 * need), and one vpermt2b picks their 64 quant bytes out; two vpdpbusd
 * against the 4 blocks' activations give each block's partial sums in one
 * 128-bit lane, and one merge-masked vpermb per row gathers the rows'
 * scales. Per 8 rows and 4 blocks a tree of unpacks then puts each block's
 * 8 row sums in the lanes of one vector.
 *
 * Bits: the block sums are the exact integers of the AVX2 tile, and each
 * block then takes the same float step (lorc_q45_block_step) in the same
 * order, so a pair gets the same bits as from every other Q4_0 tile. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"

/* The tile's VBMI instructions (vpermt2b, vpermb): the fill below uses it
 * only where the CPU has them. Not in the tests' emulated build, which
 * must not let the compiler use AVX-512 registers at all. */
#if defined(LORC_TEST_AVX512_EMULATION)
#define LORC_VBMI
#else
#define LORC_VBMI __attribute__((target("avx512vbmi")))
#endif

#define AI static inline __attribute__((always_inline))

enum { BLOCK = 18, SPAN = 4 };
_Static_assert(sizeof(lorc_block_q4_0) == BLOCK, "Q4_0 block");

/* Byte p of the quant vector: block p / 16's quant byte p % 16, which sits
 * at 18 (p / 16) + 2 + p % 16 of the 4-block span. */
#define QS16(k)                                                                                               \
    18 * (k) + 2, 18 * (k) + 3, 18 * (k) + 4, 18 * (k) + 5, 18 * (k) + 6, 18 * (k) + 7, 18 * (k) + 8,        \
        18 * (k) + 9, 18 * (k) + 10, 18 * (k) + 11, 18 * (k) + 12, 18 * (k) + 13, 18 * (k) + 14, 18 * (k) + 15, \
        18 * (k) + 16, 18 * (k) + 17
static const uint8_t quant_index[64] = {QS16(0), QS16(1), QS16(2), QS16(3)};
/* For a whole span, read as bytes 0-63 and 8-71: block 3's quant bytes
 * (span bytes 56-71) all from the second register, at 48-63 of it. */
static const uint8_t quant_index_full[64] = {QS16(0), QS16(1), QS16(2), 112, 113, 114, 115, 116, 117, 118, 119,
                                             120, 121, 122, 123, 124, 125, 126, 127};
/* Bytes 16 k + 2 r, 16 k + 2 r + 1 of the scale vector: row r's d of block
 * k, at 18 k of its span (the same index for every row: the rows differ
 * only in the merge mask). */
#define D16(k) 18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1, \
               18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1, 18 * (k), 18 * (k) + 1
static const uint8_t scale_index[64] = {D16(0), D16(1), D16(2), D16(3)};

AI __m256i ld256(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* Lane r of the result: the sum of the 4 int32 lanes of 128-bit lane k of
 * s[r], for each k: rows 0-3 of block k in lane k of the result. */
AI __m512i sum4_rows4(const __m512i s[4]) {
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

LORC_VBMI static void q40_tile_decode(int64_t n, const void *w, size_t w_stride, int nr, const lorc_avx2_act_q8s *xa,
                            float *y) {
    const int64_t nb = n / 32;
    const uint8_t *wr[8];
    lorc_rl_rows(w, w_stride, nr, wr);
    const __m512i qidx = _mm512_loadu_si512((const void *)quant_index);
    const __m512i qidx_full = _mm512_loadu_si512((const void *)quant_index_full);
    const __m512i didx = _mm512_loadu_si512((const void *)scale_index);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    /* 64-bit lanes: block 0 (rows 0-3, 4-7) | block 1, and blocks 2 | 3 */
    const __m512i pick01 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i pick23 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b += SPAN) {
        const int nk = nb - b < SPAN ? (int)(nb - b) : SPAN;
        for (int k = 0; k < nk; k++) lorc_rl_prefetch_next(wr[0], w_stride, b + k, BLOCK, LORC_PREFETCH_L1);
        /* the 4 blocks' activations: values 0-15 of each in x_lo, 16-31 in
         * x_hi (past the row's end: its last block again, unused) */
        const lorc_avx2_act_q8s *xb[SPAN];
        for (int k = 0; k < SPAN; k++) xb[k] = xa + b + (k < nk ? k : nk - 1);
        const __m512i q01 = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(xb[0]->q)), ld256(xb[1]->q), 1);
        const __m512i q23 = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(xb[2]->q)), ld256(xb[3]->q), 1);
        const __m512i x_lo = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(2, 0, 2, 0));
        const __m512i x_hi = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(3, 1, 3, 1));
        /* the span's bytes, never past its end (the last row may end the mapping) */
        const unsigned bytes = (unsigned)nk * BLOCK;
        const __mmask64 m_first = bytes >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << bytes) - 1;
        const __mmask64 m_rest = bytes > 64 ? ((__mmask64)1 << (bytes - 64)) - 1 : 0;
        __m512i s[8], d16 = _mm512_setzero_si512();
        for (int r = 0; r < 8; r++) {
            const uint8_t *p = wr[r] + (size_t)b * BLOCK;
            __m512i first, rest, q;
            if (nk == SPAN) { /* whole span: plain loads, the second of bytes 8-71 */
                first = _mm512_loadu_si512((const void *)p);
                rest = _mm512_loadu_si512((const void *)(p + 8));
                q = _mm512_permutex2var_epi8(first, qidx_full, rest);
            } else {
                first = _mm512_maskz_loadu_epi8(m_first, (const void *)p);
                rest = _mm512_maskz_loadu_epi8(m_rest, (const void *)(p + 64));
                q = _mm512_permutex2var_epi8(first, qidx, rest);
            }
            d16 = _mm512_mask_permutexvar_epi8(d16, (__mmask64)0x0003000300030003ull << (2 * r), didx, first);
            const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
            s[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x_lo), hi, x_hi);
        }
        const __m512i rows03 = sum4_rows4(s), rows47 = sum4_rows4(s + 4);
        const __m512i b01 = _mm512_permutex2var_epi64(rows03, pick01, rows47);
        const __m512i b23 = _mm512_permutex2var_epi64(rows03, pick23, rows47);
        const __m256i isum[SPAN] = {_mm512_castsi512_si256(b01), _mm512_extracti64x4_epi64(b01, 1),
                                    _mm512_castsi512_si256(b23), _mm512_extracti64x4_epi64(b23, 1)};
        uint16_t dh[64 / 2];
        _mm512_storeu_si512((void *)dh, d16);
        for (int k = 0; k < nk; k++) {
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(dh + 8 * k)));
            acc = lorc_q45_block_step(LORC_KIND_Q4_0, isum[k], xa + b + k, dw, _mm256_setzero_ps(), acc);
        }
    }
    lorc_rl_store(1, &acc, nr, y, 1);
}

static void q40_tile(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                     float *y, size_t y_stride) {
    if (nc == 1)
        q40_tile_decode(n, w, w_stride, nr, x, y);
    else
        lorc_avx2_tile_q4_0(n, w, w_stride, nr, x, x_stride, nc, y, y_stride);
}

void lorc_kernels_fill_avx512_q4_0(lorc_kernels *k) {
    if (k->cpu.avx512vnni && k->cpu.avx512vbmi) k->type[LORC_TYPE_Q4_0].tile = q40_tile;
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_q4_0(lorc_kernels *k) { (void)k; }
#endif
