/* quant_mix.c — the per-tensor type rules of llama-quantize's named mixes
 * (see quant_mix.h). The rules restate, for the LLaMA-family models lorc
 * runs, what llama.cpp's quantizer decides (src/llama-quant.cpp, read at
 * commit c392e50, Feb 2025); rules for architectures and types lorc does
 * not have (Falcon, mixture-of-experts, IQ types, importance matrices) are
 * left out. */
#include "quant_mix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tensor/types.h"

/* llama.cpp's llama_ftype values: what general.file_type records. */
enum {
    FTYPE_ALL_F32 = 0,
    FTYPE_F16 = 1,
    FTYPE_Q4_0 = 2,
    FTYPE_Q4_1 = 3,
    FTYPE_Q8_0 = 7,
    FTYPE_Q5_0 = 8,
    FTYPE_Q5_1 = 9,
    FTYPE_Q2_K = 10,
    FTYPE_Q3_K_S = 11,
    FTYPE_Q3_K_M = 12,
    FTYPE_Q3_K_L = 13,
    FTYPE_Q4_K_S = 14,
    FTYPE_Q4_K_M = 15,
    FTYPE_Q5_K_S = 16,
    FTYPE_Q5_K_M = 17,
    FTYPE_Q6_K = 18,
    FTYPE_Q2_K_S = 21,
    FTYPE_BF16 = 32,
};

static const quant_mix mixes[] = {
    {"F32", LORC_TYPE_F32, FTYPE_ALL_F32, false, "32-bit floats"},
    {"F16", LORC_TYPE_F16, FTYPE_F16, false, "16-bit floats"},
    {"BF16", LORC_TYPE_BF16, FTYPE_BF16, false, "bfloat16"},
    {"Q8_0", LORC_TYPE_Q8_0, FTYPE_Q8_0, false, "Q8_0 everywhere (output too)"},
    {"Q4_0", LORC_TYPE_Q4_0, FTYPE_Q4_0, false, "Q4_0, output Q6_K"},
    {"Q4_1", LORC_TYPE_Q4_1, FTYPE_Q4_1, false, "Q4_1, output Q6_K"},
    {"Q5_0", LORC_TYPE_Q5_0, FTYPE_Q5_0, false, "Q5_0, output Q6_K"},
    {"Q5_1", LORC_TYPE_Q5_1, FTYPE_Q5_1, false, "Q5_1, output Q6_K"},
    {"Q2_K", LORC_TYPE_Q2_K, FTYPE_Q2_K, false,
     "Q2_K; attn_v Q3_K (Q4_K with GQA >= 4), attn_output and ffn_down Q3_K, output Q6_K"},
    {"Q2_K_S", LORC_TYPE_Q2_K, FTYPE_Q2_K_S, false,
     "Q2_K; attn_v Q4_K with GQA >= 4, ffn_down of the first 1/8 layers Q4_K, output Q6_K"},
    {"Q3_K_S", LORC_TYPE_Q3_K, FTYPE_Q3_K_S, false, "Q3_K, output Q6_K"},
    {"Q3_K_M", LORC_TYPE_Q3_K, FTYPE_Q3_K_M, false,
     "Q3_K; attn_v Q5_K (first 2) / Q4_K, attn_output Q4_K, ffn_down Q5_K (first 1/16) / Q4_K, output Q6_K"},
    {"Q3_K_L", LORC_TYPE_Q3_K, FTYPE_Q3_K_L, false, "Q3_K; attn_v, attn_output, ffn_down Q5_K, output Q6_K"},
    {"Q4_K_S", LORC_TYPE_Q4_K, FTYPE_Q4_K_S, false,
     "Q4_K; attn_v of the first 4 and ffn_down of the first 1/8 layers Q5_K, output Q6_K"},
    {"Q4_K_M", LORC_TYPE_Q4_K, FTYPE_Q4_K_M, false, "Q4_K; attn_v and ffn_down of ~half the layers Q6_K, output Q6_K"},
    {"Q5_K_S", LORC_TYPE_Q5_K, FTYPE_Q5_K_S, false, "Q5_K, output Q6_K"},
    {"Q5_K_M", LORC_TYPE_Q5_K, FTYPE_Q5_K_M, false, "Q5_K; attn_v and ffn_down of ~half the layers Q6_K, output Q6_K"},
    {"Q6_K", LORC_TYPE_Q6_K, FTYPE_Q6_K, false, "Q6_K everywhere"},
};

