/* strmap.h — open-addressing hash map from byte strings to int32 values,
 * used for token text -> id and BPE merge -> rank (100k+ entries each, so
 * lookups must be O(1)). Keys are borrowed: they must outlive the map. */
#ifndef LORC_TEXT_STRMAP_H
#define LORC_TEXT_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap_slot {
    const char *key; /* borrowed; NULL marks an empty slot */
    uint32_t len;
    uint32_t hash; /* low bits of the key hash, to skip most memcmp calls */
    int32_t value;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots; /* owned; capacity is a power of two */
    size_t cap;
    size_t count;
} strmap;

/* Sizes the table for `expected` keys. Returns false on OOM. */
bool strmap_init(strmap *m, size_t expected);
void strmap_free(strmap *m);

/* Inserts key -> value unless the key is present. Returns 1 when inserted,
 * 0 when the key already existed (its value is left unchanged), -1 on OOM. */
int strmap_insert(strmap *m, const char *key, size_t len, int32_t value);

/* The value stored for the key, or -1 when absent. */
int32_t strmap_get(const strmap *m, const char *key, size_t len);

#endif
