/* decode.c — lorc_decode: a sequence's tokens through lorc_forward in
 * batches of at most n_batch, with every returned logits row checked. */
#include "../base/error.h"
#include "../model/numeric.h"
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "kv_pages.h"

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

    /* Every page the whole call needs, up front: running out part way would
     * leave the sequence where it started after work was done. */
    lorc_status rst = lorc_kv_seq_reserve(seq, seq->n_past + n, err);
    if (rst != LORC_OK) return rst;
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
            lorc_kv_seq_trim(seq);
            return st;
        }
        done += nb;
    }
    return LORC_OK;
}

/* ------------------------------------------------------------ batch */

lorc_status lorc_decode_batch(lorc_context *ctx, const lorc_decode_item *items, int n, lorc_error *err) {
    if (!ctx || n < 0 || (n > 0 && !items)) return lorc_fail(err, LORC_ERR_INVALID, "decode batch: bad item array");
    const int n_vocab = ctx->model->hp.n_vocab;
    int total = 0;
    for (int k = 0; k < n; k++) {
        const lorc_decode_item *it = &items[k];
        if (!it->seq || it->seq->ctx != ctx)
            return lorc_fail(err, LORC_ERR_INVALID, "decode batch: item %d has no sequence of this context", k);
        if (it->n_tokens < 1 || !it->tokens)
            return lorc_fail(err, LORC_ERR_INVALID, "decode batch: item %d has no tokens", k);
        for (int j = 0; j < k; j++)
            if (items[j].seq == it->seq)
                return lorc_fail(err, LORC_ERR_INVALID, "decode batch: items %d and %d are the same sequence", j, k);
        if (it->n_tokens > ctx->n_batch - total)
            return lorc_fail(err, LORC_ERR_INVALID, "decode batch: more than n_batch = %d tokens in one step",
                             ctx->n_batch);
        if (it->n_tokens > it->seq->n_ctx - it->seq->n_past)
            return lorc_fail(err, LORC_ERR_CONTEXT_FULL,
                             "context full: item %d has %d positions used, %d more requested, capacity %d", k,
                             it->seq->n_past, it->n_tokens, it->seq->n_ctx);
        total += it->n_tokens;
    }
    if (total == 0) return LORC_OK;

    /* The batch rows: items in order, each item's tokens at its positions.
     * Logits rows come out in batch order, which is item order. */
    int32_t *tok = ctx->dec_tokens;
    int r = 0;
    for (int k = 0; k < n; k++) {
        const lorc_decode_item *it = &items[k];
        for (int i = 0; i < it->n_tokens; i++, r++) {
            tok[r] = it->tokens[i];
            ctx->dec_pos[r] = it->seq->n_past + i;
            ctx->dec_seqs[r] = it->seq;
            ctx->dec_want[r] = it->logits && (it->all_logits || i == it->n_tokens - 1);
        }
    }
    int n_rows_out = 0;
    for (int i = 0; i < total; i++) n_rows_out += ctx->dec_want[i];
    float *out = NULL;
    if (n_rows_out > 0) {
        size_t bytes = (size_t)n_rows_out * (size_t)n_vocab * sizeof(float);
        if (bytes > ctx->dec_logits_bytes) {
            float *grown = realloc(ctx->dec_logits, bytes);
            if (!grown) return lorc_fail(err, LORC_ERR_NOMEM, "decode batch: out of memory for %d logits rows", n_rows_out);
            ctx->dec_logits = grown;
            ctx->dec_logits_bytes = bytes;
        }
        out = ctx->dec_logits;
    }
    for (int k = 0; k < n; k++) ctx->dec_past[k] = items[k].seq->n_past; /* n <= total <= n_batch */
    lorc_batch b = {total, tok, ctx->dec_pos, ctx->dec_seqs, ctx->dec_want};
    lorc_status st = lorc_forward(ctx, &b, out, err);
    /* Hand each item its rows, checking every one returned. */
    const float *row = out;
    for (int k = 0; st == LORC_OK && k < n; k++) {
        const lorc_decode_item *it = &items[k];
        if (!it->logits) continue;
        const int rows = it->all_logits ? it->n_tokens : 1;
        const int first_pos = ctx->dec_past[k] + it->n_tokens - rows;
        memcpy(it->logits, row, (size_t)rows * (size_t)n_vocab * sizeof(float));
        st = lorc_check_logits_finite(it->logits, rows, n_vocab, first_pos, err);
        row += (size_t)rows * (size_t)n_vocab;
    }
    if (st != LORC_OK) {
        /* Nothing advances: put every sequence back where it was. */
        for (int k = 0; k < n; k++) {
            items[k].seq->n_past = ctx->dec_past[k];
            lorc_kv_seq_trim(items[k].seq);
        }
    }
    return st;
}
