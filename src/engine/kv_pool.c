/* kv_pool.c — page slots, reference counts, the LRU eviction of idle
 * cached pages, and the prefix table (chained hash on the page key). */
#include "kv_pool.h"

#include <stdlib.h>

void lorc_kv_pool_init(lorc_kv_pool *pool, const lorc_hparams *hp, lorc_type type_k, lorc_type type_v,
                       int page_tokens, int n_ctx, size_t budget_bytes, bool prefix_cache) {
    *pool = (lorc_kv_pool){0};
    const lorc_type_info *tk = lorc_type_get(type_k), *tv = lorc_type_get(type_v);
    pool->page_tokens = page_tokens;
    pool->n_layer = hp->n_layer;
    pool->type_k = type_k;
    pool->type_v = type_v;
    /* The caller checked head_dim against the block sizes. */
    pool->head_k = (size_t)(hp->head_dim / tk->block_size) * tk->block_bytes;
    pool->head_v = (size_t)(hp->head_dim / tv->block_size) * tv->block_bytes;
    pool->row_k = pool->head_k * (size_t)hp->n_head_kv;
    pool->row_v = pool->head_v * (size_t)hp->n_head_kv;
    pool->k_cols = type_k == LORC_TYPE_F16 || type_k == LORC_TYPE_F32;
    pool->layer_bytes = (size_t)page_tokens * (pool->row_k + pool->row_v);
    pool->page_bytes = (size_t)hp->n_layer * pool->layer_bytes;
    pool->budget_bytes = budget_bytes;
    pool->budget_pages = budget_bytes ? (int64_t)(budget_bytes / pool->page_bytes) : -1;
    const int64_t ctx_pages = ((int64_t)n_ctx + page_tokens - 1) / page_tokens;
    pool->idle_cap = budget_bytes ? -1 : ctx_pages > 64 ? ctx_pages : 64;
    pool->prefix_cache = prefix_cache;
    pool->free_slot = -1;
}

void lorc_kv_pool_free(lorc_kv_pool *pool) {
    for (int32_t i = 0; i < pool->n_slots; i++) free(pool->pages[i].data);
    free(pool->pages);
    free(pool->buckets);
    *pool = (lorc_kv_pool){0};
}

int64_t lorc_kv_pool_available(const lorc_kv_pool *pool) {
    if (pool->budget_pages < 0) return INT64_MAX;
    const int64_t room = pool->budget_pages - pool->n_alloc;
    return (room > 0 ? room : 0) + pool->n_idle;
}

static uint32_t bucket_of(const lorc_kv_pool *pool, uint64_t key) {
    return (uint32_t)(key ^ (key >> 32)) & (uint32_t)(pool->n_buckets - 1);
}

static void unlink_cached(lorc_kv_pool *pool, int32_t id) {
    int32_t *link = &pool->buckets[bucket_of(pool, pool->pages[id].key)];
    while (*link != id) link = &pool->pages[*link].next;
    *link = pool->pages[id].next;
    pool->pages[id].cached = false;
    pool->n_cached--;
}

/* Frees slot `id` (its data must already be gone or handed on). */
static void slot_put(lorc_kv_pool *pool, int32_t id) {
    pool->pages[id] = (lorc_kv_page){.next = pool->free_slot};
    pool->free_slot = id;
}

/* Unpublishes the least recently used idle page and returns its buffer
 * (the slot is freed); NULL when no page is idle. A linear scan: it runs
 * once per page taken under a full budget, against a few memcpy-sized
 * page fills, and keeps the pool free of a second list to maintain. */
static uint8_t *evict_lru(lorc_kv_pool *pool) {
    if (pool->n_idle == 0) return NULL;
    int32_t best = -1;
    for (int32_t i = 0; i < pool->n_slots; i++) {
        const lorc_kv_page *p = &pool->pages[i];
        if (p->data && p->cached && p->ref == 0 && (best < 0 || p->last_use < pool->pages[best].last_use)) best = i;
    }
    if (best < 0) return NULL;
    uint8_t *data = pool->pages[best].data;
    unlink_cached(pool, best);
    pool->n_idle--;
    pool->n_alloc--;
    slot_put(pool, best);
    return data;
}

