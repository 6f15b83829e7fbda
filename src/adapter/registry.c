/* registry.c — lorc_registry: named adapters and overlays over one base.
 * This file holds the name table (a chained hash table on xxhash of the
 * name, so lookups never scan the entries) and the calls that only read or
 * flip entry fields; loading, the budget and eviction are in
 * registry_load.c, references in registry_use.c. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../format/fingerprint.h"
#include "overlay.h"
#include "registry_internal.h"

#define INITIAL_BUCKETS 64

static uint64_t name_hash(const char *name) { return lorc_fingerprint_bytes(name, strlen(name)); }

lorc_registry_entry *registry_find(lorc_registry *reg, const char *name) {
    uint64_t h = name_hash(name);
    for (lorc_registry_entry *e = reg->buckets[h & (reg->n_buckets - 1)]; e; e = e->hash_next)
        if (e->hash == h && !strcmp(e->name, name)) return e;
    return NULL;
}

void registry_queue(lorc_registry *reg, lorc_registry_entry *e) {
    e->state = LORC_ENTRY_LOADING;
    e->queue_next = NULL;
    if (reg->queue_tail)
        reg->queue_tail->queue_next = e;
    else
        reg->queue_head = e;
    reg->queue_tail = e;
    pthread_cond_signal(&reg->work);
}

void registry_lru_unlink(lorc_registry *reg, lorc_registry_entry *e) {
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        reg->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        reg->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

void registry_lru_push(lorc_registry *reg, lorc_registry_entry *e) {
    e->lru_next = NULL;
    e->lru_prev = reg->lru_tail;
    if (reg->lru_tail)
        reg->lru_tail->lru_next = e;
    else
        reg->lru_head = e;
    reg->lru_tail = e;
}

lorc_status lorc_registry_new(lorc_model *model, size_t budget_bytes, lorc_registry **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_new: out is NULL");
    *out = NULL;
    if (!model) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_new: model is NULL");
    lorc_registry *reg = calloc(1, sizeof *reg);
    lorc_registry_entry **buckets = calloc(INITIAL_BUCKETS, sizeof *buckets);
    if (!reg || !buckets) {
        free(reg);
        free(buckets);
        return lorc_fail(err, LORC_ERR_NOMEM, "registry: out of memory");
    }
    reg->model = model;
    reg->budget = budget_bytes;
    reg->buckets = buckets;
    reg->n_buckets = INITIAL_BUCKETS;
    reg->table_bytes = INITIAL_BUCKETS * sizeof *buckets;
    int inited = 0;
    if (pthread_mutex_init(&reg->lock, NULL) == 0) inited++;
    if (inited == 1 && pthread_cond_init(&reg->work, NULL) == 0) inited++;
    if (inited == 2 && pthread_cond_init(&reg->done, NULL) == 0) inited++;
    if (inited == 3 && pthread_create(&reg->thread, NULL, registry_loader_main, reg) == 0) inited++;
    if (inited < 4) {
        if (inited > 2) pthread_cond_destroy(&reg->done);
        if (inited > 1) pthread_cond_destroy(&reg->work);
        if (inited > 0) pthread_mutex_destroy(&reg->lock);
        free(buckets);
        free(reg);
        return lorc_fail(err, LORC_ERR_NOMEM, "registry: cannot start the loader thread");
    }
    *out = reg;
    return LORC_OK;
}

void lorc_registry_free(lorc_registry *reg) {
    if (!reg) return;
    pthread_mutex_lock(&reg->lock);
    reg->stop = true;
    pthread_cond_signal(&reg->work);
    pthread_mutex_unlock(&reg->lock);
    pthread_join(reg->thread, NULL);
    for (size_t b = 0; b < reg->n_buckets; b++) {
        lorc_registry_entry *e = reg->buckets[b];
        while (e) {
            lorc_registry_entry *next = e->hash_next;
            registry_free_loaded(e->adapter, e->overlay);
            free(e->error);
            free(e);
            e = next;
        }
    }
    free(reg->buckets);
    pthread_cond_destroy(&reg->done);
    pthread_cond_destroy(&reg->work);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* Doubles the bucket array once entries outnumber buckets (chains stay ~1). */
