/* synth_adapter.c — synthetic LoRA adapters (GGUF and PEFT forms), reference
 * merges and merged-model copies for the adapter tests (see synth_adapter.h). */
#include "synth_adapter.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tensor/types.h"

static bool is_embd(const synth_lora *l) { return !strcmp(l->target, "token_embd.weight"); }

lorc_status synth_lora_add_magnitude(synth_lora *l, uint64_t seed, float lo, float hi, lorc_error *err) {
    free(l->magnitude);
    l->magnitude = malloc((size_t)l->n_out * sizeof *l->magnitude);
    if (!l->magnitude) return lorc_fail(err, LORC_ERR_NOMEM, "synth_lora_add_magnitude: out of memory");
    synth_random_floats(seed, l->magnitude, l->n_out, 0.5f);
    for (int64_t i = 0; i < l->n_out; i++) l->magnitude[i] = lo + (l->magnitude[i] + 0.5f) * (hi - lo);
    return LORC_OK;
}

void synth_lora_merge(float *w, const synth_lora *l, float s) {
    int r = l->rank;
    if (is_embd(l)) {
        for (int64_t t = 0; t < l->n_out; t++)
            for (int64_t e = 0; e < l->n_in; e++) {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += (double)l->b[e * r + k] * l->a[t * r + k];
                w[t * l->n_in + e] += (float)(s * acc);
            }
        return;
    }
    for (int64_t o = 0; o < l->n_out; o++)
        for (int64_t i = 0; i < l->n_in; i++) {
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (double)l->b[o * r + k] * l->a[k * l->n_in + i];
            w[o * l->n_in + i] += (float)(s * acc);
        }
}

void synth_dora_merge(float *w, const synth_lora *l, float s) {
    int r = l->rank;
    double *row = malloc((size_t)l->n_in * sizeof *row);
    for (int64_t o = 0; o < l->n_out; o++) {
        double ss = 0;
        for (int64_t i = 0; i < l->n_in; i++) {
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (double)l->b[o * r + k] * l->a[k * l->n_in + i];
            row[i] = w[o * l->n_in + i] + (double)s * acc;
            ss += row[i] * row[i];
        }
        double f = l->magnitude[o] / sqrt(ss);
        for (int64_t i = 0; i < l->n_in; i++) w[o * l->n_in + i] = (float)(row[i] * f);
    }
    free(row);
}

/* ------------------------------------------------------------ PEFT form */

int64_t synth_hf_row(int64_t gguf_row, int64_t head_rows) {
    int64_t h = gguf_row / head_rows, k = gguf_row % head_rows;
    return h * head_rows + (k % 2) * (head_rows / 2) + k / 2;
}

const char *synth_hf_module(const char *gguf_name) {
    static char bufs[4][128];
    static int next;
    char *b = bufs[next++ % 4];
    if (!strcmp(gguf_name, "token_embd.weight")) return "model.embed_tokens";
    if (!strcmp(gguf_name, "output.weight")) return "lm_head";
    static const char *const map[][2] = {
        {"attn_q", "self_attn.q_proj"},  {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"},
    };
    int layer;
    char kind[32];
    if (sscanf(gguf_name, "blk.%d.%31[a-z_].weight", &layer, kind) != 2) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(kind, map[i][0])) {
            snprintf(b, sizeof bufs[0], "model.layers.%d.%s", layer, map[i][1]);
            return b;
        }
    return NULL;
}

/* Heads of the RoPE permutation for a target (0: none). */
static int perm_heads(const synth_params *p, const char *target) {
    if (strcmp(p->arch, "llama")) return 0;
    if (strstr(target, ".attn_q.")) return p->n_head;
    if (strstr(target, ".attn_k.")) return p->n_head_kv;
    return 0;
}

/* F32 values to dtype bytes (owned). */
static void *to_dtype(const float *src, int64_t n, const char *dtype, size_t *nbytes) {
    bool f32 = !strcmp(dtype, "F32");
    *nbytes = (size_t)n * (f32 ? 4 : 2);
    uint8_t *dst = malloc(*nbytes ? *nbytes : 1);
    if (!dst) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (f32) {
            memcpy(dst + 4 * i, &src[i], 4);
        } else {
            uint16_t h = !strcmp(dtype, "F16") ? lorc_fp32_to_fp16(src[i]) : lorc_fp32_to_bf16(src[i]);
            dst[2 * i] = (uint8_t)h;
            dst[2 * i + 1] = (uint8_t)(h >> 8);
        }
    }
    return dst;
}

lorc_status synth_write_peft_dir(const char *dir, const synth_params *p, const char *config_json, const synth_lora *l,
                                 int n, const char *dtype, lorc_error *err) {
    return synth_write_peft_dir_ex(dir, p, config_json, l, n, dtype, NULL, 0, err);
}

