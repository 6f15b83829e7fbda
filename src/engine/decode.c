/* decode.c — lorc_decode: a sequence's tokens through lorc_forward in
 * batches of at most n_batch, with every returned logits row checked. */
#include "../base/error.h"
#include "../model/numeric.h"
#include "context.h"

lorc_status lorc_decode(lorc_context *ctx, lorc_sequence *seq, const int32_t *tokens, int n, bool all_logits,
                        float *logits, lorc_error *err) {
    if (!ctx || !seq || seq->ctx != ctx)
        return lorc_fail(err, LORC_ERR_INVALID, "decode: the sequence does not belong to this context");
    if (n < 0 || (n > 0 && !tokens)) return lorc_fail(err, LORC_ERR_INVALID, "decode: bad token array (n = %d)", n);
    if (n == 0) return LORC_OK;
    const int n_vocab = ctx->model->hp.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return lorc_fail(err, LORC_ERR_INVALID, "decode: token %d at index %d is outside the vocabulary (0..%d)",
                             tokens[i], i, n_vocab - 1);
    if (n > seq->n_ctx - seq->n_past)
        return lorc_fail(err, LORC_ERR_CONTEXT_FULL,
                         "context full: %d positions used, %d more requested, capacity %d", seq->n_past, n,
                         seq->n_ctx);

    const int n_past0 = seq->n_past;
    for (int done = 0; done < n;) {
        int nb = n - done < ctx->n_batch ? n - done : ctx->n_batch;
        bool last_chunk = done + nb == n;
        for (int i = 0; i < nb; i++) {
            ctx->dec_pos[i] = seq->n_past + i;
            ctx->dec_seqs[i] = seq;
            ctx->dec_want[i] = logits && (all_logits || (last_chunk && i == nb - 1));
        }
        lorc_batch b = {nb, tokens + done, ctx->dec_pos, ctx->dec_seqs, ctx->dec_want};
        float *out = NULL;
        if (logits) out = all_logits ? logits + (size_t)done * (size_t)n_vocab : logits;
        lorc_status st = lorc_forward(ctx, &b, out, err);
        if (st == LORC_OK && out) {
            /* The rows written: all of this chunk, or the very last token. */
            const int rows = all_logits ? nb : last_chunk ? 1 : 0;
            const int first_pos = all_logits ? n_past0 + done : n_past0 + n - 1;
            st = lorc_check_logits_finite(out, rows, n_vocab, first_pos, err);
        }
        if (st != LORC_OK) {
            seq->n_past = n_past0;
            return st;
        }
        done += nb;
    }
    return LORC_OK;
}
