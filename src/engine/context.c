/* context.c — contexts: the thread pool, the kernel table chosen for this
 * CPU, and activation scratch sized once for n_batch tokens. */
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "../base/huge_pages.h"
#include "../tensor/types.h"
#include "context.h"

lorc_context_params lorc_context_default_params(void) {
    lorc_context_params p = {.n_threads = 0,
                             .n_ctx = 0,
                             .n_batch = 512,
                             .kernels = NULL,
                             .type_k = LORC_KV_F16,
                             .type_v = LORC_KV_F16,
                             .kv_page_tokens = 16,
                             .kv_budget_bytes = 0,
                             .prefix_cache = true};
    return p;
}

void lorc_context_free(lorc_context *ctx) {
    if (!ctx) return;
    lorc_threadpool_free(ctx->pool);
    lorc_kv_pool_free(&ctx->kv);
    lorc_matmul_scratch_free(&ctx->mm);
    free(ctx->arena);
    free(ctx->row_lora);
    free(ctx->attn_block);
    free(ctx->out_rows);
    free(ctx->dec_pos);
    free(ctx->dec_seqs);
    free(ctx->dec_want);
    free(ctx->dec_tokens);
    free(ctx->dec_past);
    free(ctx->dec_logits);
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
    const int group = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1;
    const uint64_t n_queries = (uint64_t)ctx->attn_rows * (uint64_t)group;
    uint64_t sizes[15];
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
    ok &= lorc_mul_u64((uint64_t)ctx->n_threads, (uint64_t)ctx->n_ctx, &s) && lorc_mul_u64(s, n_queries, &s),
        sizes[n++] = s; /* scores */
    ok &= lorc_mul_u64((uint64_t)ctx->n_threads, n_queries, &s) &&
              lorc_mul_u64(s, (ctx->attn_qpack_bytes + sizeof(float) - 1) / sizeof(float), &s),
        sizes[n++] = s;                   /* qpack */
    sizes[n++] = vec * LORC_MAX_FUSED; /* vec */
    ok &= lorc_mul_u64((uint64_t)ctx->n_threads, lorc_attn_kvbuf_floats(ctx->kv.page_tokens, hp->head_dim), &s),
        sizes[n++] = s; /* kvbuf */
    uint64_t total = 0;
    for (int i = 0; i < n && ok; i++) ok &= lorc_add_u64(total, (sizes[i] + 15) & ~(uint64_t)15, &total);
    uint64_t bytes;
    if (!ok || !lorc_mul_u64(total, sizeof(float), &bytes) || bytes > SIZE_MAX) return false;
    ctx->arena = calloc((size_t)total, sizeof(float));
    if (!ctx->arena) return false;
    /* the batch's activations, which every product reads (matmul_scratch.c) */
    lorc_advise_huge_pages(ctx->arena, (size_t)total * sizeof(float));
    float **dst[] = {&ctx->x,    &ctx->xn,   &ctx->tmp, &ctx->q,       &ctx->k,      &ctx->v,  &ctx->att,
                     &ctx->gate, &ctx->up,   &ctx->rope_cs, &ctx->scores, &ctx->qpack, &ctx->vec, &ctx->kvbuf};
    float *p = ctx->arena;
    for (int i = 0; i < n; i++) {
        *dst[i] = p;
        p += (sizes[i] + 15) & ~(uint64_t)15;
    }
    return true;
}

/* Fills the kernel table from `name` ("auto", "scalar", "avx2", ...), or
 * from LORC_KERNELS when name is NULL. */
static lorc_status choose_kernels(const char *name, lorc_kernels *k, lorc_error *err) {
    const char *origin = "kernels";
    if (!name) {
        name = getenv("LORC_KERNELS");
        origin = "LORC_KERNELS";
    }
    if (!name || !*name) name = "auto";
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    int isa = lorc_isa_from_name(name);
    if (isa < 0)
        return lorc_fail(err, LORC_ERR_INVALID, "%s '%s': unknown kernel family (use auto, scalar, avx2, avx512 or neon)",
                         origin, name);
    if (isa == LORC_ISA_COUNT) {
        isa = lorc_isa_best(&cpu);
    } else if (!lorc_isa_supported(&cpu, (lorc_isa)isa)) {
        static const char *const needs[LORC_ISA_COUNT] = {"", "AVX2+FMA+F16C", "AVX-512", "NEON"};
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s '%s': this CPU lacks %s", origin, name, needs[isa]);
    } else if (!lorc_isa_built((lorc_isa)isa)) {
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s '%s': this build has no %s kernels (use auto)", origin, name,
                         name);
    }
    lorc_kernels_init(k, &cpu, (lorc_isa)isa);
    return LORC_OK;
}

/* Attention work items: rows per item, and the bytes of one query vector
 * packed for the K type's tile (0 when head_dim does not fit its act
 * format: attention then uses the vec dot kernel on F32 K rows). */
static void attn_layout(lorc_context *ctx) {
    const lorc_hparams *hp = &ctx->model->hp;
    const int group = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1;
    ctx->attn_rows = group < LORC_ATTN_QUERIES ? LORC_ATTN_QUERIES / group : 1;
    const lorc_type_kernel *e = &ctx->kern.type[ctx->kv.type_k];
    ctx->attn_qpack_bytes = 0;
    if (ctx->kv.k_cols) /* the queries as F32 rows for scores_cols */
        ctx->attn_qpack_bytes = (size_t)hp->head_dim * sizeof(float);
    else if (e->act && e->tile && hp->head_dim % e->act->block == 0)
        ctx->attn_qpack_bytes = (size_t)(hp->head_dim / e->act->block) * e->act->block_bytes;
}

