/* gguf_tensor.h — a GGUF tensor-table entry seen as a lorc_tensor (the
 * format layer knows both; the tensor layer knows no file format). */
#ifndef LORC_FORMAT_GGUF_TENSOR_H
#define LORC_FORMAT_GGUF_TENSOR_H

#include "../tensor/tensor.h"
#include "gguf.h"

/* A view of a tensor as read from a GGUF file (data stays in its mapping). */
static inline void lorc_tensor_from_gguf(lorc_tensor *t, const gguf_tensor_info *ti) {
    t->name = ti->name;
    t->type = ti->type;
    t->n_dims = ti->n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = ti->ne[d]; /* the reader sets unused dims to 1 */
    t->data = ti->data;
    t->nbytes = (size_t)ti->nbytes;
}

#endif
