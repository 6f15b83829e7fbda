/* avx2_tile.h — private to src/tensor/simd: turns one tile body, written
 * with compile-time NR x NC (so its accumulators live in registers), into a
 * lorc_tile_fn that picks the instance for the run-time nr, nc. Every
 * instance runs the same per-pair operations, so a pair's result does not
 * depend on which instance computed it (batch invariance). */
#ifndef LORC_TENSOR_SIMD_AVX2_TILE_H
#define LORC_TENSOR_SIMD_AVX2_TILE_H

#include "../kernels.h"

/* Fully unrolls a loop over the tile's rows or columns so that the
 * accumulator arrays become registers (GCC keeps a memory copy otherwise). */
#define LORC_UNROLL _Pragma("GCC unroll 8")

#define LORC_TILE_ARGS                                                                                   \
    int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc, float *y, \
        size_t y_stride
#define LORC_TILE_PASS n, w, w_stride, nr, x, x_stride, nc, y, y_stride

/* BODY(NR, NC, LORC_TILE_PASS) must be an always-inline function. */
#define LORC_TILE_INSTANCE(NAME, BODY, NR, NC) \
    static void NAME##_##NR##x##NC(LORC_TILE_ARGS) { BODY(NR, NC, LORC_TILE_PASS); }

#define LORC_TILE_ROW_OF_4(NAME, BODY, NC)     \
    LORC_TILE_INSTANCE(NAME, BODY, 1, NC)      \
    LORC_TILE_INSTANCE(NAME, BODY, 2, NC)      \
    LORC_TILE_INSTANCE(NAME, BODY, 3, NC)      \
    LORC_TILE_INSTANCE(NAME, BODY, 4, NC)

/* Defines NAME(LORC_TILE_ARGS) for nr in 1..4, nc in 1..3. */
#define LORC_TILE_4x3(NAME, BODY)                                                                            \
    LORC_TILE_ROW_OF_4(NAME, BODY, 1)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 2)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 3)                                                                        \
    static void NAME(LORC_TILE_ARGS) {                                                                       \
        static void (*const inst[3][4])(LORC_TILE_ARGS) = {                                                  \
            {NAME##_1x1, NAME##_2x1, NAME##_3x1, NAME##_4x1},                                                \
            {NAME##_1x2, NAME##_2x2, NAME##_3x2, NAME##_4x2},                                                \
            {NAME##_1x3, NAME##_2x3, NAME##_3x3, NAME##_4x3}};                                               \
        inst[nc - 1][nr - 1](LORC_TILE_PASS);                                                                \
    }

/* Defines NAME(LORC_TILE_ARGS) for nr in 1..4, nc in 1..2. */
#define LORC_TILE_4x2(NAME, BODY)                                                                            \
    LORC_TILE_ROW_OF_4(NAME, BODY, 1)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 2)                                                                        \
    static void NAME(LORC_TILE_ARGS) {                                                                       \
        static void (*const inst[2][4])(LORC_TILE_ARGS) = {{NAME##_1x1, NAME##_2x1, NAME##_3x1, NAME##_4x1}, \
                                                           {NAME##_1x2, NAME##_2x2, NAME##_3x2, NAME##_4x2}}; \
        inst[nc - 1][nr - 1](LORC_TILE_PASS);                                                                \
    }

#endif
