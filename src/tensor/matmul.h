/* matmul.h — the one interface for weight × activation products.
 * Every linear layer of the forward pass goes through lorc_matmul: a batch of
 * rows (tokens, possibly of different sequences), each with its own adapter
 * terms. SIMD kernels and batching strategies plug in behind it. */
#ifndef LORC_TENSOR_MATMUL_H
#define LORC_TENSOR_MATMUL_H

#include <stdint.h>

#include "../base/threadpool.h"
#include "tensor.h"

/* One LoRA pair applied to one weight: y += scale * B·(A·x).
 * a: ggml ne = [n_in, r]  (r rows of length n_in), any supported type
 * b: ggml ne = [r, n_out] (n_out rows of length r), any supported type */
typedef struct lorc_lora_term {
    const lorc_tensor *a; /* borrowed (owned by the adapter) */
    const lorc_tensor *b; /* borrowed */
    float scale;
} lorc_lora_term;

/* What a row adds to (or uses instead of) the base weight. Rows pointing at
 * the same list are processed together (A·x as one matrix product). */
typedef struct lorc_lora_list {
    const lorc_tensor *replace; /* non-NULL: use this weight instead of the base (PEFT modules_to_save, DoRA) */
    int n_terms;
    const lorc_lora_term *terms; /* borrowed */
} lorc_lora_list;

typedef struct lorc_matmul_args {
    const lorc_tensor *w;   /* [n_in, n_out], any supported type */
    const float *bias;      /* n_out, or NULL */
    const float *x;         /* n_rows × n_in, row-major */
    float *y;               /* n_rows × n_out, row-major (overwritten) */
    int64_t n_rows;
    const lorc_lora_list *const *row_lora; /* n_rows entries (entry NULL: base only), or NULL for none */
} lorc_matmul_args;

/* Scratch memory reused across calls (activation conversion, LoRA
 * intermediates); grows on demand. One per context; not thread-safe. */
typedef struct lorc_matmul_scratch {
    void *buf;   /* owned */
    size_t size;
} lorc_matmul_scratch;

void lorc_matmul_scratch_free(lorc_matmul_scratch *s);
/* Returns a block of at least `size` bytes (contents unspecified), growing
 * the scratch when needed; NULL when memory runs out. Other users of a
 * context's scratch (embedding LoRA terms) borrow it between products. */
void *lorc_matmul_scratch_get(lorc_matmul_scratch *s, size_t size);

/* y = x·Wᵀ (+ bias) (+ per-row adapter terms), split across the pool.
 * Returns 0, or -1 when scratch memory cannot be allocated. */
int lorc_matmul(lorc_threadpool *pool, lorc_matmul_scratch *scratch, const lorc_matmul_args *args);

/* Reference: the same product computed one row at a time, single-threaded,
 * by dequantize-then-dot in double precision. For tests. */
void lorc_matmul_reference(const lorc_matmul_args *args);

#endif
