/* overlay.c — checking a tensor-subset overlay against a base model and
 * swapping its tensors into the model's weight table (and back out).
 * Nothing is changed until every check has passed. */
#include "overlay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "../format/fingerprint.h"
#include "../format/gguf_tensor.h"
#include "identity.h"

static void shape_str(uint32_t n_dims, const int64_t *ne, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (uint32_t d = 0; d < n_dims && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)ne[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

static bool same_shape(const gguf_tensor_info *a, const gguf_tensor_info *b) {
    if (a->n_dims != b->n_dims) return false;
    for (uint32_t d = 0; d < a->n_dims; d++)
        if (a->ne[d] != b->ne[d]) return false;
    return true;
}

/* True when model slot s currently holds (or holds by default) the base tensor `bt`.
 * A tied output slot shares token_embd's tensor, so both slots match. */
static bool slot_is_base_tensor(const lorc_model *m, int s, const gguf_tensor_info *bt) {
    const lorc_tensor *b = m->base[s];
    if (!b) return false;
    if (b->data == bt->data && b->nbytes == bt->nbytes) return true;
    return b->name && strcmp(b->name, bt->name) == 0;
}

/* Reads and validates the overlay's own keys (never forceable: without them
 * the file is not an overlay lorc can check). */
static lorc_status read_header(const gguf_file *ov, uint64_t *table_hash, const gguf_kv **hashes, lorc_error *err) {
    const char *p = ov->path;
    if (!gguf_str_eq(ov, "general.type", "overlay"))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: not an overlay (general.type is not \"overlay\")", p);
    uint32_t version = gguf_get_u32_or(ov, LORC_OVERLAY_KEY_VERSION, 0);
    if (version == 0) return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing or invalid key '%s'", p, LORC_OVERLAY_KEY_VERSION);
    if (version > LORC_OVERLAY_VERSION)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: overlay format version %u is newer than this lorc reads (%d)", p,
                         version, LORC_OVERLAY_VERSION);
    const gguf_kv *th = gguf_find_kv(ov, LORC_OVERLAY_KEY_TABLE);
    if (!th || th->type != GGUF_TYPE_STRING || !lorc_fingerprint_from_hex(th->str.ptr, (size_t)th->str.len, table_hash))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' is missing or not 16 hex digits", p, LORC_OVERLAY_KEY_TABLE);
    const gguf_kv *h = gguf_find_kv(ov, LORC_OVERLAY_KEY_HASHES);
    if (!h || h->type != GGUF_TYPE_ARRAY || h->arr_type != GGUF_TYPE_STRING)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' is missing or not an array of strings", p,
                         LORC_OVERLAY_KEY_HASHES);
    if (h->arr_len != ov->n_tensors)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: '%s' has %llu entries for %llu tensors", p, LORC_OVERLAY_KEY_HASHES,
                         (unsigned long long)h->arr_len, (unsigned long long)ov->n_tensors);
    for (uint64_t i = 0; i < h->arr_len; i++) {
        uint64_t v;
        if (!lorc_fingerprint_from_hex(h->arr_strs[i].ptr, (size_t)h->arr_strs[i].len, &v))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: '%s' entry %llu (tensor '%s') is not 16 hex digits", p,
                             LORC_OVERLAY_KEY_HASHES, (unsigned long long)i, ov->tensors[i].name);
    }
    if (!gguf_find_kv(ov, "general.architecture"))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key 'general.architecture'", p);
    *hashes = h;
    return LORC_OK;
}

/* The structural checks of one overlay tensor against the base: these can
 * never be forced, because the forward pass could not use the tensor. */
