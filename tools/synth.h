/* synth.h — writes synthetic llama/qwen2 GGUF models (tiny ones for tests,
 * full-size ones for `lorc bench --synthetic`), with the project's own GGUF
 * writer: chosen hyper-parameters, random weights from a
 * seed, any weight type lorc can quantize to, optional QKV biases, optional
 * rope_freqs, tied or untied output, and a small SentencePiece-style vocab
 * that lorc_vocab_from_gguf accepts.
 *
 * Typical use:
 *     synth_params p = synth_default_params();
 *     p.n_head_kv = 2; p.seed = 7;
 *     if (synth_write_model(test_tmp("m.gguf"), &p, &err) != LORC_OK) ...
 *
 * The weights are a pure function of (params, seed): writing the same
 * params twice gives the same bytes, and synth_tensor_values() gives any
 * tensor's F32 values (before quantization) without reading the file back,
 * so adapter tests can compute W + s·B·A themselves. */
#ifndef LORC_TESTS_SYNTH_H
#define LORC_TESTS_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/atomic_file.h" /* lorc_progress_fn */
#include "lorc.h"

typedef struct synth_params {
    const char *arch;     /* "llama" (default) or "qwen2"; other names are written as given (to test refusal) */
    int n_vocab;          /* >= 3: ids 0/1/2 are <unk>/<s>/</s> */
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;        /* < n_head: grouped-query attention */
    int head_dim;         /* 0: n_embd / n_head; otherwise written as attention.key_length/value_length */
    int n_ff;
    int n_ctx;            /* <arch>.context_length */
    float norm_eps;
    float rope_freq_base;
    uint32_t weight_type; /* lorc_type of the 2-D layer weights (F32 by default); needs from_float */
    uint32_t embd_type;   /* lorc_type of token_embd and output (F32 by default) */
    bool qkv_bias;        /* write blk.N.attn_{q,k,v}.bias (qwen2 models normally have them) */
    bool rope_freqs;      /* write rope_freqs.weight: n_rot/2 factors in [1, 8) (Llama 3.1 style) */
    bool tied_output;     /* omit output.weight: the output projection is token_embd */
    uint64_t seed;
    float weight_scale;   /* weights are uniform in [-s, s) / sqrt(row length); norms are 1 ± s/4 */
    /* Optional per-tensor type (a quantization mix): called once per tensor
     * in file order; overrides weight_type/embd_type when set. 1-D tensors
     * should get F32. */
    uint32_t (*tensor_type)(void *user, const char *name, uint32_t n_dims, const int64_t ne[2]);
    void *tensor_type_user;
    int file_type;               /* general.file_type (llama_ftype) to record; < 0: none */
    int n_threads;               /* generation + quantization workers; 0 or 1: the calling thread */
    lorc_progress_fn progress;   /* optional, called after each tensor is written */
    void *progress_user;
} synth_params;

/* llama, n_vocab 64, n_embd 32, 2 layers, 4 heads (4 KV heads), n_ff 48,
 * n_ctx 64, eps 1e-5, freq_base 10000, F32 everywhere, untied, seed 1,
 * weight_scale 1, no type callback, no file type, 1 thread, no progress. */
synth_params synth_default_params(void);

/* Writes the model to `path`, one tensor at a time (values are generated
 * and quantized while the writer streams, so memory stays at a few rows per
 * thread whatever the model size). Fails (with a message) when a dimension
 * does not fit the chosen type's block size or the writer fails. */
lorc_status synth_write_model(const char *path, const synth_params *p, lorc_error *err);

/* The F32 values synth_write_model generates for tensor `name` (before any
 * quantization), in GGUF order (ne[0] contiguous); malloc'd, caller frees.
 * *n gets the element count. NULL when the model has no such tensor. */
float *synth_tensor_values(const synth_params *p, const char *name, int64_t *n);

/* Copying a GGUF with edits, for tests that need a model synth_write_model
 * cannot make (a merged weight, a wrong shape, a missing tensor, an odd
 * metadata value). The edit callback sees each tensor of `src` in order and
 * returns false to leave it out; it may change the type, dims and data
 * (which must stay valid until the writer has written). Returns a writer
 * holding every kv and kept tensor of the source, and the open source (its
 * mapping backs the tensor data): add or change kvs and tensors with the
 * gguf_writer_* calls, gguf_writer_write, then gguf_writer_free and
 * gguf_close. `edit` may be NULL (keep everything). */
struct gguf_file;
struct gguf_writer;
typedef bool (*synth_tensor_edit_fn)(void *user, const char *name, uint32_t *type, uint32_t *n_dims, int64_t ne[4],
                                     const void **data);
lorc_status synth_copy_gguf(const char *src, synth_tensor_edit_fn edit, void *user, struct gguf_writer **out_writer,
                            struct gguf_file **out_src, lorc_error *err);

/* Deterministic uniform floats in [-scale, scale) from a seed (splitmix64):
 * a shared helper for tests that make random adapters or activations. */
void synth_random_floats(uint64_t seed, float *out, int64_t n, float scale);

#endif
