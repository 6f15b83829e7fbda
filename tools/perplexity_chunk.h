/* perplexity_chunk.h — llama.cpp's perplexity scheme, shared by `lorc
 * perplexity`, the KL comparison and the tools that reuse it: the text is
 * cut into non-overlapping chunks of n_ctx tokens; each chunk is evaluated
 * from an empty cache with its first token replaced by BOS (when the vocab
 * adds BOS); only the second half is scored: positions n_ctx/2 .. n_ctx-2
 * predict the tokens after them. */
#ifndef LORC_TOOLS_PERPLEXITY_CHUNK_H
#define LORC_TOOLS_PERPLEXITY_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

#include "lorc.h"

/* First scored position and number of scored rows of a chunk. */
int ppl_chunk_first(int n_ctx);
int ppl_chunk_scored(int n_ctx);
/* Rows of logits ppl_eval_chunk writes: n_ctx - n_ctx/2 (the scored rows
 * plus the chunk's last position). */
int ppl_chunk_rows(int n_ctx);

/* Whether the vocab prepends BOS when asked to (llama.cpp's add_bos). */
bool ppl_vocab_adds_bos(const lorc_vocab *vocab);

/* Empties `seq`, runs chunk[0..n_ctx) (chunk[0] replaced by `bos` when
 * bos >= 0) and writes the logits of positions n_ctx/2 .. n_ctx-1, that is
 * ppl_chunk_rows(n_ctx) * n_vocab floats. The first half is run without
 * keeping its logits. */
lorc_status ppl_eval_chunk(lorc_context *ctx, lorc_sequence *seq, const int32_t *chunk, int n_ctx, int32_t bos,
                           float *logits, lorc_error *err);

/* -log softmax(logits)[tok], as llama.cpp computes it (float max, double sum). */
double ppl_token_nll(const float *logits, int n_vocab, int32_t tok);

#endif
