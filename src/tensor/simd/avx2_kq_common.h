/* avx2_kq_common.h — what the AVX2 k-quant tiles (avx2_q*k.c) share: the
 * tile shape, the tile loop, and small vector helpers. Included only by
 * files built with -mavx2 -mfma -mf16c on x86-64.
 *
 * Tile structure: for each super-block of 256 values, each of the nr weight
 * rows is unpacked into registers once and dotted with the same super-block
 * of all nc activation rows (prompt: the unpacking is shared by nc rows;
 * decode, nc = 1: nr rows are read side by side, so several weight streams
 * are in flight). Each (row, column) pair has its own float accumulator and
 * the per-pair operations do not depend on nr, nc or the pair's place in
 * the tile, so every pair's result is bit-identical however it is batched:
 * integer sums inside a super-block (exact), then one fixed sequence of
 * float FMAs per super-block, then one fixed horizontal sum. */
#ifndef LORC_TENSOR_SIMD_AVX2_KQ_COMMON_H
#define LORC_TENSOR_SIMD_AVX2_KQ_COMMON_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "../quant_impl.h"
#include "kq_act.h"

/* 4 weight rows: enough independent streams for decode. 8 activation rows:
 * unpacking a super-block costs about as much as 2-4 column dots, so 8
 * columns make it small; the accumulators live in L1, not registers. */
/* kq_act.h's q8_K256 and q16_K256, the same bytes packed with AVX2
 * (avx2_kq_act.c): the formats the AVX2 and AVX-512 k-quant tiles take. */
extern const lorc_act_format lorc_avx2_act_fmt_q8_K256;
extern const lorc_act_format lorc_avx2_act_fmt_q16_K256;

#define LORC_KQ_TILE_ROWS 4
#define LORC_KQ_TILE_COLS 8

static inline float lorc_kq_rd_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, sizeof f); /* x86 is little-endian, like the format */
    return f;
}

static inline __m256i lorc_kq_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Sum of the 8 lanes, always in the same order. */
static inline float lorc_kq_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Half -> float with F16C (exact, like lorc_rd_f16). */
static inline float lorc_kq_half(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)lorc_rd_u16(p));
}

/* Each 16-bit lane of the result is byte `idx` of `bytes` (zero-extended),
 * in both 128-bit halves; `bytes` holds the same 16 bytes in both halves. */
static inline __m256i lorc_kq_bcast_u8_as_i16(__m256i bytes, int idx) {
    const __m256i pick = _mm256_set1_epi16((short)(0x8000 | idx)); /* low byte idx, high byte zeroed */
    return _mm256_shuffle_epi8(bytes, pick);
}

/* Like lorc_kq_bcast_u8_as_i16 but byte lo_idx in the low 128-bit half and
 * byte hi_idx in the high half: the scales of two 16-value sub-blocks that
 * share one 32-value register. */
static inline __m256i lorc_kq_bcast2_u8_as_i16(__m256i bytes, int lo_idx, int hi_idx) {
    const __m256i pick = _mm256_setr_m128i(_mm_set1_epi16((short)(0x8000 | lo_idx)),
                                           _mm_set1_epi16((short)(0x8000 | hi_idx)));
    return _mm256_shuffle_epi8(bytes, pick);
}

/* Signed bytes lo_idx / hi_idx of `bytes` (same 16 bytes in both halves),
 * sign-extended into every 16-bit lane of the low / high 128-bit half: the
 * byte goes to the high byte of each lane, an arithmetic shift brings it down. */
static inline __m256i lorc_kq_bcast2_i8_as_i16(__m256i bytes, int lo_idx, int hi_idx) {
    const __m256i pick = _mm256_setr_m128i(_mm_set1_epi16((short)(lo_idx << 8 | 0x80)),
                                           _mm_set1_epi16((short)(hi_idx << 8 | 0x80)));
    return _mm256_srai_epi16(_mm256_shuffle_epi8(bytes, pick), 8);
}

