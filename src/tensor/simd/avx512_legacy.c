/* avx512_legacy.c — AVX-512 VNNI packed tiles (prompts, batches) for the
 * legacy block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
 *
 * The AVX2 packed tiles (avx2_q45.c, avx2_legacy.c) keep 8 weight rows in
 * the 8 lanes of one vector per activation row. Here a packed tile holds
 * 16 rows, one per lane of a ZMM register, and VNNI does a group's integer
 * multiply-adds in one instruction: vpdpbusd (4 bytes x 4 bytes into an
 * int32 lane) where AVX2 needs vpmaddubsw + vpaddw (+ a vpmaddwd per 8
 * groups), and vpdpwssd for Q8_0's int16 pairs where AVX2 needs vpmaddwd +
 * vpaddd. Per lane that is 4x the integer work per instruction of the
 * AVX2 Q4/Q5 tile and 2x of the Q8_0 one.
 *
 * Same bits as AVX2: a pair's block sums are exact integers (no int16
 * saturation can occur in either), and each lane then runs the AVX2 float
 * step — convert, dw * dx, FMA, in block order — so a pair computed here
 * equals the same pair in the streaming tiles decode uses (the AVX2 ones;
 * for the 4/5-bit types with VBMI avx512_q45.c, with the same float step). That keeps
 * batch invariance, and lets the tests compare the two families bit for
 * bit.
 *
 * Packed block of 16 rows: the AVX2 8-row layout (avx2_legacy_pack.h) of
 * rows 0-7 and of rows 8-15 side by side in each 64-byte group, then dw
 * (and m) of the 16 rows as floats. */
#include "avx2_float_legacy.h"

#if defined(__x86_64__)
#include "../quant_impl.h"
#include "avx2_legacy_pack.h"
#include "avx2_row_lanes.h"
#include "avx2_tile_instances.h"
#include "avx512_row_lanes.h"

#define AI static inline __attribute__((always_inline))

enum { ROWS = LORC_ZMM_ROW_LANES, COLS = LORC_TILE_COLS_6, GROUP = 64 };

/* ------------------------------------------------------ Q4_0 .. Q5_1 */

enum { Q45_DW = 8 * GROUP, Q45_M = Q45_DW + 64 };

AI size_t q45_block_bytes16(int kind) { return (size_t)Q45_M + (lorc_q45_has_min(kind) ? 64 : 0); }

AI void q45_pack16(int kind, int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const size_t bb = lorc_q45_block_bytes(kind), pb = q45_block_bytes16(kind);
    const uint8_t *wr[ROWS];
    lorc_zl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / 32; b++, out += pb)
        for (int h = 0; h < 2; h++) {
            const uint8_t *wb[8];
            for (int r = 0; r < 8; r++) wb[r] = wr[8 * h + r] + (size_t)b * bb;
            lorc_q45_pack_block8(kind, wb, nr - 8 * h, out + 32 * h, GROUP, out + Q45_DW + 32 * h,
                                 out + Q45_M + 32 * h);
        }
}

/* The AVX2 block step (lorc_q45_block_step, avx2_legacy_pack.h) on 16 lanes: the same
 * operations on the same values, lane by lane. */
AI __m512 q45_step16(int kind, __m512i isum, const lorc_avx2_act_q8s *xb, __m512 dw, __m512 m, __m512 acc) {
    const __m512 dx = _mm512_set1_ps(lorc_avx2_ld_f32(xb->d));
    if (!lorc_q45_has_min(kind)) {
        const __m512i off = _mm512_slli_epi32(_mm512_set1_epi32(lorc_avx2_ld_i32(xb->sum)), lorc_q45_offset_shift(kind));
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum, off)), _mm512_mul_ps(dw, dx), acc);
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, dx), acc);
    return _mm512_fmadd_ps(m, _mm512_set1_ps(lorc_avx2_ld_f32(xb->s)), acc);
}

AI void q45_tile_packed16(int kind, int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                          size_t y_stride) {
    const size_t pbytes = q45_block_bytes16(kind);
    const lorc_avx2_act_q8s *xr[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q8s *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m512 acc[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)b * pbytes;
        /* two running sums per column (even and odd groups): one chain of
         * dependent vpdpbusd per column would leave the units idle */
        __m512i even[COLS], odd[COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) even[c] = odd[c] = _mm512_setzero_si512();
        LORC_UNROLL
        for (int g = 0; g < 8; g += 2) {
            const __m512i w0 = _mm512_loadu_si512((const void *)(pb + GROUP * g));
            const __m512i w1 = _mm512_loadu_si512((const void *)(pb + GROUP * (g + 1)));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const int8_t *q = xr[c][b].q;
                even[c] = _mm512_dpbusd_epi32(even[c], w0, _mm512_set1_epi32(lorc_avx2_ld_i32((const uint8_t *)q + 4 * g)));
                odd[c] = _mm512_dpbusd_epi32(odd[c], w1,
                                             _mm512_set1_epi32(lorc_avx2_ld_i32((const uint8_t *)q + 4 * (g + 1))));
            }
        }
        const __m512 dw = _mm512_loadu_ps((const void *)(pb + Q45_DW));
        const __m512 m = lorc_q45_has_min(kind) ? _mm512_loadu_ps((const void *)(pb + Q45_M)) : _mm512_setzero_ps();
        LORC_UNROLL
        for (int c = 0; c < NC; c++) acc[c] = q45_step16(kind, _mm512_add_epi32(even[c], odd[c]), xr[c] + b, dw, m, acc[c]);
    }
    lorc_zl_store(NC, acc, nr, y, y_stride);
}

