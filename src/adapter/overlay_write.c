/* overlay_write.c — writing a tensor-subset overlay for a given base: the
 * replaced tensors under the base's names plus the base's fingerprints
 * (docs/overlay-format.md). Used by `lorc merge` and `lorc diff`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "../format/fingerprint.h"
#include "overlay.h"

struct lorc_overlay_writer {
    const gguf_file *base; /* borrowed */
    gguf_writer *gw;       /* owned */
    int n, cap;
    char **hashes;         /* owned [n]: hex xxh64 of each replaced base tensor, in add order */
};

gguf_writer *lorc_overlay_writer_gguf(lorc_overlay_writer *w) { return w->gw; }
int lorc_overlay_writer_count(const lorc_overlay_writer *w) { return w->n; }

void lorc_overlay_writer_free(lorc_overlay_writer *w) {
    if (!w) return;
    gguf_writer_free(w->gw);
    for (int i = 0; i < w->n; i++) free(w->hashes[i]);
    free(w->hashes);
    free(w);
}

lorc_status lorc_overlay_writer_new(const gguf_file *base, lorc_overlay_writer **out, lorc_error *err) {
    *out = NULL;
    lorc_overlay_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->gw = gguf_writer_new())) {
        free(w);
        return lorc_fail(err, LORC_ERR_NOMEM, "overlay writer: out of memory");
    }
    w->base = base;
    char *arch = gguf_get_str_dup(base, "general.architecture");
    if (!arch) {
        lorc_overlay_writer_free(w);
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key 'general.architecture'", base->path);
    }
    char table[LORC_FINGERPRINT_HEX_LEN + 1];
    lorc_fingerprint_to_hex(lorc_fingerprint_table(base), table);
    char *name = gguf_get_str_dup(base, "general.name");
    lorc_status st = gguf_writer_set_str(w->gw, "general.architecture", arch);
    if (!st) st = gguf_writer_set_str(w->gw, "general.type", "overlay");
    if (!st && name) {
        size_t len = strlen(name) + 16;
        char *ov_name = malloc(len);
        st = ov_name ? LORC_OK : LORC_ERR_NOMEM;
        if (ov_name) {
            snprintf(ov_name, len, "%s (overlay)", name);
            st = gguf_writer_set_str(w->gw, "general.name", ov_name);
            free(ov_name);
        }
        if (!st) st = gguf_writer_set_str(w->gw, LORC_OVERLAY_KEY_BASE_NAME, name);
    }
    if (!st) st = gguf_writer_set_u32(w->gw, LORC_OVERLAY_KEY_VERSION, LORC_OVERLAY_VERSION);
    if (!st) st = gguf_writer_set_str(w->gw, LORC_OVERLAY_KEY_TABLE, table);
    if (!st) st = gguf_writer_set_u64(w->gw, LORC_OVERLAY_KEY_COUNT, base->n_tensors);
    free(arch);
    free(name);
    if (st) {
        lorc_overlay_writer_free(w);
        return lorc_fail(err, st, "overlay writer: cannot set metadata (out of memory)");
    }
    *out = w;
    return LORC_OK;
}

/* Validates the replacement and records the base tensor's content hash. */
static lorc_status prepare(lorc_overlay_writer *w, const char *name, uint32_t type, const gguf_tensor_info **bt_out,
                           lorc_error *err) {
    const gguf_tensor_info *bt = gguf_find_tensor(w->base, name);
    if (!bt) return lorc_fail(err, LORC_ERR_INVALID, "overlay: tensor '%s' is not in the base %s", name, w->base->path);
    if (lorc_row_bytes(type, bt->ne[0]) == 0)
        return lorc_fail(err, LORC_ERR_INVALID, "overlay: tensor '%s': rows of %lld values cannot be stored as %s", name,
                         (long long)bt->ne[0], lorc_type_name(type));
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        char **h = realloc(w->hashes, (size_t)cap * sizeof *h);
        if (!h) return lorc_fail(err, LORC_ERR_NOMEM, "overlay: out of memory");
        w->hashes = h;
        w->cap = cap;
    }
    char *hex = malloc(LORC_FINGERPRINT_HEX_LEN + 1);
    if (!hex) return lorc_fail(err, LORC_ERR_NOMEM, "overlay: out of memory");
    lorc_fingerprint_to_hex(lorc_fingerprint_bytes(bt->data, (size_t)bt->nbytes), hex);
    w->hashes[w->n] = hex; /* committed by the caller once the tensor is added */
    *bt_out = bt;
    return LORC_OK;
}

static lorc_status finish_add(lorc_overlay_writer *w, lorc_status st, const char *name, lorc_error *err) {
    if (st) {
        free(w->hashes[w->n]);
        return lorc_fail(err, st, "overlay: cannot add tensor '%s'%s", name,
                         st == LORC_ERR_NOMEM ? " (out of memory)" : " (duplicate or invalid)");
    }
    w->n++;
    return LORC_OK;
}

lorc_status lorc_overlay_writer_add(lorc_overlay_writer *w, const char *name, uint32_t type, const void *data,
                                    lorc_error *err) {
    const gguf_tensor_info *bt = NULL;
    lorc_status st = prepare(w, name, type, &bt, err);
    if (st) return st;
    st = gguf_writer_add_tensor(w->gw, name, type, bt->n_dims, bt->ne, data);
    return finish_add(w, st, name, err);
}

lorc_status lorc_overlay_writer_add_lazy(lorc_overlay_writer *w, const char *name, uint32_t type,
                                         gguf_tensor_fill_fn fill, void *user, lorc_error *err) {
    const gguf_tensor_info *bt = NULL;
    lorc_status st = prepare(w, name, type, &bt, err);
    if (st) return st;
    st = gguf_writer_add_tensor_lazy(w->gw, name, type, bt->n_dims, bt->ne, fill, user);
    return finish_add(w, st, name, err);
}

lorc_status lorc_overlay_writer_write(lorc_overlay_writer *w, const char *path, lorc_progress_fn progress,
                                      void *progress_user, lorc_error *err) {
    lorc_status st = gguf_writer_set_arr_str(w->gw, LORC_OVERLAY_KEY_HASHES, (const char *const *)w->hashes,
                                             (uint64_t)w->n);
    if (st) return lorc_fail(err, st, "%s: cannot set '%s' (out of memory)", path, LORC_OVERLAY_KEY_HASHES);
    return gguf_writer_write(w->gw, path, progress, progress_user, err);
}
