/* numeric.c — finite-value checks on a model's small vectors and on returned
 * logits. A NaN in a norm weight or a logits row would otherwise flow on
 * silently: into sampled text, a perplexity of "nan", or a KL file. */
#include "numeric.h"

#include <math.h>
#include <stdlib.h>

#include "../base/error.h"
#include "../tensor/types.h"

/* Values dequantized per step: bounds the scratch whatever the length. */
#define CHUNK 4096

lorc_status lorc_check_vector_finite(const char *path, const char *name, const lorc_tensor *t, bool positive,
                                     lorc_error *err) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    if (!ti || !ti->to_float) return LORC_OK; /* binding refuses such a type with its own message */
    const int64_t n = lorc_tensor_nelements(t);
    const int64_t step = CHUNK - CHUNK % ti->block_size; /* whole blocks */
    float buf[CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += step) {
        const int64_t m = n - i0 < step ? n - i0 : step;
        ti->to_float((const char *)t->data + (size_t)(i0 / ti->block_size) * ti->block_bytes, buf, m);
        for (int64_t i = 0; i < m; i++) {
            const float v = buf[i];
            if (!isfinite(v))
                return lorc_fail(err, LORC_ERR_NUMERIC, "%s: tensor '%s' holds %g at index %lld (must be finite)",
                                 path, name, (double)v, (long long)(i0 + i));
            if (positive && !(v > 0.0f))
                return lorc_fail(err, LORC_ERR_NUMERIC, "%s: tensor '%s' holds %g at index %lld (must be > 0)",
                                 path, name, (double)v, (long long)(i0 + i));
        }
    }
    return LORC_OK;
}

lorc_status lorc_check_logits_finite(const float *logits, int n_rows, int n_vocab, int first_pos, lorc_error *err) {
    for (int r = 0; r < n_rows; r++) {
        const float *row = logits + (size_t)r * (size_t)n_vocab;
        /* One branch-free pass first: x * 0 is 0 for every finite x and NaN
         * for Inf/NaN, so the sum is 0 exactly when the row is clean. */
        float sum = 0.0f;
        for (int i = 0; i < n_vocab; i++) sum += row[i] * 0.0f;
        if (sum == 0.0f) continue;
        for (int i = 0; i < n_vocab; i++)
            if (!isfinite(row[i]))
                return lorc_fail(err, LORC_ERR_NUMERIC,
                                 "non-finite logits at position %d (the model or an adapter produced Inf/NaN)",
                                 first_pos + r);
    }
    return LORC_OK;
}
