/* attention.c — causal self-attention as blocked products over the KV
 * pages. A work item is one block of query rows of one sequence and one KV
 * head: the queries of those rows for every head of the GQA group (they
 * share K and V) are scored against each page's K. F16 and F32 K are kept
 * by dimension (kv_pool.h) and scored by the vec kernel scores_cols, 16
 * positions per FMA; Q8_0 K rows by the type's tile kernel (K rows play
 * the weight rows, the queries packed once into its activation format).
 * Then softmax, and P·V over V made F32 once per item, a chunk of pages
 * at a time, each row added into several queries' sums at once (vec kernel
 * weighted_rows_f32). The pages two ahead are prefetched in both passes.
 *
 * Batch invariance: each (query, key) score is one tile pair (bit-identical
 * whatever the tile), each query's softmax covers exactly its own
 * positions, and P·V adds V rows in position order; so a row's output does
 * not depend on the rows around it, nor on the thread that computed it. */
#include "attention.h"

#include "../tensor/types.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Below this many multiply-adds a layer's attention runs on the calling
 * thread; the result is the same either way. */
#define ATTN_PARALLEL_MIN_WORK 32768

int lorc_attention_blocks(lorc_context *ctx, const lorc_batch *b) {
    int n_blocks = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        const int first = n_blocks > 0 ? ctx->attn_block[n_blocks - 1] : -1;
        if (first < 0 || b->seqs[i] != b->seqs[i - 1] || i - first >= ctx->attn_rows) ctx->attn_block[n_blocks++] = i;
    }
    ctx->attn_block[n_blocks] = b->n_tokens;
    return n_blocks;
}

typedef struct attn_job {
    lorc_context *ctx;
    const lorc_batch *b;
    int layer;
    int n_items; /* blocks × KV heads */
    atomic_int next;
} attn_job;

/* Scores of n_q packed queries against the nr K rows at `kc` (row stride
 * k_stride bytes): sc[c * n_ctx + t] for t < nr. */
static void scores_tiled(const lorc_type_kernel *e, int hd, const uint8_t *kc, size_t k_stride, int nr_all,
                         const uint8_t *qp, size_t q_bytes, int n_q, float *sc, int n_ctx) {
    const int tr = e->tile_rows, tc = e->tile_cols;
    for (int t0 = 0; t0 < nr_all; t0 += tr) {
        const int nr = nr_all - t0 < tr ? nr_all - t0 : tr;
        for (int c0 = 0; c0 < n_q; c0 += tc) {
            const int nc = n_q - c0 < tc ? n_q - c0 : tc;
            e->tile(hd, kc + (size_t)t0 * k_stride, k_stride, nr, qp + (size_t)c0 * q_bytes, q_bytes, nc,
                    sc + (size_t)c0 * (size_t)n_ctx + (size_t)t0, (size_t)n_ctx);
        }
    }
}

/* KV pages ahead of the one in use asked into the cache: pages are
 * separate allocations, so the hardware prefetchers stop at each page's
 * edge, and decode at a long context waited on memory page after page. */
enum { PREFETCH_PAGES = 2 };

static inline void prefetch_bytes(const uint8_t *p, size_t bytes) {
    const uintptr_t end = (uintptr_t)p + bytes;
    for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)63; a < end; a += 64) __builtin_prefetch((const void *)a);
}

/* rows [0, nr) of a page's head slice: nr pieces of `bytes` at `stride` */
static inline void prefetch_rows(const uint8_t *p, int nr, size_t stride, size_t bytes) {
    for (int t = 0; t < nr; t++) prefetch_bytes(p + (size_t)t * stride, bytes);
}

/* One head's slice of rows [0, nr) of a page as F32 rows of hd values
 * at buf. */
static void rows_to_f32(const lorc_vec_kernels *vk, lorc_type type, const uint8_t *rows, size_t row_bytes, int nr,
                        int hd, float *buf) {
    if (type == LORC_TYPE_F32) {
        for (int t = 0; t < nr; t++) memcpy(buf + (size_t)t * (size_t)hd, rows + (size_t)t * row_bytes, (size_t)hd * 4);
        return;
    }
    const lorc_to_float_fn to_float = type == LORC_TYPE_F16 ? vk->f16_to_f32 : lorc_type_get(type)->to_float;
    for (int t = 0; t < nr; t++) to_float(rows + (size_t)t * row_bytes, buf + (size_t)t * (size_t)hd, hd);
}

/* One head's slice of rows [0, nr) of a page as F32: in place for F32
 * (*stride set to the row length in floats), else dequantized into buf. */
static const float *rows_f32(const lorc_vec_kernels *vk, lorc_type type, const uint8_t *rows, size_t row_bytes,
                             int nr, int hd, float *buf, size_t *stride) {
    if (type == LORC_TYPE_F32) {
        *stride = row_bytes / sizeof(float);
        return (const float *)(const void *)rows;
    }
    rows_to_f32(vk, type, rows, row_bytes, nr, hd, buf);
    *stride = (size_t)hd;
    return buf;
}

