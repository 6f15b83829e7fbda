/* finite_check.h — the one check every file writer runs before tensor data
 * reaches disk: lorc never writes a value that decodes to Inf or NaN, because
 * a file holding one is a model lorc (and llama.cpp) would compute garbage
 * with. The policy is to refuse, not to clamp: a value a type cannot hold
 * (above 65504 for F16, a block whose F16 scale overflows in a quantized
 * type) means a broken adapter, scale or model, and silently clamping it
 * would hide that; a wider type (BF16, F32) holds it. */
#ifndef LORC_TENSOR_FINITE_CHECK_H
#define LORC_TENSOR_FINITE_CHECK_H

#include <stdint.h>

#include "lorc.h"

/* Converts one row of n F32 values to `type` (its from_float) into dst and
 * checks the result: a non-finite source value, or one the type cannot hold
 * (the encoded row decodes to Inf/NaN), fails with LORC_ERR_INVALID and a
 * message naming the tensor, the row, the type and the largest |value|.
 * On return `values` holds the row as stored (decoded again from dst), so
 * no scratch is needed. Thread-safe (no state). */
lorc_status lorc_encode_row_checked(uint32_t type, float *values, void *dst, int64_t n, const char *tensor,
                                    int64_t row, lorc_error *err);

/* Checks already-encoded data (rows of ne0 values of `type`, e.g. a tensor
 * copied from an input file) decodes to finite values only; fails with
 * LORC_ERR_INVALID: "tensor 'T' (TYPE) has N non-finite values (the first,
 * V, at row R, column C)" (callers add the file and what they refuse). Types
 * lorc cannot decode are passed through. */
lorc_status lorc_check_encoded_finite(uint32_t type, const void *data, int64_t ne0, int64_t n_rows,
                                      const char *tensor, lorc_error *err);

/* One row of n F16 or BF16 values (`type`), checked on its bits without
 * decoding: an all-ones exponent is Inf or NaN, and finite values order by
 * magnitude as their bits without the sign. Adds the row's non-finite
 * values to *count, sets *max_bits to the largest magnitude's bits (sign
 * cleared), and returns the column of the first non-finite value, or -1.
 * Any alignment. */
int64_t lorc_half_row_scan(uint32_t type, const void *enc, int64_t n, int64_t *count, uint16_t *max_bits);

#endif
