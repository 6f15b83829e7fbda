/* forward.c — one forward pass of a llama/qwen2 model over a batch of tokens
 * (possibly from several sequences, each with its own KV cache and
 * adapters). Every linear layer is one blocked product over all batch
 * rows, layers reading the same input sharing one dispatch to the pool (Q, K
 * and V; gate and up); attention (attention.c) runs on the kernel table in
 * blocks of query rows; the final norm and output projection run only for
 * the rows that want logits. */
#include <string.h>

#include "../base/error.h"
#include "../tensor/ops.h"
#include "../tensor/types.h"
#include "attention.h"
#include "context.h"
#include "kv_pages.h"
#include "prefix_cache.h"

/* A 1-D weight (norm, bias, rope factors) as F32: in place when it is F32,
 * else dequantized into `buf`. NULL stays NULL. */
static const float *vec_f32(const lorc_tensor *t, float *buf) {
    if (!t) return NULL;
    if (t->type == LORC_TYPE_F32) return t->data;
    lorc_tensor_row_f32(t, 0, buf);
    return buf;
}

/* A row's RMSNorm weights: its sequence's overlay's (an F32 vector, checked
 * when the overlay was set), else the shared ones. */
static const float *row_norm(const lorc_sequence *s, int slot, const float *shared) {
    const lorc_lora_list *l = lorc_adapter_set_slot(&s->adapters, slot);
    return l && l->replace ? (const float *)l->replace->data : shared;
}

/* Per-row adapter lists of `slot` for the rows listed in `rows` (NULL: all),
 * kept in `dst`; NULL when none of those rows' sequences carries an adapter. */
static const lorc_lora_list *const *row_lists(const lorc_batch *b, int slot, const int32_t *rows, int n,
                                              const lorc_lora_list **dst) {
    bool any = false;
    for (int i = 0; i < n; i++) {
        const lorc_sequence *s = b->seqs[rows ? rows[i] : i];
        const lorc_lora_list *l = lorc_adapter_set_slot(&s->adapters, slot);
        dst[i] = l;
        any |= l != NULL;
    }
    return any ? (const lorc_lora_list *const *)dst : NULL;
}

/* SwiGLU over the batch's n * n_ff values, split across the pool in
 * slices of whole 64-value runs (the kernel gives each element the same
 * bits wherever it sits, so the split changes nothing). */
typedef struct swiglu_job {
    const lorc_vec_kernels *vk;
    float *gate;
    const float *up;
    int64_t n;
} swiglu_job;

static void swiglu_worker(void *user, int ith, int nth) {
    const swiglu_job *j = user;
    const int64_t runs = (j->n + 63) / 64;
    const int64_t r0 = runs * ith / nth, r1 = runs * (ith + 1) / nth;
    const int64_t i0 = r0 * 64, i1 = r1 * 64 < j->n ? r1 * 64 : j->n;
    if (i1 > i0) j->vk->swiglu_f32(j->gate + i0, j->up + i0, i1 - i0);
}

static void swiglu(lorc_context *ctx, int64_t n) {
    swiglu_job j = {&ctx->kern.vec, ctx->gate, ctx->up, n};
    /* below a few thousand values a dispatch costs more than it saves */
    if (n < 4096)
        swiglu_worker(&j, 0, 1);
    else
        lorc_threadpool_run(ctx->pool, swiglu_worker, &j);
}

/* The per-row steps between the products (residual add, RMSNorm, RoPE,
 * the K/V store) over the batch's rows, split across the pool for a
 * prompt: each row is computed whole by one thread, as it is alone, so the
 * split changes no bits. On one thread they held ~3% of a Q4_0 pp512's
 * samples while the other core waited. */
typedef enum { ROWS_ADD_NORM, ROWS_ROPE_STORE } rows_step;

typedef struct rows_job {
    lorc_context *ctx;
    const lorc_batch *b;
    rows_step step;
    int layer;
    const float *add;  /* ROWS_ADD_NORM: added into x first (NULL: nothing) */
    int norm_slot;     /* ROWS_ADD_NORM: the norm's slot (-1: no norm, x only) */
    const float *norm; /* ... and its shared weights */
    const lorc_rope_cfg *rope;
} rows_job;

/* Below this many rows a dispatch costs more than it saves. */
#define ROWS_PARALLEL_MIN 16

