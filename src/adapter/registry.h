/* registry.h — the adapter registry's internal side, for the engine
 * (lorc_sequence_use, the scheduler): entries are acquired by name — a cold
 * one is loaded by the registry's background thread, the caller waits or
 * not — and each acquire holds a reference that keeps the entry resident
 * (never evicted, never freed, lorc_registry_remove refuses) until it is
 * released. The public side is the "registry" section of lorc.h. */
#ifndef LORC_ADAPTER_REGISTRY_H
#define LORC_ADAPTER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "lorc.h"

typedef struct lorc_registry_entry lorc_registry_entry;

/* Takes a reference on entry `name`. `want`: LORC_ENTRY_LORA or
 * LORC_ENTRY_OVERLAY (an entry of the other kind is refused with
 * LORC_ERR_INVALID), or LORC_ENTRY_AUTO (either). A cold (or failed) entry
 * is queued for loading; with `wait` the call blocks until the load ends
 * (its error when it fails), without it the call returns LORC_ERR_BUSY at
 * once while the entry is not READY (and a FAILED entry's error, without
 * retrying). Unknown name: LORC_ERR_INVALID. Thread-safe. */
lorc_status lorc_registry_acquire(lorc_registry *reg, const char *name, lorc_entry_kind want, bool wait,
                                  lorc_registry_entry **out, lorc_error *err);
/* Drops the reference (NULL: nothing). The entry may be evicted from then on. */
void lorc_registry_release(lorc_registry_entry *e);
/* The loaded object of a READY entry the caller holds a reference on
 * (NULL for the other kind). */
lorc_adapter *lorc_registry_entry_adapter(const lorc_registry_entry *e);
lorc_overlay *lorc_registry_entry_overlay(const lorc_registry_entry *e);
const char *lorc_registry_entry_name(const lorc_registry_entry *e);

/* The references a sequence holds through lorc_sequence_use. */
typedef struct lorc_registry_hold {
    int n;
    lorc_registry_entry **entries; /* owned [n] */
} lorc_registry_hold;
/* Releases every reference and empties the hold. */
void lorc_registry_hold_release(lorc_registry_hold *h);

/* Bytes the registry's own bookkeeping takes (entry records with their
 * names and paths, the hash table): what registering costs. */
size_t lorc_registry_table_bytes(lorc_registry *reg);

/* Test hook: called on the loader thread, with no lock held, right before
 * an entry's files are opened (the entry is LOADING). Lets a test hold a
 * load open and watch other threads keep working, without timing. */
typedef void (*lorc_registry_load_hook)(void *user, const char *name);
void lorc_registry_set_load_hook(lorc_registry *reg, lorc_registry_load_hook fn, void *user);

#endif
