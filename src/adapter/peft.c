/* peft.c — Hugging Face PEFT LoRA directories: adapter_config.json +
 * adapter_model.safetensors, resolved to GGUF tensor names and layouts.
 * torch [r, n_in] lora_A has the bytes of ggml [n_in, r], torch [n_out, r]
 * lora_B those of ggml [r, n_out]; only what GGUF stores differently is
 * converted (RoPE row order of llama Q/K, transposed embedding A). */
#include "peft.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "adapter_load.h"
#include "peft_config.h"
#include "peft_names.h"

/* What the file holds for one base weight. */
typedef struct slot_parts {
    const safetensors_tensor *a, *b, *mag, *full;
    bool embedding;         /* a/b are lora_embedding_A/B */
    peft_module map;
    char module[192];       /* HF module path, for patterns and messages */
} slot_parts;

/* Source row of output row `i` under llama.cpp's RoPE permutation: per head,
 * HF keeps the two rotated halves apart, GGUF interleaves them. */
static int64_t perm_src(int64_t i, int64_t head_rows) {
    int64_t h = i / head_rows, k = i % head_rows, half = head_rows / 2;
    return h * head_rows + (k % 2) * half + k / 2;
}

/* Heads whose rows a tensor of `slot` must be permuted by (0: none). */
static int perm_heads(const lorc_adapter *ad, const peft_module *m) {
    if (ad->model->hp.arch != LORC_ARCH_LLAMA) return 0; /* qwen2 GGUFs keep HF's rotary order */
    if (m->perm == PEFT_PERM_Q) return ad->model->hp.n_head;
    if (m->perm == PEFT_PERM_K) return ad->model->hp.n_head_kv;
    return 0;
}

static lorc_status check_perm(const lorc_adapter *ad, const safetensors_tensor *t, int64_t rows, int heads,
                              lorc_error *err) {
    if (heads <= 0 || rows % (2 * (int64_t)heads) != 0)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': %lld output rows do not split into %d heads of even size",
                         ad->path, t->name, (long long)rows, heads);
    return LORC_OK;
}

/* A 2-D ggml view [ne0, ne1] of a torch [ne1, ne0] tensor: in place when
 * aligned and unpermuted, otherwise an owned copy with rows permuted. */
static lorc_status st_matrix(lorc_adapter *ad, const safetensors_tensor *t, int64_t ne0, int64_t ne1, int heads,
                             lorc_tensor *out, lorc_error *err) {
    memset(out, 0, sizeof *out);
    size_t es = t->type == LORC_TYPE_F32 ? 4 : 2;
    out->name = t->name;
    out->type = t->type;
    out->n_dims = 2;
    out->ne[0] = ne0;
    out->ne[1] = ne1;
    out->ne[2] = out->ne[3] = 1;
    out->nbytes = (size_t)t->nbytes;
    if (heads == 0 && (uintptr_t)t->data % es == 0) {
        out->data = t->data;
        return LORC_OK;
    }
    if (heads) {
        lorc_status st = check_perm(ad, t, ne1, heads, err);
        if (st != LORC_OK) return st;
    }
    uint8_t *buf = adapter_alloc(ad, out->nbytes);
    if (!buf) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
    size_t rb = (size_t)ne0 * es;
    for (int64_t r = 0; r < ne1; r++) {
        int64_t src = heads ? perm_src(r, ne1 / heads) : r;
        memcpy(buf + (size_t)r * rb, (const uint8_t *)t->data + (size_t)src * rb, rb);
    }
    out->data = buf;
    return LORC_OK;
}

