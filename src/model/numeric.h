/* numeric.h — refusing numbers that can only become Inf/NaN: the small
 * vectors of a model (norm weights, biases, RoPE frequency factors) at load
 * time, and the logits a forward pass returns. Both fail with
 * LORC_ERR_NUMERIC naming the tensor or the position. */
#ifndef LORC_MODEL_NUMERIC_H
#define LORC_MODEL_NUMERIC_H

#include <stdbool.h>

#include "../tensor/tensor.h"
#include "lorc.h"

/* Every value of the 1-D tensor `t` (any type lorc can dequantize) is finite,
 * and > 0 when `positive`; `path` and `name` go into the message. */
lorc_status lorc_check_vector_finite(const char *path, const char *name, const lorc_tensor *t, bool positive,
                                     lorc_error *err);

/* Every value of n_rows rows of n_vocab logits is finite; row i belongs to
 * position first_pos + i (the position the message names). */
lorc_status lorc_check_logits_finite(const float *logits, int n_rows, int n_vocab, int first_pos, lorc_error *err);

#endif
