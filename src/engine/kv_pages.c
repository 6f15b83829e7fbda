/* kv_pages.c — page tables of sequences (kv_pages.h). */
#include "kv_pages.h"

#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "prefix_cache.h"

lorc_status lorc_kv_full(const lorc_context *ctx, int64_t need, lorc_error *err) {
    const lorc_kv_pool *p = &ctx->kv;
    return lorc_fail(err, LORC_ERR_KV_FULL,
                     "KV page pool exhausted: %lld pages of %zu bytes in use, budget %zu (%lld more pages needed)",
                     (long long)p->n_alloc, p->page_bytes, p->budget_bytes, (long long)need);
}

static int pages_for(const lorc_kv_pool *p, int n_pos) { return (n_pos + p->page_tokens - 1) / p->page_tokens; }

/* True when the page position n_past falls in is held and shared: the
 * next write into it must go to a private copy. */
static bool needs_copy(const lorc_sequence *seq) {
    const lorc_kv_pool *p = &seq->ctx->kv;
    const int idx = seq->n_past / p->page_tokens;
    if (seq->n_past % p->page_tokens == 0 || idx >= seq->n_pages) return false;
    const lorc_kv_page *pg = &p->pages[seq->pages[idx]];
    return pg->ref > 1 || pg->cached;
}

/* Pages the sequence must take to cover [0, n_pos) and write at n_past. */
static int64_t pages_needed(const lorc_sequence *seq, int n_pos) {
    const int more = pages_for(&seq->ctx->kv, n_pos) - seq->n_pages;
    return (more > 0 ? more : 0) + (needs_copy(seq) ? 1 : 0);
}

bool lorc_kv_seq_table(lorc_sequence *seq, int n) {
    if (n <= seq->cap_pages) return true;
    const size_t P = (size_t)seq->ctx->kv.page_tokens;
    int cap = seq->cap_pages ? seq->cap_pages : 4;
    while (cap < n) cap *= 2;
    int32_t *pages = realloc(seq->pages, (size_t)cap * sizeof *pages);
    if (!pages) return false;
    seq->pages = pages;
    uint64_t *keys = realloc(seq->page_keys, (size_t)cap * sizeof *keys);
    if (!keys) return false;
    seq->page_keys = keys;
    int32_t *tokens = realloc(seq->tokens, (size_t)cap * P * sizeof *tokens);
    if (!tokens) return false;
    seq->tokens = tokens;
    seq->cap_pages = cap;
    return true;
}

/* Takes the pages pages_needed() counted; on failure the sequence holds
 * what it held before (a copied page stays copied: same content). */
static lorc_status take_pages(lorc_sequence *seq, int n_pos, lorc_error *err) {
    lorc_kv_pool *p = &seq->ctx->kv;
    const int want = pages_for(p, n_pos);
    if (!lorc_kv_seq_table(seq, want))
        return lorc_fail(err, LORC_ERR_NOMEM, "KV cache: out of memory for a page table of %d pages", want);
    if (needs_copy(seq)) {
        const int idx = seq->n_past / p->page_tokens;
        const int32_t id = lorc_kv_page_take(p);
        if (id < 0) return lorc_kv_full(seq->ctx, 1, err);
        memcpy(p->pages[id].data, p->pages[seq->pages[idx]].data, p->page_bytes);
        lorc_kv_page_release(p, seq->pages[idx]);
        seq->pages[idx] = id;
        if (seq->n_keyed > idx) seq->n_keyed = idx;
    }
    const int held = seq->n_pages;
    while (seq->n_pages < want) {
        const int32_t id = lorc_kv_page_take(p);
        if (id < 0) {
            const int64_t short_by = want - seq->n_pages;
            while (seq->n_pages > held) lorc_kv_page_release(p, seq->pages[--seq->n_pages]);
            return lorc_kv_full(seq->ctx, short_by, err);
        }
        seq->pages[seq->n_pages++] = id;
    }
    return LORC_OK;
}

lorc_status lorc_kv_seq_reserve(lorc_sequence *seq, int n_pos, lorc_error *err) {
    const int64_t need = pages_needed(seq, n_pos);
    if (need == 0) return LORC_OK;
    if (need > lorc_kv_pool_available(&seq->ctx->kv)) return lorc_kv_full(seq->ctx, need, err);
    return take_pages(seq, n_pos, err);
}

void lorc_kv_seq_trim(lorc_sequence *seq) {
    lorc_kv_pool *p = &seq->ctx->kv;
    const int keep = pages_for(p, seq->n_past);
    while (seq->n_pages > keep) lorc_kv_page_release(p, seq->pages[--seq->n_pages]);
    /* Keys are of full pages below n_past only. */
    if (seq->n_keyed > seq->n_past / p->page_tokens) seq->n_keyed = seq->n_past / p->page_tokens;
}

void lorc_kv_seq_clear(lorc_sequence *seq) {
    /* Last page first: see lorc_kv_page_release on the LRU order. */
    while (seq->n_pages > 0) lorc_kv_page_release(&seq->ctx->kv, seq->pages[--seq->n_pages]);
    seq->n_keyed = 0;
}