static void grow(lorc_registry *reg) {
    size_t n = reg->n_buckets * 2;
    lorc_registry_entry **b = calloc(n, sizeof *b);
    if (!b) return; /* longer chains, still correct */
    for (size_t i = 0; i < reg->n_buckets; i++) {
        lorc_registry_entry *e = reg->buckets[i];
        while (e) {
            lorc_registry_entry *next = e->hash_next;
            e->hash_next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(reg->buckets);
    reg->table_bytes += (n - reg->n_buckets) * sizeof *b;
    reg->buckets = b;
    reg->n_buckets = n;
}

lorc_status lorc_registry_add(lorc_registry *reg, const char *name, const char *path, lorc_entry_kind kind,
                              lorc_error *err) {
    if (!reg || !name || !path) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_add: NULL argument");
    if (!*name) return lorc_fail(err, LORC_ERR_INVALID, "registry: empty entry name (path '%s')", path);
    if (!*path) return lorc_fail(err, LORC_ERR_INVALID, "registry: entry '%s' has an empty path", name);
    if (kind != LORC_ENTRY_AUTO && kind != LORC_ENTRY_LORA && kind != LORC_ENTRY_OVERLAY)
        return lorc_fail(err, LORC_ERR_INVALID, "registry: entry '%s': unknown kind %d", name, (int)kind);
    size_t nl = strlen(name) + 1, pl = strlen(path) + 1;
    lorc_registry_entry *e = calloc(1, sizeof *e + nl + pl);
    if (!e) return lorc_fail(err, LORC_ERR_NOMEM, "registry: out of memory adding '%s'", name);
    memcpy(e->name, name, nl);
    memcpy(e->name + nl, path, pl);
    e->path = e->name + nl;
    e->reg = reg;
    e->hash = name_hash(name);
    e->kind = (uint8_t)kind;
    e->state = LORC_ENTRY_COLD;
    pthread_mutex_lock(&reg->lock);
    if (registry_find(reg, name)) {
        pthread_mutex_unlock(&reg->lock);
        free(e);
        return lorc_fail(err, LORC_ERR_INVALID, "registry: entry '%s' is already registered", name);
    }
    if ((size_t)reg->count >= reg->n_buckets) grow(reg);
    size_t b = e->hash & (reg->n_buckets - 1);
    e->hash_next = reg->buckets[b];
    reg->buckets[b] = e;
    reg->count++;
    reg->table_bytes += sizeof *e + nl + pl;
    pthread_mutex_unlock(&reg->lock);
    return LORC_OK;
}

static void unlink_hash(lorc_registry *reg, lorc_registry_entry *e) {
    lorc_registry_entry **p = &reg->buckets[e->hash & (reg->n_buckets - 1)];
    while (*p != e) p = &(*p)->hash_next;
    *p = e->hash_next;
}

lorc_status lorc_registry_remove(lorc_registry *reg, const char *name, lorc_error *err) {
    if (!reg || !name) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_remove: NULL argument");
    pthread_mutex_lock(&reg->lock);
    lorc_registry_entry *e = registry_find(reg, name);
    lorc_status st = LORC_OK;
    if (!e) {
        st = lorc_fail(err, LORC_ERR_INVALID, "registry: no entry named '%s'", name);
    } else if (e->refs > 0 || e->waiters > 0) {
        st = lorc_fail(err, LORC_ERR_BUSY, "registry: entry '%s' is in use by %d sequence(s)", name,
                       e->refs + e->waiters);
    } else if (e->state == LORC_ENTRY_LOADING) {
        /* the loader thread holds the record until the load ends */
        st = lorc_fail(err, LORC_ERR_BUSY, "registry: entry '%s' is loading; remove it once the load ends", name);
    } else {
        unlink_hash(reg, e);
        if (e->state == LORC_ENTRY_READY) {
            registry_lru_unlink(reg, e);
            reg->resident -= e->bytes;
        }
        reg->count--;
        reg->table_bytes -= sizeof *e + strlen(e->name) + strlen(e->path) + 2;
    }
    pthread_mutex_unlock(&reg->lock);
    if (st == LORC_OK) {
        registry_free_loaded(e->adapter, e->overlay);
        free(e->error);
        free(e);
    }
    return st;
}

lorc_status lorc_registry_pin(lorc_registry *reg, const char *name, bool pinned, lorc_error *err) {
    if (!reg || !name) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_pin: NULL argument");
    pthread_mutex_lock(&reg->lock);
    lorc_registry_entry *e = registry_find(reg, name);
    if (e) e->pinned = pinned;
    pthread_mutex_unlock(&reg->lock);
    return e ? LORC_OK : lorc_fail(err, LORC_ERR_INVALID, "registry: no entry named '%s'", name);
}

lorc_status lorc_registry_info(lorc_registry *reg, const char *name, lorc_entry_info *out, lorc_error *err) {
    if (!reg || !name || !out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_info: NULL argument");
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&reg->lock);
    lorc_registry_entry *e = registry_find(reg, name);
    if (e) {
        out->kind = (lorc_entry_kind)e->kind;
        out->state = (lorc_entry_state)e->state;
        out->bytes = e->state == LORC_ENTRY_READY ? e->bytes : 0;
        out->pinned = e->pinned;
        out->refs = e->refs;
        out->last_use = e->last_use;
        out->loads = e->loads;
        if (e->state == LORC_ENTRY_FAILED && e->error) {
            strncpy(out->error, e->error, sizeof out->error - 1);
            out->error[sizeof out->error - 1] = '\0';
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return e ? LORC_OK : lorc_fail(err, LORC_ERR_INVALID, "registry: no entry named '%s'", name);
}

lorc_status lorc_registry_prefetch(lorc_registry *reg, const char *name, lorc_error *err) {
    if (!reg || !name) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_prefetch: NULL argument");
    pthread_mutex_lock(&reg->lock);
    lorc_registry_entry *e = registry_find(reg, name);
    if (e && (e->state == LORC_ENTRY_COLD || e->state == LORC_ENTRY_FAILED)) registry_queue(reg, e);
    pthread_mutex_unlock(&reg->lock);
    return e ? LORC_OK : lorc_fail(err, LORC_ERR_INVALID, "registry: no entry named '%s'", name);
}

size_t lorc_registry_resident_bytes(lorc_registry *reg) {
    if (!reg) return 0;
    pthread_mutex_lock(&reg->lock);
    size_t n = reg->resident;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

size_t lorc_registry_budget(const lorc_registry *reg) { return reg ? reg->budget : 0; }

int lorc_registry_count(lorc_registry *reg) {
    if (!reg) return 0;
    pthread_mutex_lock(&reg->lock);
    int n = reg->count;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

void lorc_registry_get_stats(lorc_registry *reg, lorc_registry_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!reg) return;
    pthread_mutex_lock(&reg->lock);
    out->registered = reg->count;
    for (const lorc_registry_entry *e = reg->lru_head; e; e = e->lru_next) out->resident++;
    for (const lorc_registry_entry *e = reg->queue_head; e; e = e->queue_next) out->loading++;
    /* The entry being loaded has already left the queue. */
    if (reg->loading_now) out->loading++;
    out->resident_bytes = reg->resident;
    out->budget_bytes = reg->budget;
    out->loads = reg->n_loads;
    out->load_failures = reg->n_load_failures;
    out->evictions = reg->n_evictions;
    pthread_mutex_unlock(&reg->lock);
}

size_t lorc_registry_table_bytes(lorc_registry *reg) {
    if (!reg) return 0;
    pthread_mutex_lock(&reg->lock);
    size_t n = reg->table_bytes + sizeof *reg;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

void lorc_registry_set_load_hook(lorc_registry *reg, lorc_registry_load_hook fn, void *user) {
    pthread_mutex_lock(&reg->lock);
    reg->load_hook = fn;
    reg->load_hook_user = user;
    pthread_mutex_unlock(&reg->lock);
}
