/* context.h — forward-pass state: the context (thread pool + scratch, shared
 * by sequences) and the sequence (KV cache, position, adapter set).
 * lorc_forward runs one batch of tokens that may belong to several
 * sequences, each with its own adapters, through the model. */
#ifndef LORC_ENGINE_CONTEXT_H
#define LORC_ENGINE_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "../adapter/adapter.h"
#include "../adapter/registry.h"
#include "../base/threadpool.h"
#include "../tensor/kernels.h"
#include "../tensor/matmul.h"
#include "../model/model.h"
#include "kv_pool.h"

/* Query vectors (query rows × the GQA group's heads) one attention work
 * item scores against its KV head at once. */
#define LORC_ATTN_QUERIES 32
/* Positions of V an attention work item makes F32 at once (whole pages, at
 * least one), so that P·V runs over them in one pass: 32 KB at head_dim 64. */
#define LORC_ATTN_V_TOKENS 128
static inline int lorc_attn_v_pages(int page_tokens) {
    return page_tokens < LORC_ATTN_V_TOKENS ? LORC_ATTN_V_TOKENS / page_tokens : 1;
}
/* Floats of one thread's share of ctx->kvbuf: a chunk of V (lorc_attn_v_pages
 * pages) of one head as F32; a page's K rows fit in it too. */
static inline uint64_t lorc_attn_kvbuf_floats(int page_tokens, int head_dim) {
    return (uint64_t)lorc_attn_v_pages(page_tokens) * (uint64_t)page_tokens * (uint64_t)head_dim;
}
/* Products one lorc_matmul_multi dispatch holds in the forward pass (Q, K, V). */
#define LORC_MAX_FUSED 3

/* Shared by the sequences of one model: the pool, the kernel table, and
 * scratch sized once for n_batch tokens so a forward pass allocates nothing
 * (the matmul scratch grows only the first time a shape needs more). */
struct lorc_context {
    lorc_model *model;        /* borrowed */
    lorc_threadpool *pool;    /* owned */
    lorc_kernels kern;        /* chosen once from the CPU and params.kernels / LORC_KERNELS */
    int n_threads;
    int n_ctx;                /* positions per sequence */
    int n_batch;              /* max tokens per forward pass */
    lorc_matmul_scratch mm;   /* owned */
    float *arena;             /* owned: every activation buffer below points into it */
    float *x;                 /* [n_batch][n_embd] residual stream */
    float *xn;                /* [n_batch][n_embd] normed input of a block */
    float *tmp;               /* [n_batch][n_embd] block output before the residual add */
    float *q;                 /* [n_batch][n_head*head_dim] */
    float *k;                 /* [n_batch][n_head_kv*head_dim] */
    float *v;                 /* [n_batch][n_head_kv*head_dim] */
    float *att;               /* [n_batch][n_head*head_dim] attention output */
    float *gate;              /* [n_batch][n_ff] */
    float *up;                /* [n_batch][n_ff] */
    float *rope_cs;           /* [n_batch][rope_dim] cos/sin pairs per token */
    int attn_rows;            /* query rows per attention work item (LORC_ATTN_QUERIES / GQA group) */
    size_t attn_qpack_bytes;  /* one query vector packed in the K type's act format (0: not packable) */
    float *scores;            /* [n_threads][attn_rows * group][n_ctx] attention weights */
    float *qpack;             /* [n_threads][attn_rows * group * attn_qpack_bytes] packed queries */
    float *vec;               /* [LORC_MAX_FUSED][max(n_embd, n_head*head_dim)] norm/bias weights as F32 */
    float *kvbuf;             /* [n_threads][lorc_attn_kvbuf_floats] one head's K or V rows as F32 */
    lorc_kv_pool kv;          /* owned: the KV pages of every sequence, and the prefix cache */
    const lorc_lora_list **row_lora; /* owned [LORC_MAX_FUSED][n_batch]: per-row adapter lists of a dispatch's slots */
    int32_t *attn_block;      /* owned [n_batch + 1]: first batch row of each attention row block */
    int32_t *out_rows;        /* owned [n_batch]: batch rows that want logits */
    int32_t *dec_pos;         /* owned [n_batch]: lorc_decode's batch */
    lorc_sequence **dec_seqs; /* owned [n_batch] */
    bool *dec_want;           /* owned [n_batch] */
    int32_t *dec_tokens;      /* owned [n_batch]: lorc_decode_batch's rows */
    int *dec_past;            /* owned [n_batch]: each item's n_past before the step */
    float *dec_logits;        /* owned, grown on demand: the step's logits rows before they go to the items */
    size_t dec_logits_bytes;
    lorc_matmul_stats step_mm; /* products of the last forward pass, summed (LoRA grouping across sequences) */
};

struct lorc_sequence {
    lorc_context *ctx;     /* borrowed */
    int n_ctx;             /* capacity in positions */
    int n_past;            /* positions filled */
    /* KV cache: page i (ctx->kv) holds positions [i*P, (i+1)*P), P = kv_page_tokens. */
    int32_t *pages;        /* owned [cap_pages] page ids; n_pages held */
    uint64_t *page_keys;   /* owned [cap_pages] prefix-cache keys of pages [0, n_keyed) */
    int32_t *tokens;       /* owned [cap_pages * P] the token at each position */
    int n_pages, cap_pages, n_keyed;
    uint64_t identity;     /* prefix-cache identity at the first token (prefix_cache.c) */
    bool publish;          /* identity unchanged since then: full pages may be published */
    int kv_want;           /* scratch of lorc_kv_prepare: positions the step needs, 0: counted */
    lorc_adapter_set adapters;
    lorc_overlay *overlay; /* borrowed (lorc_sequence_set_overlay): replaces base tensors for this sequence's rows; NULL: none */
    lorc_registry_hold held; /* registry references taken by lorc_sequence_use, released when replaced or freed */
};

/* One forward pass: token i sits at position pos[i] of seqs[i]. Tokens of a
 * sequence must be in increasing consecutive positions starting at its n_past. */
typedef struct lorc_batch {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    lorc_sequence *const *seqs;
    const bool *want_logits; /* NULL: every token */
} lorc_batch;

/* Runs the batch; logits of the tokens with want_logits are written in
 * order, n_vocab floats each. Updates each sequence's n_past. */
lorc_status lorc_forward(lorc_context *ctx, const lorc_batch *batch, float *logits, lorc_error *err);

#endif
