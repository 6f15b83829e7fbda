/* registry_load.c — the registry's loader thread and its memory budget.
 *
 * One thread owned by the registry loads queued entries one at a time. The
 * registry lock is held only to pick the next entry and to move bytes in
 * the budget's books, never while a file is opened or read, so callers of
 * lorc_registry_info / acquire / release and the decoding threads are not
 * held up by a load.
 *
 * The budget rule: resident bytes (READY entries' bytes) plus the estimate
 * of the load in flight never exceed the budget. Before a load the
 * estimate (the file sizes) is reserved, evicting least recently used
 * entries that are neither pinned, referenced nor awaited; after the load
 * the real size replaces the estimate (evicting more if it is larger). When
 * the room cannot be made because what is resident is pinned or in use,
 * the load fails with LORC_ERR_NOMEM and the entry goes FAILED (the next
 * use retries) — the registry never goes over its budget to make a load
 * succeed. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/error.h"
#include "../format/gguf.h"
#include "overlay.h"
#include "registry_internal.h"

void registry_free_loaded(lorc_adapter *adapter, lorc_overlay *overlay) {
    lorc_adapter_free(adapter);
    lorc_overlay_free(overlay);
}

size_t registry_overlay_bytes(const lorc_overlay *ov) {
    size_t n = sizeof *ov + strlen(ov->path) + 1 + (size_t)ov->n_tensors * sizeof *ov->tensors +
               (2 * (size_t)ov->n_tensors + 1) * sizeof *ov->swaps;
    if (ov->file)
        n += sizeof *ov->file + ov->file->map.size + (size_t)ov->file->n_kv * sizeof *ov->file->kv +
             (size_t)ov->file->n_tensors * sizeof *ov->file->tensors;
    return n;
}

/* What a load will map and allocate, from the file sizes alone (a PEFT
 * directory: its files together). 0 when the path cannot be read (the load
 * then fails with the loader's own message). */
static size_t estimate_bytes(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return (size_t)st.st_size;
    DIR *d = opendir(path);
    if (!d) return 0;
    size_t total = 0;
    struct dirent *de;
    char file[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        struct stat fs;
        if (stat(file, &fs) == 0 && S_ISREG(fs.st_mode)) total += (size_t)fs.st_size;
    }
    closedir(d);
    return total;
}

static const char *kind_word(lorc_entry_kind k) {
    return k == LORC_ENTRY_LORA ? "adapter" : k == LORC_ENTRY_OVERLAY ? "overlay" : "entry";
}

/* Makes the room for `need` more bytes, evicting LRU-first entries that are
 * neither `self`, pinned, referenced nor awaited, then (last resort) the
 * unused DoRA weights of the entries left. Evicted entries go COLD; their
 * objects are freed here (an munmap and frees: no file is read). On
 * failure the message names the entry, the need, the budget and what is
 * held by entries that cannot go. Under reg->lock. */
static lorc_status make_room(lorc_registry *reg, lorc_registry_entry *self, size_t need, const char *what,
                             lorc_error *err) {
    if (!reg->budget) return LORC_OK;
    for (;;) {
        size_t used = reg->resident + reg->reserved;
        if (used <= reg->budget && need <= reg->budget - used) return LORC_OK;
        lorc_registry_entry *v = reg->lru_head;
        while (v && (v == self || v->refs > 0 || v->pinned || v->waiters > 0)) v = v->lru_next;
        if (!v) break;
        registry_lru_unlink(reg, v);
        reg->resident -= v->bytes;
        v->bytes = 0;
        v->state = LORC_ENTRY_COLD;
        reg->n_evictions++;
        registry_free_loaded(v->adapter, v->overlay);
        v->adapter = NULL;
        v->overlay = NULL;
    }
    /* Last resort before refusing: DoRA weights of other scales that the
     * entries still resident cache but no sequence computes with (lock
     * order: registry, then adapter — the adapter never calls the registry
     * with its own lock held). */
    for (lorc_registry_entry *v = reg->lru_head; v; v = v->lru_next) {
        if (!v->adapter || !v->adapter->is_dora) continue;
        size_t freed = lorc_adapter_drop_unused_weights(v->adapter);
        v->bytes -= freed;
        reg->resident -= freed;
    }
    size_t used = reg->resident + reg->reserved;
    if (used <= reg->budget && need <= reg->budget - used) return LORC_OK;
    size_t held = 0;
    for (lorc_registry_entry *v = reg->lru_head; v; v = v->lru_next) held += v->bytes;
    return lorc_fail(err, LORC_ERR_NOMEM, "%s '%s' needs %zu bytes%s; budget %zu, %zu held by entries in use or pinned",
                     kind_word((lorc_entry_kind)self->kind), self->name, need, what, reg->budget, held);
}

/* DoRA weights an adapter computes after its load are charged to its entry
 * (the adapter calls these around its per-scale cache). */
