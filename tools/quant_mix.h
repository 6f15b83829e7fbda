/* quant_mix.h — llama-quantize's named quantization mixes (Q4_K_M, Q3_K_S,
 * Q8_0, ...): which type each tensor of a LLaMA-family model gets, so that
 * `lorc quantize` and `lorc bench --synthetic` produce the files users know.
 *
 * A mix has a default type for the weights and rules that move some tensors
 * to other types (the output matrix to Q6_K, attn_v and ffn_down of some
 * layers to more bits, ...). The rules depend on the tensor's position among
 * its kind (llama.cpp counts attn_v and ffn_down tensors in file order), so
 * they are applied by a planner that walks the tensors in file order:
 *
 *     quant_mix mix;
 *     quant_mix_lookup("Q4_K_M", false, &mix);
 *     quant_planner pl;
 *     quant_planner_init(&pl, &mix, &shape);
 *     for each tensor in file order:
 *         uint32_t type = quant_planner_next(&pl, name, n_dims, ne0, its_type);
 */
#ifndef LORC_TOOLS_QUANT_MIX_H
#define LORC_TOOLS_QUANT_MIX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct quant_mix {
    const char *name;   /* "Q4_K_M", or a plain type name for a pure mix */
    uint32_t base_type; /* lorc_type most weights get */
    int ftype;          /* llama.cpp's llama_ftype, written as general.file_type */
    bool pure;          /* every quantizable weight gets base_type: no per-tensor rules */
    const char *about;  /* one line for --help */
} quant_mix;

/* Finds a mix by name (any case). A name that is not a llama.cpp mix but a
 * type lorc can write (Q4_K, Q3_K, ...) gives a pure mix of that type.
 * `pure` forces the pure form of any mix (llama-quantize --pure). False when
 * the name is neither. */
bool quant_mix_lookup(const char *name, bool pure, quant_mix *out);

/* The named mixes, for --help listings: index 0.. until NULL. */
const quant_mix *quant_mix_at(int i);

/* What the rules need to know about the whole model. */
typedef struct quant_model_shape {
    int n_layer;       /* block_count: ffn_down layer positions are out of this */
    int n_attn_v;      /* tensors whose name contains "attn_v.weight" */
    int n_gqa;         /* n_head / n_head_kv (1 without grouped-query attention) */
    bool has_output;   /* an output.weight exists (else token_embd is the output) */
    bool llama_70b;    /* llama.cpp's 70B model type: 80 layers with GQA */
} quant_model_shape;

typedef struct quant_planner {
    quant_mix mix;
    quant_model_shape shape;
    int i_attn_v;   /* attn_v tensors seen so far */
    int i_ffn_down; /* ffn_down tensors seen so far */
    bool last_unfit; /* the last tensor kept its type because no type of the mix fits its rows */
} quant_planner;

void quant_planner_init(quant_planner *pl, const quant_mix *mix, const quant_model_shape *shape);

/* The type the next tensor (in file order) gets; `current` when the mix
 * leaves it alone (1-D tensors, norms, and rows no writable type fits). */
uint32_t quant_planner_next(quant_planner *pl, const char *name, uint32_t n_dims, int64_t ne0, uint32_t current);

/* True for tensors llama-quantize converts at all: 2-D+ weights other than
 * norms, MoE gates and positional tables. */
bool quant_mix_is_quantizable(const char *name, uint32_t n_dims);

#endif