const quant_mix *quant_mix_at(int i) {
    return i >= 0 && (size_t)i < sizeof mixes / sizeof mixes[0] ? &mixes[i] : NULL;
}

/* general.file_type for a pure file of a type that is no named mix: the
 * value llama.cpp would infer from its dominant type. */
static int ftype_of_plain_type(uint32_t type) {
    switch (type) {
    case LORC_TYPE_Q3_K: return FTYPE_Q3_K_M;
    case LORC_TYPE_Q4_K: return FTYPE_Q4_K_M;
    case LORC_TYPE_Q5_K: return FTYPE_Q5_K_M;
    default: return -1;
    }
}

bool quant_mix_lookup(const char *name, bool pure, quant_mix *out) {
    for (const quant_mix *m = mixes; m < mixes + sizeof mixes / sizeof mixes[0]; m++)
        if (!strcasecmp(m->name, name)) {
            *out = *m;
            out->pure |= pure;
            return true;
        }
    int type = lorc_type_from_name(name);
    if (type < 0) return false;
    const lorc_type_info *ti = lorc_type_get((uint32_t)type);
    int ftype = ftype_of_plain_type((uint32_t)type);
    if (!ti || !ti->from_float || ftype < 0) return false;
    *out = (quant_mix){ti->name, (uint32_t)type, ftype, true, "every weight in this type"};
    return true;
}

bool quant_mix_is_quantizable(const char *name, uint32_t n_dims) {
    static const char *const never[] = {"_norm.weight", "ffn_gate_inp.weight", "position_embd.weight",
                                        "token_types.weight", "ssm_conv1d.weight", "attn_rel_b.weight"};
    size_t len = strlen(name);
    if (n_dims < 2 || len < 6 || strcmp(name + len - 6, "weight") != 0) return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return false;
    return true;
}

void quant_planner_init(quant_planner *pl, const quant_mix *mix, const quant_model_shape *shape) {
    pl->mix = *mix;
    pl->shape = *shape;
    pl->i_attn_v = 0;
    pl->i_ffn_down = 0;
    pl->last_unfit = false;
}

/* llama.cpp's "use_more_bits": the first and last eighth of the layers and
 * every third one in between get more bits in the *_K_M mixes. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static uint32_t attn_v_type(const quant_planner *pl, int i, uint32_t t) {
    const quant_model_shape *s = &pl->shape;
    switch (pl->mix.ftype) {
    case FTYPE_Q2_K: t = s->n_gqa >= 4 ? LORC_TYPE_Q4_K : LORC_TYPE_Q3_K; break;
    case FTYPE_Q2_K_S: if (s->n_gqa >= 4) t = LORC_TYPE_Q4_K; break;
    case FTYPE_Q3_K_M: t = i < 2 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K; break;
    case FTYPE_Q3_K_L: t = LORC_TYPE_Q5_K; break;
    case FTYPE_Q4_K_M:
    case FTYPE_Q5_K_M: if (use_more_bits(i, s->n_attn_v)) t = LORC_TYPE_Q6_K; break;
    case FTYPE_Q4_K_S: if (i < 4) t = LORC_TYPE_Q5_K; break;
    default: break;
    }
    /* 70B shares each attn_v among 8 heads: it is small, so it gets more bits */
    if (s->llama_70b && (t == LORC_TYPE_Q3_K || t == LORC_TYPE_Q4_K)) t = LORC_TYPE_Q5_K;
    return t;
}

static uint32_t ffn_down_type(const quant_planner *pl, int i, uint32_t t) {
    const int n = pl->shape.n_layer;
    switch (pl->mix.ftype) {
    case FTYPE_Q2_K: return LORC_TYPE_Q3_K;
    case FTYPE_Q2_K_S: return i < n / 8 ? LORC_TYPE_Q4_K : t;
    case FTYPE_Q3_K_M: return i < n / 16 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K;
    case FTYPE_Q3_K_L: return LORC_TYPE_Q5_K;
    case FTYPE_Q4_K_M:
    case FTYPE_Q5_K_M: return use_more_bits(i, n) ? LORC_TYPE_Q6_K : t;
    case FTYPE_Q4_K_S: return i < n / 8 ? LORC_TYPE_Q5_K : t;
    default: return t;
    }
}

