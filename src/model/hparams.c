/* hparams.c — hyper-parameters of llama/qwen2 models from GGUF metadata
 * ("<arch>.embedding_length", ...), with the defaults llama.cpp applies and
 * sanity checks so later size arithmetic cannot overflow. */
#include "hparams.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"

/* Generous upper bounds: real models are far below, and staying below keeps
 * every product of two of them inside int64. */
#define MAX_DIM (1 << 24)
#define MAX_LAYERS 4096

static lorc_status get_dim(const gguf_file *f, const char *arch, const char *suffix, bool required, int def,
                           int lo, int hi, int *out, lorc_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_find_kv(f, key)) {
        if (required) return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s'", f->path, key);
        *out = def;
        return LORC_OK;
    }
    uint32_t v;
    lorc_status st = gguf_get_u32(f, key, &v, err);
    if (st != LORC_OK) return st;
    if ((int64_t)v < lo || (int64_t)v > hi)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key '%s' is %u, expected %d..%d", f->path, key, v, lo, hi);
    *out = (int)v;
    return LORC_OK;
}

static lorc_status get_float(const gguf_file *f, const char *arch, const char *suffix, bool required, float def,
                             float *out, lorc_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_find_kv(f, key)) {
        if (required) return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s'", f->path, key);
        *out = def;
        return LORC_OK;
    }
    return gguf_get_f32(f, key, out, err);
}

lorc_status lorc_hparams_load(const gguf_file *f, lorc_hparams *hp, char *arch_name, size_t arch_cap,
                              lorc_error *err) {
    memset(hp, 0, sizeof *hp);
    if (!gguf_find_kv(f, "general.architecture"))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key 'general.architecture'", f->path);
    if (gguf_str_has_nul(f, "general.architecture"))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: key 'general.architecture' holds a NUL byte inside the string",
                         f->path);
    char *arch = gguf_get_str_dup(f, "general.architecture");
    if (!arch) return lorc_fail(err, LORC_ERR_FORMAT, "%s: key 'general.architecture' is not a string", f->path);
    if (strcmp(arch, "llama") == 0) {
        hp->arch = LORC_ARCH_LLAMA;
    } else if (strcmp(arch, "qwen2") == 0) {
        hp->arch = LORC_ARCH_QWEN2;
    } else {
        lorc_status st = lorc_fail(err, LORC_ERR_UNSUPPORTED,
                                   "%s: architecture '%.64s' is not supported (lorc runs llama, qwen2)", f->path,
                                   arch);
        free(arch);
        return st;
    }
    snprintf(arch_name, arch_cap, "%s", arch);
    free(arch);
    const char *a = arch_name;

    lorc_status st;
    if ((st = get_dim(f, a, "context_length", true, 0, 1, INT_MAX, &hp->n_ctx_train, err)) ||
        (st = get_dim(f, a, "embedding_length", true, 0, 1, MAX_DIM, &hp->n_embd, err)) ||
        (st = get_dim(f, a, "block_count", true, 0, 1, MAX_LAYERS, &hp->n_layer, err)) ||
        (st = get_dim(f, a, "feed_forward_length", true, 0, 1, MAX_DIM, &hp->n_ff, err)) ||
        (st = get_dim(f, a, "attention.head_count", true, 0, 1, MAX_DIM, &hp->n_head, err)) ||
        (st = get_dim(f, a, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head, &hp->n_head_kv, err)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s.attention.head_count %d is not a multiple of head_count_kv %d",
                         f->path, a, hp->n_head, hp->n_head_kv);
    int def_head = hp->n_embd / hp->n_head;
    if ((st = get_dim(f, a, "attention.key_length", false, def_head, 1, MAX_DIM, &hp->head_dim, err))) return st;
    if (hp->head_dim == 0 || (int64_t)hp->head_dim * hp->n_head > MAX_DIM)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: head size %d x %d heads is not usable", f->path, hp->head_dim,
                         hp->n_head);
    int v_len;
    if ((st = get_dim(f, a, "attention.value_length", false, hp->head_dim, 1, MAX_DIM, &v_len, err))) return st;
    if (v_len != hp->head_dim)
        return lorc_fail(err, LORC_ERR_UNSUPPORTED,
                         "%s: %s.attention.value_length %d differs from key_length %d (not supported)", f->path, a, v_len,
                         hp->head_dim);
    if ((st = get_dim(f, a, "rope.dimension_count", false, hp->head_dim, 0, hp->head_dim, &hp->rope_dim, err)))
        return st;
    if (hp->rope_dim % 2 != 0)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s.rope.dimension_count %d is odd", f->path, a, hp->rope_dim);
    if ((st = get_float(f, a, "attention.layer_norm_rms_epsilon", true, 0, &hp->norm_eps, err)) ||
        (st = get_float(f, a, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base, err)))
        return st;
    /* RMSNorm divides by sqrt(mean(x^2) + eps): eps 0 gives Inf on a zero
     * row, and a non-finite eps or base turns every activation into NaN. */
    if (!(hp->norm_eps > 0.0f) || !isfinite(hp->norm_eps))
        return lorc_fail(err, LORC_ERR_NUMERIC, "%s: key '%s.attention.layer_norm_rms_epsilon' is %g (must be finite and > 0)",
                         f->path, a, (double)hp->norm_eps);
    if (!(hp->rope_freq_base > 0.0f) || !isfinite(hp->rope_freq_base))
        return lorc_fail(err, LORC_ERR_NUMERIC, "%s: key '%s.rope.freq_base' is %g (must be finite and > 0)", f->path,
                         a, (double)hp->rope_freq_base);
    hp->rope_neox = hp->arch == LORC_ARCH_QWEN2;

    /* Position scaling: "linear" (and the legacy scale_linear key) divide
     * positions; Llama 3.1 style scaling arrives as the rope_freqs tensor. */
    hp->rope_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    char *stype = gguf_get_str_dup(f, key);
    bool linear = false;
    if (stype) {
        if (strcmp(stype, "linear") == 0) {
            linear = true;
        } else if (strcmp(stype, "none") != 0) {
            st = lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: %s '%.32s' is not supported (lorc does none, linear)",
                           f->path, key, stype);
            free(stype);
            return st;
        }
        free(stype);
    }
    if (linear) {
        if ((st = get_float(f, a, "rope.scaling.factor", false, 1.0f, &hp->rope_scale, err))) return st;
    } else {
        if ((st = get_float(f, a, "rope.scale_linear", false, 1.0f, &hp->rope_scale, err))) return st;
    }
    if (hp->rope_scale == 0.0f) hp->rope_scale = 1.0f;
    if (!(hp->rope_scale > 0.0f) || !isfinite(hp->rope_scale))
        return lorc_fail(err, LORC_ERR_NUMERIC, "%s: rope scaling factor %g of '%s.rope.%s' (must be finite and > 0)",
                         f->path, (double)hp->rope_scale, a, linear ? "scaling.factor" : "scale_linear");
    return LORC_OK;
}

