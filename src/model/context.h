/* context.h — forward-pass state: the context (thread pool + scratch, shared
 * by sequences) and the sequence (KV cache, position, adapter set).
 * lorc_forward runs one batch of tokens that may belong to several
 * sequences, each with its own adapters, through the model. */
#ifndef LORC_MODEL_CONTEXT_H
#define LORC_MODEL_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "../adapter/adapter.h"
#include "../base/threadpool.h"
#include "../tensor/matmul.h"
#include "model.h"

struct lorc_sequence {
    lorc_context *ctx;     /* borrowed */
    int n_ctx;             /* capacity in positions */
    int n_past;            /* positions filled */
    float *k_cache;        /* owned [n_layer][n_ctx][n_head_kv*head_dim] */
    float *v_cache;        /* owned, same layout */
    lorc_adapter_set adapters;
};

/* One forward pass: token i sits at position pos[i] of seqs[i]. Tokens of a
 * sequence must be in increasing consecutive positions starting at its n_past. */
typedef struct lorc_batch {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    lorc_sequence *const *seqs;
    const bool *want_logits; /* NULL: every token */
} lorc_batch;

/* Runs the batch; logits of the tokens with want_logits are written in
 * order, n_vocab floats each. Updates each sequence's n_past. */
lorc_status lorc_forward(lorc_context *ctx, const lorc_batch *batch, float *logits, lorc_error *err);

#endif