/* An owned F32 [n] vector, permuted like output rows. */
static lorc_status st_vector_f32(lorc_adapter *ad, const safetensors_tensor *t, int heads, lorc_tensor *out,
                                 lorc_error *err) {
    int64_t n = t->n_elements;
    if (heads) {
        lorc_status st = check_perm(ad, t, n, heads, err);
        if (st != LORC_OK) return st;
    }
    float *tmp = malloc((size_t)n * sizeof *tmp);
    float *buf = adapter_alloc(ad, (size_t)n * sizeof *buf);
    if (!tmp || !buf) {
        free(tmp);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
    }
    safetensors_to_f32(t, tmp);
    for (int64_t i = 0; i < n; i++) buf[i] = tmp[heads ? perm_src(i, n / heads) : i];
    free(tmp);
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->type = LORC_TYPE_F32;
    out->n_dims = 1;
    out->ne[0] = n;
    out->ne[1] = out->ne[2] = out->ne[3] = 1;
    out->data = buf;
    out->nbytes = (size_t)n * sizeof *buf;
    return LORC_OK;
}

/* lora_embedding_A, torch [r, n_vocab], as GGUF's token_embd A: ggml [r, n_vocab] (F32). */
static lorc_status st_transposed_f32(lorc_adapter *ad, const safetensors_tensor *t, lorc_tensor *out, lorc_error *err) {
    int64_t r = t->shape[0], n = t->shape[1];
    float *tmp = malloc((size_t)t->n_elements * sizeof *tmp);
    float *buf = adapter_alloc(ad, (size_t)t->n_elements * sizeof *buf);
    if (!tmp || !buf) {
        free(tmp);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
    }
    safetensors_to_f32(t, tmp);
    for (int64_t v = 0; v < n; v++)
        for (int64_t k = 0; k < r; k++) buf[v * r + k] = tmp[k * n + v];
    free(tmp);
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->type = LORC_TYPE_F32;
    out->n_dims = 2;
    out->ne[0] = r;
    out->ne[1] = n;
    out->ne[2] = out->ne[3] = 1;
    out->data = buf;
    out->nbytes = (size_t)t->n_elements * sizeof *buf;
    return LORC_OK;
}

/* Sorts one safetensors entry into its slot's parts, refusing what does not belong. */
static lorc_status classify(lorc_adapter *ad, const peft_config *cfg, const safetensors_tensor *t, slot_parts *parts,
                            lorc_error *err) {
    char module[192];
    peft_kind kind;
    if (!peft_split_key(t->name, module, sizeof module, &kind))
        return lorc_fail(err, LORC_ERR_MISMATCH,
                         "%s: tensor '%s': not a PEFT LoRA tensor name (base_model.model.<module>.lora_A.weight, ...)",
                         ad->path, t->name);
    peft_module map;
    if (!peft_module_map(module, &map))
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': module '%s' has no tensor in a LLaMA-family model",
                         ad->path, t->name, module);
    bool is_head = !strcmp(map.gguf, "output");
    switch (kind) {
    case PEFT_LORA_A:
    case PEFT_LORA_B:
    case PEFT_EMBED_A:
    case PEFT_EMBED_B:
    case PEFT_MAGNITUDE:
        if ((kind == PEFT_EMBED_A || kind == PEFT_EMBED_B) ? !map.embedding : !map.linear)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': %s does not fit module '%s'", ad->path, t->name,
                             peft_kind_name(kind), module);
        if (!peft_config_targets(cfg, module, map.linear, is_head, map.layer))
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': module '%s' is not in target_modules", ad->path,
                             t->name, module);
        if (kind == PEFT_MAGNITUDE && !cfg->use_dora)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': a DoRA magnitude, but use_dora is false", ad->path,
                             t->name);
        break;
    case PEFT_FULL_WEIGHT:
    case PEFT_FULL_BIAS:
        if (!peft_config_saves(cfg, module))
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': module '%s' is not in modules_to_save", ad->path,
                             t->name, module);
        if (kind == PEFT_FULL_BIAS)
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': replacing biases is not supported", ad->path,
                             t->name);
        break;
    }
    char gname[96];
    snprintf(gname, sizeof gname, "%s.weight", map.gguf);
    int slot = lorc_model_slot_of_name(ad->model, gname);
    if (slot < 0 || slot >= ad->n_slots || !adapter_base_weight(ad->model, slot))
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': the base model has no tensor '%s'", ad->path, t->name,
                         gname);
    if (kind == PEFT_FULL_WEIGHT && !adapter_slot_is_matrix(slot))
        return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': lorc replaces matrix weights only, not '%s'",
                         ad->path, t->name, gname);
    slot_parts *p = &parts[slot];
    const safetensors_tensor **dst = kind == PEFT_LORA_A || kind == PEFT_EMBED_A   ? &p->a
                                     : kind == PEFT_LORA_B || kind == PEFT_EMBED_B ? &p->b
                                     : kind == PEFT_MAGNITUDE                      ? &p->mag
                                                                                   : &p->full;
    if (*dst)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': a second %s for '%s' (after '%s')", ad->path, t->name,
                         peft_kind_name(kind), gname, (*dst)->name);
    *dst = t;
    if (kind == PEFT_EMBED_A || kind == PEFT_EMBED_B) p->embedding = true;
    p->map = map;
    snprintf(p->module, sizeof p->module, "%s", module);
    return LORC_OK;
}

