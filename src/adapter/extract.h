/* extract.h — comparing a fine-tuned model file with its base (same tensor
 * table, types may differ) and approximating a changed 2-D tensor's
 * difference by a rank-r product B·A (truncated SVD), in the layout of
 * llama.cpp GGUF LoRA adapters. Used by `lorc diff` and `lorc extract`. */
#ifndef LORC_ADAPTER_EXTRACT_H
#define LORC_ADAPTER_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "../format/gguf.h"
#include "lorc.h"

/* Both files have the same architecture and the same tensor names with the
 * same shapes (any order; types may differ). Errors name the first
 * difference. */
lorc_status lorc_finetune_check_tables(const gguf_file *base, const gguf_file *ft, lorc_error *err);

/* True when the two tensors are stored identically (type and bytes). */
bool lorc_finetune_tensor_same(const gguf_tensor_info *base, const gguf_tensor_info *ft);

typedef struct lorc_lowrank {
    int r;
    int64_t a_ne[2], b_ne[2]; /* ggml shapes of lora_a / lora_b */
    float *a;                 /* owned, a_ne[1] rows of a_ne[0] */
    float *b;                 /* owned, b_ne[1] rows of b_ne[0] */
    double rel_err;           /* ‖D − B·A‖_F / ‖D‖_F of the F32 factors; NaN when D = 0 (undefined) */
    double norm;              /* ‖D‖_F */
} lorc_lowrank;

/* D = dequant(ft) − dequant(base) for one 2-D tensor of ne [n_in, n_out],
 * factored at rank r (padded with zeros past D's rank, so every pair has
 * exactly r: llama.cpp derives the scale alpha/r from each pair's shape).
 * Regular weights: A = √Σ·Vᵀ as lora_a [n_in, r], B = U·√Σ as lora_b
 * [r, n_out]. `embd` (token_embd): A [r, n_vocab], B [r, n_embd], so that
 * token t gains B·A[t,:] as lorc and llama.cpp apply it. */
lorc_status lorc_lowrank_extract(const gguf_tensor_info *base, const gguf_tensor_info *ft, int r, bool embd,
                                 lorc_lowrank *out, lorc_error *err);
void lorc_lowrank_free(lorc_lowrank *lr);

#endif
