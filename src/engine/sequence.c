/* sequence.c — one conversation's state: its KV cache, its position and
 * the adapter stack its rows are computed with. */
#include <stdlib.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "context.h"

lorc_status lorc_sequence_new(lorc_context *ctx, lorc_sequence **out, lorc_error *err) {
    *out = NULL;
    const lorc_hparams *hp = &ctx->model->hp;
    uint64_t kv_dim = (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim, n;
    if (!lorc_mul_u64((uint64_t)hp->n_layer, (uint64_t)ctx->n_ctx, &n) || !lorc_mul_u64(n, kv_dim, &n) ||
        n > SIZE_MAX / sizeof(float))
        return lorc_fail(err, LORC_ERR_NOMEM, "sequence: KV cache for %d positions is too large", ctx->n_ctx);
    lorc_sequence *seq = calloc(1, sizeof *seq);
    if (!seq) return lorc_fail(err, LORC_ERR_NOMEM, "sequence: out of memory");
    seq->ctx = ctx;
    seq->n_ctx = ctx->n_ctx;
    /* calloc: the OS hands out zero pages lazily, so a long context costs
     * memory only as it fills. */
    seq->k_cache = calloc((size_t)n, sizeof(float));
    seq->v_cache = calloc((size_t)n, sizeof(float));
    if (!seq->k_cache || !seq->v_cache) {
        lorc_sequence_free(seq);
        return lorc_fail(err, LORC_ERR_NOMEM, "sequence: out of memory for a KV cache of %d positions", ctx->n_ctx);
    }
    *out = seq;
    return LORC_OK;
}

void lorc_sequence_free(lorc_sequence *seq) {
    if (!seq) return;
    lorc_adapter_set_clear(&seq->adapters);
    /* after the set: clearing it still reads the adapters the hold keeps alive */
    lorc_registry_hold_release(&seq->held);
    free(seq->k_cache);
    free(seq->v_cache);
    free(seq);
}

void lorc_sequence_reset(lorc_sequence *seq) {
    if (seq) seq->n_past = 0;
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

int lorc_sequence_reuse_prefix(lorc_sequence *seq, const int32_t *tokens, int n) {
    /* No prefix cache yet: every token is computed. */
    (void)seq;
    (void)tokens;
    (void)n;
    return 0;
}

size_t lorc_sequence_kv_bytes(const lorc_sequence *seq) {
    const lorc_hparams *hp = &seq->ctx->model->hp;
    return 2 * (size_t)hp->n_layer * (size_t)seq->n_ctx * (size_t)hp->n_head_kv * (size_t)hp->head_dim * sizeof(float);
}