/* Decode reads each weight row once, in a stream of a few super-blocks:
 * too short for the hardware prefetcher, so the tile asks for the same
 * super-block of the rows two tiles on (they follow in memory). An asm
 * statement, not _mm_prefetch: GCC 12 dropped every one of those from the
 * loop of the AVX-512 Q2_K and Q3_K decode tiles (avx512_q23k.c), which
 * then read weights from DRAM at half the AVX2 tile's speed. */
static inline void lorc_kq_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(p + o)));
}

/* One super-block (index i) of one weight row against nc activation rows:
 * acc[c] += this super-block's contribution to pair (row, c).
 *
 * nc == 1 (decode) runs NAME##_decode, compiled with the column count
 * known: the unpacked weights then stay in registers. For a whole tile
 * (NR a constant) the rows' loop unrolls too, and so do the accumulators;
 * with NR known only at run time GCC keeps them in memory, a store and a
 * reload per row and super-block. */
#define LORC_KQ_TILE(NAME, BLOCK_T, ACT_T, BLOCK_FN)                                                          \
    static inline __attribute__((always_inline)) void NAME##_decode(int NR, int64_t nb, const void *w,       \
                                                                    size_t w_stride, const void *x, float *y) { \
        __m256 acc[LORC_KQ_TILE_ROWS];                                                                         \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) acc[r] = _mm256_setzero_ps();                     \
        for (int64_t i = 0; i < nb; i++)                                                                       \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) {                                             \
                lorc_kq_prefetch((const uint8_t *)w + (size_t)(r + 2 * LORC_KQ_TILE_ROWS) * w_stride +         \
                                     (size_t)i * sizeof(BLOCK_T),                                              \
                                 sizeof(BLOCK_T));                                                             \
                BLOCK_FN((const BLOCK_T *)((const uint8_t *)w + (size_t)r * w_stride) + i,                     \
                         (const uint8_t *)x + (size_t)i * sizeof(ACT_T), 0, 1, &acc[r]);                       \
            }                                                                                                  \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) y[r] = lorc_kq_hsum(acc[r]);                      \
    }                                                                                                          \
    void NAME(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc, float *y, \
              size_t y_stride) {                                                                               \
        const int64_t nb = n / LORC_QK_K;                                                                      \
        if (nc == 1) {                                                                                         \
            if (nr == LORC_KQ_TILE_ROWS)                                                                       \
                NAME##_decode(LORC_KQ_TILE_ROWS, nb, w, w_stride, x, y);                                       \
            else                                                                                               \
                NAME##_decode(nr, nb, w, w_stride, x, y);                                                      \
            return;                                                                                            \
        }                                                                                                      \
        __m256 acc[LORC_KQ_TILE_ROWS][LORC_KQ_TILE_COLS];                                                       \
        for (int r = 0; r < nr; r++)                                                                           \
            for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();                                      \
        for (int64_t i = 0; i < nb; i++)                                                                       \
            for (int r = 0; r < nr; r++)                                                                       \
                BLOCK_FN((const BLOCK_T *)((const uint8_t *)w + (size_t)r * w_stride) + i,                     \
                         (const uint8_t *)x + (size_t)i * sizeof(ACT_T), x_stride, nc, acc[r]);                \
        for (int c = 0; c < nc; c++)                                                                           \
            for (int r = 0; r < nr; r++) y[(size_t)c * y_stride + (size_t)r] = lorc_kq_hsum(acc[r][c]);       \
    }

/* The tiles (one file per type family). */
void lorc_avx2_tile_q2_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_tile_q3_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
/* Q4_K has its own shape (8 rows in lanes) and packs: a whole entry. */
lorc_type_kernel lorc_avx2_q4_K_entry(void);
void lorc_avx2_tile_q5_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);
void lorc_avx2_tile_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc,
                         float *y, size_t y_stride);

#endif
#endif
