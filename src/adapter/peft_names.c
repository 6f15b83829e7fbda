/* peft_names.c — Hugging Face LLaMA-family module paths and PEFT tensor keys
 * mapped to GGUF tensor names (the inverse of llama.cpp's HF conversion). */
#include "peft_names.h"

#include <stdio.h>
#include <string.h>

typedef struct name_map {
    const char *hf;
    const char *gguf;
    peft_perm perm;
    bool linear;
} name_map;

/* Inside "model.layers.N.". */
static const name_map layer_names[] = {
    {"self_attn.q_proj", "attn_q", PEFT_PERM_Q, true},
    {"self_attn.k_proj", "attn_k", PEFT_PERM_K, true},
    {"self_attn.v_proj", "attn_v", PEFT_PERM_NONE, true},
    {"self_attn.o_proj", "attn_output", PEFT_PERM_NONE, true},
    {"mlp.gate_proj", "ffn_gate", PEFT_PERM_NONE, true},
    {"mlp.up_proj", "ffn_up", PEFT_PERM_NONE, true},
    {"mlp.down_proj", "ffn_down", PEFT_PERM_NONE, true},
    {"input_layernorm", "attn_norm", PEFT_PERM_NONE, false},
    {"post_attention_layernorm", "ffn_norm", PEFT_PERM_NONE, false},
};

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

bool peft_module_map(const char *module, peft_module *out) {
    memset(out, 0, sizeof *out);
    out->layer = -1;
    if (!strcmp(module, "lm_head")) {
        snprintf(out->gguf, sizeof out->gguf, "output");
        out->linear = true;
        return true;
    }
    /* Adapters saved on the bare decoder (LlamaModel) lack the "model." level. */
    const char *m = starts_with(module, "model.") ? module + 6 : module;
    if (!strcmp(m, "embed_tokens")) {
        snprintf(out->gguf, sizeof out->gguf, "token_embd");
        out->embedding = true;
        return true;
    }
    if (!strcmp(m, "norm")) {
        snprintf(out->gguf, sizeof out->gguf, "output_norm");
        return true;
    }
    if (!starts_with(m, "layers.")) return false;
    const char *p = m + 7;
    long layer = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (digits == 0 && *p == '0' && p[1] >= '0' && p[1] <= '9') return false; /* no leading zeros */
        layer = layer * 10 + (*p - '0');
        if (++digits > 6) return false;
        p++;
    }
    if (digits == 0 || *p != '.') return false;
    p++;
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++) {
        if (strcmp(p, layer_names[i].hf)) continue;
        snprintf(out->gguf, sizeof out->gguf, "blk.%ld.%s", layer, layer_names[i].gguf);
        out->layer = (int)layer;
        out->perm = layer_names[i].perm;
        out->linear = layer_names[i].linear;
        return true;
    }
    return false;
}

typedef struct suffix_kind {
    const char *suffix;
    peft_kind kind;
} suffix_kind;

/* Longest and most specific first: LoRA parts before the plain ".weight" of modules_to_save. */
static const suffix_kind suffixes[] = {
    {".lora_A.weight", PEFT_LORA_A},
    {".lora_B.weight", PEFT_LORA_B},
    {".lora_embedding_A", PEFT_EMBED_A},
    {".lora_embedding_B", PEFT_EMBED_B},
    {".lora_magnitude_vector.weight", PEFT_MAGNITUDE}, /* before PEFT 0.12's key rename */
    {".lora_magnitude_vector", PEFT_MAGNITUDE},
    {".modules_to_save.default.weight", PEFT_FULL_WEIGHT}, /* unrenamed wrapper keys */
    {".modules_to_save.default.bias", PEFT_FULL_BIAS},
    {".weight", PEFT_FULL_WEIGHT},
    {".bias", PEFT_FULL_BIAS},
};

bool peft_split_key(const char *key, char *module, size_t cap, peft_kind *kind) {
    static const char prefix[] = "base_model.model.";
    if (!starts_with(key, prefix)) return false;
    const char *rest = key + sizeof prefix - 1;
    size_t n = strlen(rest);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t m = strlen(suffixes[i].suffix);
        if (n <= m || strcmp(rest + n - m, suffixes[i].suffix)) continue;
        if (n - m >= cap) return false;
        memcpy(module, rest, n - m);
        module[n - m] = 0;
        *kind = suffixes[i].kind;
        return true;
    }
    return false;
}

const char *peft_kind_name(peft_kind kind) {
    switch (kind) {
    case PEFT_LORA_A: return "lora_A";
    case PEFT_LORA_B: return "lora_B";
    case PEFT_EMBED_A: return "lora_embedding_A";
    case PEFT_EMBED_B: return "lora_embedding_B";
    case PEFT_MAGNITUDE: return "lora_magnitude_vector";
    case PEFT_FULL_WEIGHT: return "weight";
    case PEFT_FULL_BIAS: return "bias";
    }
    return "?";
}
