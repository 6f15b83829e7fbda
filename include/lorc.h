/* lorc.h — the one public header of liblorc, a CPU inference engine for
 * LLaMA-family GGUF models with runtime LoRA adapters and tensor overlays.
 *
 * Conventions: every fallible function returns LORC_OK (0) or a negative
 * lorc_status and, when `err` is not NULL, writes a one-line message into it
 * that names the file, field or tensor at fault. The library never prints,
 * never exits and keeps no mutable global state. Every `_free` is NULL-safe.
 */
#ifndef LORC_H
#define LORC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum lorc_status {
    LORC_OK = 0,
    LORC_ERR_IO = -1,          /* open/read/write/mmap failed */
    LORC_ERR_FORMAT = -2,      /* malformed or truncated file */
    LORC_ERR_UNSUPPORTED = -3, /* valid file, but a type/arch lorc refuses */
    LORC_ERR_MISMATCH = -4,    /* adapter/overlay does not fit the base */
    LORC_ERR_INVALID = -5,     /* bad argument from the caller */
    LORC_ERR_NOMEM = -6,
    LORC_ERR_CONTEXT_FULL = -7 /* the sequence would exceed its context */
} lorc_status;

typedef struct lorc_error {
    lorc_status status;
    char message[512];
} lorc_error;

/* ------------------------------------------------------------- handles */

typedef struct lorc_model lorc_model;       /* mmap'd base weights + vocab */
typedef struct lorc_vocab lorc_vocab;       /* tokenizer (also vocab-only files) */
typedef struct lorc_context lorc_context;   /* thread pool + scratch for forward passes */
typedef struct lorc_sequence lorc_sequence; /* one conversation: KV cache, adapter set */
typedef struct lorc_sampler lorc_sampler;   /* sampling chain + its own RNG */
typedef struct lorc_adapter lorc_adapter;   /* a loaded LoRA adapter (GGUF or PEFT) */
typedef struct lorc_overlay lorc_overlay;   /* a tensor-subset overlay applied to a model */

/* ---------------------------------------------------------------- model */

/* Opens a GGUF model; tensor data stays mmap'd (never copied). */
lorc_status lorc_model_load(const char *path, lorc_model **out, lorc_error *err);
void lorc_model_free(lorc_model *model);

const char *lorc_model_arch(const lorc_model *model);
int lorc_model_n_vocab(const lorc_model *model);
int lorc_model_n_embd(const lorc_model *model);
int lorc_model_n_layer(const lorc_model *model);
int lorc_model_n_ctx_train(const lorc_model *model);
const lorc_vocab *lorc_model_vocab(const lorc_model *model);

/* -------------------------------------------------------------- vocab */

/* Loads only the tokenizer of any GGUF (including vocab-only files). */
lorc_status lorc_vocab_load(const char *path, lorc_vocab **out, lorc_error *err);
void lorc_vocab_free(lorc_vocab *vocab);

enum {
    LORC_TOKENIZE_ADD_BOS = 1,       /* prepend BOS when the vocab asks for it */
    LORC_TOKENIZE_PARSE_SPECIAL = 2  /* match control/special token texts */
};

/* Tokenizes `len` bytes of UTF-8. On success *out_ids is malloc'd (caller
 * frees) and holds *out_n ids. */
lorc_status lorc_tokenize(const lorc_vocab *vocab, const char *text, size_t len, int flags,
                          int32_t **out_ids, size_t *out_n, lorc_error *err);

/* Text of one token as it appears in output (SentencePiece '▁' -> ' ',
 * byte tokens -> raw bytes, byte-level BPE decoded). Control tokens give "".
 * `prev` is the preceding token or -1 (a leading space is stripped after BOS).
 * Returns bytes written (or needed, when > cap), or a negative status. */
int lorc_token_to_piece(const lorc_vocab *vocab, int32_t prev, int32_t token, char *buf, size_t cap);

/* Whole-sequence detokenization into a malloc'd NUL-terminated string. */
lorc_status lorc_detokenize(const lorc_vocab *vocab, const int32_t *ids, size_t n, char **out,
                            lorc_error *err);

int lorc_vocab_n_tokens(const lorc_vocab *vocab);
int32_t lorc_vocab_bos(const lorc_vocab *vocab); /* -1 when absent */
int32_t lorc_vocab_eos(const lorc_vocab *vocab);
bool lorc_vocab_is_eog(const lorc_vocab *vocab, int32_t token); /* end of generation */
/* Raw text of a token as stored in the vocab ("<s>", "\u2581the", "\u0120the");
 * NULL when out of range. */
