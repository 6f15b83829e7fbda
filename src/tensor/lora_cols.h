/* lora_cols.h — a LoRA B matrix kept in columns, built once when an adapter
 * loads, for its B·t products.
 *
 * B has n_out rows of r values (r the rank). B·t gives each output one FMA
 * chain over k < r, and the SIMD tiles run 16 outputs in the lanes of a
 * register: they need column k of 16 rows at once. Read from rows, every
 * token turns each 16 x 16 block around with shuffles (avx2_short.c,
 * avx512_short.c), which made B·t on all seven linears of a Q4_K_M decode
 * cost several times its reads. In this layout the tiles load each column
 * as it is: blocks of LORC_LORA_COLS_BLOCK outputs, each holding for k =
 * 0 .. r-1 the value k of its 16 rows (rows past n_out are zeros). Values
 * keep B's type (F16 or F32), so the bytes are B's, padded to whole blocks,
 * and the results are the bits of the row tiles. */
#ifndef LORC_TENSOR_LORA_COLS_H
#define LORC_TENSOR_LORA_COLS_H

#include <stddef.h>
#include <stdint.h>

#define LORC_LORA_COLS_BLOCK 16

/* Bytes of the column layout of a B of `type` with n_out rows of r values;
 * 0 when lorc keeps no column layout for it (types other than F16 and F32,
 * rows longer than LORC_SHORT_ROW_MAX). */
size_t lorc_lora_cols_bytes(uint32_t type, int64_t r, int64_t n_out);

/* Writes that layout of B (row j at b + j * b_stride) into dst, which holds
 * lorc_lora_cols_bytes(type, r, n_out) bytes. */
void lorc_lora_cols_build(uint32_t type, int64_t r, int64_t n_out, const void *b, size_t b_stride, void *dst);

#endif
