/* prefix_cache.c — page keys, publishing, lorc_sequence_reuse_prefix
 * (prefix_cache.h). */
#include "prefix_cache.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no allocation, no failure path */
#include <xxhash.h>

#include "../adapter/overlay.h"
#include "kv_pages.h"

uint64_t lorc_prefix_base_identity(const lorc_model *model) {
    XXH3_state_t h;
    XXH3_64bits_reset_withSeed(&h, model->fingerprint);
    /* A globally applied overlay swaps model->w; slot and tensor address
     * name what is in use for as long as the overlay stays applied. */
    for (int s = 0; s < model->n_slots; s++) {
        if (model->w[s] == model->base[s]) continue;
        const void *data = model->w[s] ? model->w[s]->data : NULL;
        XXH3_64bits_update(&h, &s, sizeof s);
        XXH3_64bits_update(&h, &data, sizeof data);
    }
    return XXH3_64bits_digest(&h);
}

uint64_t lorc_prefix_identity(const lorc_sequence *seq, uint64_t base) {
    XXH3_state_t h;
    XXH3_64bits_reset_withSeed(&h, base);
    const uint64_t ov = seq->overlay ? seq->overlay->identity : 0;
    const uint8_t has_ov = seq->overlay != NULL;
    XXH3_64bits_update(&h, &has_ov, 1);
    XXH3_64bits_update(&h, &ov, sizeof ov);
    const lorc_adapter_set *set = &seq->adapters;
    XXH3_64bits_update(&h, &set->n_adapters, sizeof set->n_adapters);
    for (int i = 0; i < set->n_adapters; i++) {
        uint32_t bits;
        memcpy(&bits, &set->scales[i], sizeof bits);
        XXH3_64bits_update(&h, &set->adapters[i]->identity, sizeof set->adapters[i]->identity);
        XXH3_64bits_update(&h, &bits, sizeof bits);
    }
    return XXH3_64bits_digest(&h);
}

/* Key of page `i` of a token run under `identity`, after the page whose
 * key is `prev` (0 for the first page). */
static uint64_t page_key(uint64_t identity, uint64_t prev, const int32_t *tokens, int page_tokens) {
    XXH3_state_t h;
    XXH3_64bits_reset_withSeed(&h, identity);
    XXH3_64bits_update(&h, &prev, sizeof prev);
    XXH3_64bits_update(&h, tokens, (size_t)page_tokens * sizeof *tokens);
    return XXH3_64bits_digest(&h);
}

void lorc_prefix_publish(lorc_sequence *seq) {
    lorc_kv_pool *p = &seq->ctx->kv;
    if (!p->prefix_cache || !seq->publish) return;
    const int P = p->page_tokens, full = seq->n_past / P;
    for (int i = seq->n_keyed; i < full; i++) {
        const uint64_t prev = i > 0 ? seq->page_keys[i - 1] : 0;
        seq->page_keys[i] = page_key(seq->identity, prev, seq->tokens + (size_t)i * (size_t)P, P);
        /* When the key is already published (another sequence computed the
         * same page), this copy stays private and is freed with the sequence. */
        lorc_kv_pool_publish(p, seq->pages[i], seq->page_keys[i]);
    }
    if (full > seq->n_keyed) seq->n_keyed = full;
}

int lorc_sequence_reuse_prefix(lorc_sequence *seq, const int32_t *tokens, int n) {
    if (!seq || !tokens || n < 2 || seq->n_past != 0 || seq->n_pages != 0) return 0;
    lorc_kv_pool *p = &seq->ctx->kv;
    if (!p->prefix_cache || p->n_cached == 0) return 0;
    const int P = p->page_tokens;
    int max_pages = (n - 1) / P; /* whole pages of at most n - 1 tokens */
    if (max_pages > seq->n_ctx / P) max_pages = seq->n_ctx / P;
    const int32_t n_vocab = seq->ctx->model->hp.n_vocab;
    const uint64_t identity = lorc_prefix_identity(seq, lorc_prefix_base_identity(seq->ctx->model));
    int got = 0;
    uint64_t key = 0;
    for (int i = 0; i < max_pages; i++) {
        const int32_t *t = tokens + (size_t)i * (size_t)P;
        bool valid = true;
        for (int j = 0; j < P; j++) valid &= t[j] >= 0 && t[j] < n_vocab;
        if (!valid) break;
        key = page_key(identity, key, t, P);
        const int32_t id = lorc_kv_pool_lookup(p, key);
        if (id < 0 || !lorc_kv_seq_table(seq, i + 1)) break;
        lorc_kv_page_hold(p, id);
        seq->pages[i] = id;
        seq->page_keys[i] = key;
        memcpy(seq->tokens + (size_t)i * (size_t)P, t, (size_t)P * sizeof *t);
        seq->n_pages = i + 1;
        got = i + 1;
    }
    if (got == 0) return 0;
    seq->n_keyed = got;
    seq->n_past = got * P;
    seq->identity = identity;
    seq->publish = true;
    return seq->n_past;
}
