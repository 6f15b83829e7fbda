/* finite_check.c — refusing Inf/NaN before a writer stores it (policy in
 * finite_check.h). */
#include "finite_check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "types.h"

int64_t lorc_half_row_scan(uint32_t type, const void *enc_row, int64_t n, int64_t *count, uint16_t *max_bits) {
    const unsigned char *enc = enc_row;
    const unsigned exp_mask = type == LORC_TYPE_F16 ? 0x7C00u : 0x7F80u;
    unsigned top = 0;
    int64_t bad = 0; /* branch-free, so the common all-finite pass vectorizes */
    for (int64_t i = 0; i < n; i++) {
        const unsigned v = (unsigned)enc[2 * i] | (unsigned)enc[2 * i + 1] << 8;
        bad += (v & exp_mask) == exp_mask;
        top = (v & 0x7FFFu) > top ? v & 0x7FFFu : top;
    }
    *max_bits = (uint16_t)top;
    if (bad == 0) return -1;
    *count += bad;
    for (int64_t i = 0;; i++)
        if ((((unsigned)enc[2 * i] | (unsigned)enc[2 * i + 1] << 8) & exp_mask) == exp_mask) return i;
}

/* The float types are checked on their bits (all-ones exponent = Inf/NaN),
 * which costs a fraction of decoding them; the block types are decoded into
 * `scratch` (ne0 floats). Returns the column of the first non-finite value
 * of the row and counts them into *count, or -1. *first_value gets it. */
static int64_t scan_row(uint32_t type, const lorc_type_info *ti, const unsigned char *enc, int64_t n, float *scratch,
                        int64_t *count, float *first_value) {
    int64_t first = -1;
    if (type == LORC_TYPE_F16 || type == LORC_TYPE_BF16) {
        uint16_t top;
        first = lorc_half_row_scan(type, enc, n, count, &top);
        if (first >= 0) ti->to_float(enc + 2 * first, first_value, 1);
        return first;
    }
    const float *x = scratch;
    if (type == LORC_TYPE_F32) x = NULL;
    else ti->to_float(enc, scratch, n);
    int bad = 0; /* branch-free, so the common all-finite pass vectorizes */
    for (int64_t i = 0; i < n; i++) {
        float v;
        if (x) v = x[i];
        else memcpy(&v, enc + 4 * i, sizeof v); /* file buffers need not be aligned */
        bad |= !(fabsf(v) <= FLT_MAX);          /* false for NaN too */
    }
    for (int64_t i = 0; bad && i < n; i++) {
        float v;
        if (x) v = x[i];
        else memcpy(&v, enc + 4 * i, sizeof v);
        if (isfinite(v)) continue;
        if (first < 0) first = i, *first_value = v;
        ++*count;
    }
    return first;
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
    int not_finite = 0; /* branch-free, so the common all-finite pass vectorizes */
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(values[i]);
        not_finite |= !(a <= FLT_MAX); /* false for NaN too */
        largest = a > largest ? a : largest;
    }
    for (int64_t i = 0; not_finite && i < n; i++)
        if (!isfinite(values[i]))
            return lorc_fail(err, LORC_ERR_INVALID,
                             "tensor '%s' has a non-finite value (%g at row %lld, column %lld); refusing to write it",
                             tensor, (double)values[i], (long long)row, (long long)i);
    ti->from_float(values, dst, n);
    if (type == LORC_TYPE_F32) return LORC_OK;
    int64_t count = 0;
    float first_value = 0;
    /* `values` is no longer needed: it is the scratch of the decode */
    if (scan_row(type, ti, dst, n, values, &count, &first_value) >= 0)
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
    bool decodes = type != LORC_TYPE_F32 && type != LORC_TYPE_F16 && type != LORC_TYPE_BF16;
    float *scratch = decodes ? malloc((size_t)ne0 * sizeof *scratch) : NULL;
    if (decodes && !scratch)
        return lorc_fail(err, LORC_ERR_NOMEM, "tensor '%s': out of memory for the finiteness check", tensor);
    int64_t count = 0, first_row = -1, first_col = -1;
    float first_value = 0;
    for (int64_t r = 0; r < n_rows; r++) {
        float v = 0;
        int64_t before = count;
        int64_t col = scan_row(type, ti, (const unsigned char *)data + (size_t)r * row_bytes, ne0, scratch, &count, &v);
        if (col >= 0 && before == 0) first_row = r, first_col = col, first_value = v;
    }
    free(scratch);
    if (count)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "tensor '%s' (%s) has %lld non-finite value%s (the first, %g, at row %lld, column %lld)",
                         tensor, ti->name, (long long)count, count == 1 ? "" : "s", (double)first_value,
                         (long long)first_row, (long long)first_col);
    return LORC_OK;
}
