/* kld.c — KL divergence / top-token agreement / PPL of two model setups
 * over the same chunks of a token list. */
#include "kld.h"

#include <stdlib.h>

#include "base/error.h"
#include "perplexity_chunk.h"

lorc_status kld_compare(const kld_setup *base, const kld_setup *test, const int32_t *tokens, size_t n_tokens,
                        int n_ctx, int32_t bos, kld_stats *stats, lorc_error *err) {
    if (n_ctx < 4) return lorc_fail(err, LORC_ERR_INVALID, "KL comparison: context %d is too short (need 4)", n_ctx);
    const size_t n_chunk = n_tokens / (size_t)n_ctx;
    if (n_chunk == 0)
        return lorc_fail(err, LORC_ERR_INVALID, "KL comparison: %zu tokens do not fill one chunk of %d", n_tokens,
                         n_ctx);
    const int n_vocab = lorc_model_n_vocab(base->model);
    if (lorc_model_n_vocab(test->model) != n_vocab)
        return lorc_fail(err, LORC_ERR_MISMATCH, "KL comparison: vocab sizes differ (%d vs %d)", n_vocab,
                         lorc_model_n_vocab(test->model));
    const int rows = ppl_chunk_rows(n_ctx), scored = ppl_chunk_scored(n_ctx), first = ppl_chunk_first(n_ctx);
    const size_t row_floats = (size_t)rows * (size_t)n_vocab;
    float *lb = malloc(row_floats * sizeof *lb);
    float *lt = malloc(row_floats * sizeof *lt);
    float *lp = malloc((size_t)n_vocab * sizeof *lp);
    lorc_status st = LORC_OK;
    if (!lb || !lt || !lp)
        st = lorc_fail(err, LORC_ERR_NOMEM, "KL comparison: out of memory for %d x %d logits", rows, n_vocab);
    for (size_t c = 0; c < n_chunk && st == LORC_OK; c++) {
        const int32_t *chunk = tokens + c * (size_t)n_ctx;
        st = ppl_eval_chunk(base->ctx, base->seq, chunk, n_ctx, bos, lb, err);
        if (st == LORC_OK) st = ppl_eval_chunk(test->ctx, test->seq, chunk, n_ctx, bos, lt, err);
        for (int j = 0; j < scored && st == LORC_OK; j++) {
            kld_log_softmax(lb + (size_t)j * n_vocab, n_vocab, lp);
            kld_stats_add(stats, n_vocab, lt + (size_t)j * n_vocab, lp, chunk[first + j + 1], NULL, NULL);
        }
    }
    free(lb);
    free(lt);
    free(lp);
    return st;
}