static int32_t slot_get(lorc_kv_pool *pool) {
    if (pool->free_slot >= 0) {
        const int32_t id = pool->free_slot;
        pool->free_slot = pool->pages[id].next;
        return id;
    }
    if (pool->n_slots == pool->cap) {
        if (pool->cap > INT32_MAX / 2) return -1;
        const int32_t cap = pool->cap ? pool->cap * 2 : 64;
        lorc_kv_page *grown = realloc(pool->pages, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        pool->pages = grown;
        pool->cap = cap;
    }
    return pool->n_slots++;
}

int32_t lorc_kv_page_take(lorc_kv_pool *pool) {
    uint8_t *data = NULL;
    if (pool->budget_pages >= 0 && pool->n_alloc >= pool->budget_pages) {
        data = evict_lru(pool);
        if (!data) return -1;
    } else {
        /* cache-line aligned: a head's slice of a row (128 bytes at
         * head_dim 64, F16) then spans two lines, not three */
        data = aligned_alloc(64, (pool->page_bytes + 63) & ~(size_t)63);
        if (!data) data = evict_lru(pool); /* out of memory: an idle page's buffer is as good */
        if (!data) return -1;
    }
    const int32_t id = slot_get(pool);
    if (id < 0) {
        free(data);
        return -1;
    }
    pool->pages[id] = (lorc_kv_page){.data = data, .ref = 1, .next = -1};
    pool->n_alloc++;
    return id;
}

void lorc_kv_page_hold(lorc_kv_pool *pool, int32_t id) {
    lorc_kv_page *p = &pool->pages[id];
    if (p->ref == 0 && p->cached) pool->n_idle--;
    p->ref++;
    p->last_use = ++pool->clock;
}

void lorc_kv_page_release(lorc_kv_pool *pool, int32_t id) {
    lorc_kv_page *p = &pool->pages[id];
    if (--p->ref > 0) return;
    if (p->cached) {
        /* Idle from now: its LRU age starts here. A sequence releases its
         * pages last first, so the head of a prefix chain — useless to lose
         * before its tail — is the last of them to be evicted. */
        p->last_use = ++pool->clock;
        pool->n_idle++;
        if (pool->idle_cap >= 0 && pool->n_idle > pool->idle_cap) free(evict_lru(pool));
        return;
    }
    free(p->data);
    pool->n_alloc--;
    slot_put(pool, id);
}

/* Doubles the table once it holds as many keys as buckets (chains stay
 * short); false when out of memory. */
static bool grow_table(lorc_kv_pool *pool) {
    if (pool->n_buckets > 0 && pool->n_cached < pool->n_buckets) return true;
    if (pool->n_buckets > (1 << 28)) return true; /* longer chains, still correct */
    const int32_t nb = pool->n_buckets > 0 ? pool->n_buckets * 2 : 256;
    int32_t *b = malloc((size_t)(uint32_t)nb * sizeof *b);
    if (!b) return pool->n_buckets > 0; /* longer chains, still correct */
    for (int32_t i = 0; i < nb; i++) b[i] = -1;
    free(pool->buckets);
    pool->buckets = b;
    pool->n_buckets = nb;
    for (int32_t i = 0; i < pool->n_slots; i++) {
        lorc_kv_page *p = &pool->pages[i];
        if (!p->data || !p->cached) continue;
        const uint32_t h = bucket_of(pool, p->key);
        p->next = b[h];
        b[h] = i;
    }
    return true;
}

bool lorc_kv_pool_publish(lorc_kv_pool *pool, int32_t id, uint64_t key) {
    lorc_kv_page *p = &pool->pages[id];
    if (p->cached || lorc_kv_pool_lookup(pool, key) >= 0 || !grow_table(pool)) return false;
    const uint32_t h = bucket_of(pool, key);
    p->key = key;
    p->cached = true;
    p->next = pool->buckets[h];
    p->last_use = ++pool->clock;
    pool->buckets[h] = id;
    pool->n_cached++;
    if (p->ref == 0) pool->n_idle++;
    return true;
}

int32_t lorc_kv_pool_lookup(const lorc_kv_pool *pool, uint64_t key) {
    if (pool->n_buckets == 0) return -1;
    for (int32_t i = pool->buckets[bucket_of(pool, key)]; i >= 0; i = pool->pages[i].next)
        if (pool->pages[i].key == key) return i;
    return -1;
}