static lorc_status need_dims(const lorc_adapter *ad, const safetensors_tensor *t, int n_dims, lorc_error *err) {
    if (t->n_dims != n_dims)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': %d dims, expected %d", ad->path, t->name, t->n_dims,
                         n_dims);
    for (int i = 0; i < n_dims; i++)
        if (t->shape[i] <= 0)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': empty dimension", ad->path, t->name);
    return LORC_OK;
}

/* Turns one slot's parts into the adapter's weight, checked against the base. */
static lorc_status build_slot(lorc_adapter *ad, const peft_config *cfg, int slot, const slot_parts *p, lorc_error *err) {
    lorc_adapter_weight *w = &ad->slots[slot];
    const lorc_tensor *base = adapter_base_weight(ad->model, slot);
    char gname[128];
    lorc_model_slot_name(ad->model, slot, gname, sizeof gname);
    int heads = perm_heads(ad, &p->map);
    lorc_status st;
    if (p->full) {
        if (p->a || p->b || p->mag)
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': module '%s' has both LoRA weights and a modules_to_save copy",
                             ad->path, p->full->name, p->module);
        if ((st = need_dims(ad, p->full, 2, err))) return st;
        if (p->full->shape[0] != base->ne[1] || p->full->shape[1] != base->ne[0])
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': shape [%lld, %lld], the base '%s' needs [%lld, %lld]",
                             ad->path, p->full->name, (long long)p->full->shape[0], (long long)p->full->shape[1], gname,
                             (long long)base->ne[1], (long long)base->ne[0]);
        if ((st = st_matrix(ad, p->full, base->ne[0], base->ne[1], heads, &w->replace, err))) return st;
        if ((st = adapter_check_finite(ad->path, &w->replace, NULL, err))) return st;
        w->has_replace = true;
        return LORC_OK;
    }
    if (!p->a || !p->b) {
        const safetensors_tensor *have = p->a ? p->a : p->b ? p->b : p->mag;
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': module '%s' lacks its %s", ad->path, have->name, p->module,
                         !p->a ? (p->embedding ? "lora_embedding_A" : "lora_A.weight")
                               : (p->embedding ? "lora_embedding_B" : "lora_B.weight"));
    }
    if ((st = need_dims(ad, p->a, 2, err)) || (st = need_dims(ad, p->b, 2, err))) return st;
    int64_t r = p->a->shape[0];
    if (p->embedding) {
        if ((st = st_transposed_f32(ad, p->a, &w->a, err))) return st;
        if ((st = st_matrix(ad, p->b, p->b->shape[1], p->b->shape[0], 0, &w->b, err))) return st;
    } else {
        if ((st = st_matrix(ad, p->a, p->a->shape[1], p->a->shape[0], 0, &w->a, err))) return st;
        if ((st = st_matrix(ad, p->b, p->b->shape[1], p->b->shape[0], heads, &w->b, err))) return st;
    }
    char what[320];
    snprintf(what, sizeof what, "%s -> %s", p->module, gname);
    if ((st = adapter_check_pair(ad, slot, what, &w->a, &w->b, &w->ab_bound, err))) return st;
    int cfg_r;
    double alpha, scale;
    peft_config_module(cfg, p->module, &cfg_r, &alpha, &scale);
    if (r != cfg_r)
        return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': rank %lld, but adapter_config.json gives r=%d for '%s'",
                         ad->path, p->a->name, (long long)r, cfg_r, p->module);
    /* A huge lora_alpha is a finite double but an infinite float scale: every logit would be NaN. */
    if (!isfinite((float)scale))
        return lorc_fail(err, LORC_ERR_NUMERIC,
                         "%s: tensor '%s': adapter_config.json gives lora_alpha %g, r=%d for '%s': scale %g is out of range",
                         ad->path, p->a->name, alpha, cfg_r, p->module, scale);
    w->scale = (float)scale;
    w->has_lora = true;
    if (cfg->use_dora) {
        if (p->embedding)
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s': DoRA on embeddings is not supported", ad->path,
                             p->a->name);
        if (!p->mag)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s': use_dora is set but module '%s' has no lora_magnitude_vector",
                             ad->path, p->a->name, p->module);
        if ((st = need_dims(ad, p->mag, 1, err))) return st;
        if (p->mag->shape[0] != base->ne[1])
            return lorc_fail(err, LORC_ERR_MISMATCH, "%s: tensor '%s': %lld magnitudes, the base '%s' has %lld output rows",
                             ad->path, p->mag->name, (long long)p->mag->shape[0], gname, (long long)base->ne[1]);
        if ((st = st_vector_f32(ad, p->mag, heads, &w->magnitude, err))) return st;
        if ((st = adapter_check_finite(ad->path, &w->magnitude, NULL, err))) return st;
        w->dora = true;
    }
    return LORC_OK;
}

