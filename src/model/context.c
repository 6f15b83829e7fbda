/* context.c — contexts (thread pool + scratch sized once for n_batch),
 * sequences (F32 KV cache + adapter set) and lorc_decode, which feeds a
 * sequence's tokens through lorc_forward in batches of at most n_batch. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "context.h"
#include "numeric.h"

lorc_context_params lorc_context_default_params(void) {
    lorc_context_params p = {.n_threads = 0, .n_ctx = 0, .n_batch = 512};
    return p;
}

void lorc_context_free(lorc_context *ctx) {
    if (!ctx) return;
    lorc_threadpool_free(ctx->pool);
    lorc_matmul_scratch_free(&ctx->mm);
    free(ctx->arena);
    free(ctx->row_lora);
    free(ctx->out_rows);
    free(ctx->dec_pos);
    free(ctx->dec_seqs);
    free(ctx->dec_want);
    free(ctx);
}

/* Lays out the activation buffers in one allocation; returns false on
 * overflow or out of memory. */
static bool alloc_arena(lorc_context *ctx) {
    const lorc_hparams *hp = &ctx->model->hp;
    const uint64_t nb = (uint64_t)ctx->n_batch;
    const uint64_t q_dim = (uint64_t)hp->n_head * (uint64_t)hp->head_dim;
    const uint64_t kv_dim = (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim;
    const uint64_t vec = q_dim > (uint64_t)hp->n_embd ? q_dim : (uint64_t)hp->n_embd;
    /* Sizes in floats, each region rounded to 16 floats (64 bytes). */
    uint64_t sizes[13];
    int n = 0;
    bool ok = true;
    uint64_t s;
    ok &= lorc_mul_u64(nb, (uint64_t)hp->n_embd, &s), sizes[n++] = s; /* x */
    sizes[n++] = s;                                                  /* xn */
    sizes[n++] = s;                                                  /* tmp */
    ok &= lorc_mul_u64(nb, q_dim, &s), sizes[n++] = s;              /* q */
    ok &= lorc_mul_u64(nb, kv_dim, &s), sizes[n++] = s;             /* k */
    sizes[n++] = s;                                                  /* v */
    ok &= lorc_mul_u64(nb, q_dim, &s), sizes[n++] = s;              /* att */
    ok &= lorc_mul_u64(nb, (uint64_t)hp->n_ff, &s), sizes[n++] = s; /* gate */
    sizes[n++] = s;                                                  /* up */
    ok &= lorc_mul_u64(nb, (uint64_t)(hp->rope_dim ? hp->rope_dim : 1), &s), sizes[n++] = s; /* rope_cs */
    ok &= lorc_mul_u64((uint64_t)ctx->n_threads, (uint64_t)ctx->n_ctx, &s), sizes[n++] = s; /* scores */
    sizes[n++] = vec;                                                                     /* vec */
    uint64_t total = 0;
    for (int i = 0; i < n && ok; i++) ok &= lorc_add_u64(total, (sizes[i] + 15) & ~(uint64_t)15, &total);
    uint64_t bytes;
    if (!ok || !lorc_mul_u64(total, sizeof(float), &bytes) || bytes > SIZE_MAX) return false;
    ctx->arena = calloc((size_t)total, sizeof(float));
    if (!ctx->arena) return false;
    float **dst[] = {&ctx->x,    &ctx->xn,   &ctx->tmp, &ctx->q,       &ctx->k,      &ctx->v,  &ctx->att,
                     &ctx->gate, &ctx->up,   &ctx->rope_cs, &ctx->scores, &ctx->vec};
    float *p = ctx->arena;
    for (int i = 0; i < n; i++) {
        *dst[i] = p;
        p += (sizes[i] + 15) & ~(uint64_t)15;
    }
    return true;
}

lorc_status lorc_context_new(lorc_model *model, const lorc_context_params *params, lorc_context **out,
                             lorc_error *err) {
    *out = NULL;
    lorc_context_params p = params ? *params : lorc_context_default_params();
    if (!model) return lorc_fail(err, LORC_ERR_INVALID, "context: no model");
    if (p.n_threads < 0 || p.n_ctx < 0 || p.n_batch < 0)
        return lorc_fail(err, LORC_ERR_INVALID, "context: negative n_threads/n_ctx/n_batch (%d/%d/%d)", p.n_threads,
                         p.n_ctx, p.n_batch);
    if (p.n_threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = nc > 0 ? (int)(nc < 256 ? nc : 256) : 1;
    }
    if (p.n_threads > 1024) return lorc_fail(err, LORC_ERR_INVALID, "context: %d threads is too many", p.n_threads);
    if (p.n_ctx == 0) p.n_ctx = model->hp.n_ctx_train;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;

    lorc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lorc_fail(err, LORC_ERR_NOMEM, "context: out of memory");
    ctx->model = model;
    ctx->n_threads = p.n_threads;
    ctx->n_ctx = p.n_ctx;
    ctx->n_batch = p.n_batch;
    size_t nb = (size_t)p.n_batch;
    ctx->row_lora = calloc(nb, sizeof *ctx->row_lora);
    ctx->out_rows = calloc(nb, sizeof *ctx->out_rows);
    ctx->dec_pos = calloc(nb, sizeof *ctx->dec_pos);
    ctx->dec_seqs = calloc(nb, sizeof *ctx->dec_seqs);
    ctx->dec_want = calloc(nb, sizeof *ctx->dec_want);
    if (!ctx->row_lora || !ctx->out_rows || !ctx->dec_pos || !ctx->dec_seqs || !ctx->dec_want ||
        !alloc_arena(ctx)) {
        lorc_context_free(ctx);
        return lorc_fail(err, LORC_ERR_NOMEM, "context: out of memory for n_batch %d, n_ctx %d", p.n_batch, p.n_ctx);
    }
    ctx->pool = lorc_threadpool_new(p.n_threads);
    if (!ctx->pool) {
        lorc_context_free(ctx);
        return lorc_fail(err, LORC_ERR_NOMEM, "context: cannot start %d threads", p.n_threads);
    }
    *out = ctx;
    return LORC_OK;
}

int lorc_context_n_ctx(const lorc_context *ctx) { return ctx->n_ctx; }

/* ------------------------------------------------------------ sequences */

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
    free(seq->k_cache);
    free(seq->v_cache);
    free(seq);
}

void lorc_sequence_reset(lorc_sequence *seq) {
    if (seq) seq->n_past = 0;
}

int lorc_sequence_n_past(const lorc_sequence *seq) { return seq->n_past; }

/* ------------------------------------------------------------ decode */

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