static lorc_status budget_reserve(void *user, size_t bytes, lorc_error *err) {
    lorc_registry_entry *e = user;
    lorc_registry *reg = e->reg;
    pthread_mutex_lock(&reg->lock);
    lorc_status st = make_room(reg, e, bytes, " more for DoRA weights", err);
    if (st == LORC_OK) {
        e->bytes += bytes;
        reg->resident += bytes;
    }
    pthread_mutex_unlock(&reg->lock);
    return st;
}

static void budget_release(void *user, size_t bytes) {
    lorc_registry_entry *e = user;
    lorc_registry *reg = e->reg;
    pthread_mutex_lock(&reg->lock);
    e->bytes -= bytes;
    reg->resident -= bytes;
    pthread_mutex_unlock(&reg->lock);
}

/* LORC_ENTRY_AUTO decided from the path: a directory is a PEFT adapter; a
 * GGUF says what it is in general.type (only its header is parsed: the
 * tensor data is mapped, not read). */
static lorc_status detect_kind(const char *path, lorc_entry_kind *kind, lorc_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return lorc_fail(err, LORC_ERR_IO, "%s: no such file or directory", path);
    if (S_ISDIR(st.st_mode)) {
        *kind = LORC_ENTRY_LORA;
        return LORC_OK;
    }
    gguf_file *f = NULL;
    lorc_status s = gguf_open(path, &f, err);
    if (s != LORC_OK) return s;
    if (gguf_str_eq(f, "general.type", "adapter"))
        *kind = LORC_ENTRY_LORA;
    else if (gguf_str_eq(f, "general.type", "overlay"))
        *kind = LORC_ENTRY_OVERLAY;
    else
        s = lorc_fail(err, LORC_ERR_FORMAT, "%s: general.type is neither \"adapter\" nor \"overlay\"", path);
    gguf_close(f);
    return s;
}

/* Loads one entry. Called and returns with reg->lock held; drops it while
 * files are opened. The entry is LOADING throughout, which keeps it
 * registered (remove refuses) and its name and path valid. */
static void load_entry(lorc_registry *reg, lorc_registry_entry *e) {
    lorc_registry_load_hook hook = reg->load_hook;
    void *hook_user = reg->load_hook_user;
    lorc_entry_kind kind = (lorc_entry_kind)e->kind;
    lorc_error err = {0};
    pthread_mutex_unlock(&reg->lock);

    if (hook) hook(hook_user, e->name);
    size_t est = estimate_bytes(e->path);
    pthread_mutex_lock(&reg->lock);
    lorc_status st = make_room(reg, e, est, "", &err);
    if (st == LORC_OK) reg->reserved = est;
    pthread_mutex_unlock(&reg->lock);

    lorc_adapter *ad = NULL;
    lorc_overlay *ov = NULL;
    size_t bytes = 0;
    if (st == LORC_OK && kind == LORC_ENTRY_AUTO) st = detect_kind(e->path, &kind, &err);
    if (st == LORC_OK && kind == LORC_ENTRY_LORA) {
        st = lorc_adapter_load(reg->model, e->path, &ad, &err);
        if (st == LORC_OK) {
            bytes = lorc_adapter_resident_bytes(ad);
            ad->budget.reserve = budget_reserve;
            ad->budget.release = budget_release;
            ad->budget.user = e;
        }
    } else if (st == LORC_OK) {
        st = lorc_overlay_load(reg->model, e->path, false, &ov, &err);
        if (st == LORC_OK) bytes = registry_overlay_bytes(ov);
    }

    pthread_mutex_lock(&reg->lock);
    reg->reserved = 0;
    if (st == LORC_OK) {
        e->kind = (uint8_t)kind;
        st = make_room(reg, e, bytes, " once loaded", &err);
    }
    if (st == LORC_OK) {
        e->adapter = ad;
        e->overlay = ov;
        e->bytes = bytes;
        reg->resident += bytes;
        e->state = LORC_ENTRY_READY;
        e->loads++;
        reg->n_loads++;
        free(e->error);
        e->error = NULL;
        registry_lru_push(reg, e);
        return;
    }
    /* A failed load keeps no memory: the record and its message only. */
    registry_free_loaded(ad, ov);
    free(e->error);
    e->error = strdup(err.message);
    e->fail_status = st;
    e->state = LORC_ENTRY_FAILED;
    reg->n_load_failures++;
}

void *registry_loader_main(void *arg) {
    lorc_registry *reg = arg;
    pthread_mutex_lock(&reg->lock);
    for (;;) {
        while (!reg->stop && !reg->queue_head) pthread_cond_wait(&reg->work, &reg->lock);
        if (reg->stop) break;
        lorc_registry_entry *e = reg->queue_head;
        reg->queue_head = e->queue_next;
        if (!reg->queue_head) reg->queue_tail = NULL;
        e->queue_next = NULL;
        reg->loading_now = true;
        load_entry(reg, e);
        reg->loading_now = false;
        pthread_cond_broadcast(&reg->done);
    }
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}
