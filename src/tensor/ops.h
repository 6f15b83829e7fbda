/* ops.h — the non-matmul operations of the forward pass: RMSNorm, RoPE
 * (adjacent-pair "normal" mode and NeoX half-split mode), softmax, SiLU
 * gating, and embedding lookup with the token_embd adapter terms. */
#ifndef LORC_TENSOR_OPS_H
#define LORC_TENSOR_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "matmul.h"
#include "tensor.h"

/* out[i] = x[i] / sqrt(mean(x²) + eps) * w[i]; out may alias x. */
void lorc_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* Rotary position embedding parameters for one model. */
typedef struct lorc_rope_cfg {
    int head_dim;
    int n_rot;                  /* leading dims of each head that rotate (even, <= head_dim) */
    bool neox;                  /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float freq_base;            /* theta_i = pos * freq_scale * base^(-2i/n_rot) / factors[i] */
    float freq_scale;           /* 1 / linear scaling factor */
    const float *freq_factors;  /* n_rot/2 divisors (Llama 3.1 rope_freqs) or NULL */
} lorc_rope_cfg;

/* Fills cs[0 .. n_rot) with (cos θ_i, sin θ_i) pairs for position pos. */
void lorc_rope_angles(const lorc_rope_cfg *cfg, int64_t pos, float *cs);
/* Rotates n_heads heads of head_dim values laid out back to back. */
void lorc_rope_apply(const lorc_rope_cfg *cfg, float *x, int n_heads, const float *cs);

/* In-place softmax over n values. */
void lorc_softmax(float *x, int64_t n);

/* gate[i] = silu(gate[i]) * up[i]  (SwiGLU). */
void lorc_swiglu(float *gate, const float *up, int64_t n);

/* Dequantizes row `row` of a 2-D tensor (ne[0] values) into dst. */
void lorc_tensor_row_f32(const lorc_tensor *t, int64_t row, float *dst);

/* out = embedding of `token` (row of emb, ne = [n_embd, n_vocab]), or of the
 * list's replacement, plus each term's scale · B·A[token] where A is stored
 * transposed (ne = [r, n_vocab]) and B is [r, n_embd]. Scratch is borrowed
 * for the adapter intermediates. Returns 0, or -1 on allocation failure or
 * an unusable adapter tensor. */
int lorc_embed_row(const lorc_tensor *emb, const lorc_lora_list *lora, int32_t token, float *out,
                   lorc_matmul_scratch *scratch);

#endif