lorc_status synth_write_peft_dir_ex(const char *dir, const synth_params *p, const char *config_json,
                                    const synth_lora *l, int n, const char *dtype, const synth_st_tensor *extra,
                                    int n_extra, lorc_error *err) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return lorc_fail(err, LORC_ERR_IO, "%s: cannot create", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) return lorc_fail(err, LORC_ERR_IO, "%s: cannot write", path);
    fputs(config_json, fp);
    fclose(fp);

    int cap = 3 * n + n_extra;
    synth_st_tensor *t = calloc((size_t)cap + 1, sizeof *t);
    char (*names)[160] = calloc((size_t)cap + 1, sizeof *names);
    void **bufs = calloc((size_t)cap + 1, sizeof *bufs);
    float *tmp = NULL;
    int nt = 0;
    lorc_status st = LORC_OK;
    if (!t || !names || !bufs) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const synth_lora *x = &l[i];
        const char *mod = synth_hf_module(x->target);
        if (!mod) {
            st = lorc_fail(err, LORC_ERR_INVALID, "synth: no HF name for %s", x->target);
            goto out;
        }
        int r = x->rank;
        int heads = perm_heads(p, x->target);
        free(tmp);
        int64_t big = (x->n_in > x->n_out ? x->n_in : x->n_out) * r;
        tmp = malloc((size_t)big * sizeof *tmp);
        if (!tmp) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
            goto out;
        }
        if (is_embd(x)) {
            /* lora_embedding_A is torch [r, n_vocab]; lora_embedding_B torch [n_embd, r]. */
            for (int64_t v = 0; v < x->n_out; v++)
                for (int k = 0; k < r; k++) tmp[k * x->n_out + v] = x->a[v * r + k];
            snprintf(names[nt], sizeof names[0], "base_model.model.%s.lora_embedding_A", mod);
            t[nt] = (synth_st_tensor){names[nt], dtype, 2, {r, x->n_out}, NULL, 0};
            bufs[nt] = to_dtype(tmp, x->n_out * r, dtype, &t[nt].nbytes);
            t[nt].data = bufs[nt];
            nt++;
            snprintf(names[nt], sizeof names[0], "base_model.model.%s.lora_embedding_B", mod);
            t[nt] = (synth_st_tensor){names[nt], dtype, 2, {x->n_in, r}, NULL, 0};
            bufs[nt] = to_dtype(x->b, x->n_in * r, dtype, &t[nt].nbytes);
            t[nt].data = bufs[nt];
            nt++;
            continue;
        }
        snprintf(names[nt], sizeof names[0], "base_model.model.%s.lora_A.weight", mod);
        t[nt] = (synth_st_tensor){names[nt], dtype, 2, {r, x->n_in}, NULL, 0};
        bufs[nt] = to_dtype(x->a, x->n_in * r, dtype, &t[nt].nbytes);
        t[nt].data = bufs[nt];
        nt++;
        /* lora_B rows back into HF's rotary order. */
        for (int64_t o = 0; o < x->n_out; o++) {
            int64_t hf = heads ? synth_hf_row(o, x->n_out / heads) : o;
            memcpy(tmp + hf * r, x->b + o * r, (size_t)r * sizeof *tmp);
        }
        snprintf(names[nt], sizeof names[0], "base_model.model.%s.lora_B.weight", mod);
        t[nt] = (synth_st_tensor){names[nt], dtype, 2, {x->n_out, r}, NULL, 0};
        bufs[nt] = to_dtype(tmp, x->n_out * r, dtype, &t[nt].nbytes);
        t[nt].data = bufs[nt];
        nt++;
        if (x->magnitude) {
            for (int64_t o = 0; o < x->n_out; o++)
                tmp[heads ? synth_hf_row(o, x->n_out / heads) : o] = x->magnitude[o];
            snprintf(names[nt], sizeof names[0], "base_model.model.%s.lora_magnitude_vector", mod);
            t[nt] = (synth_st_tensor){names[nt], dtype, 1, {x->n_out}, NULL, 0};
            bufs[nt] = to_dtype(tmp, x->n_out, dtype, &t[nt].nbytes);
            t[nt].data = bufs[nt];
            nt++;
        }
    }
    for (int i = 0; i < n_extra; i++) t[nt++] = extra[i];
    for (int i = 0; i < nt; i++)
        if (!t[i].data && t[i].nbytes) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
            goto out;
        }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    st = synth_write_safetensors(path, t, nt, err);
out:
    for (int i = 0; bufs && i < cap; i++) free(bufs[i]);
    free(bufs);
    free(names);
    free(t);
    free(tmp);
    return st;
}

lorc_status synth_write_safetensors(const char *path, const synth_st_tensor *t, int n, lorc_error *err) {
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < t[i].n_dims; d++) json_array_append_new(shape, json_integer(t[i].shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", t[i].dtype, "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + t[i].nbytes));
        json_object_set_new(root, t[i].name, e);
        off += t[i].nbytes;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) / 8 * 8;
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(hdr);
        return lorc_fail(err, LORC_ERR_IO, "%s: cannot write", path);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(hdr, 1, hlen, fp);
    for (size_t i = hlen; i < padded; i++) fputc(' ', fp);
    for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].nbytes, fp);
    free(hdr);
    return fclose(fp) == 0 ? LORC_OK : lorc_fail(err, LORC_ERR_IO, "%s: write failed", path);
}

