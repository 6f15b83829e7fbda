/* tensor.h — a typed, shaped view of weight bytes (usually inside a mmap). */
#ifndef LORC_TENSOR_TENSOR_H
#define LORC_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct lorc_tensor {
    const char *name;   /* borrowed */
    uint32_t type;      /* lorc_type */
    uint32_t n_dims;
    int64_t ne[4];      /* ne[0]: contiguous row length (n_in of a weight); ne[1]: rows (n_out) */
    const void *data;   /* borrowed: mmap'd file or an owner's buffer */
    size_t nbytes;
} lorc_tensor;

static inline int64_t lorc_tensor_nelements(const lorc_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

#endif
