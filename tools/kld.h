/* kld.h — comparing two model setups on a token list with llama.cpp's
 * perplexity chunking (see perplexity_chunk.h): the base setup gives the
 * reference distributions, the test setup is scored against them. Used by
 * the tools that build adapters or overlays to measure what they changed. */
#ifndef LORC_TOOLS_KLD_H
#define LORC_TOOLS_KLD_H

#include <stddef.h>
#include <stdint.h>

#include "kld_stats.h"
#include "lorc.h"

/* One setup: a context and a sequence on it (adapters attached to the
 * sequence, overlays applied to the context's model, as the caller wants).
 * The two setups may share a context, never a sequence. */
typedef struct kld_setup {
    const lorc_model *model; /* the context's model (for its vocab size) */
    lorc_context *ctx;
    lorc_sequence *seq;
} kld_setup;

/* Runs floor(n_tokens / n_ctx) chunks through both setups and adds every
 * scored position to *stats (which the caller zeroes, so several texts can
 * be pooled). `bos` replaces each chunk's first token when >= 0 (pass
 * lorc_vocab_bos() when ppl_vocab_adds_bos(), else -1). Both models must
 * have the same vocab size. Fails when there is not a single chunk. */
lorc_status kld_compare(const kld_setup *base, const kld_setup *test, const int32_t *tokens, size_t n_tokens,
                        int n_ctx, int32_t bos, kld_stats *stats, lorc_error *err);

#endif
