/* synth.c — synthetic llama/qwen2 GGUF models (see synth.h).
 * Each tensor's values come from its own stream, seeded by the model seed
 * and the tensor name, so they do not depend on what else is written; the
 * stream is counter-based, so any row can be generated on its own and a
 * big model is produced row by row on several threads. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/error.h"
#include "base/threadpool.h"
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
        .file_type = -1,
    };
    return p;
}

#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull

static uint64_t splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Values first .. first+n-1 of the stream `seed`: splitmix64's state after
 * k steps is seed + k·gamma, so a stream can be entered anywhere. */
static void random_floats_at(uint64_t seed, int64_t first, float *out, int64_t n, float scale) {
    uint64_t s = seed + (uint64_t)first * SPLITMIX_GAMMA;
    for (int64_t i = 0; i < n; i++) {
        s += SPLITMIX_GAMMA;
        double u = (double)(splitmix64_mix(s) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        out[i] = (float)((2.0 * u - 1.0) * scale);
    }
}

void synth_random_floats(uint64_t seed, float *out, int64_t n, float scale) { random_floats_at(seed, 0, out, n, scale); }

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

/* Rows [row0, row0 + n_rows) of tensor t's F32 values into `out`. */
static void rows_of(const synth_params *p, const synth_tensor *t, int64_t row0, int64_t n_rows, float *out) {
    const int64_t first = row0 * t->ne[0], n = n_rows * t->ne[0];
    uint64_t seed = XXH64(t->name, strlen(t->name), p->seed);
    float s = p->weight_scale;
    switch (t->kind) {
    case K_EMBD:
        random_floats_at(seed, first, out, n, s);
        break;
    case K_MATRIX:
        random_floats_at(seed, first, out, n, s / sqrtf((float)t->ne[0]));
        break;
    case K_NORM:
        random_floats_at(seed, first, out, n, s / 4);
        for (int64_t i = 0; i < n; i++) out[i] += 1.0f;
        break;
    case K_BIAS:
        random_floats_at(seed, first, out, n, s / 2);
        break;
    case K_ROPE:
        random_floats_at(seed, first, out, n, 3.5f);
        for (int64_t i = 0; i < n; i++) out[i] += 4.5f; /* [1, 8) */
        break;
    }
}

static float *values_of(const synth_params *p, const synth_tensor *t) {
    float *v = malloc((size_t)(t->ne[0] * t->ne[1]) * sizeof(float));
    if (v) rows_of(p, t, 0, t->ne[1], v);
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

/* One tensor produced while the writer streams: its rows are generated and
 * converted to `type` on the pool's threads, straight into the output. */
typedef struct synth_fill {
    const synth_params *p;
    const synth_tensor *t;
    uint32_t type;
    lorc_threadpool *pool;
    uint8_t *dst; /* set per fill */
    bool nomem;   /* a worker could not get its row buffer */
} synth_fill;

static void fill_rows(void *user, int ith, int nth) {
    synth_fill *f = user;
    const int64_t ne0 = f->t->ne[0], rows = f->t->ne[1];
    const int64_t r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;
    if (r0 >= r1) return;
    const size_t row_bytes = lorc_row_bytes(f->type, ne0);
    if (f->type == LORC_TYPE_F32) {
        rows_of(f->p, f->t, r0, r1 - r0, (float *)(f->dst + (size_t)r0 * row_bytes));
        return;
    }
    float *row = malloc((size_t)ne0 * sizeof *row);
    if (!row) {
        f->nomem = true; /* a plain store: every writer stores the same value */
        return;
    }
    const lorc_type_info *ti = lorc_type_get(f->type);
    for (int64_t r = r0; r < r1; r++) {
        rows_of(f->p, f->t, r, 1, row);
        ti->from_float(row, f->dst + (size_t)r * row_bytes, ne0);
    }
    free(row);
}

static lorc_status fill_tensor(void *user, void *dst, uint64_t nbytes, lorc_error *err) {
    synth_fill *f = user;
    (void)nbytes; /* the writer sized it from the same type and dims */
    f->dst = dst;
    f->nomem = false;
    lorc_threadpool_run(f->pool, fill_rows, f);
    if (f->nomem) return lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory generating %s", f->t->name);
    return LORC_OK;
}

static uint32_t type_of(const synth_params *p, const synth_tensor *t) {
    const int64_t ne[2] = {t->ne[0], t->ne[1]};
    if (p->tensor_type) return p->tensor_type(p->tensor_type_user, t->name, (uint32_t)t->n_dims, ne);
    if (t->kind == K_EMBD || strcmp(t->name, "output.weight") == 0) return p->embd_type;
    if (t->kind == K_MATRIX) return p->weight_type;
    return LORC_TYPE_F32;
}

lorc_status synth_write_model(const char *path, const synth_params *p, lorc_error *err) {
    if (p->n_vocab < 3 || p->n_embd < 1 || p->n_layer < 1 || p->n_head < 1 || p->n_head_kv < 1 || p->n_ff < 1 ||
        p->n_head % p->n_head_kv != 0 || head_dim_of(p) < 2 || head_dim_of(p) % 2 != 0)
        return lorc_fail(err, LORC_ERR_INVALID, "synth: inconsistent hyper-parameters");
    const char *arch = p->arch ? p->arch : "llama";
    gguf_writer *w = gguf_writer_new();
    int cap = 4 + 12 * p->n_layer;
    synth_tensor *list = malloc((size_t)cap * sizeof *list);
    synth_fill *fills = calloc((size_t)cap, sizeof *fills);
    lorc_threadpool *pool = lorc_threadpool_new(p->n_threads > 1 ? p->n_threads : 1);
    lorc_status st = LORC_OK;
    if (!w || !list || !fills || !pool) {
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
    if (p->file_type >= 0 && (st = gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->file_type)))
        goto writer_fail;
    if ((st = write_vocab(w, p->n_vocab))) goto writer_fail;

    int cnt = tensor_list(p, list);
    for (int i = 0; i < cnt; i++) {
        const synth_tensor *t = &list[i];
        uint32_t type = type_of(p, t);
        const lorc_type_info *ti = lorc_type_get(type);
        if (!ti || (type != LORC_TYPE_F32 && !ti->from_float) || lorc_row_bytes(type, t->ne[0]) == 0) {
            st = lorc_fail(err, LORC_ERR_INVALID, "synth: cannot write '%s' (row of %lld) as %s", t->name,
                           (long long)t->ne[0], lorc_type_name(type));
            goto out;
        }
        fills[i] = (synth_fill){p, t, type, pool, NULL, false};
        if ((st = gguf_writer_add_tensor_lazy(w, t->name, type, (uint32_t)t->n_dims, t->ne, fill_tensor, &fills[i])))
            goto writer_fail;
    }
    st = gguf_writer_write(w, path, p->progress, p->progress_user, err);
    goto out;
writer_fail:
    st = lorc_fail(err, st, "synth: building the GGUF for %s failed", path);
out:
    lorc_threadpool_free(pool);
    free(fills);
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
