/* random_tensor.h — owned random weight tensors for the matmul tests. */
#ifndef LORC_TESTS_RANDOM_TENSOR_H
#define LORC_TESTS_RANDOM_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef struct test_tensor {
    lorc_tensor t;
    void *data; /* owned: free() it */
} test_tensor;

/* A [n_in, n_out] tensor of `type`: uniform floats in [-scale, scale) from
 * `seed`, quantized. False (data freed or NULL) when the type has no
 * quantizer or memory runs out. */
bool test_random_tensor(test_tensor *o, uint32_t type, int64_t n_in, int64_t n_out, float scale, uint64_t seed);

#endif
