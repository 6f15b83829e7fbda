/* neon_tile.h — private to src/tensor/simd/neon_*.c: turns one tile body,
 * written with compile-time NR x NC (so its accumulators live in
 * registers), into a lorc_tile_fn for nr in 1..4 and nc in 1..4 that picks
 * the instance for the run-time nr, nc. Every instance runs the same
 * per-pair operations, so the instance does not change a pair's result. */
#ifndef LORC_TENSOR_SIMD_NEON_TILE_H
#define LORC_TENSOR_SIMD_NEON_TILE_H

#include "../kernels.h"

#define LORC_NEON_TILE_ARGS                                                                              \
    int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int nc, float *y, \
        size_t y_stride
#define LORC_NEON_TILE_PASS n, w, w_stride, nr, x, x_stride, nc, y, y_stride

/* BODY(NR, NC, LORC_NEON_TILE_PASS) must be an always-inline function. */
#define LORC_NEON_TILE_INSTANCE(NAME, BODY, NR, NC) \
    static void NAME##_##NR##x##NC(LORC_NEON_TILE_ARGS) { BODY(NR, NC, LORC_NEON_TILE_PASS); }

#define LORC_NEON_TILE_COLUMN(NAME, BODY, NC)  \
    LORC_NEON_TILE_INSTANCE(NAME, BODY, 1, NC) \
    LORC_NEON_TILE_INSTANCE(NAME, BODY, 2, NC) \
    LORC_NEON_TILE_INSTANCE(NAME, BODY, 3, NC) \
    LORC_NEON_TILE_INSTANCE(NAME, BODY, 4, NC)

#define LORC_NEON_TILE_4x4(NAME, BODY)                                      \
    LORC_NEON_TILE_COLUMN(NAME, BODY, 1)                                    \
    LORC_NEON_TILE_COLUMN(NAME, BODY, 2)                                    \
    LORC_NEON_TILE_COLUMN(NAME, BODY, 3)                                    \
    LORC_NEON_TILE_COLUMN(NAME, BODY, 4)                                    \
    static void NAME(LORC_NEON_TILE_ARGS) {                                 \
        static void (*const inst[4][4])(LORC_NEON_TILE_ARGS) = {            \
            {NAME##_1x1, NAME##_2x1, NAME##_3x1, NAME##_4x1},               \
            {NAME##_1x2, NAME##_2x2, NAME##_3x2, NAME##_4x2},               \
            {NAME##_1x3, NAME##_2x3, NAME##_3x3, NAME##_4x3},               \
            {NAME##_1x4, NAME##_2x4, NAME##_3x4, NAME##_4x4}};              \
        inst[nc - 1][nr - 1](LORC_NEON_TILE_PASS);                          \
    }

#endif
