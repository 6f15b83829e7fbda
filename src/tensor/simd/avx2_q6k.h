/* avx2_q6k.h — private to the AVX2 Q6_K tiles (avx2_q6k.c: the tile;
 * avx2_kq16_packed.c: the packed prompt tile): the weight unpacking both use,
 * so both see the same int16 weights, and the packed entry points. */
#ifndef LORC_TENSOR_SIMD_AVX2_Q6K_H
#define LORC_TENSOR_SIMD_AVX2_Q6K_H

#include "avx2_kq_common.h"

#if defined(__x86_64__)

/* Pins v to a register at this point of the loop. The integer sums here
 * may be added in any order, and GCC uses that: it reassociates a chain of
 * vpaddd over an unrolled loop into a tree, keeps every product live and
 * spills most of them. An empty asm per step keeps the chain a chain. */
static inline void q6_keep(__m256i *v) { __asm__("" : "+x"(*v)); }

/* *s += madd(w, x), written as asm so the sum stays in its register: with
 * the intrinsics GCC adds into the product's register and copies it back,
 * one extra move per vpmaddwd, which the front end then has to issue. */
static inline __attribute__((always_inline)) void q6_madd_acc(__m256i *s, __m256i w, __m256i x) {
    __m256i t;
    __asm__("vpmaddwd %[x], %[w], %[t]\n\tvpaddd %[t], %[s], %[s]" : [s] "+x"(*s), [t] "=&x"(t) : [w] "x"(w), [x] "x"(x));
}

/* Bits 2g, 2g+1 of each qh byte moved to bits 4, 5 (16-bit shifts; the 0x30
 * mask drops what crosses a byte boundary). */
static inline __m256i q6_high_bits(__m256i qh, int g) {
    const __m256i moved = g <= 2 ? _mm256_slli_epi16(qh, 4 - 2 * g) : _mm256_srli_epi16(qh, 2 * g - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x30));
}

/* Group g of half h (values 128h+32g..+31) as two registers of 16 int16
 * weights (q-32)*sc in q16_K256's order: w0 holds values 0-7 | 16-23 of
 * the group, w1 values 8-15 | 24-31; scb holds the 16 scale bytes in both
 * 128-bit halves. */
static inline void q6_unpack_group(const lorc_block_q6_K *b, __m256i scb, int h, int g, __m256i *w0, __m256i *w1) {
    const __m256i low4 = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi8(32), zero = _mm256_setzero_si256();
    const __m256i src = lorc_kq_load(b->ql + 64 * h + 32 * (g & 1));
    const __m256i nib = g < 2 ? _mm256_and_si256(src, low4) : _mm256_and_si256(_mm256_srli_epi16(src, 4), low4);
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, q6_high_bits(lorc_kq_load(b->qh + 32 * h), g)), bias);
    const __m256i sign = _mm256_cmpgt_epi8(zero, q);
    const __m256i sc = lorc_kq_bcast2_i8_as_i16(scb, 8 * h + 2 * g, 8 * h + 2 * g + 1);
    *w0 = _mm256_mullo_epi16(_mm256_unpacklo_epi8(q, sign), sc);
    *w1 = _mm256_mullo_epi16(_mm256_unpackhi_epi8(q, sign), sc);
}

/* The q16_K256 values and scale of super-block i of nc activation rows
 * (x_stride bytes apart), for the packed tiles. */
static inline void q6_act_rows(const void *x, size_t x_stride, int nc, int64_t i, const uint8_t *xq[],
                               float da[]) {
    for (int c = 0; c < nc; c++) {
        const lorc_act_q16_K256 *a = (const lorc_act_q16_K256 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride) + i;
        xq[c] = a->qs;
        da[c] = lorc_kq_rd_f32(a->d);
    }
}

/* Packed tiles for prompts (lorc_type_kernel.pack): per super-block, each
 * of the 4 rows' 256 weights as int16 (q-32)*sc in q16_K256's value order
 * (q6_unpack_group: 512 bytes a row; rows past nr are zeros), then the 4
 * rows' d as floats and padding. */
#define LORC_Q6K_PACKED_ROW 512
#define LORC_Q6K_PACKED_D (LORC_KQ_TILE_ROWS * LORC_Q6K_PACKED_ROW)
/* padded to whole cache lines: in matmul's 64-byte aligned buffer every
 * packed weight load then stays inside one line */
#define LORC_Q6K_PACKED_BLOCK (LORC_Q6K_PACKED_D + 64)

/* Packs nr <= LORC_KQ_TILE_ROWS rows (rows past nr: zeros) into the layout
 * above, except where each row's weights go: step k (16 weights, 32 bytes)
 * of row r at row_offset[r] + k * step_stride in its super-block. The AVX2
 * tile keeps rows one after another (512 r, 32); the AVX-512 one
 * interleaves the rows of a pair per step (avx512_kq_pairs.c). */
static inline void q6_pack_rows(int64_t n, const void *w, size_t w_stride, int nr, uint8_t *dst,
                                const size_t row_offset[LORC_KQ_TILE_ROWS], size_t step_stride) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LORC_QK_K; i++, out += LORC_Q6K_PACKED_BLOCK) {
        float d[LORC_KQ_TILE_ROWS] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int r = 0; r < LORC_KQ_TILE_ROWS; r++) {
            uint8_t *o = out + row_offset[r];
            if (r >= nr) {
                for (int k = 0; k < 16; k++) memset(o + step_stride * (size_t)k, 0, 32);
                continue;
            }
            const lorc_block_q6_K *b = (const lorc_block_q6_K *)(const void *)((const uint8_t *)w + (size_t)r * w_stride) + i;
            const __m256i scb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)b->scales));
            for (int h = 0; h < 2; h++)
                for (int g = 0; g < 4; g++) {
                    __m256i w0, w1;
                    q6_unpack_group(b, scb, h, g, &w0, &w1);
                    const size_t k = (size_t)(8 * h + 2 * g); /* w0 is step k, w1 step k + 1 */
                    _mm256_storeu_si256((__m256i *)(void *)(o + step_stride * k), w0);
                    _mm256_storeu_si256((__m256i *)(void *)(o + step_stride * (k + 1)), w1);
                }
            d[r] = lorc_kq_half(b->d);
        }
        memset(out + LORC_Q6K_PACKED_D, 0, LORC_Q6K_PACKED_BLOCK - LORC_Q6K_PACKED_D); /* no stale bytes in the padding */
        memcpy(out + LORC_Q6K_PACKED_D, d, sizeof d);
    }
}

size_t lorc_avx2_pack_bytes_q6_K(int64_t n);
void lorc_avx2_pack_q6_K(int64_t n, const void *w, size_t w_stride, int nr, void *dst);
void lorc_avx2_tile_packed_q6_K(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                                int nc, float *y, size_t y_stride);

#endif
#endif
