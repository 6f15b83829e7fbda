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
    /* after the set: clearing it still reads the adapters the hold keeps alive */
    lorc_registry_hold_release(&seq->held);
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
    return lorc_adapter_set_build(&seq->adapters, seq->ctx->model, seq->overlay, adapters, scales, n, err);
}

/* The overlay lives in the sequence's adapter set: the slots it covers get
 * its tensors as per-row replacements, so the shared model->w is never
 * touched and other sequences in a batch keep their own weights. */
lorc_status lorc_sequence_set_overlay(lorc_sequence *seq, lorc_overlay *overlay, lorc_error *err) {
    if (!seq) return lorc_fail(err, LORC_ERR_INVALID, "overlay: no sequence");
    const lorc_adapter_set *cur = &seq->adapters;
    lorc_status st = lorc_adapter_set_build(&seq->adapters, seq->ctx->model, overlay, cur->adapters, cur->scales,
                                            cur->n_adapters, err);
    if (st == LORC_OK) seq->overlay = overlay;
    return st;
}

size_t lorc_sequence_kv_bytes(const lorc_sequence *seq) { return (size_t)seq->n_pages * seq->ctx->kv.page_bytes; }
