/* matmul.h — the one interface for weight × activation products.
 * Every linear layer of the forward pass goes through lorc_matmul: a batch of
 * rows (tokens, possibly of different sequences), each with its own adapter
 * terms. The products are blocked (tiles of weight rows × activation rows
 * from the kernel table) and batch invariant: a row's outputs are
 * bit-identical whether it is computed alone or anywhere inside a batch, and
 * whatever the thread count. */
#ifndef LORC_TENSOR_MATMUL_H
#define LORC_TENSOR_MATMUL_H

#include <stdint.h>

#include "../base/threadpool.h"
#include "kernels.h"
#include "tensor.h"

/* One LoRA pair applied to one weight: y += scale * B·(A·x).
 * a: ggml ne = [n_in, r]  (r rows of length n_in), any supported type
 * b: ggml ne = [r, n_out] (n_out rows of length r), any supported type */
typedef struct lorc_lora_term {
    const lorc_tensor *a; /* borrowed (owned by the adapter) */
    const lorc_tensor *b; /* borrowed */
    /* borrowed, optional: b in the column layout of lora_cols.h, which the
     * kernel families that have a column tile read instead of b (same
     * results); NULL: b's rows are read */
    const void *b_cols;
    float scale;
} lorc_lora_term;

/* What a row adds to (or uses instead of) the base weight. Rows are grouped
 * by term, not by list: every row using an A tensor shares one A·x product,
 * whichever sequence's list it comes from (see lorc_matmul_stats). */
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

/* What the last lorc_matmul / lorc_matmul_multi call ran, summed over its
 * products: one part = one weight applied to a group of rows. LoRA rows are
 * grouped across sequences: one A·x per distinct A, one B·t per distinct
 * (position in the row's list, A, B) whatever the rows' scales. */
typedef struct lorc_matmul_stats {
    int base_parts;    /* the base weight over the rows without a replacement */
    int replace_parts; /* one per distinct replacement weight */
    int a_parts;       /* LoRA A·x */
    int b_parts;       /* LoRA B·t */
    int b_cols_parts;  /* of those, the ones that read B in columns (lorc_lora_term.b_cols) */
} lorc_matmul_stats;

/* A block the scratch had to add while a product was running (the main
 * block cannot move then: earlier carvings point into it). */
typedef struct lorc_scratch_spill lorc_scratch_spill;

/* Scratch memory reused across calls (packed activations, LoRA
 * intermediates, the product's plan). One per context; not thread-safe.
 * A product that needs more than `buf` takes extra blocks; the next
 * product merges them into one larger `buf`, so in steady state nothing is
 * allocated. Zero-initialise before first use. */
typedef struct lorc_matmul_scratch {
    void *buf;   /* owned */
    size_t size;
    size_t used;               /* bytes of buf carved by the running product */
    lorc_scratch_spill *spill; /* owned list */
    size_t spill_bytes;
    lorc_matmul_stats stats;   /* of the last product (zeroed when it fails) */
} lorc_matmul_scratch;

void lorc_matmul_scratch_free(lorc_matmul_scratch *s);
/* Returns a block of at least `size` bytes (contents unspecified), growing
 * the scratch when needed; NULL when memory runs out. Other users of a
 * context's scratch (embedding LoRA terms) borrow it between products. */
void *lorc_matmul_scratch_get(lorc_matmul_scratch *s, size_t size);

/* y = x·Wᵀ (+ bias) (+ per-row adapter terms), split across the pool by
 * output rows, computed with the kernels of `kern`. Returns 0, or -1 when
 * scratch memory cannot be allocated or a tensor's type or shape cannot be
 * computed with. */
int lorc_matmul(const lorc_kernels *kern, lorc_threadpool *pool, lorc_matmul_scratch *scratch,
                const lorc_matmul_args *args);
/* Several products in one dispatch to the pool (e.g. Q, K and V, which read
 * the same input): activations are packed once per distinct (input, act
 * format) and the output rows of all n products are shared out among the
 * threads together. Each product's results are exactly lorc_matmul's. */
int lorc_matmul_multi(const lorc_kernels *kern, lorc_threadpool *pool, lorc_matmul_scratch *scratch,
                      const lorc_matmul_args *args, int n);

/* Reference: the same product computed one row at a time, single-threaded,
 * by dequantize-then-dot in double precision. For tests. */
void lorc_matmul_reference(const lorc_matmul_args *args);

#endif