static void rows_worker(void *user, int ith, int nth) {
    const rows_job *j = user;
    lorc_context *ctx = j->ctx;
    const lorc_hparams *hp = &ctx->model->hp;
    const int n = j->b->n_tokens, i0 = n * ith / nth, i1 = n * (ith + 1) / nth;
    const int64_t n_embd = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    for (int i = i0; i < i1; i++) {
        if (j->step == ROWS_ROPE_STORE) {
            const float *cs = ctx->rope_cs + (int64_t)i * hp->rope_dim;
            lorc_rope_apply(j->rope, ctx->q + i * q_dim, hp->n_head, cs);
            lorc_rope_apply(j->rope, ctx->k + i * kv_dim, hp->n_head_kv, cs);
            continue;
        }
        float *x = ctx->x + i * n_embd;
        if (j->add)
            for (int64_t e = 0; e < n_embd; e++) x[e] += j->add[i * n_embd + e];
        if (j->norm_slot >= 0)
            lorc_rmsnorm(ctx->xn + i * n_embd, x, row_norm(j->b->seqs[i], j->norm_slot, j->norm), (int)n_embd,
                         hp->norm_eps);
    }
    if (j->step == ROWS_ROPE_STORE) lorc_kv_store(ctx, j->b, j->layer, i0, i1);
}

static void rows_run(const rows_job *j) {
    if (j->b->n_tokens < ROWS_PARALLEL_MIN)
        rows_worker((void *)j, 0, 1);
    else
        lorc_threadpool_run(j->ctx->pool, rows_worker, (void *)j);
}

/* One linear layer's product in a fused dispatch. */
typedef struct linear_op {
    int slot;
    const float *bias;
    float *y;
} linear_op;

/* The products of n_ops linear layers that read the same input x (rows
 * `rows` of the batch, NULL: all n), in one dispatch: the threads share
 * out the output rows of all of them (Q, K and V; gate and up). */
static lorc_status linears(lorc_context *ctx, const lorc_batch *b, const linear_op *ops, int n_ops, const float *x,
                           const int32_t *rows, int n, lorc_error *err) {
    lorc_matmul_args a[LORC_MAX_FUSED];
    for (int k = 0; k < n_ops; k++) {
        const int slot = ops[k].slot;
        const lorc_tensor *w =
            slot == lorc_slot_global(GW_OUTPUT) ? lorc_model_output(ctx->model) : ctx->model->w[slot];
        a[k] = (lorc_matmul_args){w, ops[k].bias, x, ops[k].y, n,
                                  row_lists(b, slot, rows, n, ctx->row_lora + (size_t)k * (size_t)ctx->n_batch)};
    }
    if (lorc_matmul_multi(&ctx->kern, ctx->pool, &ctx->mm, a, n_ops) == 0) {
        const lorc_matmul_stats *ms = &ctx->mm.stats;
        ctx->step_mm.base_parts += ms->base_parts;
        ctx->step_mm.replace_parts += ms->replace_parts;
        ctx->step_mm.a_parts += ms->a_parts;
        ctx->step_mm.b_parts += ms->b_parts;
    } else {
        /* Name the product that fails on its own (error path only). */
        int bad = 0;
        for (int k = 0; n_ops > 1 && k < n_ops; k++)
            if (lorc_matmul(&ctx->kern, ctx->pool, &ctx->mm, &a[k]) != 0) {
                bad = k;
                break;
            }
        char name[96];
        return lorc_fail(err, LORC_ERR_NOMEM,
                         "forward: matrix product for '%s' failed (out of memory or an unusable adapter tensor)",
                         lorc_model_slot_name(ctx->model, ops[bad].slot, name, sizeof name));
    }
    return LORC_OK;
}

static lorc_status linear(lorc_context *ctx, const lorc_batch *b, int slot, const float *x, float *y,
                          const int32_t *rows, int n, lorc_error *err) {
    linear_op op = {slot, NULL, y};
    return linears(ctx, b, &op, 1, x, rows, n, err);
}

/* ------------------------------------------------------------ checks */

/* Tokens in range; positions inside each sequence's context and consecutive
 * from its n_past, in batch order. Nothing is computed before this passes. */