static lorc_status check_tensor_fits(const lorc_model *m, const gguf_file *ov, const gguf_tensor_info *t,
                                     lorc_error *err) {
    const char *p = ov->path;
    if (!lorc_type_supported(t->type))
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which lorc cannot compute with", p,
                         t->name, lorc_type_name(t->type));
    const gguf_tensor_info *bt = gguf_find_tensor(m->file, t->name);
    if (!bt) return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' is not in the base %s", p, t->name, m->file->path);
    if (!same_shape(t, bt)) {
        char a[96], b[96];
        shape_str(t->n_dims, t->ne, a, sizeof a);
        shape_str(bt->n_dims, bt->ne, b, sizeof b);
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' has shape %s, the base's is %s", p, t->name, a, b);
    }
    /* Vectors (norms, biases) are read directly by the forward pass in the
     * base's type; only matrices go through the type-generic kernels. */
    if (t->n_dims < 2 && t->type != bt->type)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' is %s, a 1-D tensor must keep the base's type %s", p,
                         t->name, lorc_type_name(t->type), lorc_type_name(bt->type));
    int n_slots = 0;
    for (int s = 0; s < m->n_slots; s++) {
        if (!slot_is_base_tensor(m, s, bt)) continue;
        n_slots++;
        if (m->w[s] != m->base[s])
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' is already replaced by another overlay (overlays must not overlap)",
                             p, t->name);
    }
    if (n_slots == 0)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' is not a weight the model computes with", p, t->name);
    return LORC_OK;
}

lorc_status lorc_overlay_check(const lorc_model *m, const gguf_file *ov, bool force, lorc_error *err) {
    const char *p = ov->path;
    uint64_t table_hash = 0;
    const gguf_kv *hashes = NULL;
    lorc_status st = read_header(ov, &table_hash, &hashes, err);
    if (st) return st;

    const gguf_kv *arch = gguf_find_kv(ov, "general.architecture");
    if (!force && (arch->type != GGUF_TYPE_STRING || strlen(m->arch_name) != arch->str.len ||
                   memcmp(arch->str.ptr, m->arch_name, arch->str.len) != 0)) {
        int n = arch->type == GGUF_TYPE_STRING ? (int)(arch->str.len > 64 ? 64 : arch->str.len) : 0;
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: made for architecture '%.*s', the base is '%s' (--force applies it anyway)",
                         p, n, n ? arch->str.ptr : "", m->arch_name);
    }
    for (uint64_t i = 0; i < ov->n_tensors; i++)
        if ((st = check_tensor_fits(m, ov, &ov->tensors[i], err))) return st;
    if (force) return LORC_OK;

    uint64_t base_table = lorc_fingerprint_table(m->file);
    if (base_table != table_hash) {
        char want[17], have[17];
        lorc_fingerprint_to_hex(table_hash, want);
        lorc_fingerprint_to_hex(base_table, have);
        uint64_t want_n = 0;
        if (gguf_get_u64_if(ov, LORC_OVERLAY_KEY_COUNT, &want_n) && want_n != m->file->n_tensors)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: made for another base: it expects %llu tensors, %s has %llu (--force applies it anyway)",
                             p, (unsigned long long)want_n, m->file->path, (unsigned long long)m->file->n_tensors);
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: made for another base: tensor table fingerprint %s, %s has %s (--force applies it anyway)",
                         p, want, m->file->path, have);
    }
    /* Only the replaced tensors are hashed: xxhash runs at several GB/s, so
     * this costs a fraction of reading the overlay itself. */
    for (uint64_t i = 0; i < ov->n_tensors; i++) {
        const gguf_tensor_info *bt = gguf_find_tensor(m->file, ov->tensors[i].name);
        uint64_t want = 0, have = lorc_fingerprint_bytes(bt->data, (size_t)bt->nbytes);
        lorc_fingerprint_from_hex(hashes->arr_strs[i].ptr, (size_t)hashes->arr_strs[i].len, &want);
        if (want != have) {
            char w[17], h[17];
            lorc_fingerprint_to_hex(want, w);
            lorc_fingerprint_to_hex(have, h);
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: base tensor '%s' has other contents than the overlay was made for (xxh64 %s, expected %s; --force applies it anyway)",
                             p, bt->name, h, w);
        }
    }
    return LORC_OK;
}

static void overlay_free(lorc_overlay *o) {
    if (!o) return;
    gguf_close(o->file);
    free(o->tensors);
    free(o->swaps);
    free(o->path);
    free(o);
}

