/* synth.c — synthetic llama/qwen2 GGUF models for tests (see synth.h).
 * Each tensor's values come from its own stream, seeded by the model seed
 * and the tensor name, so they do not depend on what else is written. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/error.h"
#include "format/gguf.h"
#include "tensor/types.h"

synth_params synth_default_params(void) {
    synth_params p = {
        .arch = "llama",
        .n_vocab = 64,
        .n_embd = 32,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = 4,
        .head_dim = 0,
        .n_ff = 48,
        .n_ctx = 64,
        .norm_eps = 1e-5f,
        .rope_freq_base = 10000.0f,
        .weight_type = LORC_TYPE_F32,
        .embd_type = LORC_TYPE_F32,
        .qkv_bias = false,
        .rope_freqs = false,
        .tied_output = false,
        .seed = 1,
        .weight_scale = 1.0f,
    };
    return p;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void synth_random_floats(uint64_t seed, float *out, int64_t n, float scale) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&s) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        out[i] = (float)((2.0 * u - 1.0) * scale);
    }
}

/* ------------------------------------------------------------ tensor list */

typedef enum { K_MATRIX, K_EMBD, K_NORM, K_BIAS, K_ROPE } synth_kind;

typedef struct synth_tensor {
    char name[64];
    int64_t ne[2];
    int n_dims;
    synth_kind kind;
} synth_tensor;

static int head_dim_of(const synth_params *p) { return p->head_dim ? p->head_dim : p->n_embd / p->n_head; }

static void add(synth_tensor *t, int *n, const char *name, int64_t ne0, int64_t ne1, int n_dims, synth_kind k) {
    synth_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ne[0] = ne0;
    x->ne[1] = ne1;
    x->n_dims = n_dims;
    x->kind = k;
}

/* Fills `t` (capacity 4 + 12 * n_layer) in file order; returns the count. */
static int tensor_list(const synth_params *p, synth_tensor *t) {
    int n = 0;
    const int64_t hd = head_dim_of(p), q = hd * p->n_head, kv = hd * p->n_head_kv;
    add(t, &n, "token_embd.weight", p->n_embd, p->n_vocab, 2, K_EMBD);
    if (p->rope_freqs) add(t, &n, "rope_freqs.weight", hd / 2, 1, 1, K_ROPE);
    for (int l = 0; l < p->n_layer; l++) {
        char nm[64];
#define LAYER(suffix, a, b, nd, k)                           \
    do {                                                     \
        snprintf(nm, sizeof nm, "blk.%d." suffix, l);        \
        add(t, &n, nm, a, b, nd, k);                         \
    } while (0)
        LAYER("attn_norm.weight", p->n_embd, 1, 1, K_NORM);
        LAYER("attn_q.weight", p->n_embd, q, 2, K_MATRIX);
        LAYER("attn_k.weight", p->n_embd, kv, 2, K_MATRIX);
        LAYER("attn_v.weight", p->n_embd, kv, 2, K_MATRIX);
        if (p->qkv_bias) {
            LAYER("attn_q.bias", q, 1, 1, K_BIAS);
            LAYER("attn_k.bias", kv, 1, 1, K_BIAS);
            LAYER("attn_v.bias", kv, 1, 1, K_BIAS);
        }
        LAYER("attn_output.weight", q, p->n_embd, 2, K_MATRIX);
        LAYER("ffn_norm.weight", p->n_embd, 1, 1, K_NORM);
        LAYER("ffn_gate.weight", p->n_embd, p->n_ff, 2, K_MATRIX);
        LAYER("ffn_up.weight", p->n_embd, p->n_ff, 2, K_MATRIX);
        LAYER("ffn_down.weight", p->n_ff, p->n_embd, 2, K_MATRIX);
#undef LAYER
    }
    add(t, &n, "output_norm.weight", p->n_embd, 1, 1, K_NORM);
    if (!p->tied_output) add(t, &n, "output.weight", p->n_embd, p->n_vocab, 2, K_MATRIX);
    return n;
}