int lorc_slot_shape(const lorc_hparams *hp, int slot, int64_t ne[4], bool *required) {
    ne[0] = ne[1] = ne[2] = ne[3] = 1;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    *required = true;
    if (slot < GW_COUNT) {
        switch ((lorc_global_weight)slot) {
        case GW_TOKEN_EMBD:
        case GW_OUTPUT:
            ne[0] = hp->n_embd;
            ne[1] = hp->n_vocab;
            *required = slot == GW_TOKEN_EMBD;
            return 2;
        case GW_OUTPUT_NORM:
            ne[0] = hp->n_embd;
            return 1;
        case GW_ROPE_FREQS:
            ne[0] = hp->rope_dim / 2;
            *required = false;
            return 1;
        case GW_COUNT:
            break;
        }
        return 0;
    }
    switch ((lorc_layer_weight)((slot - GW_COUNT) % LW_COUNT)) {
    case LW_ATTN_NORM:
    case LW_FFN_NORM:
        ne[0] = hp->n_embd;
        return 1;
    case LW_ATTN_Q:
        ne[0] = hp->n_embd;
        ne[1] = q_dim;
        return 2;
    case LW_ATTN_K:
    case LW_ATTN_V:
        ne[0] = hp->n_embd;
        ne[1] = kv_dim;
        return 2;
    case LW_ATTN_Q_BIAS:
        ne[0] = q_dim;
        *required = false;
        return 1;
    case LW_ATTN_K_BIAS:
    case LW_ATTN_V_BIAS:
        ne[0] = kv_dim;
        *required = false;
        return 1;
    case LW_ATTN_OUT:
        ne[0] = q_dim;
        ne[1] = hp->n_embd;
        return 2;
    case LW_FFN_GATE:
    case LW_FFN_UP:
        ne[0] = hp->n_embd;
        ne[1] = hp->n_ff;
        return 2;
    case LW_FFN_DOWN:
        ne[0] = hp->n_ff;
        ne[1] = hp->n_embd;
        return 2;
    case LW_COUNT:
        break;
    }
    return 0;
}
