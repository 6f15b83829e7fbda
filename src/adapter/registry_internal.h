/* registry_internal.h — the registry's records, shared by its files:
 * registry.c (the name table: add, remove, pin, info), registry_load.c
 * (the loader thread, the budget and eviction) and registry_use.c
 * (acquire / release). One mutex guards everything here; it is never held
 * while a file is opened or an adapter freed. */
#ifndef LORC_ADAPTER_REGISTRY_INTERNAL_H
#define LORC_ADAPTER_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "registry.h"

/* One registered name. Registering allocates this record only (name and
 * path in its tail); the error text is allocated when a load fails. */
struct lorc_registry_entry {
    lorc_registry *reg;
    lorc_registry_entry *hash_next;            /* bucket chain */
    lorc_registry_entry *lru_prev, *lru_next;  /* READY entries, least recently used first */
    lorc_registry_entry *queue_next;           /* load queue */
    lorc_adapter *adapter;                     /* READY LoRA */
    lorc_overlay *overlay;                     /* READY overlay */
    char *error;                               /* owned: the last failed load's message */
    size_t bytes;                              /* resident bytes charged to the budget (READY) */
    uint64_t hash;
    uint64_t last_use;
    int refs;                                  /* references held (sequences using it) */
    int waiters;                               /* threads blocked on its load: not evictable meanwhile */
    int loads;
    lorc_status fail_status;
    uint8_t kind;                              /* lorc_entry_kind */
    uint8_t state;                             /* lorc_entry_state */
    bool pinned;
    const char *path;                          /* in name[] after the name's NUL */
    char name[];                               /* name NUL path NUL */
};

struct lorc_registry {
    lorc_model *model; /* borrowed */
    size_t budget;     /* 0: no limit */
    pthread_mutex_t lock;
    pthread_cond_t work; /* the loader waits for queued entries */
    pthread_cond_t done; /* acquirers wait for loads to end */
    pthread_t thread;
    bool stop;
    lorc_registry_entry **buckets; /* owned [n_buckets], a power of two */
    size_t n_buckets;
    int count;
    size_t table_bytes;      /* entry records + bucket array */
    lorc_registry_entry *lru_head, *lru_tail;
    lorc_registry_entry *queue_head, *queue_tail;
    size_t resident;         /* sum of READY entries' bytes */
    size_t reserved;         /* the estimate of the load in flight, until its real size is known */
    uint64_t clock;
    uint64_t n_loads, n_load_failures, n_evictions; /* lorc_registry_get_stats */
    bool loading_now;        /* the loader thread is in load_entry */
    lorc_registry_load_hook load_hook;
    void *load_hook_user;
};

/* Under reg->lock. */
lorc_registry_entry *registry_find(lorc_registry *reg, const char *name);
/* Queues a COLD or FAILED entry for the loader (state LOADING). */
void registry_queue(lorc_registry *reg, lorc_registry_entry *e);
void registry_lru_unlink(lorc_registry *reg, lorc_registry_entry *e);
void registry_lru_push(lorc_registry *reg, lorc_registry_entry *e);

/* The loader thread (registry_load.c). */
void *registry_loader_main(void *arg);
/* Frees what a READY entry holds (no lock needed: the entry was already
 * made unreachable under the lock). */
void registry_free_loaded(lorc_adapter *adapter, lorc_overlay *overlay);
/* Resident bytes of a loaded overlay (its mapped file and tables). */
size_t registry_overlay_bytes(const lorc_overlay *ov);

#endif
