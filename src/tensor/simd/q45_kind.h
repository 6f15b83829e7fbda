/* q45_kind.h — the four legacy 4/5-bit block types (Q4_0, Q4_1, Q5_0,
 * Q5_1) as one kernel family: which block a kind is and which parts it
 * has. Shared by the AVX2 and NEON kernels, which each instantiate one
 * body per kind (the kind is a constant there, so these fold away). */
#ifndef LORC_TENSOR_SIMD_Q45_KIND_H
#define LORC_TENSOR_SIMD_Q45_KIND_H

#include <stddef.h>

#include "../quant_impl.h"

enum lorc_q45_kind { LORC_KIND_Q4_0, LORC_KIND_Q4_1, LORC_KIND_Q5_0, LORC_KIND_Q5_1 };

static inline __attribute__((always_inline)) size_t lorc_q45_block_bytes(int kind) {
    switch (kind) {
    case LORC_KIND_Q4_0: return sizeof(lorc_block_q4_0);
    case LORC_KIND_Q4_1: return sizeof(lorc_block_q4_1);
    case LORC_KIND_Q5_0: return sizeof(lorc_block_q5_0);
    default: return sizeof(lorc_block_q5_1);
    }
}

/* _1 types: a min m per block (value = d q + m) */
static inline __attribute__((always_inline)) int lorc_q45_has_min(int kind) {
    return kind == LORC_KIND_Q4_1 || kind == LORC_KIND_Q5_1;
}

/* Q5 types: a fifth bit per value, in a 32-bit mask per block */
static inline __attribute__((always_inline)) int lorc_q45_has_high_bit(int kind) {
    return kind == LORC_KIND_Q5_0 || kind == LORC_KIND_Q5_1;
}

#endif