lorc_status lorc_kv_prepare(lorc_context *ctx, const lorc_batch *b, lorc_error *err) {
    /* Each sequence's furthest position this step (its rows are in
     * increasing positions, so its last row). */
    for (int i = 0; i < b->n_tokens; i++) b->seqs[i]->kv_want = b->pos[i] + 1;
    int64_t need = 0;
    const uint64_t base = lorc_prefix_base_identity(ctx->model);
    for (int i = 0; i < b->n_tokens; i++) {
        lorc_sequence *s = b->seqs[i];
        if (s->kv_want <= 0) continue;
        need += pages_needed(s, s->kv_want);
        /* Identity: fixed at the first token; any change after it stops
         * publishing (those pages were computed under mixed weights). */
        const uint64_t id = lorc_prefix_identity(s, base);
        if (s->n_past == 0) {
            s->identity = id;
            s->publish = true;
            s->n_keyed = 0;
        } else if (id != s->identity) {
            s->publish = false;
        }
        s->kv_want = -s->kv_want; /* counted; the sign keeps the target for the pass below */
    }
    if (need > lorc_kv_pool_available(&ctx->kv)) {
        for (int i = 0; i < b->n_tokens; i++) b->seqs[i]->kv_want = 0;
        return lorc_kv_full(ctx, need, err);
    }
    lorc_status st = LORC_OK;
    for (int i = 0; i < b->n_tokens; i++) {
        lorc_sequence *s = b->seqs[i];
        if (s->kv_want < 0 && st == LORC_OK) st = take_pages(s, -s->kv_want, err);
        s->kv_want = 0;
    }
    if (st != LORC_OK) {
        /* Out of memory part way: give back what this step took. */
        for (int i = 0; i < b->n_tokens; i++) lorc_kv_seq_trim(b->seqs[i]);
        return st;
    }
    for (int i = 0; i < b->n_tokens; i++) b->seqs[i]->tokens[b->pos[i]] = b->tokens[i];
    return LORC_OK;
}

/* One position's K row into a page kept by dimension (kv_pool.h): the row
 * converted by to_k (elementwise, so the bits of a value converted alone),
 * a piece at a time, then each value to its dimension's row. One call per
 * value cost ~1% of a prompt's time. */
static void store_k_cols(const lorc_kv_pool *p, lorc_from_float_fn to_k, const float *k, int32_t id, int layer,
                         int slot, int n_head_kv, int hd) {
    enum { PIECE = 64 };
    uint8_t conv[PIECE * 4];
    const size_t eb = p->type_k == LORC_TYPE_F16 ? 2 : 4;
    for (int h = 0; h < n_head_kv; h++) {
        uint8_t *dst = lorc_kv_k_cols(p, id, layer, h) + eb * (size_t)slot;
        const float *src = k + (int64_t)h * hd;
        for (int d0 = 0; d0 < hd; d0 += PIECE) {
            const int n = hd - d0 < PIECE ? hd - d0 : PIECE;
            to_k(src + d0, conv, n);
            uint8_t *col = dst + eb * (size_t)d0 * (size_t)p->page_tokens;
            const size_t step = eb * (size_t)p->page_tokens;
            if (eb == 2) /* copies of constant size: inlined */
                for (int d = 0; d < n; d++) memcpy(col + step * (size_t)d, conv + 2 * (size_t)d, 2);
            else
                for (int d = 0; d < n; d++) memcpy(col + step * (size_t)d, conv + 4 * (size_t)d, 4);
        }
    }
}

void lorc_kv_store(lorc_context *ctx, const lorc_batch *b, int layer, int i0, int i1) {
    const lorc_kv_pool *p = &ctx->kv;
    const lorc_hparams *hp = &ctx->model->hp;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    /* F16 through the vec kernel (F16C where the CPU has it): same bits. */
    const lorc_from_float_fn to_k =
        p->type_k == LORC_TYPE_F16 ? ctx->kern.vec.f32_to_f16 : lorc_type_get(p->type_k)->from_float;
    const lorc_from_float_fn to_v =
        p->type_v == LORC_TYPE_F16 ? ctx->kern.vec.f32_to_f16 : lorc_type_get(p->type_v)->from_float;
    for (int i = i0; i < i1; i++) {
        const lorc_sequence *s = b->seqs[i];
        const int32_t id = s->pages[b->pos[i] / p->page_tokens];
        const int slot = b->pos[i] % p->page_tokens;
        if (p->k_cols)
            store_k_cols(p, to_k, ctx->k + i * kv_dim, id, layer, slot, hp->n_head_kv, hp->head_dim);
        else
            to_k(ctx->k + i * kv_dim, lorc_kv_k(p, id, layer, slot), kv_dim);
        to_v(ctx->v + i * kv_dim, lorc_kv_v(p, id, layer, slot), kv_dim);
    }
}
