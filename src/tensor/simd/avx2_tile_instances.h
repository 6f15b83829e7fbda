/* avx2_tile_instances.h — private to src/tensor/simd: turns one tile body,
 * written with compile-time NR x NC (so its accumulators live in
 * registers), into a lorc_tile_fn that picks the instance for the run-time
 * nr, nc. Every instance runs the same per-pair operations, so a pair's
 * result does not depend on which instance computed it (batch invariance). */
#ifndef LORC_TENSOR_SIMD_AVX2_TILE_INSTANCES_H
#define LORC_TENSOR_SIMD_AVX2_TILE_INSTANCES_H

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

#define LORC_TILE_ROW_OF_6(NAME, BODY, NC) \
    LORC_TILE_ROW_OF_4(NAME, BODY, NC)     \
    LORC_TILE_INSTANCE(NAME, BODY, 5, NC)  \
    LORC_TILE_INSTANCE(NAME, BODY, 6, NC)

/* Defines NAME(LORC_TILE_ARGS) for nr in 1..6, nc in 1..4. */
#define LORC_TILE_6x4(NAME, BODY)                                                                 \
    LORC_TILE_ROW_OF_6(NAME, BODY, 1)                                                             \
    LORC_TILE_ROW_OF_6(NAME, BODY, 2)                                                             \
    LORC_TILE_ROW_OF_6(NAME, BODY, 3)                                                             \
    LORC_TILE_ROW_OF_6(NAME, BODY, 4)                                                             \
    static void NAME(LORC_TILE_ARGS) {                                                            \
        static void (*const inst[4][6])(LORC_TILE_ARGS) = {                                       \
            {NAME##_1x1, NAME##_2x1, NAME##_3x1, NAME##_4x1, NAME##_5x1, NAME##_6x1},             \
            {NAME##_1x2, NAME##_2x2, NAME##_3x2, NAME##_4x2, NAME##_5x2, NAME##_6x2},             \
            {NAME##_1x3, NAME##_2x3, NAME##_3x3, NAME##_4x3, NAME##_5x3, NAME##_6x3},             \
            {NAME##_1x4, NAME##_2x4, NAME##_3x4, NAME##_4x4, NAME##_5x4, NAME##_6x4}};            \
        inst[nc - 1][nr - 1](LORC_TILE_PASS);                                                     \
    }

/* Defines NAME(LORC_TILE_ARGS) for nr in 1..4, nc in 1..6. */
#define LORC_TILE_4x6(NAME, BODY)                                                                            \
    LORC_TILE_ROW_OF_4(NAME, BODY, 1)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 2)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 3)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 4)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 5)                                                                        \
    LORC_TILE_ROW_OF_4(NAME, BODY, 6)                                                                        \
    static void NAME(LORC_TILE_ARGS) {                                                                       \
        static void (*const inst[6][4])(LORC_TILE_ARGS) = {                                                  \
            {NAME##_1x1, NAME##_2x1, NAME##_3x1, NAME##_4x1}, {NAME##_1x2, NAME##_2x2, NAME##_3x2, NAME##_4x2}, \
            {NAME##_1x3, NAME##_2x3, NAME##_3x3, NAME##_4x3}, {NAME##_1x4, NAME##_2x4, NAME##_3x4, NAME##_4x4}, \
            {NAME##_1x5, NAME##_2x5, NAME##_3x5, NAME##_4x5}, {NAME##_1x6, NAME##_2x6, NAME##_3x6, NAME##_4x6}}; \
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

/* Defines NAME PARAMS for nc in 1..LORC_TILE_COLS_6, one instance per
 * column count (the row-lane tiles keep their 8 rows in lanes, so only the
 * column count is compiled in). PARAMS is a parenthesized parameter list
 * that names w_stride and nc (LORC_TILE_ARGS, or a tile type with more
 * arguments), PASS the same names as arguments. BODY(ARG, NC) is a call of
 * the tile body that uses those names; ARG is passed through (a block kind,
 * ...). */
#define LORC_TILE_COLS_6 6
#define LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, NC) \
    static void NAME##_c##NC PARAMS {                \
        (void)w_stride;                              \
        (void)nc;                                    \
        BODY(ARG, NC);                               \
    }
#define LORC_COLS_INSTANCES(NAME, PARAMS, PASS, BODY, ARG)                                                      \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 1)                                                               \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 2)                                                               \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 3)                                                               \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 4)                                                               \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 5)                                                               \
    LORC_COL_INSTANCE(NAME, PARAMS, BODY, ARG, 6)                                                               \
    static void NAME PARAMS {                                                                                   \
        static void (*const by_cols[LORC_TILE_COLS_6]) PARAMS = {NAME##_c1, NAME##_c2, NAME##_c3,               \
                                                                 NAME##_c4, NAME##_c5, NAME##_c6};              \
        by_cols[nc - 1] PASS;                                                                                   \
    }
/* The plain tiles (lorc_tile_fn). */
#define LORC_TILE_UP_TO_6_COLS(NAME, BODY, ARG) \
    LORC_COLS_INSTANCES(NAME, (LORC_TILE_ARGS), (LORC_TILE_PASS), BODY, ARG)

#endif