static float *values_of(const synth_params *p, const synth_tensor *t) {
    int64_t n = t->ne[0] * t->ne[1];
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return NULL;
    uint64_t seed = XXH64(t->name, strlen(t->name), p->seed);
    float s = p->weight_scale;
    switch (t->kind) {
    case K_EMBD:
        synth_random_floats(seed, v, n, s);
        break;
    case K_MATRIX:
        synth_random_floats(seed, v, n, s / sqrtf((float)t->ne[0]));
        break;
    case K_NORM:
        synth_random_floats(seed, v, n, s / 4);
        for (int64_t i = 0; i < n; i++) v[i] += 1.0f;
        break;
    case K_BIAS:
        synth_random_floats(seed, v, n, s / 2);
        break;
    case K_ROPE:
        synth_random_floats(seed, v, n, 3.5f);
        for (int64_t i = 0; i < n; i++) v[i] += 4.5f; /* [1, 8) */
        break;
    }
    return v;
}

float *synth_tensor_values(const synth_params *p, const char *name, int64_t *n) {
    synth_tensor *list = malloc((size_t)(4 + 12 * p->n_layer) * sizeof *list);
    if (!list) return NULL;
    int cnt = tensor_list(p, list);
    float *v = NULL;
    for (int i = 0; i < cnt; i++)
        if (strcmp(list[i].name, name) == 0) {
            v = values_of(p, &list[i]);
            if (v && n) *n = list[i].ne[0] * list[i].ne[1];
            break;
        }
    free(list);
    return v;
}

/* ------------------------------------------------------------ vocab */

static lorc_status write_vocab(gguf_writer *w, int n_vocab) {
    char **toks = calloc((size_t)n_vocab, sizeof *toks);
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    lorc_status st = LORC_ERR_NOMEM;
    if (!toks || !scores || !types) goto out;
    bool bytes = n_vocab >= 3 + 256;
    for (int i = 0; i < n_vocab; i++) {
        char buf[32];
        int32_t ty = 1; /* normal */
        if (i == 0) {
            snprintf(buf, sizeof buf, "<unk>");
            ty = 2;
        } else if (i == 1) {
            snprintf(buf, sizeof buf, "<s>");
            ty = 3;
        } else if (i == 2) {
            snprintf(buf, sizeof buf, "</s>");
            ty = 3;
        } else if (bytes && i < 3 + 256) {
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
            ty = 6;
        } else {
            int k = bytes ? i - 259 : i - 3;
            /* "▁a".."▁z", "a".."z", then "t<k>": distinct pieces. */
            if (k < 26)
                snprintf(buf, sizeof buf, "\xE2\x96\x81%c", 'a' + k);
            else if (k < 52)
                snprintf(buf, sizeof buf, "%c", 'a' + (k - 26));
            else
                snprintf(buf, sizeof buf, "t%d", k);
        }
        toks[i] = strdup(buf);
        if (!toks[i]) goto out;
        scores[i] = ty == 1 ? -(float)i : 0.0f;
        types[i] = ty;
    }
    if ((st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) ||
        (st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n_vocab)) ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)n_vocab)) ||
        (st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_vocab)) ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) ||
        (st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) ||
        (st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true)))
        goto out;
    st = LORC_OK;
out:
    for (int i = 0; toks && i < n_vocab; i++) free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    return st;
}

/* ------------------------------------------------------------ model */

static lorc_status set_u32(gguf_writer *w, const char *arch, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_writer_set_u32(w, key, v);
}

static lorc_status set_f32(gguf_writer *w, const char *arch, const char *suffix, float v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_writer_set_f32(w, key, v);
}

