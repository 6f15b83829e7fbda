/* avx2_row_lanes.h — private to src/tensor/simd: helpers of the AVX2 tiles
 * that keep 8 weight rows in the 8 lanes of one vector per activation row
 * (avx2_q45.c, avx2_q45k.c). In that shape the float work of a block
 * (conversion, scale, FMA) is one instruction for 8 pairs. Only included
 * from files built with -mavx2 -mfma -mf16c on x86-64. */
#ifndef LORC_TENSOR_SIMD_AVX2_ROW_LANES_H
#define LORC_TENSOR_SIMD_AVX2_ROW_LANES_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { LORC_ROW_LANES = 8 };

/* 8 rows of 8 dwords each -> 8 groups: group g holds dword g of row 0,
 * then of row 1, ... row 7. Packing lays weights out this way so that one
 * vpmaddubsw against 4 activation bytes broadcast serves 8 rows. */
static inline void lorc_rl_transpose8x8(const __m256i rows[8], __m256i groups[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int g = 0; g < 4; g++) {
        groups[g] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x20);
        groups[g + 4] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x31);
    }
}

/* Lane r of the result: the sum of all lanes of v[r] (integers: exact in
 * any order). */
static inline __m256i lorc_rl_reduce8(const __m256i v[8]) {
    const __m256i a0 = _mm256_hadd_epi32(v[0], v[1]), a1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i a2 = _mm256_hadd_epi32(v[4], v[5]), a3 = _mm256_hadd_epi32(v[6], v[7]);
    /* b0 = [rows 0-3: low-half sums | rows 0-3: high-half sums], b1 rows 4-7 */
    const __m256i b0 = _mm256_hadd_epi32(a0, a1), b1 = _mm256_hadd_epi32(a2, a3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
}

/* The fp16 field at byte `field` of 8 rows' blocks (wb[r]), as 8 floats.
 * Assembled in general registers: inserting halves one by one into a
 * vector costs vector-pipe work the integer dots need. */
static inline __m256 lorc_rl_gather_f16x8(const uint8_t *const wb[8], size_t field) {
    uint64_t h[2];
    for (int q = 0; q < 2; q++) {
        uint16_t v[4];
        for (int i = 0; i < 4; i++) memcpy(&v[i], wb[4 * q + i] + field, sizeof v[i]); /* little-endian, like the file */
        h[q] = (uint64_t)v[0] | (uint64_t)v[1] << 16 | (uint64_t)v[2] << 32 | (uint64_t)v[3] << 48;
        __asm__("" : "+r"(h[q])); /* GCC would otherwise assemble it in vector registers */
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

/* The 8 rows of a tile that has nr of them: rows past nr repeat the last
 * one (in bounds; their lanes are never stored, and packs zero them). */
static inline void lorc_rl_rows(const void *w, size_t w_stride, int nr, const uint8_t *wr[8]) {
    for (int r = 0; r < 8; r++) wr[r] = (const uint8_t *)w + (size_t)(r < nr ? r : nr - 1) * w_stride;
}

/* The line at p into L1 (prefetcht0) or only as far as L2 (prefetcht1).
 * As asm statements: GCC 12 drops _mm_prefetch from some of the tiles'
 * loops. */
static inline void lorc_rl_prefetch(const uint8_t *p) { __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p)); }
static inline void lorc_rl_prefetch_l2(const uint8_t *p) { __asm__ volatile("prefetcht1 %0" : : "m"(*(const char *)p)); }

/* Where lorc_rl_prefetch_next puts the lines. On Zen 4
 * (kernel_tile_bench 131072 2048, one activation row, weights from DRAM)
 * the Q4_K tile read 13.3-14.5 GB/s with L1 and 17.5-18.7 with L2, Q8_0
 * 16.8-17.7 and 18.5-19.7; the Q4_0 tile went the other way (17.0-17.8
 * against 13.2-15.0), so each tile passes the one it measured faster with. */
typedef enum { LORC_PREFETCH_L1, LORC_PREFETCH_L2 } lorc_prefetch_level;

/* For the streaming tiles, at block b (block_bytes each) of a tile whose
 * first row is row0: a row is a few dozen lines, too short a stream for
 * the hardware prefetcher, so the tile fetches the next tile's rows
 * itself. Those rows follow in memory as one span of 8 rows; block b asks
 * for the lines of bytes [8 b block_bytes, 8 (b + 1) block_bytes) of it,
 * so the requests walk the span in address order. On Zen 3 that walk read
 * Q4_0 from DRAM 15% faster than fetching the 8 rows' blocks at b. */
static inline void lorc_rl_prefetch_next(const uint8_t *row0, size_t w_stride, int64_t b, size_t block_bytes,
                                         lorc_prefetch_level level) {
    const uint8_t *p = row0 + LORC_ROW_LANES * w_stride + (size_t)b * LORC_ROW_LANES * block_bytes;
    for (size_t o = 0; o < LORC_ROW_LANES * block_bytes; o += 64) {
        if (level == LORC_PREFETCH_L2) lorc_rl_prefetch_l2(p + o);
        else lorc_rl_prefetch(p + o);
    }
}

/* Lanes r < nr all ones: the rows a tile really has. */
static inline __m256i lorc_rl_live(int nr) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* y[c * y_stride + r] = lane r of acc[c], for r < nr and c < nc. A full
 * tile stores plainly: Zen 3's masked store costs several times an FMA
 * tile's work when the rows are short (LoRA B). The loop is unrolled so that
 * acc[] stays in registers in the tiles' loops (with an index known only
 * at run time, GCC keeps a copy of every accumulator in memory). */
static inline __attribute__((always_inline)) void lorc_rl_store(int nc, const __m256 *acc, int nr, float *y,
                                                                size_t y_stride) {
    if (nr == LORC_ROW_LANES) {
        _Pragma("GCC unroll 16") for (int c = 0; c < nc; c++) _mm256_storeu_ps(y + (size_t)c * y_stride, acc[c]);
        return;
    }
    const __m256i live = lorc_rl_live(nr);
    _Pragma("GCC unroll 16") for (int c = 0; c < nc; c++) _mm256_maskstore_ps(y + (size_t)c * y_stride, live, acc[c]);
}

#endif
#endif
