/* model.h — a LLaMA-family model bound from a GGUF file: hyper-parameters
 * from metadata, weights bound by name with shape checks (data stays in the
 * mmap), and the weight table that overlays and adapters resolve against. */
#ifndef LORC_MODEL_MODEL_H
#define LORC_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../format/gguf.h"
#include "../tensor/tensor.h"
#include "lorc.h"

typedef enum lorc_arch { LORC_ARCH_LLAMA, LORC_ARCH_QWEN2 } lorc_arch;

/* Per-layer weight kinds, in GGUF naming "blk.N.<name>". */
typedef enum lorc_layer_weight {
    LW_ATTN_NORM,   /* attn_norm.weight   [n_embd] */
    LW_ATTN_Q,      /* attn_q.weight      [n_embd, n_head*head_dim] */
    LW_ATTN_K,      /* attn_k.weight      [n_embd, n_head_kv*head_dim] */
    LW_ATTN_V,      /* attn_v.weight      [n_embd, n_head_kv*head_dim] */
    LW_ATTN_Q_BIAS, /* attn_q.bias (qwen2) */
    LW_ATTN_K_BIAS, /* attn_k.bias (qwen2) */
    LW_ATTN_V_BIAS, /* attn_v.bias (qwen2) */
    LW_ATTN_OUT,    /* attn_output.weight [n_head*head_dim, n_embd] */
    LW_FFN_NORM,    /* ffn_norm.weight    [n_embd] */
    LW_FFN_GATE,    /* ffn_gate.weight    [n_embd, n_ff] */
    LW_FFN_UP,      /* ffn_up.weight      [n_embd, n_ff] */
    LW_FFN_DOWN,    /* ffn_down.weight    [n_ff, n_embd] */
    LW_COUNT
} lorc_layer_weight;

/* Whole-model weights. */
typedef enum lorc_global_weight {
    GW_TOKEN_EMBD,  /* token_embd.weight  [n_embd, n_vocab] */
    GW_OUTPUT_NORM, /* output_norm.weight [n_embd] */
    GW_OUTPUT,      /* output.weight      [n_embd, n_vocab] (token_embd when absent: tied) */
    GW_ROPE_FREQS,  /* rope_freqs.weight  [head_dim/2] (Llama 3.1 scaling factors; optional) */
    GW_COUNT
} lorc_global_weight;

/* Slot numbering of the weight table: globals first, then layer-major. */
static inline int lorc_slot_global(lorc_global_weight g) { return (int)g; }
static inline int lorc_slot_layer(int layer, lorc_layer_weight w) { return GW_COUNT + layer * LW_COUNT + (int)w; }

/* "blk.3.attn_q.weight" -> slot, or -1 (also for names no slot has). */
int lorc_model_slot_of_name(const struct lorc_model *m, const char *name);
/* GGUF name of a slot, written into buf. */
const char *lorc_model_slot_name(const struct lorc_model *m, int slot, char *buf, size_t cap);

typedef struct lorc_hparams {
    lorc_arch arch;
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;     /* n_embd / n_head unless attention.key_length says otherwise */
    int n_ff;
    int n_ctx_train;
    float norm_eps;   /* attention.layer_norm_rms_epsilon */
    float rope_freq_base;
    int rope_dim;     /* rope.dimension_count (default head_dim) */
    bool rope_neox;   /* rotate pairs (i, i+d/2) (qwen2) instead of adjacent pairs (llama) */
    float rope_scale; /* linear position scaling (rope.scaling.factor, type "linear"); 1 = none */
} lorc_hparams;

struct lorc_model {
    gguf_file *file;       /* owned: the mmap'd base */
    lorc_hparams hp;
    char arch_name[32];
    int n_tensors;
    lorc_tensor *tensors;  /* owned array describing every tensor of the file (data borrowed from the mmap) */
    int n_slots;           /* GW_COUNT + n_layer * LW_COUNT */
    const lorc_tensor **base;  /* owned array [n_slots]: the file's tensor for each slot (NULL: absent) */
    const lorc_tensor **w;     /* owned array [n_slots]: the tensor in use (base, or an overlay's) */
    float *rope_freq_factors;  /* borrowed into the mmap (F32 rope_freqs) or NULL */
    struct lorc_vocab *vocab;  /* owned */
    uint64_t fingerprint;      /* lorc_fingerprint_table() of the file (format/fingerprint.h), for overlays */
};

/* The output projection in use: output.weight, or token_embd when the model
 * ties them (w[GW_OUTPUT] is NULL then; adapters may still target the
 * "output.weight" slot, and such terms apply to the output product only). */
static inline const lorc_tensor *lorc_model_output(const struct lorc_model *m) {
    return m->w[GW_OUTPUT] ? m->w[GW_OUTPUT] : m->w[GW_TOKEN_EMBD];
}


#endif
