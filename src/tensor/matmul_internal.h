/* matmul_internal.h — the scratch carving matmul.c uses (matmul_scratch.c). */
#ifndef LORC_TENSOR_MATMUL_INTERNAL_H
#define LORC_TENSOR_MATMUL_INTERNAL_H

#include <stddef.h>

#include "matmul.h"

/* Starts a product: earlier carvings are dead, spills merge into buf. */
void mm_scratch_begin(lorc_matmul_scratch *s);
/* n bytes (64-byte aligned) valid until the next mm_scratch_begin; NULL
 * when out of memory. */
void *mm_scratch_alloc(lorc_matmul_scratch *s, size_t n);

#endif
