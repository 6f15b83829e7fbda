/* finite_check.c — refusing Inf/NaN before a writer stores it (policy in
 * finite_check.h). */
#include "finite_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "types.h"

static int64_t first_nonfinite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

lorc_status lorc_encode_row_checked(uint32_t type, float *values, void *dst, int64_t n, const char *tensor,
                                    int64_t row, lorc_error *err) {
    const lorc_type_info *ti = lorc_type_get(type);
    if (!ti || !ti->from_float || !ti->to_float)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "tensor '%s': lorc cannot write type %s", tensor,
                         lorc_type_name(type));
    /* Checked before encoding: quantizers turn NaN into integers, which is
     * undefined; the largest magnitude is kept for the message. */
    float largest = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            return lorc_fail(err, LORC_ERR_INVALID,
                             "tensor '%s' has a non-finite value (%g at row %lld, column %lld); refusing to write it",
                             tensor, (double)values[i], (long long)row, (long long)i);
        if (fabsf(values[i]) > largest) largest = fabsf(values[i]);
    }
    ti->from_float(values, dst, n);
    if (type == LORC_TYPE_F32) return LORC_OK;
    ti->to_float(dst, values, n);
    if (first_nonfinite(values, n) >= 0)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "tensor '%s': largest |value| %g in row %lld does not fit %s (it would be stored as Inf/NaN); "
                         "refusing to write it (a wider type such as BF16 or F32 holds it)",
                         tensor, (double)largest, (long long)row, ti->name);
    return LORC_OK;
}

lorc_status lorc_check_encoded_finite(uint32_t type, const void *data, int64_t ne0, int64_t n_rows,
                                      const char *tensor, lorc_error *err) {
    const lorc_type_info *ti = lorc_type_get(type);
    if (!ti || !ti->to_float || ne0 <= 0 || n_rows <= 0) return LORC_OK;
    size_t row_bytes = lorc_row_bytes(type, ne0);
    if (row_bytes == 0) return LORC_OK; /* the writer refuses such shapes itself */
    float *row = type == LORC_TYPE_F32 ? NULL : malloc((size_t)ne0 * sizeof *row);
    if (type != LORC_TYPE_F32 && !row)
        return lorc_fail(err, LORC_ERR_NOMEM, "tensor '%s': out of memory for the finiteness check", tensor);
    int64_t count = 0, first_row = -1, first_col = -1;
    float first_value = 0;
    for (int64_t r = 0; r < n_rows; r++) {
        const void *enc = (const unsigned char *)data + (size_t)r * row_bytes;
        const float *x = row;
        if (row) ti->to_float(enc, row, ne0);
        else x = enc;
        for (int64_t i = 0; i < ne0; i++) {
            float v;
            memcpy(&v, x + i, sizeof v); /* F32 data in a file buffer need not be aligned */
            if (isfinite(v)) continue;
            if (count++ == 0) first_row = r, first_col = i, first_value = v;
        }
    }
    free(row);
    if (count)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "tensor '%s' (%s) has %lld non-finite value%s (the first, %g, at row %lld, column %lld)",
                         tensor, ti->name, (long long)count, count == 1 ? "" : "s", (double)first_value,
                         (long long)first_row, (long long)first_col);
    return LORC_OK;
}