lorc_status peft_load(lorc_adapter *ad, lorc_error *err) {
    peft_config cfg;
    lorc_status st = peft_config_load(ad->path, &cfg, err);
    if (st != LORC_OK) return st;
    adapter_storage *s = adapter_store(ad);
    slot_parts *parts = NULL;
    size_t n = strlen(ad->path) + 64;
    char *file = malloc(n);
    if (!file) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
        goto out;
    }
    snprintf(file, n, "%s/adapter_model.safetensors", ad->path);
    struct stat sb;
    if (stat(file, &sb) != 0) {
        snprintf(file, n, "%s/adapter_model.bin", ad->path);
        if (stat(file, &sb) == 0)
            st = lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: pickled PyTorch weights are not supported; save the adapter as safetensors",
                           file);
        else
            st = lorc_fail(err, LORC_ERR_IO, "%s: no adapter_model.safetensors in this directory", ad->path);
        goto out;
    }
    if ((st = safetensors_open(file, &s->st, err)) != LORC_OK) goto out;
    parts = calloc((size_t)ad->n_slots + 1, sizeof *parts);
    if (!parts) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", ad->path);
        goto out;
    }
    /* Messages name the safetensors file and its tensor. */
    char *saved = ad->path;
    ad->path = file;
    for (size_t i = 0; i < s->st->n_tensors && st == LORC_OK; i++) st = classify(ad, &cfg, &s->st->tensors[i], parts, err);
    for (int slot = 0; slot < ad->n_slots && st == LORC_OK; slot++) {
        const slot_parts *p = &parts[slot];
        if (p->a || p->b || p->mag || p->full) st = build_slot(ad, &cfg, slot, p, err);
    }
    ad->path = saved;
out:
    free(parts);
    free(file);
    peft_config_free(&cfg);
    return st;
}