const char *lorc_vocab_token_text(const lorc_vocab *vocab, int32_t token);
bool lorc_vocab_is_control(const lorc_vocab *vocab, int32_t token); /* control or unknown: piece is "" */
bool lorc_vocab_add_bos(const lorc_vocab *vocab); /* does LORC_TOKENIZE_ADD_BOS add a BOS? */

/* ------------------------------------------------------------- context */

typedef struct lorc_context_params {
    int n_threads; /* 0: the number of physical cores */
    int n_ctx;     /* 0: the model's trained context */
    int n_batch;   /* max tokens per forward pass; 0: 512 */
    /* Kernel family: "auto" (the fastest this CPU runs), "scalar", "avx2",
     * "avx512". NULL: the LORC_KERNELS environment variable, else "auto". */
    const char *kernels;
} lorc_context_params;

lorc_context_params lorc_context_default_params(void);
lorc_status lorc_context_new(lorc_model *model, const lorc_context_params *params, lorc_context **out,
                             lorc_error *err);
void lorc_context_free(lorc_context *ctx);
int lorc_context_n_ctx(const lorc_context *ctx);
/* The kernel family the context computes with ("scalar", "avx2", ...). */
const char *lorc_context_kernels(const lorc_context *ctx);

/* ------------------------------------------------------------ sequence */

lorc_status lorc_sequence_new(lorc_context *ctx, lorc_sequence **out, lorc_error *err);
void lorc_sequence_free(lorc_sequence *seq);
void lorc_sequence_reset(lorc_sequence *seq); /* empty the KV cache */
int lorc_sequence_n_past(const lorc_sequence *seq);

/* Runs tokens[0..n) at the sequence's next positions in batched forward
 * passes. Writes the logits of the last token (n_vocab floats), or of every
 * token (n * n_vocab) when all_logits. Fails with LORC_ERR_CONTEXT_FULL, and
 * changes nothing, when the tokens do not fit. */
lorc_status lorc_decode(lorc_context *ctx, lorc_sequence *seq, const int32_t *tokens, int n, bool all_logits,
                        float *logits, lorc_error *err);

/* ------------------------------------------------------------- sampler */

typedef struct lorc_sampler_params {
    float temp;           /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* tokens the penalty looks back on; 0: off, < 0: all accepted */
    uint64_t seed;        /* LORC_SEED_RANDOM: drawn from the OS at lorc_sampler_new */
} lorc_sampler_params;

#define LORC_SEED_RANDOM UINT64_MAX

lorc_sampler_params lorc_sampler_default_params(void);
lorc_sampler *lorc_sampler_new(const lorc_sampler_params *params);
void lorc_sampler_free(lorc_sampler *sampler);
/* Picks a token from n_vocab logits (the array is used as scratch). */
int32_t lorc_sampler_sample(lorc_sampler *sampler, float *logits, int n_vocab);
/* Records a token (prompt or generated) for the repetition penalty. */
void lorc_sampler_accept(lorc_sampler *sampler, int32_t token);
/* The seed in use (the drawn one when the params asked for LORC_SEED_RANDOM). */
uint64_t lorc_sampler_seed(const lorc_sampler *sampler);

/* ------------------------------------------------------------ adapters */

/* Loads a LoRA adapter (llama.cpp GGUF adapter file, or a Hugging Face PEFT
 * directory) for `model`, checking every tensor against the base. */
lorc_status lorc_adapter_load(lorc_model *model, const char *path, lorc_adapter **out, lorc_error *err);
void lorc_adapter_free(lorc_adapter *adapter);

/* Sets the sequence's adapter stack (attach, rescale, detach: n = 0). The
 * adapters must outlive their use by the sequence. */
lorc_status lorc_sequence_set_adapters(lorc_sequence *seq, lorc_adapter *const *adapters, const float *scales,
                                       int n, lorc_error *err);

/* Applies a tensor-subset overlay file to the model (all sequences see it).
 * Refuses a mismatched base unless `force`; nothing is half-applied. Not
 * while a forward pass runs. DoRA adapters fold the weight in use into their
 * replacement when attached: call lorc_sequence_set_adapters again after
 * applying or removing an overlay under them. */
lorc_status lorc_overlay_apply(lorc_model *model, const char *path, bool force, lorc_overlay **out,
                               lorc_error *err);
/* Restores the base tensors the overlay replaced and frees it. */
void lorc_overlay_remove(lorc_model *model, lorc_overlay *overlay);

#ifdef __cplusplus
}
#endif
#endif /* LORC_H */
