/* synth_adapter.h — synthetic LoRA adapters for tests: random A/B pairs for
 * a synthetic model's weights, written as a llama.cpp GGUF adapter or as a
 * Hugging Face PEFT directory (adapter_config.json + safetensors, HF names
 * and HF row order), plus the reference merge W + s·B·A in F32 and a
 * "merged model" writer (a copy of a GGUF model with some tensors replaced
 * by F32 values), so tests can compare runtime LoRA with merged weights.
 *
 *     synth_lora l[2];
 *     synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 4, 11, 0.5f);
 *     synth_write_gguf_adapter(test_tmp("a.gguf"), "llama", 8.0f, l, 2, LORC_TYPE_F32, &err);
 *     synth_write_peft_dir(test_tmp("a_peft"), &p, "{\"r\": 4, \"lora_alpha\": 8, ...}", l, 2, &err);
 */
#ifndef LORC_TESTS_SYNTH_ADAPTER_H
#define LORC_TESTS_SYNTH_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorc.h"
#include "synth.h"
#include "synth_lora.h" /* synth_lora, its init/free and the GGUF adapter writer */

/* The shapes of a loaded model, for adapters that fit it. */
synth_params synth_params_of_model(const lorc_model *m);
/* A small GGUF adapter for `p`: rank 2 on blk.0.attn_q only (alpha 2),
 * random with `seed` — registry tests load and evict many of these. */
lorc_status synth_write_small_adapter(const char *path, const synth_params *p, uint64_t seed, lorc_error *err);

/* Adds a DoRA magnitude vector (random in [lo, hi)). */
lorc_status synth_lora_add_magnitude(synth_lora *l, uint64_t seed, float lo, float hi, lorc_error *err);

/* w (GGUF layout, ne[0] contiguous) += s · B·A. */
void synth_lora_merge(float *w, const synth_lora *l, float s);
/* w = m · (w + s·B·A) / ‖w + s·B·A‖ per output row, in double precision (DoRA). */
void synth_dora_merge(float *w, const synth_lora *l, float s);

/* A PEFT directory: `config_json` written verbatim as adapter_config.json, and
 * adapter_model.safetensors with HF names (lora_A/lora_B, lora_embedding_A/B
 * for token_embd, lora_magnitude_vector when present) in `dtype` ("F32",
 * "F16", "BF16"), q/k rows in HF order for llama (inverse RoPE permutation). */
lorc_status synth_write_peft_dir(const char *dir, const synth_params *p, const char *config_json, const synth_lora *l,
                                 int n, const char *dtype, lorc_error *err);

/* A tensor for synth_write_safetensors. */
typedef struct synth_st_tensor {
    const char *name;
    const char *dtype;   /* "F32", "F16", "BF16" (or anything, written as given) */
    int n_dims;
    int64_t shape[4];    /* torch order */
    const void *data;    /* nbytes bytes */
    size_t nbytes;
} synth_st_tensor;
/* Writes a .safetensors file (8-byte header length, JSON, 8-aligned data). */
lorc_status synth_write_safetensors(const char *path, const synth_st_tensor *t, int n, lorc_error *err);

/* Adds a full replacement ("modules_to_save") for `hf_module` ("lm_head",
 * "model.embed_tokens") to a PEFT directory's safetensors: done by passing
 * extra tensors to synth_write_peft_dir_ex. */
lorc_status synth_write_peft_dir_ex(const char *dir, const synth_params *p, const char *config_json,
                                    const synth_lora *l, int n, const char *dtype, const synth_st_tensor *extra,
                                    int n_extra, lorc_error *err);

/* The HF module path of a GGUF weight name ("blk.3.attn_q.weight" ->
 * "model.layers.3.self_attn.q_proj"); NULL when unknown. Static storage per call slot. */
const char *synth_hf_module(const char *gguf_name);

/* HF row order of GGUF row i for llama Q/K (inverse of the GGUF RoPE permutation). */
int64_t synth_hf_row(int64_t gguf_row, int64_t head_rows);

/* The F32 values of tensor `name` as stored in a GGUF file (dequantized). */
float *synth_read_tensor_f32(const char *path, const char *name, int64_t *n);

/* Copies the GGUF model at `base` to `out`, replacing the named tensors by F32 data
 * (same shapes). */
lorc_status synth_write_replaced_model(const char *base, const char *out, const char *const *names,
                                       float *const *values, int n, lorc_error *err);

/* Logits of every position for `tokens` on a fresh sequence of `model` with the
 * given adapter stack (n = 0: none); malloc'd n_tokens × n_vocab floats, NULL
 * on failure (message in err). */
float *synth_logits(lorc_model *model, lorc_adapter *const *adapters, const float *scales, int n,
                    const int32_t *tokens, int n_tokens, lorc_error *err);
/* Same for a model file (loaded and freed). */
float *synth_logits_file(const char *model_path, const int32_t *tokens, int n_tokens, lorc_error *err);
/* The two above with the KV cache in `kv` instead of the default F16. A
 * comparison of two ways to compute the same weights (runtime adapter vs
 * merged file) that wants tolerances near F32 rounding needs LORC_KV_F32:
 * the F16 cache rounds K and V to 11 bits, so a last-bit difference
 * upstream can flip one cached value and move later logits by ~1e-3. */
float *synth_logits_kv(lorc_model *model, lorc_adapter *const *adapters, const float *scales, int n,
                       const int32_t *tokens, int n_tokens, lorc_kv_type kv, lorc_error *err);
float *synth_logits_file_kv(const char *model_path, const int32_t *tokens, int n_tokens, lorc_kv_type kv,
                            lorc_error *err);
/* max |x - y| / max |y| over n values. */
double synth_rel_diff(const float *x, const float *y, int64_t n);

#endif