#define Q45_PACKED16(KIND, NC) q45_tile_packed16(KIND, NC, n, w, nr, x, x_stride, y, y_stride)
#define Q45_INSTANCES16(TYPE, KIND)                                                                    \
    LORC_TILE_UP_TO_6_COLS(packed16_##TYPE, Q45_PACKED16, KIND)                                        \
    static void pack16_##TYPE(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {          \
        q45_pack16(KIND, n, w, w_stride, nr, dst);                                                     \
    }                                                                                                  \
    static size_t pack16_bytes_##TYPE(int64_t n) { return (size_t)(n / 32) * q45_block_bytes16(KIND); }

Q45_INSTANCES16(q4_0, LORC_KIND_Q4_0)
Q45_INSTANCES16(q4_1, LORC_KIND_Q4_1)
Q45_INSTANCES16(q5_0, LORC_KIND_Q5_0)
Q45_INSTANCES16(q5_1, LORC_KIND_Q5_1)

/* ------------------------------------------------------ Q8_0 */

enum { Q8_DW = 16 * GROUP, Q8_BLOCK = Q8_DW + 64 };

static size_t q8_0_pack16_bytes(int64_t n) { return (size_t)(n / 32) * Q8_BLOCK; }

static void q8_0_pack16(int64_t n, const void *w, size_t w_stride, int nr, void *dst) {
    const uint8_t *wr[ROWS];
    lorc_zl_rows(w, w_stride, nr, wr);
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / 32; b++, out += Q8_BLOCK)
        for (int h = 0; h < 2; h++) {
            const uint8_t *wb[8];
            for (int r = 0; r < 8; r++) wb[r] = wr[8 * h + r] + (size_t)b * sizeof(lorc_block_q8_0);
            lorc_q8_0_pack_block8(wb, nr - 8 * h, out + 32 * h, GROUP, out + Q8_DW + 32 * h);
        }
}

AI void q8_0_tile_packed16(int NC, int64_t n, const void *w, int nr, const void *x, size_t x_stride, float *y,
                           size_t y_stride) {
    const lorc_avx2_act_q16 *xr[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) xr[c] = (const lorc_avx2_act_q16 *)(const void *)((const uint8_t *)x + (size_t)c * x_stride);
    __m512 acc[COLS];
    LORC_UNROLL
    for (int c = 0; c < NC; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *pb = (const uint8_t *)w + (size_t)b * Q8_BLOCK;
        __m512i even[COLS], odd[COLS];
        LORC_UNROLL
        for (int c = 0; c < NC; c++) even[c] = odd[c] = _mm512_setzero_si512();
        LORC_UNROLL
        for (int g = 0; g < 16; g += 2) {
            const __m512i w0 = _mm512_loadu_si512((const void *)(pb + GROUP * g));
            const __m512i w1 = _mm512_loadu_si512((const void *)(pb + GROUP * (g + 1)));
            LORC_UNROLL
            for (int c = 0; c < NC; c++) {
                const uint8_t *q = xr[c][b].q;
                even[c] = _mm512_dpwssd_epi32(even[c], w0, _mm512_set1_epi32(lorc_avx2_ld_i32(q + 4 * g)));
                odd[c] = _mm512_dpwssd_epi32(odd[c], w1, _mm512_set1_epi32(lorc_avx2_ld_i32(q + 4 * (g + 1))));
            }
        }
        const __m512 dw = _mm512_loadu_ps((const void *)(pb + Q8_DW));
        LORC_UNROLL
        for (int c = 0; c < NC; c++) {
            /* the AVX2 q8_step on 16 lanes */
            const __m512 dx = _mm512_set1_ps(lorc_avx2_ld_f32(xr[c][b].d));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(even[c], odd[c])), _mm512_mul_ps(dw, dx), acc[c]);
        }
    }
    lorc_zl_store(NC, acc, nr, y, y_stride);
}

#define Q8_PACKED16(UNUSED, NC) q8_0_tile_packed16(NC, n, w, nr, x, x_stride, y, y_stride)
LORC_TILE_UP_TO_6_COLS(packed16_q8_0, Q8_PACKED16, 0)

/* ------------------------------------------------------ fill */

/* The AVX2 entry of `type` (already in k) with the 16-row packed tile. */
static void use_packed16(lorc_kernels *k, uint32_t type, lorc_pack_fn pack, size_t (*pack_bytes)(int64_t),
                         lorc_tile_fn tile_packed) {
    lorc_type_kernel *e = &k->type[type];
    e->pack = pack;
    e->pack_bytes = pack_bytes;
    e->tile_packed = tile_packed;
    e->packed_rows = ROWS;
}

void lorc_kernels_fill_avx512_legacy(lorc_kernels *k) {
    if (!k->cpu.avx512vnni) return; /* without VNNI the AVX2 tiles stay */
    use_packed16(k, LORC_TYPE_Q4_0, pack16_q4_0, pack16_bytes_q4_0, packed16_q4_0);
    use_packed16(k, LORC_TYPE_Q4_1, pack16_q4_1, pack16_bytes_q4_1, packed16_q4_1);
    use_packed16(k, LORC_TYPE_Q5_0, pack16_q5_0, pack16_bytes_q5_0, packed16_q5_0);
    use_packed16(k, LORC_TYPE_Q5_1, pack16_q5_1, pack16_bytes_q5_1, packed16_q5_1);
    use_packed16(k, LORC_TYPE_Q8_0, q8_0_pack16, q8_0_pack16_bytes, packed16_q8_0);
}

#else
#include "../kernels.h"
void lorc_kernels_fill_avx512_legacy(lorc_kernels *k) { (void)k; }
#endif
