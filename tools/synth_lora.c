/* synth_lora.c — random LoRA pairs for a synthetic model's weights and the
 * llama.cpp GGUF adapter writer (see synth_lora.h). */
#include "synth_lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "format/gguf.h"
#include "tensor/types.h"

static int head_dim_of(const synth_params *p) { return p->head_dim ? p->head_dim : p->n_embd / p->n_head; }

/* ne[0], ne[1] of a synthetic model's weight; false for unknown names. */
static bool weight_shape(const synth_params *p, const char *name, int64_t *n_in, int64_t *n_out) {
    int hd = head_dim_of(p);
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")) {
        *n_in = p->n_embd;
        *n_out = p->n_vocab;
        return true;
    }
    int layer;
    char kind[32];
    if (sscanf(name, "blk.%d.%31[a-z_].weight", &layer, kind) != 2) return false;
    if (!strcmp(kind, "attn_q")) *n_in = p->n_embd, *n_out = (int64_t)p->n_head * hd;
    else if (!strcmp(kind, "attn_k") || !strcmp(kind, "attn_v")) *n_in = p->n_embd, *n_out = (int64_t)p->n_head_kv * hd;
    else if (!strcmp(kind, "attn_output")) *n_in = (int64_t)p->n_head * hd, *n_out = p->n_embd;
    else if (!strcmp(kind, "ffn_gate") || !strcmp(kind, "ffn_up")) *n_in = p->n_embd, *n_out = p->n_ff;
    else if (!strcmp(kind, "ffn_down")) *n_in = p->n_ff, *n_out = p->n_embd;
    else return false;
    return true;
}

static bool is_embd(const synth_lora *l) { return !strcmp(l->target, "token_embd.weight"); }

lorc_status synth_lora_init(synth_lora *l, const synth_params *p, const char *target, int rank, uint64_t seed,
                            float scale, lorc_error *err) {
    memset(l, 0, sizeof *l);
    if (!weight_shape(p, target, &l->n_in, &l->n_out))
        return lorc_fail(err, LORC_ERR_INVALID, "synth_lora_init: unknown target %s", target);
    snprintf(l->target, sizeof l->target, "%s", target);
    l->rank = rank;
    /* token_embd: A has one row of r per token, B one row of r per embedding value. */
    int64_t na = is_embd(l) ? l->n_out * rank : l->n_in * rank;
    int64_t nb = is_embd(l) ? l->n_in * rank : l->n_out * rank;
    l->a = malloc((size_t)na * sizeof *l->a);
    l->b = malloc((size_t)nb * sizeof *l->b);
    if (!l->a || !l->b) {
        synth_lora_free(l);
        return lorc_fail(err, LORC_ERR_NOMEM, "synth_lora_init: out of memory");
    }
    synth_random_floats(seed * 2 + 1, l->a, na, scale);
    synth_random_floats(seed * 2 + 2, l->b, nb, scale);
    return LORC_OK;
}

void synth_lora_free(synth_lora *l) {
    if (!l) return;
    free(l->a);
    free(l->b);
    free(l->magnitude);
    l->a = l->b = l->magnitude = NULL;
}

/* Converts rows × n F32 values to `type` (owned result). */
static void *encode(const float *src, int64_t rows, int64_t n, uint32_t type) {
    const lorc_type_info *ti = lorc_type_get(type);
    size_t rb = lorc_row_bytes(type, n);
    if (!ti || !ti->from_float || rb == 0) return NULL;
    uint8_t *dst = malloc((size_t)rows * rb);
    if (!dst) return NULL;
    for (int64_t r = 0; r < rows; r++) ti->from_float(src + r * n, dst + (size_t)r * rb, n);
    return dst;
}

lorc_status synth_write_gguf_adapter(const char *path, const char *arch, float alpha, const synth_lora *l, int n,
                                     uint32_t type, lorc_error *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
    void **bufs = calloc((size_t)(2 * n + 1), sizeof *bufs);
    lorc_status st = LORC_OK;
    bool msg = false;
    if (!bufs) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
        msg = true;
    }
    if (!st) st = gguf_writer_set_str(w, "general.architecture", arch);
    if (!st) st = gguf_writer_set_str(w, "general.type", "adapter");
    if (!st) st = gguf_writer_set_str(w, "adapter.type", "lora");
    if (!st && alpha >= 0) st = gguf_writer_set_f32(w, "adapter.lora.alpha", alpha);
    for (int i = 0; i < n && !st; i++) {
        char name[96];
        int64_t ne_a[2], ne_b[2];
        if (is_embd(&l[i])) {
            ne_a[0] = l[i].rank, ne_a[1] = l[i].n_out;
            ne_b[0] = l[i].rank, ne_b[1] = l[i].n_in;
        } else {
            ne_a[0] = l[i].n_in, ne_a[1] = l[i].rank;
            ne_b[0] = l[i].rank, ne_b[1] = l[i].n_out;
        }
        bufs[2 * i] = encode(l[i].a, ne_a[1], ne_a[0], type);
        bufs[2 * i + 1] = encode(l[i].b, ne_b[1], ne_b[0], type);
        if (!bufs[2 * i] || !bufs[2 * i + 1]) {
            st = lorc_fail(err, LORC_ERR_INVALID, "synth: cannot encode %s as %s", l[i].target, lorc_type_name(type));
            msg = true;
            break;
        }
        snprintf(name, sizeof name, "%s.lora_a", l[i].target);
        st = gguf_writer_add_tensor(w, name, type, 2, ne_a, bufs[2 * i]);
        snprintf(name, sizeof name, "%s.lora_b", l[i].target);
        if (!st) st = gguf_writer_add_tensor(w, name, type, 2, ne_b, bufs[2 * i + 1]);
    }
    if (!st) st = gguf_writer_write(w, path, NULL, NULL, err);
    else if (!msg) lorc_fail(err, st, "synth: building %s failed", path);
    gguf_writer_free(w);
    for (int i = 0; bufs && i < 2 * n; i++) free(bufs[i]);
    free(bufs);
    return st;
}

