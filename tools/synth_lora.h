/* synth_lora.h — random LoRA pairs for the weights of a model synth.h
 * describes, and the writer of llama.cpp's GGUF adapter form. Used by the
 * tests (tests/support/synth_adapter.h adds the PEFT form and reference
 * merges) and by `lorc bench --synthetic` (random adapters for speed runs). */
#ifndef LORC_TOOLS_SYNTH_LORA_H
#define LORC_TOOLS_SYNTH_LORA_H

#include <stdint.h>

#include "lorc.h"
#include "synth.h"

/* One LoRA pair in GGUF layout and row order, F32. */
typedef struct synth_lora {
    char target[64]; /* GGUF base tensor name, "blk.0.attn_q.weight", "token_embd.weight", ... */
    int rank;
    int64_t n_in, n_out; /* of the base weight: ne[0], ne[1] (token_embd: n_embd, n_vocab) */
    float *a;            /* ggml [n_in, r]: r rows of n_in (token_embd: [r, n_vocab]: n_vocab rows of r) */
    float *b;            /* ggml [r, n_out]: n_out rows of r (token_embd: n_embd rows of r) */
    float *magnitude;    /* DoRA: n_out values (GGUF row order), or NULL */
} synth_lora;

/* Random pair for `target` of the model `p` describes (values uniform in ±scale). */
lorc_status synth_lora_init(synth_lora *l, const synth_params *p, const char *target, int rank, uint64_t seed,
                            float scale, lorc_error *err);
void synth_lora_free(synth_lora *l);

/* A llama.cpp adapter: general.type=adapter, adapter.type=lora, adapter.lora.alpha
 * (alpha < 0: key omitted), tensors "<target>.lora_a/.lora_b" of `type`. */
lorc_status synth_write_gguf_adapter(const char *path, const char *arch, float alpha, const synth_lora *l, int n,
                                     uint32_t type, lorc_error *err);

#endif
