/* attention.h — causal self-attention of one layer over the KV cache,
 * through the context's kernel table. */
#ifndef LORC_ENGINE_ATTENTION_H
#define LORC_ENGINE_ATTENTION_H

#include "context.h"

/* Cuts the batch into attention row blocks (runs of adjacent rows of one
 * sequence, at most ctx->attn_rows each) in ctx->attn_block; returns the
 * number of blocks. */
int lorc_attention_blocks(lorc_context *ctx, const lorc_batch *b);

/* ctx->att = softmax(Q·Kᵀ / sqrt(head_dim)) · V for every batch row and
 * head of `layer`, with the rows' K and V already in their caches. */
void lorc_attention(lorc_context *ctx, const lorc_batch *b, int layer, int n_blocks);

#endif