static uint32_t attn_output_type(const quant_planner *pl, uint32_t t) {
    switch (pl->mix.ftype) {
    case FTYPE_Q2_K: return LORC_TYPE_Q3_K;
    case FTYPE_Q3_K_M: return LORC_TYPE_Q4_K;
    case FTYPE_Q3_K_L: return LORC_TYPE_Q5_K;
    default: return t;
    }
}

static uint32_t attn_qkv_type(const quant_planner *pl, uint32_t t) {
    switch (pl->mix.ftype) {
    case FTYPE_Q3_K_M:
    case FTYPE_Q3_K_L: return LORC_TYPE_Q4_K;
    case FTYPE_Q4_K_M: return LORC_TYPE_Q5_K;
    case FTYPE_Q5_K_M: return LORC_TYPE_Q6_K;
    default: return t;
    }
}

static bool fits(uint32_t type, int64_t ne0) { return ne0 % lorc_type_get(type)->block_size == 0; }

/* The rules proper: the type the mix wants for this tensor, before the
 * row-length fallback. Counters advance as llama.cpp's do. */
static uint32_t wanted_type(quant_planner *pl, const char *name, int64_t ne0) {
    uint32_t t = pl->mix.base_type;
    bool is_output = !strcmp(name, "output.weight") || (!pl->shape.has_output && !strcmp(name, "token_embd.weight"));
    if (is_output) {
        if (!fits(t, ne0)) return LORC_TYPE_Q8_0;
        return t == LORC_TYPE_Q8_0 ? t : LORC_TYPE_Q6_K;
    }
    if (!strcmp(name, "token_embd.weight")) return t;
    if (strstr(name, "attn_v.weight")) return attn_v_type(pl, pl->i_attn_v++, t);
    if (strstr(name, "ffn_down")) return ffn_down_type(pl, pl->i_ffn_down++, t);
    if (strstr(name, "attn_output.weight")) return attn_output_type(pl, t);
    if (strstr(name, "attn_qkv.weight")) return attn_qkv_type(pl, t);
    return t;
}

/* llama.cpp's replacement for a k-quant whose 256-value blocks do not fit
 * the row. Q2_K/Q3_K go to IQ4_NL there; lorc cannot write IQ4_NL, so they
 * take Q4_0 (the same 4.5 bits per weight and 32-value blocks). */
static uint32_t row_fallback(uint32_t t) {
    switch (t) {
    case LORC_TYPE_Q2_K:
    case LORC_TYPE_Q3_K: return LORC_TYPE_Q4_0;
    case LORC_TYPE_Q4_K: return LORC_TYPE_Q5_0;
    case LORC_TYPE_Q5_K: return LORC_TYPE_Q5_1;
    case LORC_TYPE_Q6_K: return LORC_TYPE_Q8_0;
    default: return LORC_TYPE_COUNT; /* none: llama.cpp refuses the model */
    }
}

uint32_t quant_planner_next(quant_planner *pl, const char *name, uint32_t n_dims, int64_t ne0, uint32_t current) {
    pl->last_unfit = false;
    if (!quant_mix_is_quantizable(name, n_dims)) return current;
    const lorc_type_info *base = lorc_type_get(pl->mix.base_type);
    uint32_t t = pl->mix.pure || !base->quantized ? pl->mix.base_type : wanted_type(pl, name, ne0);
    if (fits(t, ne0)) return t;
    uint32_t fb = pl->mix.pure ? LORC_TYPE_COUNT : row_fallback(t); /* pure means one type: no substitutes */
    if (fb == LORC_TYPE_COUNT) {
        pl->last_unfit = true; /* llama.cpp refuses such a model; lorc keeps the tensor as it is */
        return current;
    }
    return fits(fb, ne0) ? fb : LORC_TYPE_F16;
}
