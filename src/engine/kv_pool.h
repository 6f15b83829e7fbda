/* kv_pool.h — the context's pool of KV pages and the prefix-cache table.
 *
 * A page holds kv_page_tokens consecutive positions of ONE sequence for
 * EVERY layer: per layer, the K rows of those positions, then their V rows
 * (each row n_head_kv * head_dim values in the cache's element type; F16
 * and F32 K by dimension instead, k_cols below). One
 * page per run of positions, rather than one per layer, because everything
 * the engine does with KV happens per position range: a sequence grows by
 * positions, a prefix is shared by positions, and a page's content is fixed
 * by the tokens before and in it — so one page table, one reference count
 * and one prefix-cache key cover all layers at once.
 *
 * Pages are reference-counted (the sequences holding them) and may also be
 * published in the prefix table under a key (prefix_cache.c). A page with
 * no holder that is published is "idle": it stays for later reuse until the
 * pool needs room, then goes least recently used first. A page with no
 * holder that is not published is freed at once.
 *
 * Not thread-safe: like the context's scratch, one thread at a time. */
#ifndef LORC_ENGINE_KV_POOL_H
#define LORC_ENGINE_KV_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/model.h"
#include "../tensor/types.h"

typedef struct lorc_kv_page {
    uint8_t *data;     /* owned; NULL: the slot is unused */
    int32_t ref;       /* sequences holding the page */
    bool cached;       /* published in the prefix table under `key` */
    uint64_t key;
    uint64_t last_use; /* pool clock at the last publish or reuse (LRU) */
    int32_t next;      /* next page of its hash bucket, or next free slot */
} lorc_kv_page;

typedef struct lorc_kv_pool {
    int page_tokens;
    int n_layer;
    lorc_type type_k, type_v;
    size_t row_k, row_v;     /* bytes of one position's K (V) row: n_head_kv * head_dim values */
    size_t head_k, head_v;   /* bytes of one head's slice of a row */
    /* K (F16, F32) kept by dimension: per head, head_dim rows of
     * page_tokens values (lorc_kv_k_cols), so that attention scores 16
     * positions with one FMA per dimension (vec kernel scores_cols) rather
     * than a dot product and a horizontal sum per position. Q8_0 K keeps
     * its rows: its blocks run along the dimensions. */
    bool k_cols;
    size_t layer_bytes;      /* page_tokens * (row_k + row_v) */
    size_t page_bytes;       /* n_layer * layer_bytes */
    size_t budget_bytes;     /* 0: no limit */
    int64_t budget_pages;    /* budget_bytes / page_bytes; -1: no limit */
    int64_t idle_cap;        /* most idle cached pages kept without a budget; -1: the budget bounds them */
    bool prefix_cache;
    lorc_kv_page *pages;     /* owned [cap] page slots */
    int32_t n_slots, cap;
    int32_t free_slot;       /* head of the unused-slot list (-1: none) */
    int64_t n_alloc;         /* pages with data */
    int64_t n_idle;          /* published pages no sequence holds */
    int32_t *buckets;        /* owned [n_buckets] prefix table heads (-1: empty) */
    int32_t n_buckets;       /* power of two */
    int64_t n_cached;
    uint64_t clock;
} lorc_kv_pool;

/* Sets the pool up for `hp` (nothing allocated until pages are taken).
 * Without a budget, idle cached pages are kept up to the pages of one full
 * context of n_ctx positions (at least 64): a long-running process that
 * never reuses its prompts must not grow without bound. */
void lorc_kv_pool_init(lorc_kv_pool *pool, const lorc_hparams *hp, lorc_type type_k, lorc_type type_v,
                       int page_tokens, int n_ctx, size_t budget_bytes, bool prefix_cache);
void lorc_kv_pool_free(lorc_kv_pool *pool);

/* Pages that can still be taken: room under the budget plus idle cached
 * pages that would be evicted. */
int64_t lorc_kv_pool_available(const lorc_kv_pool *pool);
/* A new page held once (ref 1), evicting the least recently used idle page
 * when the budget is reached; -1 when no page can be had (budget reached
 * with nothing idle, or out of memory). */
int32_t lorc_kv_page_take(lorc_kv_pool *pool);
void lorc_kv_page_hold(lorc_kv_pool *pool, int32_t id);
/* Drops one hold; an unpublished page nobody holds is freed. */
void lorc_kv_page_release(lorc_kv_pool *pool, int32_t id);

/* Publishes a full page under `key`; false (nothing changes) when the key
 * is already present or the page is already published. */
bool lorc_kv_pool_publish(lorc_kv_pool *pool, int32_t id, uint64_t key);
/* The page published under `key`, or -1. */
int32_t lorc_kv_pool_lookup(const lorc_kv_pool *pool, uint64_t key);

/* K (V) row of slot `slot` (< page_tokens) of `layer` in page `id`
 * (K: only when !pool->k_cols). */
static inline uint8_t *lorc_kv_k(const lorc_kv_pool *pool, int32_t id, int layer, int slot) {
    return pool->pages[id].data + (size_t)layer * pool->layer_bytes + (size_t)slot * pool->row_k;
}
/* K of head `h` of `layer` in page `id` when pool->k_cols: value d of
 * slot t at element d * page_tokens + t. */
static inline uint8_t *lorc_kv_k_cols(const lorc_kv_pool *pool, int32_t id, int layer, int h) {
    return pool->pages[id].data + (size_t)layer * pool->layer_bytes + (size_t)h * pool->head_k * (size_t)pool->page_tokens;
}
static inline uint8_t *lorc_kv_v(const lorc_kv_pool *pool, int32_t id, int layer, int slot) {
    return pool->pages[id].data + (size_t)layer * pool->layer_bytes + (size_t)pool->page_tokens * pool->row_k +
           (size_t)slot * pool->row_v;
}

#endif
