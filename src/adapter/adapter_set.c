/* adapter_set.c — a sequence's adapter stack expanded per weight slot into
 * the lorc_lora_lists that lorc_matmul consumes (the engine's
 * lorc_sequence_set_adapters builds one per attach, rescale or detach). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../model/hparams.h"
#include "../tensor/types.h"
#include "adapter.h"
#include "adapter_load.h"
#include "overlay.h"

static bool computable(const lorc_tensor *t) {
    const lorc_type_info *ti = lorc_type_get(t->type);
    return ti && ti->vec_dot && ti->to_float && lorc_row_bytes(t->type, t->ne[0]) != 0 && t->ne[2] == 1 &&
           t->ne[3] == 1;
}

/* The forward pass trusts these shapes, so they are checked here whatever
 * the loader did: a wrong one would read outside a tensor. */
static lorc_status check_weight(const lorc_model *model, const lorc_adapter *ad, int slot, const lorc_tensor *rep,
                                lorc_error *err) {
    const lorc_adapter_weight *aw = &ad->slots[slot];
    int64_t ne[4];
    bool required;
    int nd = lorc_slot_shape(&model->hp, slot, ne, &required);
    char name[96];
    lorc_model_slot_name(model, slot, name, sizeof name);
    bool terms = aw->has_lora && !aw->dora;
    if ((terms || rep) && nd != 2)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': only matrix weights can be adapted", ad->path, name);
    if (rep && (rep->ne[0] != ne[0] || rep->ne[1] != ne[1] || !computable(rep)))
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': replacement [%lld, %lld] %s does not fit [%lld, %lld]",
                         ad->path, name, (long long)rep->ne[0], (long long)rep->ne[1], lorc_type_name(rep->type),
                         (long long)ne[0], (long long)ne[1]);
    if (terms) {
        const lorc_tensor *a = &aw->a, *b = &aw->b;
        bool ok;
        if (slot == lorc_slot_global(GW_TOKEN_EMBD)) /* A transposed: [r, n_vocab] */
            ok = a->ne[1] == ne[1] && a->ne[0] == b->ne[0] && b->ne[1] == ne[0];
        else
            ok = a->ne[0] == ne[0] && a->ne[1] == b->ne[0] && b->ne[1] == ne[1];
        if (!ok || !computable(a) || !computable(b))
            return lorc_fail(err, LORC_ERR_MISMATCH,
                             "%s: tensor '%s': lora_a [%lld, %lld] / lora_b [%lld, %lld] do not fit [%lld, %lld]",
                             ad->path, name, (long long)a->ne[0], (long long)a->ne[1], (long long)b->ne[0],
                             (long long)b->ne[1], (long long)ne[0], (long long)ne[1]);
    }
    return LORC_OK;
}

void lorc_adapter_set_clear(lorc_adapter_set *set) {
    if (!set) return;
    /* Drop the set's references on DoRA weights (the adapter ignores
     * replacements that are not its DoRA weights). */
    for (int i = 0; set->lists && set->adapters && i < set->n_adapters; i++)
        if (set->adapters[i]->is_dora)
            for (int s = 0; s < set->n_slots; s++)
                if (set->lists[s].replace) lorc_adapter_weight_release(set->adapters[i], set->lists[s].replace);
    free(set->adapters);
    free(set->scales);
    free(set->lists);
    free(set->terms);
    memset(set, 0, sizeof *set);
}

const lorc_lora_list *lorc_adapter_set_slot(const lorc_adapter_set *set, int slot) {
    if (!set->lists || slot < 0 || slot >= set->n_slots) return NULL;
    const lorc_lora_list *l = &set->lists[slot];
    return l->replace || l->n_terms > 0 ? l : NULL;
}

/* RMSNorm weights: the forward pass reads them per row (F32), so a
 * sequence's overlay may replace them; other 1-D weights (biases, RoPE
 * factors) are read once for the whole batch. */
static bool slot_is_norm(int slot) {
    if (slot < GW_COUNT) return slot == lorc_slot_global(GW_OUTPUT_NORM);
    const int k = (slot - GW_COUNT) % LW_COUNT;
    return k == LW_ATTN_NORM || k == LW_FFN_NORM;
}

/* The overlay's tensor for each slot it covers (NULL elsewhere) in
 * ov[n_slots]; the tied output reads token_embd, so it follows that slot as
 * lorc_overlay_apply's swap does. Refuses what a sequence cannot use. */
static lorc_status overlay_slots(const lorc_model *model, const lorc_overlay *o, const lorc_tensor **ov,
                                 lorc_error *err) {
    if (o->model != model || (o->model && o->model->n_slots != model->n_slots))
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: overlay was loaded for another model", o->path);
    if (o->applied)
        return lorc_fail(err, LORC_ERR_INVALID, "%s: overlay is applied to the whole model; load it with lorc_overlay_load for one sequence",
                         o->path);
    for (int i = 0; i < o->n_swaps; i++) {
        const int s = o->swaps[i].slot;
        const lorc_tensor *t = o->swaps[i].tensor;
        if (s < 0 || s >= model->n_slots) return lorc_fail(err, LORC_ERR_MISMATCH, "%s: overlay slot %d out of range", o->path, s);
        if (!adapter_slot_is_matrix(s) && !(slot_is_norm(s) && t->type == LORC_TYPE_F32)) {
            char name[96];
            return lorc_fail(err, LORC_ERR_UNSUPPORTED,
                             "%s: tensor '%s' (%s) can be replaced for the whole model only (lorc_overlay_apply): a "
                             "per-sequence overlay replaces matrices and F32 norm weights",
                             o->path, lorc_model_slot_name(model, s, name, sizeof name), lorc_type_name(t->type));
        }
        ov[s] = t;
    }
    const int emb = lorc_slot_global(GW_TOKEN_EMBD), out = lorc_slot_global(GW_OUTPUT);
    if (!model->w[out] && ov[emb] && !ov[out]) ov[out] = ov[emb];
    return LORC_OK;
}