static lorc_status check_batch(const lorc_context *ctx, const lorc_batch *b, const float *logits, lorc_error *err) {
    const int n_vocab = ctx->model->hp.n_vocab;
    if (b->n_tokens < 0 || b->n_tokens > ctx->n_batch)
        return lorc_fail(err, LORC_ERR_INVALID, "forward: %d tokens in a batch, the context allows 1..%d", b->n_tokens,
                         ctx->n_batch);
    bool any_logits = false;
    for (int i = 0; i < b->n_tokens; i++) {
        const lorc_sequence *s = b->seqs[i];
        if (!s || s->ctx != ctx)
            return lorc_fail(err, LORC_ERR_INVALID, "forward: batch row %d has no sequence of this context", i);
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            return lorc_fail(err, LORC_ERR_INVALID, "forward: token %d at batch row %d is outside the vocabulary (0..%d)",
                             b->tokens[i], i, n_vocab - 1);
        int expect = s->n_past;
        for (int j = i - 1; j >= 0; j--)
            if (b->seqs[j] == s) {
                expect = b->pos[j] + 1;
                break;
            }
        if (b->pos[i] != expect)
            return lorc_fail(err, LORC_ERR_INVALID, "forward: batch row %d is at position %d, its sequence expects %d", i,
                             b->pos[i], expect);
        if (b->pos[i] >= s->n_ctx)
            return lorc_fail(err, LORC_ERR_CONTEXT_FULL,
                             "context full: %d positions used, position %d requested, capacity %d", s->n_past,
                             b->pos[i], s->n_ctx);
        any_logits |= !b->want_logits || b->want_logits[i];
    }
    if (any_logits && !logits) return lorc_fail(err, LORC_ERR_INVALID, "forward: logits wanted but no output buffer");
    return LORC_OK;
}

/* ------------------------------------------------------------ forward */

