/* lora_cols.c — the column layout of LoRA B matrices (lora_cols.h). */
#include "lora_cols.h"

#include <string.h>

#include "kernels.h"
#include "types.h"

/* Bytes of one value of a type the layout keeps; 0 for the others. */
static size_t value_bytes(uint32_t type) {
    return type == LORC_TYPE_F16 ? 2 : type == LORC_TYPE_F32 ? 4 : 0;
}

size_t lorc_lora_cols_bytes(uint32_t type, int64_t r, int64_t n_out) {
    const size_t vb = value_bytes(type);
    if (!vb || r < 1 || r > LORC_SHORT_ROW_MAX || n_out < 1) return 0;
    const int64_t blocks = (n_out + LORC_LORA_COLS_BLOCK - 1) / LORC_LORA_COLS_BLOCK;
    return (size_t)blocks * LORC_LORA_COLS_BLOCK * (size_t)r * vb;
}

/* The r values of one row of B, each vb bytes, into its lane of a block
 * (value k at k blocks' width on). vb is a literal at each call, so the
 * copies are inlined rather than a memcpy call per value. */
static inline __attribute__((always_inline)) void row_to_lane(uint8_t *lane, const uint8_t *row, int64_t r,
                                                              size_t vb) {
    for (int64_t k = 0; k < r; k++) memcpy(lane + (size_t)k * LORC_LORA_COLS_BLOCK * vb, row + (size_t)k * vb, vb);
}

void lorc_lora_cols_build(uint32_t type, int64_t r, int64_t n_out, const void *b, size_t b_stride, void *dst) {
    const size_t vb = value_bytes(type);
    const size_t bytes = lorc_lora_cols_bytes(type, r, n_out);
    if (!bytes) return;
    uint8_t *out = dst;
    memset(out, 0, bytes); /* the last block's rows past n_out */
    for (int64_t j = 0; j < n_out; j++) {
        const uint8_t *row = (const uint8_t *)b + (size_t)j * b_stride;
        uint8_t *lane = out + ((size_t)(j / LORC_LORA_COLS_BLOCK) * LORC_LORA_COLS_BLOCK * (size_t)r +
                               (size_t)(j % LORC_LORA_COLS_BLOCK)) * vb;
        if (vb == 2)
            row_to_lane(lane, row, r, 2);
        else
            row_to_lane(lane, row, r, 4);
    }
}