/* Opens and checks an overlay and resolves its tensors to weight slots,
 * without touching the model. */
static lorc_status overlay_open(lorc_model *model, const char *path, bool force, lorc_overlay **out, lorc_error *err) {
    *out = NULL;
    lorc_overlay *o = calloc(1, sizeof *o);
    if (!o) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    o->path = strdup(path);
    if (!o->path) {
        overlay_free(o);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    lorc_status st = gguf_open(path, &o->file, err);
    if (st) {
        overlay_free(o);
        return st;
    }
    if ((st = lorc_overlay_check(model, o->file, force, err))) {
        overlay_free(o);
        return st;
    }
    gguf_file *f = o->file;
    /* every tensor passed the checks, so each names a distinct weight slot:
     * there are no more of them than the model has slots (an int) */
    if (f->n_tensors > (uint64_t)model->n_slots) {
        overlay_free(o);
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: more tensors than the model has weights", path);
    }
    o->n_tensors = (int)f->n_tensors;
    o->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *o->tensors);
    /* at most two slots per tensor (token_embd tied to output), usually one */
    o->swaps = calloc(2 * f->n_tensors + 1, sizeof *o->swaps);
    if (!o->tensors || !o->swaps) {
        overlay_free(o);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    }
    int n_swaps = 0, cap = (int)(2 * f->n_tensors + 1);
    for (int i = 0; i < o->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        lorc_tensor *lt = &o->tensors[i];
        lorc_tensor_from_gguf(lt, t);
        const gguf_tensor_info *bt = gguf_find_tensor(model->file, t->name);
        for (int s = 0; s < model->n_slots; s++) {
            if (!slot_is_base_tensor(model, s, bt)) continue;
            if (n_swaps == cap) { /* cannot happen with the model's slot layout; stay safe */
                overlay_free(o);
                return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s' fills more weight slots than expected", path,
                                 t->name);
            }
            o->swaps[n_swaps].slot = s;
            o->swaps[n_swaps].tensor = lt;
            n_swaps++;
        }
    }
    o->n_swaps = n_swaps;
    o->model = model;
    o->identity = lorc_overlay_identity_compute(o);
    *out = o;
    return LORC_OK;
}

lorc_status lorc_overlay_apply(lorc_model *model, const char *path, bool force, lorc_overlay **out, lorc_error *err) {
    if (out) *out = NULL;
    if (!model || !path || !out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_overlay_apply: NULL argument");
    lorc_overlay *o;
    lorc_status st = overlay_open(model, path, force, &o, err);
    if (st != LORC_OK) return st;
    /* Everything is checked: the swap itself cannot fail. */
    for (int i = 0; i < o->n_swaps; i++) model->w[o->swaps[i].slot] = o->swaps[i].tensor;
    o->applied = true;
    *out = o;
    return LORC_OK;
}

lorc_status lorc_overlay_load(lorc_model *model, const char *path, bool force, lorc_overlay **out, lorc_error *err) {
    if (out) *out = NULL;
    if (!model || !path || !out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_overlay_load: NULL argument");
    return overlay_open(model, path, force, out, err);
}

void lorc_overlay_free(lorc_overlay *overlay) {
    if (overlay && overlay->applied) {
        lorc_overlay_remove(overlay->model, overlay);
        return;
    }
    overlay_free(overlay);
}

void lorc_overlay_remove(lorc_model *model, lorc_overlay *overlay) {
    (void)model; /* the overlay knows its model; restoring any other would leave dangling pointers */
    if (!overlay) return;
    if (overlay->model && overlay->applied) {
        lorc_model *m = overlay->model;
        for (int i = 0; i < overlay->n_swaps; i++) {
            int s = overlay->swaps[i].slot;
            /* a later overlay cannot hold this slot (no overlap), so it is still ours */
            if (m->w[s] == overlay->swaps[i].tensor) m->w[s] = m->base[s];
        }
    }
    overlay_free(overlay);
}