lorc_status synth_write_model(const char *path, const synth_params *p, lorc_error *err) {
    if (p->n_vocab < 3 || p->n_embd < 1 || p->n_layer < 1 || p->n_head < 1 || p->n_head_kv < 1 || p->n_ff < 1 ||
        p->n_head % p->n_head_kv != 0 || head_dim_of(p) < 2 || head_dim_of(p) % 2 != 0)
        return lorc_fail(err, LORC_ERR_INVALID, "synth: inconsistent hyper-parameters");
    const char *arch = p->arch ? p->arch : "llama";
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* a fixture: may write hostile values on purpose */
    int cap = 4 + 12 * p->n_layer;
    synth_tensor *list = malloc((size_t)cap * sizeof *list);
    void **bufs = calloc((size_t)cap, sizeof *bufs);
    int cnt = 0;
    lorc_status st = LORC_OK;
    if (!w || !list || !bufs) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
        goto out;
    }
    if ((st = gguf_writer_set_str(w, "general.architecture", arch)) ||
        (st = gguf_writer_set_str(w, "general.name", "synthetic")) ||
        (st = set_u32(w, arch, "context_length", (uint32_t)p->n_ctx)) ||
        (st = set_u32(w, arch, "embedding_length", (uint32_t)p->n_embd)) ||
        (st = set_u32(w, arch, "block_count", (uint32_t)p->n_layer)) ||
        (st = set_u32(w, arch, "feed_forward_length", (uint32_t)p->n_ff)) ||
        (st = set_u32(w, arch, "attention.head_count", (uint32_t)p->n_head)) ||
        (st = set_u32(w, arch, "attention.head_count_kv", (uint32_t)p->n_head_kv)) ||
        (st = set_f32(w, arch, "attention.layer_norm_rms_epsilon", p->norm_eps)) ||
        (st = set_f32(w, arch, "rope.freq_base", p->rope_freq_base)) ||
        (st = set_u32(w, arch, "rope.dimension_count", (uint32_t)head_dim_of(p))))
        goto writer_fail;
    if (p->head_dim && ((st = set_u32(w, arch, "attention.key_length", (uint32_t)p->head_dim)) ||
                        (st = set_u32(w, arch, "attention.value_length", (uint32_t)p->head_dim))))
        goto writer_fail;
    if ((st = write_vocab(w, p->n_vocab))) goto writer_fail;

    cnt = tensor_list(p, list);
    for (int i = 0; i < cnt; i++) {
        const synth_tensor *t = &list[i];
        float *v = values_of(p, t);
        if (!v) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
            goto out;
        }
        uint32_t type = LORC_TYPE_F32;
        if (t->kind == K_MATRIX) type = p->weight_type;
        if (t->kind == K_EMBD || strcmp(t->name, "output.weight") == 0) type = p->embd_type;
        if (type == LORC_TYPE_F32) {
            bufs[i] = v;
        } else {
            const lorc_type_info *ti = lorc_type_get(type);
            size_t rb = lorc_row_bytes(type, t->ne[0]);
            if (!ti || !ti->from_float || rb == 0) {
                free(v);
                st = lorc_fail(err, LORC_ERR_INVALID, "synth: cannot write '%s' (row of %lld) as %s", t->name,
                               (long long)t->ne[0], lorc_type_name(type));
                goto out;
            }
            bufs[i] = malloc(rb * (size_t)t->ne[1]);
            if (!bufs[i]) {
                free(v);
                st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
                goto out;
            }
            ti->from_float(v, bufs[i], t->ne[0] * t->ne[1]);
            free(v);
        }
        if ((st = gguf_writer_add_tensor(w, t->name, type, (uint32_t)t->n_dims, t->ne, bufs[i]))) goto writer_fail;
    }
    st = gguf_writer_write(w, path, NULL, NULL, err);
    goto out;
writer_fail:
    st = lorc_fail(err, st, "synth: building the GGUF for %s failed", path);
out:
    for (int i = 0; bufs && i < cap; i++) free(bufs[i]);
    free(bufs);
    free(list);
    gguf_writer_free(w);
    return st;
}

/* ------------------------------------------------------------ copying */

lorc_status synth_copy_gguf(const char *src, synth_tensor_edit_fn edit, void *user, gguf_writer **out_writer,
                            gguf_file **out_src, lorc_error *err) {
    *out_writer = NULL;
    *out_src = NULL;
    gguf_file *f = NULL;
    lorc_status st = gguf_open(src, &f, err);
    if (st != LORC_OK) return st;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* a fixture: may write hostile values on purpose */
    if (!w) {
        gguf_close(f);
        return lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
    }
    for (uint64_t i = 0; i < f->n_kv && st == LORC_OK; i++) st = gguf_writer_copy_kv(w, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors && st == LORC_OK; i++) {
        const gguf_tensor_info *ti = &f->tensors[i];
        uint32_t type = ti->type, n_dims = ti->n_dims;
        int64_t ne[4] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < n_dims && d < 4; d++) ne[d] = ti->ne[d];
        const void *data = ti->data;
        if (edit && !edit(user, ti->name, &type, &n_dims, ne, &data)) continue;
        st = gguf_writer_add_tensor(w, ti->name, type, n_dims, ne, data);
    }
    if (st != LORC_OK) {
        gguf_writer_free(w);
        gguf_close(f);
        return lorc_fail(err, st, "synth: copying %s failed", src);
    }
    *out_writer = w;
    *out_src = f;
    return LORC_OK;
}
