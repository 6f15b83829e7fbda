/* sequence.c — one conversation's state: its KV pages (kv_pages.c), its
 * position and the adapter stack its rows are computed with. */
#include <stdlib.h>

#include "../base/error.h"
#include "context.h"
#include "kv_pages.h"

lorc_status lorc_sequence_new(lorc_context *ctx, lorc_sequence **out, lorc_error *err) {
    *out = NULL;
    lorc_sequence *seq = calloc(1, sizeof *seq);
    if (!seq) return lorc_fail(err, LORC_ERR_NOMEM, "sequence: out of memory");
    seq->ctx = ctx;
    seq->n_ctx = ctx->n_ctx;
    /* No KV yet: pages come from the context's pool as positions fill. */
    *out = seq;
    return LORC_OK;
}

void lorc_sequence_free(lorc_sequence *seq) {
    if (!seq) return;
    lorc_kv_seq_clear(seq);
    lorc_adapter_set_clear(&seq->adapters);
    free(seq->pages);
    free(seq->page_keys);
    free(seq->tokens);
    free(seq);
}

void lorc_sequence_reset(lorc_sequence *seq) {
    if (!seq) return;
    lorc_kv_seq_clear(seq);
    seq->n_past = 0;
}

int lorc_sequence_n_past(const lorc_sequence *seq) { return seq->n_past; }


lorc_status lorc_sequence_set_adapters(lorc_sequence *seq, lorc_adapter *const *adapters, const float *scales,
                                       int n, lorc_error *err) {
    if (!seq) return lorc_fail(err, LORC_ERR_INVALID, "adapters: no sequence");
    return lorc_adapter_set_build(&seq->adapters, seq->ctx->model, adapters, scales, n, err);
}

size_t lorc_sequence_kv_bytes(const lorc_sequence *seq) { return (size_t)seq->n_pages * seq->ctx->kv.page_bytes; }
