/* lora_gguf.c — llama.cpp GGUF LoRA adapters: general.type "adapter",
 * adapter.type "lora", adapter.lora.alpha, tensors "<base name>.lora_a/_b".
 * Tensors of any type lorc computes with are used in place from the mmap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../format/gguf_tensor.h"
#include "adapter_load.h"
#include "lora_gguf.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

static lorc_status check_header(lorc_adapter *ad, const gguf_file *f, lorc_error *err) {
    static const char *const keys[] = {"general.type", "adapter.type", "general.architecture"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (gguf_str_has_nul(f, keys[i]))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' holds a NUL byte inside the string", ad->path, keys[i]);
    char *v = gguf_get_str_dup(f, "general.type");
    bool ok = v && !strcmp(v, "adapter");
    lorc_status st = LORC_OK;
    if (!ok)
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: general.type is %s%s%s, not 'adapter' (not a LoRA adapter file)",
                       ad->path, v ? "'" : "", v ? v : "missing", v ? "'" : "");
    free(v);
    if (st != LORC_OK) return st;
    v = gguf_get_str_dup(f, "adapter.type");
    if (!v || strcmp(v, "lora"))
        st = lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: adapter.type is %s%s%s, lorc reads 'lora' adapters only", ad->path,
                       v ? "'" : "", v ? v : "missing", v ? "'" : "");
    free(v);
    if (st != LORC_OK) return st;
    v = gguf_get_str_dup(f, "general.architecture");
    if (!v || strcmp(v, ad->model->arch_name))
        st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: general.architecture is %s%s%s, but the base model is '%s'", ad->path,
                       v ? "'" : "", v ? v : "missing", v ? "'" : "", ad->model->arch_name);
    free(v);
    return st;
}


lorc_status lora_gguf_load(lorc_adapter *ad, lorc_error *err) {
    adapter_storage *s = adapter_store(ad);
    lorc_status st = gguf_open(ad->path, &s->gguf, err);
    if (st != LORC_OK) return st;
    const gguf_file *f = s->gguf;
    if ((st = check_header(ad, f, err)) != LORC_OK) return st;

    float alpha = 0.0f;
    if (gguf_find_kv(f, "adapter.lora.alpha")) {
        if ((st = gguf_get_f32(f, "adapter.lora.alpha", &alpha, err)) != LORC_OK) return st;
        if (!isfinite(alpha))
            return lorc_fail(err, LORC_ERR_NUMERIC, "%s: key 'adapter.lora.alpha' is %g (must be finite)", ad->path,
                             (double)alpha);
    }

    /* seen[slot]: bit 0 = lora_a, bit 1 = lora_b */
    unsigned char *seen = calloc((size_t)ad->n_slots + 1, 1);
    if (!seen) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
    char base[512];
    for (uint64_t i = 0; i < f->n_tensors && st == LORC_OK; i++) {
        const gguf_tensor_info *ti = &f->tensors[i];
        bool is_a = ends_with(ti->name, ".lora_a"), is_b = ends_with(ti->name, ".lora_b");
        if (!is_a && !is_b) {
            /* llama.cpp's converter may write norm vectors; neither engine applies them. */
            if (ends_with(ti->name, "_norm.weight")) continue;
            st = lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': not a .lora_a/.lora_b tensor", ad->path, ti->name);
            break;
        }
        size_t n = strlen(ti->name) - 7;
        if (n >= sizeof base) {
            st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': name too long", ad->path, ti->name);
            break;
        }
        memcpy(base, ti->name, n);
        base[n] = 0;
        int slot = lorc_model_slot_of_name(ad->model, base);
        if (slot < 0 || !adapter_base_weight(ad->model, slot)) {
            st = lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': the base model has no tensor '%s'", ad->path,
                           ti->name, base);
            break;
        }
        lorc_adapter_weight *w = &ad->slots[slot];
        lorc_tensor_from_gguf(is_a ? &w->a : &w->b, ti);
        seen[slot] |= is_a ? 1 : 2;
    }
    for (int slot = 0; slot < ad->n_slots && st == LORC_OK; slot++) {
        if (!seen[slot]) continue;
        lorc_adapter_weight *w = &ad->slots[slot];
        char nb[256];
        const char *name = lorc_model_slot_name(ad->model, slot, nb, sizeof nb);
        if (seen[slot] != 3) {
            st = lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s.%s' is missing (LoRA pairs need both A and B)", ad->path,
                           name, seen[slot] == 1 ? "lora_b" : "lora_a");
            break;
        }
        st = adapter_check_pair(ad, slot, name, &w->a, &w->b, &w->ab_bound, err);
        if (st != LORC_OK) break;
        /* llama.cpp: scale = alpha / rank with rank = B's row length, or 1 when alpha is absent or 0. */
        w->scale = alpha != 0.0f ? alpha / (float)w->b.ne[0] : 1.0f;
        w->has_lora = true;
    }
    free(seen);
    return st;
}