static void attn_item(const attn_job *jb, int item, float *sc, uint8_t *qp, float *kvbuf) {
    lorc_context *ctx = jb->ctx;
    const lorc_batch *b = jb->b;
    const lorc_hparams *hp = &ctx->model->hp;
    const lorc_vec_kernels *vk = &ctx->kern.vec;
    const lorc_kv_pool *kv = &ctx->kv;
    const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, P = kv->page_tokens;
    const int64_t q_dim = (int64_t)hp->n_head * hd;
    const int blk = item / hp->n_head_kv, kvh = item % hp->n_head_kv;
    const int i0 = ctx->attn_block[blk], i1 = ctx->attn_block[blk + 1];
    const lorc_sequence *s = b->seqs[i0];
    const int n_kv_max = b->pos[i1 - 1] + 1, n_q = (i1 - i0) * group;
    const float scale = 1.0f / sqrtf((float)hd);
    /* Query c is head kvh·group + c % group of batch row i0 + c / group. */
#define QUERY(c) (ctx->q + (int64_t)(i0 + (c) / group) * q_dim + (int64_t)(kvh * group + (c) % group) * hd)
#define OUTPUT(c) (ctx->att + (int64_t)(i0 + (c) / group) * q_dim + (int64_t)(kvh * group + (c) % group) * hd)
#define N_KV(c) (b->pos[i0 + (c) / group] + 1)
#define K_ROWS(pg) (lorc_kv_k(kv, s->pages[pg], jb->layer, 0) + (size_t)kvh * kv->head_k)
#define V_ROWS(pg) (lorc_kv_v(kv, s->pages[pg], jb->layer, 0) + (size_t)kvh * kv->head_v)
#define K_COLS(pg) lorc_kv_k_cols(kv, s->pages[pg], jb->layer, kvh)
#define PAGE_ROWS(pg) (n_kv_max - (pg) * P < P ? n_kv_max - (pg) * P : P) /* positions in page pg */
    const int n_pg = (n_kv_max + P - 1) / P;

    /* Q·Kᵀ page by page: a score is one FMA chain over the dimensions
     * (scores_cols) or one (K row, query) pair of the tile (Q8_0), the same
     * bits wherever the page boundary falls. */
    if (kv->k_cols) {
        /* the queries side by side as F32 rows (qp holds head_dim floats per query) */
        float *qf = (float *)(void *)qp;
        for (int c = 0; c < n_q; c++) memcpy(qf + (size_t)c * (size_t)hd, QUERY(c), (size_t)hd * sizeof(float));
        const size_t k_block = (size_t)hd * (size_t)P * (kv->type_k == LORC_TYPE_F16 ? 2 : 4);
        for (int pg = 0; pg < PREFETCH_PAGES && pg < n_pg; pg++) prefetch_bytes(K_COLS(pg), k_block);
        for (int pg = 0; pg < n_pg; pg++) {
            const int t0 = pg * P, nr = PAGE_ROWS(pg);
            if (pg + PREFETCH_PAGES < n_pg) prefetch_bytes(K_COLS(pg + PREFETCH_PAGES), k_block);
            vk->scores_cols(n_q, hd, qf, K_COLS(pg), kv->type_k == LORC_TYPE_F16, (size_t)P, nr, sc + t0,
                            (size_t)ctx->n_ctx);
        }
    } else if (ctx->attn_qpack_bytes) {
        const lorc_type_kernel *e = &ctx->kern.type[kv->type_k];
        for (int c = 0; c < n_q; c++) e->act->from_float(QUERY(c), qp + (size_t)c * ctx->attn_qpack_bytes, hd);
        for (int pg = 0; pg < n_pg; pg++) {
            const int t0 = pg * P, nr = PAGE_ROWS(pg);
            scores_tiled(e, hd, K_ROWS(pg), kv->row_k, nr, qp, ctx->attn_qpack_bytes, n_q, sc + t0, ctx->n_ctx);
        }
    } else {
        for (int pg = 0; pg < n_pg; pg++) {
            const int t0 = pg * P, nr = PAGE_ROWS(pg);
            size_t stride;
            const float *k = rows_f32(vk, kv->type_k, K_ROWS(pg), kv->row_k, nr, hd, kvbuf, &stride);
            for (int c = 0; c < n_q; c++)
                for (int t = t0; t < t0 + nr && t < N_KV(c); t++)
                    sc[(size_t)c * (size_t)ctx->n_ctx + (size_t)t] =
                        vk->dot_f32(QUERY(c), k + (size_t)(t - t0) * stride, hd);
        }
    }
    for (int c = 0; c < n_q; c++) {
        float *row = sc + (size_t)c * (size_t)ctx->n_ctx;
        const int n_kv = N_KV(c);
        vk->softmax_scaled_f32(row, n_kv, scale);
        memset(OUTPUT(c), 0, (size_t)hd * sizeof(float));
    }
    /* P·V: the V rows of a chunk of pages are made F32 once for all the
     * block's queries, and the vec kernel adds each row into several
     * queries' sums at once; every output still sums its rows in position
     * order, one multiply-add per position. The block's rows are in
     * increasing positions, so the queries that see position t are a suffix
     * [c_first, n_q) that shrinks as t grows: a chunk splits into runs of
     * positions with one suffix. Chunks of several pages: with one page
     * (16 positions) a call, loading and storing the sums took more time
     * than the multiply-adds between. */
    int c_first = 0;
    const int chunk_pages = lorc_attn_v_pages(P);
    for (int pg = 0; pg < PREFETCH_PAGES && pg < n_pg; pg++)
        prefetch_rows(V_ROWS(pg), PAGE_ROWS(pg), kv->row_v, kv->head_v);
    for (int pg0 = 0; pg0 < n_pg; pg0 += chunk_pages) {
        const int t0 = pg0 * P, nr = n_kv_max - t0 < chunk_pages * P ? n_kv_max - t0 : chunk_pages * P;
        for (int pg = pg0; pg < n_pg && pg < pg0 + chunk_pages; pg++) {
            if (pg + PREFETCH_PAGES < n_pg)
                prefetch_rows(V_ROWS(pg + PREFETCH_PAGES), PAGE_ROWS(pg + PREFETCH_PAGES), kv->row_v, kv->head_v);
            rows_to_f32(vk, kv->type_v, V_ROWS(pg), kv->row_v, PAGE_ROWS(pg), hd, kvbuf + (size_t)(pg - pg0) * P * hd);
        }
        const float *v = kvbuf;
        const size_t stride = (size_t)hd;
        for (int t = t0; t < t0 + nr;) {
            while (N_KV(c_first) <= t) c_first++; /* t < n_kv_max = N_KV(n_q - 1): stops inside */
            const int run_end = N_KV(c_first) < t0 + nr ? N_KV(c_first) : t0 + nr;
            for (int c0 = c_first; c0 < n_q; c0 += LORC_ATTN_QUERIES) {
                const int nc = n_q - c0 < LORC_ATTN_QUERIES ? n_q - c0 : LORC_ATTN_QUERIES;
                float *out[LORC_ATTN_QUERIES];
                for (int c = 0; c < nc; c++) out[c] = OUTPUT(c0 + c);
                vk->weighted_rows_f32(nc, run_end - t, sc + (size_t)c0 * (size_t)ctx->n_ctx + (size_t)t,
                                      (size_t)ctx->n_ctx, v + (size_t)(t - t0) * stride, stride, out, hd);
            }
            t = run_end;
        }
    }
#undef QUERY
#undef OUTPUT
#undef N_KV
#undef K_ROWS
#undef V_ROWS
#undef K_COLS
#undef PAGE_ROWS
}