/* The ggml type of a KV element type, or -1. */
static int kv_type(lorc_kv_type t) {
    switch (t) {
    case LORC_KV_F16: return LORC_TYPE_F16;
    case LORC_KV_F32: return LORC_TYPE_F32;
    case LORC_KV_Q8_0: return LORC_TYPE_Q8_0;
    }
    return -1;
}

/* Checks the KV parameters against the model and sets the pool up. */
static lorc_status kv_setup(lorc_context *ctx, const lorc_context_params *p, lorc_error *err) {
    const lorc_hparams *hp = &ctx->model->hp;
    const lorc_kv_type kinds[2] = {p->type_k, p->type_v};
    const char *const names[2] = {"type_k", "type_v"};
    int types[2];
    for (int i = 0; i < 2; i++) {
        types[i] = kv_type(kinds[i]);
        if (types[i] < 0)
            return lorc_fail(err, LORC_ERR_INVALID, "context: %s = %d is not a KV cache type (f16, f32 or q8_0)",
                             names[i], (int)kinds[i]);
        const lorc_type_info *ti = lorc_type_get((uint32_t)types[i]);
        /* Each head's slice of a row must be whole blocks: attention reads
         * one head at a time. */
        if (hp->head_dim % ti->block_size != 0)
            return lorc_fail(err, LORC_ERR_UNSUPPORTED,
                             "context: %s %s needs head_dim a multiple of %lld, the model's head_dim is %d",
                             names[i], ti->name, (long long)ti->block_size, hp->head_dim);
    }
    int page_tokens = p->kv_page_tokens ? p->kv_page_tokens : 16;
    if (page_tokens < 1 || page_tokens > 4096)
        return lorc_fail(err, LORC_ERR_INVALID, "context: kv_page_tokens = %d is outside 1..4096", p->kv_page_tokens);
    lorc_kv_pool_init(&ctx->kv, hp, (lorc_type)types[0], (lorc_type)types[1], page_tokens, p->n_ctx,
                      p->kv_budget_bytes, p->prefix_cache);
    return LORC_OK;
}

lorc_status lorc_context_new(lorc_model *model, const lorc_context_params *params, lorc_context **out,
                             lorc_error *err) {
    *out = NULL;
    lorc_context_params p = params ? *params : lorc_context_default_params();
    if (!model) return lorc_fail(err, LORC_ERR_INVALID, "context: no model");
    if (p.n_threads < 0 || p.n_ctx < 0 || p.n_batch < 0)
        return lorc_fail(err, LORC_ERR_INVALID, "context: negative n_threads/n_ctx/n_batch (%d/%d/%d)", p.n_threads,
                         p.n_ctx, p.n_batch);
    if (p.n_threads == 0) p.n_threads = lorc_physical_cores();
    if (p.n_threads > 1024) return lorc_fail(err, LORC_ERR_INVALID, "context: %d threads is too many", p.n_threads);
    if (p.n_ctx == 0) p.n_ctx = model->hp.n_ctx_train;
    if (p.n_batch == 0) p.n_batch = 512;
    /* n_batch may exceed n_ctx: one step can hold tokens of many sequences. */

    lorc_kernels kern;
    lorc_status st = choose_kernels(p.kernels, &kern, err);
    if (st != LORC_OK) return st;

    lorc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lorc_fail(err, LORC_ERR_NOMEM, "context: out of memory");
    ctx->model = model;
    ctx->kern = kern;
    ctx->n_threads = p.n_threads;
    ctx->n_ctx = p.n_ctx;
    ctx->n_batch = p.n_batch;
    size_t nb = (size_t)p.n_batch;
    if ((st = kv_setup(ctx, &p, err)) != LORC_OK) {
        lorc_context_free(ctx);
        return st;
    }
    attn_layout(ctx);
    ctx->row_lora = calloc(nb * LORC_MAX_FUSED, sizeof *ctx->row_lora);
    ctx->attn_block = calloc(nb + 1, sizeof *ctx->attn_block);
    ctx->out_rows = calloc(nb, sizeof *ctx->out_rows);
    ctx->dec_pos = calloc(nb, sizeof *ctx->dec_pos);
    ctx->dec_seqs = calloc(nb, sizeof *ctx->dec_seqs);
    ctx->dec_want = calloc(nb, sizeof *ctx->dec_want);
    ctx->dec_tokens = calloc(nb, sizeof *ctx->dec_tokens);
    ctx->dec_past = calloc(nb, sizeof *ctx->dec_past);
    if (!ctx->row_lora || !ctx->attn_block || !ctx->out_rows || !ctx->dec_pos || !ctx->dec_seqs || !ctx->dec_want ||
        !ctx->dec_tokens || !ctx->dec_past ||
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

int lorc_context_n_batch(const lorc_context *ctx) { return ctx->n_batch; }

size_t lorc_context_kv_bytes(const lorc_context *ctx) { return (size_t)ctx->kv.n_alloc * ctx->kv.page_bytes; }

size_t lorc_context_kv_budget(const lorc_context *ctx) { return ctx->kv.budget_bytes; }

lorc_kv_usage lorc_context_kv_usage(const lorc_context *ctx) {
    return (lorc_kv_usage){ctx->kv.n_alloc, ctx->kv.n_idle, ctx->kv.budget_pages, ctx->kv.page_bytes};
}

const char *lorc_context_kernels(const lorc_context *ctx) { return lorc_isa_name(ctx->kern.isa); }
