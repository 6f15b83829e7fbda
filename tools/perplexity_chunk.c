/* perplexity_chunk.c — evaluating one perplexity chunk (see the header for
 * the scheme) and the per-token negative log-likelihood. */
#include "perplexity_chunk.h"

#include <math.h>
#include <stdlib.h>

#include "base/error.h"

int ppl_chunk_first(int n_ctx) { return n_ctx / 2; }
int ppl_chunk_scored(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }
int ppl_chunk_rows(int n_ctx) { return n_ctx - n_ctx / 2; }

bool ppl_vocab_adds_bos(const lorc_vocab *vocab) {
    /* The public API has no add_bos getter: an empty text tokenized with
     * ADD_BOS is exactly [BOS] when the vocab adds it, and empty when not. */
    int32_t *ids = NULL;
    size_t n = 0;
    if (lorc_tokenize(vocab, "", 0, LORC_TOKENIZE_ADD_BOS, &ids, &n, NULL) != LORC_OK) return false;
    bool adds = n >= 1 && ids[0] == lorc_vocab_bos(vocab) && lorc_vocab_bos(vocab) >= 0;
    free(ids);
    return adds;
}

lorc_status ppl_eval_chunk(lorc_context *ctx, lorc_sequence *seq, const int32_t *chunk, int n_ctx, int32_t bos,
                           float *logits, lorc_error *err) {
    const int first = ppl_chunk_first(n_ctx);
    if (n_ctx < 4) return lorc_fail(err, LORC_ERR_INVALID, "perplexity chunk of %d tokens is too short (need 4)", n_ctx);
    int32_t *toks = malloc((size_t)first * sizeof *toks);
    if (!toks) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory for a chunk of %d tokens", n_ctx);
    for (int i = 0; i < first; i++) toks[i] = chunk[i];
    if (bos >= 0) toks[0] = bos;
    lorc_sequence_reset(seq);
    /* The context half only fills the cache; its last logits are scratch. */
    lorc_status st = lorc_decode(ctx, seq, toks, first, false, logits, err);
    free(toks);
    if (st != LORC_OK) return st;
    return lorc_decode(ctx, seq, chunk + first, n_ctx - first, true, logits, err);
}

double ppl_token_nll(const float *logits, int n_vocab, int32_t tok) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    /* In double: the float difference of two finite logits (3e38 - -3e38)
     * can overflow to -inf and make the NLL infinite. */
    return -(((double)logits[tok] - max) - log(sum));
}