lorc_status lorc_adapter_set_build(lorc_adapter_set *set, const lorc_model *model, const lorc_overlay *overlay,
                                   lorc_adapter *const *adapters, const float *scales, int n, lorc_error *err) {
    if (n < 0 || (n > 0 && (!adapters || !scales)))
        return lorc_fail(err, LORC_ERR_INVALID, "adapters: bad adapter list (n = %d)", n);
    for (int i = 0; i < n; i++) {
        const lorc_adapter *ad = adapters[i];
        if (!ad) return lorc_fail(err, LORC_ERR_INVALID, "adapters: entry %d is NULL", i);
        if (ad->model != model || ad->n_slots != model->n_slots)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: adapter was loaded for another model", ad->path);
        if (!isfinite(scales[i]))
            return lorc_fail(err, LORC_ERR_INVALID, "%s: scale %g is not finite", ad->path, (double)scales[i]);
        for (int s = 0; s < model->n_slots; s++) {
            const lorc_adapter_weight *aw = &ad->slots[s];
            if (!aw->has_lora) continue;
            char name[96];
            lorc_status st =
                lorc_adapter_check_scale(ad, aw, lorc_model_slot_name(model, s, name, sizeof name), scales[i], err);
            if (st != LORC_OK) return st;
        }
        for (int j = 0; j < i; j++)
            if (adapters[j] == ad)
                return lorc_fail(err, LORC_ERR_INVALID, "%s: adapter given twice (rescale it instead)", ad->path);
    }
    if (n == 0 && !overlay) {
        lorc_adapter_set_clear(set);
        return LORC_OK;
    }
    /* Build the new set aside; the old one is replaced only on success so a
     * failure leaves the sequence as it was. */
    lorc_adapter_set ns = {0};
    size_t n_terms = 0; /* DoRA slots are counted too: a little spare room */
    for (int i = 0; i < n; i++)
        for (int s = 0; s < model->n_slots; s++) n_terms += adapters[i]->slots[s].has_lora;
    ns.overlay = overlay;
    ns.n_adapters = n;
    ns.n_slots = model->n_slots;
    ns.adapters = malloc((size_t)(n ? n : 1) * sizeof *ns.adapters);
    ns.scales = malloc((size_t)(n ? n : 1) * sizeof *ns.scales);
    ns.lists = calloc((size_t)model->n_slots, sizeof *ns.lists);
    ns.terms = malloc((n_terms ? n_terms : 1) * sizeof *ns.terms);
    const lorc_tensor **ov = calloc((size_t)model->n_slots, sizeof *ov);
    if (!ns.adapters || !ns.scales || !ns.lists || !ns.terms || !ov) {
        lorc_adapter_set_clear(&ns);
        free(ov);
        return lorc_fail(err, LORC_ERR_NOMEM, "adapters: out of memory");
    }
    if (overlay) {
        lorc_status st = overlay_slots(model, overlay, ov, err);
        if (st != LORC_OK) {
            lorc_adapter_set_clear(&ns);
            free(ov);
            return st;
        }
    }
    if (n > 0) {
        memcpy(ns.adapters, adapters, (size_t)n * sizeof *ns.adapters);
        memcpy(ns.scales, scales, (size_t)n * sizeof *ns.scales);
    }
    size_t next = 0;
    for (int s = 0; s < model->n_slots; s++) {
        lorc_lora_list *l = &ns.lists[s];
        l->terms = ns.terms + next;
        l->replace = ov[s]; /* the overlay's tensor; adapter terms add on top of it */
        for (int i = 0; i < n; i++) {
            const lorc_adapter_weight *aw = &adapters[i]->slots[s];
            if (!aw->has_lora && !aw->has_replace && !aw->dora) continue;
            /* modules_to_save copies, and DoRA weights (which depend on the
             * user scale and on the weight in use, so the adapter computes
             * and caches them). */
            const lorc_tensor *rep = NULL;
            lorc_status st = LORC_OK;
            char name[96];
            if (aw->has_replace && ov[s])
                st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: replaces tensor '%s', which the overlay %s replaces too",
                               adapters[i]->path, lorc_model_slot_name(model, s, name, sizeof name), overlay->path);
            if (st == LORC_OK && (aw->has_replace || aw->dora))
                st = lorc_adapter_weight_for_scale(adapters[i], s, scales[i], ov[s], &rep, err);
            if (st == LORC_OK) st = check_weight(model, adapters[i], s, rep, err);
            if (st == LORC_OK && rep && l->replace && l->replace != ov[s])
                st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: replaces tensor '%s', which another attached adapter replaces too",
                               adapters[i]->path, lorc_model_slot_name(model, s, name, sizeof name));
            if (st != LORC_OK) {
                if (rep) lorc_adapter_weight_release(adapters[i], rep);
                lorc_adapter_set_clear(&ns);
                free(ov);
                return st;
            }
            if (rep) l->replace = rep;
            if (aw->has_lora && !aw->dora) {
                lorc_lora_term *t = &ns.terms[next++];
                t->a = &aw->a;
                t->b = &aw->b;
                t->b_cols = aw->b_cols;
                t->scale = aw->scale * scales[i];
                l->n_terms++;
            }
        }
    }
    free(ov);
    lorc_adapter_set_clear(set);
    *set = ns;
    return LORC_OK;
}
