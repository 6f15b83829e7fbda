/* merge_write.c — writing a merge: the plan (which weights the adapters
 * touch, in which type each is stored) and the output file, either an
 * overlay of those weights or a complete model like llama-export-lora's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "merge.h"
#include "overlay.h"

static bool touched(const lorc_lora_list *l) { return l && (l->n_terms > 0 || l->replace); }

void lorc_merge_plan_free(lorc_merge_plan *plan) {
    if (!plan) return;
    free(plan->items);
    plan->items = NULL;
    plan->n_items = 0;
}

lorc_status lorc_merge_plan_build(const lorc_model *m, const lorc_adapter_set *set, int want_type,
                                  lorc_merge_plan *plan, lorc_error *err) {
    memset(plan, 0, sizeof *plan);
    if (want_type >= 0) {
        const lorc_type_info *ti = lorc_type_get((uint32_t)want_type);
        if (!ti || !ti->from_float || !ti->to_float)
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "merge: lorc cannot write type %s", lorc_type_name((uint32_t)want_type));
    }
    plan->items = calloc((size_t)m->n_tensors + 1, sizeof *plan->items);
    if (!plan->items) return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory");
    /* file order, so the output lists tensors the way the base does */
    for (int i = 0; i < m->n_tensors; i++) {
        const lorc_tensor *t = &m->tensors[i];
        int slot = lorc_model_slot_of_name(m, t->name);
        if (slot < 0 || m->base[slot] != t) continue;
        if (!touched(lorc_adapter_set_slot(set, slot))) continue;
        if (slot == lorc_slot_global(GW_TOKEN_EMBD) && !m->base[lorc_slot_global(GW_OUTPUT)]) {
            lorc_merge_plan_free(plan);
            return lorc_fail(err, LORC_ERR_UNSUPPORTED,
                             "merge: the adapters change token_embd.weight, which %s also uses as its output "
                             "(tied); a merged file would change the output too — use the adapter at runtime",
                             m->file->path);
        }
        const lorc_tensor *w = m->w[slot];
        lorc_merge_item *it = &plan->items[plan->n_items++];
        it->slot = slot;
        snprintf(it->name, sizeof it->name, "%s", t->name);
        it->base_type = w->type;
        uint32_t want = want_type >= 0 ? (uint32_t)want_type : w->type;
        it->out_type = lorc_merge_pick_type(want, w->ne[0]);
        it->type_fallback = it->out_type != want;
    }
    return LORC_OK;
}

static lorc_status write_overlay(const lorc_model *m, const lorc_merge_plan *plan, lorc_merge_job *jobs,
                                 const char *source, const char *path, lorc_progress_fn progress, void *pu,
                                 lorc_error *err) {
    lorc_overlay_writer *ow;
    lorc_status st = lorc_overlay_writer_new(m->file, &ow, err);
    if (st) return st;
    if (source && gguf_writer_set_str(lorc_overlay_writer_gguf(ow), LORC_OVERLAY_KEY_SOURCE, source)) {
        lorc_overlay_writer_free(ow);
        return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory");
    }
    for (int i = 0; i < plan->n_items && !st; i++)
        st = lorc_overlay_writer_add_lazy(ow, plan->items[i].name, plan->items[i].out_type, lorc_merge_fill, &jobs[i], err);
    if (!st) st = lorc_overlay_writer_write(ow, path, progress, pu, err);
    lorc_overlay_writer_free(ow);
    return st;
}

static lorc_status write_full(const lorc_model *m, const lorc_merge_plan *plan, lorc_merge_job *jobs,
                              const char *path, lorc_progress_fn progress, void *pu, lorc_error *err) {
    const gguf_file *f = m->file;
    gguf_writer *gw = gguf_writer_new();
    if (!gw) return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory");
    lorc_status st = LORC_OK;
    for (uint64_t i = 0; i < f->n_kv && !st; i++) st = gguf_writer_copy_kv(gw, &f->kv[i]);
    if (st) st = lorc_fail(err, st, "merge: cannot copy the metadata of %s", f->path);
    int next = 0; /* plan items are in file order */
    for (uint64_t i = 0; i < f->n_tensors && !st; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        if (next < plan->n_items && strcmp(plan->items[next].name, t->name) == 0) {
            st = gguf_writer_add_tensor_lazy(gw, t->name, plan->items[next].out_type, t->n_dims, t->ne, lorc_merge_fill,
                                             &jobs[next]);
            next++;
        } else {
            st = gguf_writer_add_tensor(gw, t->name, t->type, t->n_dims, t->ne, t->data);
        }
        if (st) st = lorc_fail(err, st, "merge: cannot add tensor '%s'", t->name);
    }
    if (!st) st = gguf_writer_write(gw, path, progress, pu, err);
    gguf_writer_free(gw);
    return st;
}

lorc_status lorc_merge_write(const lorc_model *m, const lorc_adapter_set *set, const lorc_merge_plan *plan, bool full,
                             const char *source, lorc_threadpool *pool, const char *path, lorc_progress_fn progress,
                             void *progress_user, lorc_error *err) {
    lorc_merge_job *jobs = calloc((size_t)plan->n_items + 1, sizeof *jobs);
    if (!jobs) return lorc_fail(err, LORC_ERR_NOMEM, "merge: out of memory");
    for (int i = 0; i < plan->n_items; i++) {
        jobs[i].model = m;
        jobs[i].slot = plan->items[i].slot;
        jobs[i].list = lorc_adapter_set_slot(set, plan->items[i].slot);
        jobs[i].out_type = plan->items[i].out_type;
        jobs[i].pool = pool;
    }
    lorc_status st = full ? write_full(m, plan, jobs, path, progress, progress_user, err)
                          : write_overlay(m, plan, jobs, source, path, progress, progress_user, err);
    free(jobs);
    return st;
}
