/* peft_names.h — Hugging Face module and tensor names of PEFT adapters, and
 * their GGUF counterparts (LLaMA-family layout: model.layers.N.self_attn.*,
 * mlp.*, embed_tokens, lm_head, norms). */
#ifndef LORC_ADAPTER_PEFT_NAMES_H
#define LORC_ADAPTER_PEFT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Row permutation a GGUF `llama` file applies to a weight's output rows. */
typedef enum peft_perm { PEFT_PERM_NONE, PEFT_PERM_Q, PEFT_PERM_K } peft_perm;

typedef struct peft_module {
    char gguf[64];  /* GGUF tensor name stem: "blk.3.attn_q", "output", "token_embd" */
    int layer;      /* block index, -1 for whole-model modules */
    peft_perm perm; /* Q/K of llama bases: RoPE row permutation */
    bool linear;    /* an nn.Linear (LoRA target); false: norm or embedding */
    bool embedding; /* embed_tokens */
} peft_module;

/* Maps a module path relative to the PEFT model ("model.layers.3.self_attn.q_proj",
 * "lm_head", "model.embed_tokens"; also without the leading "model.") to
 * its GGUF name. False for modules lorc has no tensor for. */
bool peft_module_map(const char *module, peft_module *out);

/* What one tensor of adapter_model.safetensors is. */
typedef enum peft_kind {
    PEFT_LORA_A,     /* <module>.lora_A.weight          torch [r, n_in] */
    PEFT_LORA_B,     /* <module>.lora_B.weight          torch [n_out, r] */
    PEFT_EMBED_A,    /* <module>.lora_embedding_A       torch [r, n_vocab] */
    PEFT_EMBED_B,    /* <module>.lora_embedding_B       torch [n_embd, r] */
    PEFT_MAGNITUDE,  /* <module>.lora_magnitude_vector  torch [n_out] (DoRA) */
    PEFT_FULL_WEIGHT,/* <module>.weight                 modules_to_save copy */
    PEFT_FULL_BIAS   /* <module>.bias                   modules_to_save copy */
} peft_kind;

/* Splits "base_model.model.<module>.<suffix>" into the module path and the
 * kind. False when the prefix is missing or the module path does not fit `cap`. */
bool peft_split_key(const char *key, char *module, size_t cap, peft_kind *kind);

/* "lora_A", "lora_B", ... for messages. */
const char *peft_kind_name(peft_kind kind);

#endif
