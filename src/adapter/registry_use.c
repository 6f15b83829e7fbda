/* registry_use.c — references on registry entries: acquire (waiting for a
 * cold entry's load or not), release, and the hold a sequence keeps.
 * A referenced entry is never evicted nor removed, so the adapter or
 * overlay pointer it gives stays valid until the reference is released. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "registry_internal.h"

static const char *kind_name(lorc_entry_kind k) {
    return k == LORC_ENTRY_LORA ? "a LoRA adapter" : k == LORC_ENTRY_OVERLAY ? "an overlay" : "of unknown kind";
}

static lorc_status wrong_kind(const lorc_registry_entry *e, lorc_entry_kind want, lorc_error *err) {
    return lorc_fail(err, LORC_ERR_INVALID, "registry: entry '%s' (%s) is %s, not %s", e->name, e->path,
                     kind_name((lorc_entry_kind)e->kind), kind_name(want));
}

lorc_status lorc_registry_acquire(lorc_registry *reg, const char *name, lorc_entry_kind want, bool wait,
                                  lorc_registry_entry **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_acquire: out is NULL");
    *out = NULL;
    if (!reg || !name) return lorc_fail(err, LORC_ERR_INVALID, "lorc_registry_acquire: NULL argument");
    pthread_mutex_lock(&reg->lock);
    lorc_registry_entry *e = registry_find(reg, name);
    lorc_status st = LORC_OK;
    if (!e) {
        st = lorc_fail(err, LORC_ERR_INVALID, "registry: no entry named '%s'", name);
        goto out;
    }
    if (want != LORC_ENTRY_AUTO && e->kind != LORC_ENTRY_AUTO && e->kind != want) {
        st = wrong_kind(e, want, err);
        goto out;
    }
    if (!wait) {
        if (e->state == LORC_ENTRY_FAILED) {
            st = lorc_fail(err, e->fail_status ? e->fail_status : LORC_ERR_IO, "%s", e->error ? e->error : "load failed");
            goto out;
        }
        if (e->state == LORC_ENTRY_COLD) registry_queue(reg, e);
        if (e->state != LORC_ENTRY_READY) {
            st = lorc_fail(err, LORC_ERR_BUSY, "registry: entry '%s' is loading", name);
            goto out;
        }
    } else {
        /* Awaited entries are not evicted, so once this load is READY it
         * stays so until the reference is taken below. A failure started
         * before this call is retried once; a failure of the load this
         * call waited for is returned. */
        e->waiters++;
        bool waited = false;
        while (e->state != LORC_ENTRY_READY) {
            if (e->state == LORC_ENTRY_FAILED && waited) break;
            if (e->state == LORC_ENTRY_COLD || e->state == LORC_ENTRY_FAILED) registry_queue(reg, e);
            while (e->state == LORC_ENTRY_LOADING) pthread_cond_wait(&reg->done, &reg->lock);
            waited = true;
        }
        e->waiters--;
        if (e->state != LORC_ENTRY_READY) {
            st = lorc_fail(err, e->fail_status ? e->fail_status : LORC_ERR_IO, "%s", e->error ? e->error : "load failed");
            goto out;
        }
    }
    if (want != LORC_ENTRY_AUTO && e->kind != want) { /* AUTO decided by this load */
        st = wrong_kind(e, want, err);
        goto out;
    }
    e->refs++;
    e->last_use = ++reg->clock;
    registry_lru_unlink(reg, e);
    registry_lru_push(reg, e);
    *out = e;
out:
    pthread_mutex_unlock(&reg->lock);
    return st;
}

void lorc_registry_release(lorc_registry_entry *e) {
    if (!e) return;
    lorc_registry *reg = e->reg;
    pthread_mutex_lock(&reg->lock);
    e->refs--;
    pthread_mutex_unlock(&reg->lock);
}

lorc_adapter *lorc_registry_entry_adapter(const lorc_registry_entry *e) { return e ? e->adapter : NULL; }
lorc_overlay *lorc_registry_entry_overlay(const lorc_registry_entry *e) { return e ? e->overlay : NULL; }
const char *lorc_registry_entry_name(const lorc_registry_entry *e) { return e ? e->name : NULL; }

void lorc_registry_hold_release(lorc_registry_hold *h) {
    if (!h) return;
    for (int i = 0; i < h->n; i++) lorc_registry_release(h->entries[i]);
    free(h->entries);
    h->entries = NULL;
    h->n = 0;
}