/* ------------------------------------------------------------ merged models */

float *synth_read_tensor_f32(const char *path, const char *name, int64_t *n) {
    gguf_file *f;
    lorc_error err;
    if (gguf_open(path, &f, &err) != LORC_OK) return NULL;
    const gguf_tensor_info *ti = gguf_find_tensor(f, name);
    const lorc_type_info *type = ti ? lorc_type_get(ti->type) : NULL;
    float *out = NULL;
    if (type && type->to_float) {
        int64_t ne = ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3];
        out = malloc((size_t)ne * sizeof *out);
        if (out) {
            type->to_float(ti->data, out, ne);
            *n = ne;
        }
    }
    gguf_close(f);
    return out;
}

lorc_status synth_write_replaced_model(const char *base, const char *out, const char *const *names,
                                       float *const *values, int n, lorc_error *err) {
    gguf_file *f;
    lorc_status st = gguf_open(base, &f, err);
    if (st) return st;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_allow_nonfinite(w); /* a fixture: may write hostile values on purpose */
    if (!w) {
        gguf_close(f);
        return lorc_fail(err, LORC_ERR_NOMEM, "synth: out of memory");
    }
    for (uint64_t i = 0; i < f->n_kv && !st; i++) st = gguf_writer_copy_kv(w, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors && !st; i++) {
        const gguf_tensor_info *ti = &f->tensors[i];
        int k = -1;
        for (int j = 0; j < n; j++)
            if (!strcmp(names[j], ti->name)) k = j;
        if (k >= 0) st = gguf_writer_add_tensor(w, ti->name, LORC_TYPE_F32, ti->n_dims, ti->ne, values[k]);
        else st = gguf_writer_add_tensor(w, ti->name, ti->type, ti->n_dims, ti->ne, ti->data);
    }
    if (!st) st = gguf_writer_write(w, out, NULL, NULL, err);
    else lorc_fail(err, st, "synth: copying %s failed", base);
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}

/* ------------------------------------------------------------ logits */

float *synth_logits_kv(lorc_model *model, lorc_adapter *const *adapters, const float *scales, int n,
                       const int32_t *tokens, int n_tokens, lorc_kv_type kv, lorc_error *err) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.type_k = cp.type_v = kv;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    float *logits = malloc((size_t)n_tokens * (size_t)lorc_model_n_vocab(model) * sizeof *logits);
    bool ok = logits && lorc_context_new(model, &cp, &ctx, err) == LORC_OK && lorc_sequence_new(ctx, &seq, err) == LORC_OK &&
              (n == 0 || lorc_sequence_set_adapters(seq, adapters, scales, n, err) == LORC_OK) &&
              lorc_decode(ctx, seq, tokens, n_tokens, true, logits, err) == LORC_OK;
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    if (!ok) {
        free(logits);
        return NULL;
    }
    return logits;
}

float *synth_logits(lorc_model *model, lorc_adapter *const *adapters, const float *scales, int n,
                    const int32_t *tokens, int n_tokens, lorc_error *err) {
    return synth_logits_kv(model, adapters, scales, n, tokens, n_tokens, LORC_KV_F16, err);
}

float *synth_logits_file_kv(const char *model_path, const int32_t *tokens, int n_tokens, lorc_kv_type kv,
                            lorc_error *err) {
    lorc_model *m = NULL;
    if (lorc_model_load(model_path, &m, err) != LORC_OK) return NULL;
    float *l = synth_logits_kv(m, NULL, NULL, 0, tokens, n_tokens, kv, err);
    lorc_model_free(m);
    return l;
}

float *synth_logits_file(const char *model_path, const int32_t *tokens, int n_tokens, lorc_error *err) {
    return synth_logits_file_kv(model_path, tokens, n_tokens, LORC_KV_F16, err);
}

double synth_rel_diff(const float *x, const float *y, int64_t n) {
    double md = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - y[i]);
        if (isnan(d)) return INFINITY;
        if (d > md) md = d;
        if (fabs((double)y[i]) > my) my = fabs((double)y[i]);
    }
    return my > 0 ? md / my : md;
}

synth_params synth_params_of_model(const lorc_model *m) {
    synth_params p = synth_default_params();
    p.n_vocab = lorc_model_n_vocab(m);
    p.n_embd = m->hp.n_embd;
    p.n_layer = m->hp.n_layer;
    p.n_head = m->hp.n_head;
    p.n_head_kv = m->hp.n_head_kv;
    p.n_ff = m->hp.n_ff;
    return p;
}

lorc_status synth_write_small_adapter(const char *path, const synth_params *p, uint64_t seed, lorc_error *err) {
    synth_lora l = {0};
    lorc_status st = synth_lora_init(&l, p, "blk.0.attn_q.weight", 2, seed, 0.1f, err);
    if (st == LORC_OK) st = synth_write_gguf_adapter(path, "llama", 2.0f, &l, 1, LORC_TYPE_F32, err);
    synth_lora_free(&l);
    return st;
}
