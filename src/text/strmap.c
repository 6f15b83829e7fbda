/* strmap.c — linear-probing string hash map (xxHash3 keys), grown at 50%
 * load so probe chains stay short even for the 280k merges of Llama 3. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t key_hash(const char *key, size_t len) { return XXH3_64bits(key, len); }

bool strmap_init(strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) {
        if (cap > SIZE_MAX / 4) return false;
        cap *= 2;
    }
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = m->slots ? cap : 0;
    m->count = 0;
    return m->slots != NULL;
}

void strmap_free(strmap *m) {
    if (!m) return;
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* Index of the slot holding the key, or of the empty slot where it would go. */
static size_t find_slot(const strmap_slot *slots, size_t cap, const char *key, size_t len, uint64_t h) {
    size_t mask = cap - 1;
    size_t i = (size_t)(h >> 32) & mask;
    uint32_t h32 = (uint32_t)h;
    for (;;) {
        const strmap_slot *s = &slots[i];
        if (!s->key) return i;
        if (s->hash == h32 && s->len == len && memcmp(s->key, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

static bool grow(strmap *m) {
    if (m->cap > SIZE_MAX / 2 / sizeof *m->slots) return false;
    size_t ncap = m->cap * 2;
    strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < m->cap; i++) {
        const strmap_slot *s = &m->slots[i];
        if (!s->key) continue;
        size_t j = find_slot(ns, ncap, s->key, s->len, key_hash(s->key, s->len));
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

int strmap_insert(strmap *m, const char *key, size_t len, int32_t value) {
    if (len > UINT32_MAX) return -1;
    if (!key) key = ""; /* an empty key still needs a non-NULL pointer to mark the slot used */
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return -1;
    uint64_t h = key_hash(key, len);
    size_t i = find_slot(m->slots, m->cap, key, len, h);
    if (m->slots[i].key) return 0;
    m->slots[i].key = key;
    m->slots[i].len = (uint32_t)len;
    m->slots[i].hash = (uint32_t)h;
    m->slots[i].value = value;
    m->count++;
    return 1;
}

int32_t strmap_get(const strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    if (!key) key = "";
    size_t i = find_slot(m->slots, m->cap, key, len, key_hash(key, len));
    return m->slots[i].key ? m->slots[i].value : -1;
}