static void attn_worker(void *user, int ith, int nth) {
    (void)nth;
    attn_job *jb = user;
    lorc_context *ctx = jb->ctx;
    const lorc_hparams *hp = &ctx->model->hp;
    const size_t n_queries = (size_t)ctx->attn_rows * (size_t)(hp->n_head / hp->n_head_kv);
    float *sc = ctx->scores + (size_t)ith * n_queries * (size_t)ctx->n_ctx;
    const size_t q_floats = (ctx->attn_qpack_bytes + sizeof(float) - 1) / sizeof(float);
    uint8_t *qp = (uint8_t *)(ctx->qpack + (size_t)ith * n_queries * q_floats);
    float *kvbuf = ctx->kvbuf + (size_t)ith * lorc_attn_kvbuf_floats(ctx->kv.page_tokens, hp->head_dim);
    for (;;) {
        const int item = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (item >= jb->n_items) return;
        attn_item(jb, item, sc, qp, kvbuf);
    }
}

void lorc_attention(lorc_context *ctx, const lorc_batch *b, int layer, int n_blocks) {
    const lorc_hparams *hp = &ctx->model->hp;
    attn_job jb = {.ctx = ctx, .b = b, .layer = layer, .n_items = n_blocks * hp->n_head_kv};
    atomic_init(&jb.next, 0);
    /* Multiply-adds (Q·Kᵀ and P·V): a short context on a tiny model is not
     * worth waking the pool for. */
    int64_t work = 0;
    for (int i = 0; i < b->n_tokens; i++) work += (int64_t)(b->pos[i] + 1) * hp->n_head * hp->head_dim * 2;
    if (work > ATTN_PARALLEL_MIN_WORK && jb.n_items > 1)
        lorc_threadpool_run(ctx->pool, attn_worker, &jb);
    else
        attn_worker(&jb, 0, 1);
}
