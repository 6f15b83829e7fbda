/* model_load.c — lorc_model_load: open the GGUF, read the hyper-parameters,
 * bind every tensor to its weight slot with shape and type checks (data
 * stays in the mmap), fingerprint the tensor table, build the vocab. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../tensor/types.h"
#include "../format/fingerprint.h"
#include "../format/gguf_tensor.h"
#include "../text/vocab.h"
#include "hparams.h"
#include "model.h"
#include "numeric.h"

static void format_shape(char *buf, size_t cap, const int64_t *ne, int n_dims) {
    size_t used = 0;
    used += (size_t)snprintf(buf + used, cap - used, "[");
    for (int d = 0; d < n_dims && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)ne[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Tensors some llama files carry that lorc (like llama.cpp) never uses. */
static bool ignorable_tensor(const char *name) {
    return strncmp(name, "blk.", 4) == 0 && strstr(name, ".attn_rot_embd") != NULL;
}

static lorc_status bind_weights(lorc_model *m, lorc_error *err) {
    const gguf_file *f = m->file;
    for (int i = 0; i < m->n_tensors; i++) {
        lorc_tensor *t = &m->tensors[i];
        int slot = lorc_model_slot_of_name(m, t->name);
        if (slot < 0) {
            if (ignorable_tensor(t->name)) continue;
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: unexpected tensor '%s' for architecture %s", f->path, t->name,
                             m->arch_name);
        }
        m->base[slot] = t;
    }
    for (int slot = 0; slot < m->n_slots; slot++) {
        int64_t ne[4];
        bool required;
        int nd = lorc_slot_shape(&m->hp, slot, ne, &required);
        char name[96];
        lorc_model_slot_name(m, slot, name, sizeof name);
        const lorc_tensor *t = m->base[slot];
        if (!t) {
            if (required) return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing tensor '%s'", f->path, name);
            continue;
        }
        if (t->ne[0] != ne[0] || t->ne[1] != ne[1] || t->ne[2] != 1 || t->ne[3] != 1) {
            char want[96], got[96];
            format_shape(want, sizeof want, ne, nd);
            format_shape(got, sizeof got, t->ne, (int)t->n_dims);
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", f->path, name, got,
                             want);
        }
        const lorc_type_info *ti = lorc_type_get(t->type);
        if (!ti || !ti->to_float || !ti->vec_dot)
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which lorc cannot compute with",
                             f->path, name, lorc_type_name(t->type));
        if (lorc_row_bytes(t->type, t->ne[0]) == 0)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor '%s' has rows of %lld values, not a multiple of %s's %lld",
                             f->path, name, (long long)t->ne[0], ti->name, (long long)ti->block_size);
        m->w[slot] = t;
    }
    /* The 1-D weights (norms, biases, RoPE factors) are small enough to read
     * in full: a non-finite one can only turn every activation into NaN. */
    for (int slot = 0; slot < m->n_slots; slot++) {
        int64_t ne[4];
        bool required;
        if (!m->w[slot] || lorc_slot_shape(&m->hp, slot, ne, &required) != 1) continue;
        char name[96];
        lorc_model_slot_name(m, slot, name, sizeof name);
        lorc_status st = lorc_check_vector_finite(f->path, name, m->w[slot], slot == GW_ROPE_FREQS, err);
        if (st != LORC_OK) return st;
    }
    const lorc_tensor *rf = m->base[GW_ROPE_FREQS];
    if (rf && rf->type == LORC_TYPE_F32) m->rope_freq_factors = (float *)rf->data;
    return LORC_OK;
}

lorc_status lorc_model_load(const char *path, lorc_model **out, lorc_error *err) {
    *out = NULL;
    lorc_model *m = calloc(1, sizeof *m);
    if (!m) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    lorc_status st = gguf_open(path, &m->file, err);
    if (st != LORC_OK) goto fail;
    const gguf_file *f = m->file;
    if ((st = lorc_hparams_load(f, &m->hp, m->arch_name, sizeof m->arch_name, err))) goto fail;

    const gguf_tensor_info *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
        goto fail;
    }
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: tensor 'token_embd.weight' has %lld rows", path,
                       (long long)emb->ne[1]);
        goto fail;
    }
    m->hp.n_vocab = (int)emb->ne[1];

    if (f->n_tensors > INT32_MAX) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: too many tensors", path);
        goto fail;
    }
    m->n_tensors = (int)f->n_tensors;
    m->n_slots = GW_COUNT + m->hp.n_layer * LW_COUNT;
    m->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *m->tensors);
    m->base = calloc((size_t)m->n_slots, sizeof *m->base);
    m->w = calloc((size_t)m->n_slots, sizeof *m->w);
    if (!m->tensors || !m->base || !m->w) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const gguf_tensor_info *ti = &f->tensors[i];
        lorc_tensor_from_gguf(&m->tensors[i], ti);
    }
    if ((st = bind_weights(m, err))) goto fail;
    m->fingerprint = lorc_fingerprint_table(f);
    if ((st = lorc_vocab_from_gguf(f, &m->vocab, err))) goto fail;
    /* Token ids index token_embd's rows and the logits: a tokenizer of
     * another size would hand the forward pass ids it refuses, or the
     * sampler ids that have no text (llama.cpp refuses this too). */
    if (lorc_vocab_n_tokens(m->vocab) != m->hp.n_vocab) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: the tokenizer has %d tokens but token_embd.weight has %d rows", path,
                       lorc_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        goto fail;
    }
    *out = m;
    return LORC_OK;
fail:
    lorc_model_free(m);
    return st;
}

void lorc_model_free(lorc_model *m) {
    if (!m) return;
    lorc_vocab_free(m->vocab);
    free(m->w);
    free(m->base);
    free(m->tensors);
    gguf_close(m->file);
    free(m);
}

const char *lorc_model_arch(const lorc_model *m) { return m->arch_name; }
int lorc_model_n_vocab(const lorc_model *m) { return m->hp.n_vocab; }
int lorc_model_n_embd(const lorc_model *m) { return m->hp.n_embd; }
int lorc_model_n_layer(const lorc_model *m) { return m->hp.n_layer; }
int lorc_model_n_ctx_train(const lorc_model *m) { return m->hp.n_ctx_train; }
const lorc_vocab *lorc_model_vocab(const lorc_model *m) { return m->vocab; }