lorc_status lorc_forward(lorc_context *ctx, const lorc_batch *b, float *logits, lorc_error *err) {
    lorc_status st = check_batch(ctx, b, logits, err);
    if (st != LORC_OK || b->n_tokens == 0) return st;
    memset(&ctx->step_mm, 0, sizeof ctx->step_mm);
    /* Every page the step writes is taken now, or the step fails here with
     * nothing computed and no sequence changed. */
    if ((st = lorc_kv_prepare(ctx, b, err)) != LORC_OK) return st;
    const lorc_model *m = ctx->model;
    const lorc_hparams *hp = &m->hp;
    const int n = b->n_tokens, n_embd = hp->n_embd, n_ff = hp->n_ff, hd = hp->head_dim;
    const int64_t q_dim = (int64_t)hp->n_head * hd;

    /* Embeddings (with each row's token_embd adapter terms). */
    for (int i = 0; i < n; i++) {
        const lorc_lora_list *l = lorc_adapter_set_slot(&b->seqs[i]->adapters, lorc_slot_global(GW_TOKEN_EMBD));
        if (lorc_embed_row(m->w[GW_TOKEN_EMBD], l, b->tokens[i], ctx->x + (int64_t)i * n_embd, &ctx->mm) != 0)
            return lorc_fail(err, LORC_ERR_NOMEM, "forward: embedding lookup with adapters failed");
    }

    /* RoPE angles once per token, shared by every layer and head. */
    lorc_rope_cfg rope = {
        .head_dim = hd,
        .n_rot = hp->rope_dim,
        .neox = hp->rope_neox,
        .freq_base = hp->rope_freq_base,
        .freq_scale = 1.0f / hp->rope_scale,
        .freq_factors = vec_f32(m->w[GW_ROPE_FREQS], ctx->vec),
    };
    for (int i = 0; i < n; i++) lorc_rope_angles(&rope, b->pos[i], ctx->rope_cs + (int64_t)i * hp->rope_dim);
    const int n_blocks = lorc_attention_blocks(ctx, b);
    /* Room for one 1-D weight (norm or bias) in ctx->vec; Q, K and V's
     * biases take three. */
    const int64_t vec_len = q_dim > n_embd ? q_dim : n_embd;

    for (int l = 0; l < hp->n_layer; l++) {
        const lorc_tensor *const *w = m->w + lorc_slot_layer(l, 0);
        /* Attention block (after the previous layer's feed-forward output
         * is added in). */
        const rows_job attn_norm = {.ctx = ctx,
                                    .b = b,
                                    .step = ROWS_ADD_NORM,
                                    .add = l > 0 ? ctx->tmp : NULL,
                                    .norm_slot = lorc_slot_layer(l, LW_ATTN_NORM),
                                    .norm = vec_f32(w[LW_ATTN_NORM], ctx->vec)};
        rows_run(&attn_norm);
        const linear_op qkv[3] = {
            {lorc_slot_layer(l, LW_ATTN_Q), vec_f32(w[LW_ATTN_Q_BIAS], ctx->vec), ctx->q},
            {lorc_slot_layer(l, LW_ATTN_K), vec_f32(w[LW_ATTN_K_BIAS], ctx->vec + vec_len), ctx->k},
            {lorc_slot_layer(l, LW_ATTN_V), vec_f32(w[LW_ATTN_V_BIAS], ctx->vec + 2 * vec_len), ctx->v},
        };
        if ((st = linears(ctx, b, qkv, 3, ctx->xn, NULL, n, err))) goto fail;
        /* Attention reads every K/V row back from the pages, the rows of
         * this step too: a row's result is the same whatever batch or chunk
         * wrote it. */
        const rows_job rope_store = {.ctx = ctx, .b = b, .step = ROWS_ROPE_STORE, .layer = l, .rope = &rope};
        rows_run(&rope_store);
        lorc_attention(ctx, b, l, n_blocks);
        if ((st = linear(ctx, b, lorc_slot_layer(l, LW_ATTN_OUT), ctx->att, ctx->tmp, NULL, n, err))) goto fail;

        /* Feed-forward block (SwiGLU), after the attention output is added in. */
        const rows_job ffn_norm = {.ctx = ctx,
                                   .b = b,
                                   .step = ROWS_ADD_NORM,
                                   .add = ctx->tmp,
                                   .norm_slot = lorc_slot_layer(l, LW_FFN_NORM),
                                   .norm = vec_f32(w[LW_FFN_NORM], ctx->vec)};
        rows_run(&ffn_norm);
        const linear_op gate_up[2] = {
            {lorc_slot_layer(l, LW_FFN_GATE), NULL, ctx->gate},
            {lorc_slot_layer(l, LW_FFN_UP), NULL, ctx->up},
        };
        if ((st = linears(ctx, b, gate_up, 2, ctx->xn, NULL, n, err))) goto fail;
        swiglu(ctx, (int64_t)n * n_ff);
        if ((st = linear(ctx, b, lorc_slot_layer(l, LW_FFN_DOWN), ctx->gate, ctx->tmp, NULL, n, err))) goto fail;
    }
    /* the last layer's feed-forward output */
    const rows_job last_add = {.ctx = ctx, .b = b, .step = ROWS_ADD_NORM, .add = ctx->tmp, .norm_slot = -1};
    rows_run(&last_add);

    /* Final norm and output projection for the rows that want logits, packed
     * into xn in batch order. */
    int n_out = 0;
    const float *onorm = vec_f32(m->w[GW_OUTPUT_NORM], ctx->vec);
    for (int i = 0; i < n; i++) {
        if (b->want_logits && !b->want_logits[i]) continue;
        lorc_rmsnorm(ctx->xn + (int64_t)n_out * n_embd, ctx->x + (int64_t)i * n_embd,
                     row_norm(b->seqs[i], lorc_slot_global(GW_OUTPUT_NORM), onorm), n_embd, hp->norm_eps);
        ctx->out_rows[n_out++] = i;
    }
    if (n_out > 0 &&
        (st = linear(ctx, b, lorc_slot_global(GW_OUTPUT), ctx->xn, logits, ctx->out_rows, n_out, err)))
        goto fail;

    for (int i = 0; i < n; i++) b->seqs[i]->n_past = b->pos[i] + 1;
    for (int i = 0; i < n; i++)
        if (i == n - 1 || b->seqs[i + 1] != b->seqs[i]) lorc_prefix_publish(b->seqs[i]);
    return LORC_OK;
fail:
    /* KV rows past each n_past may have been written; they are dead data, as
     * n_past is unchanged, and the pages taken for them go back. */
    for (int i = 0; i < n; i++) lorc_kv_seq_trim(b->seqs[i]);
    return st;
}
