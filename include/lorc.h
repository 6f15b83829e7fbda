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
    LORC_ERR_CONTEXT_FULL = -7, /* the sequence would exceed its context */
    LORC_ERR_NUMERIC = -8,      /* a value that is or would become Inf/NaN (in a file or computed) */
    LORC_ERR_KV_FULL = -9,      /* the KV page pool is exhausted (its budget is reached) */
    LORC_ERR_BUSY = -10         /* the object is in use (e.g. a registry entry referenced by a sequence) */
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
typedef struct lorc_overlay lorc_overlay;   /* a tensor-subset overlay (applied to a model, or loaded for sequences) */
typedef struct lorc_registry lorc_registry; /* named adapters and overlays over one base, under a memory budget */
typedef struct lorc_scheduler lorc_scheduler; /* continuous batching of requests over one context */

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
/* Pieces can end mid-character: the length of the longest prefix of s[0..n)
 * that does not end inside an incomplete UTF-8 sequence (what a stream may
 * send now; the rest waits for the next piece). Invalid bytes are not cut. */
size_t lorc_utf8_complete_len(const char *s, size_t n);
/* Strict check (no overlongs, surrogates or truncated sequences). */
bool lorc_utf8_valid(const char *s, size_t n);
/* The GGUF's tokenizer.chat_template (Jinja text), or NULL when absent. */
const char *lorc_vocab_chat_template(const lorc_vocab *vocab);

/* --------------------------------------------------------- chat templates */

/* Built-in chat formats, by name: "chatml" (aliases "qwen2", "qwen"),
 * "llama2" ("llama-2"), "llama3" ("llama-3"), "mistral" ("mistral-v1"),
 * "zephyr", "phi3" ("phi-3"), "gemma". lorc renders them in C; it does not
 * run Jinja. See docs/chat-templates.md for the exact strings. */
typedef struct lorc_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8, NUL-terminated */
} lorc_chat_message;

/* Family of a Jinja chat template, recognised by its markers; "chatml" when
 * `jinja` is NULL or nothing fits. Never NULL. */
const char *lorc_chat_template_detect_text(const char *jinja);
/* Same, for the vocab's tokenizer.chat_template. */
const char *lorc_chat_template_detect(const lorc_vocab *vocab);
/* Picks the format: `name` when not NULL (canonicalised; unknown names are
 * refused with LORC_ERR_INVALID), else the one detected from the vocab.
 * *out is a static string. */
lorc_status lorc_chat_template_resolve(const char *name, const lorc_vocab *vocab, const char **out,
                                       lorc_error *err);

/* Renders n messages in format `template_name` into a malloc'd string (caller
 * frees). With add_generation_prompt the text ends with the assistant's turn
 * header. The leading BOS some Jinja templates print is left out: tokenize
 * with LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL. Families without
 * a system role (llama2 keeps its <<SYS>> block; mistral, gemma) fold a
 * leading system message into the first user message; a system message
 * anywhere else is refused for them. Unknown names/roles: LORC_ERR_INVALID. */
lorc_status lorc_chat_apply(const char *template_name, const lorc_chat_message *msgs, int n,
                            bool add_generation_prompt, char **out, lorc_error *err);

/* NULL-terminated list of the strings that end an assistant turn in this
 * format ("<|eot_id|>", "<|im_end|>", ...); NULL for an unknown name. */
const char *const *lorc_chat_template_stops(const char *template_name);
/* Ids of the stop strings that are single tokens of `vocab` (written to
 * out[0..cap)); returns how many there are (may exceed cap), or
 * LORC_ERR_INVALID for an unknown name. Generation should end on these in
 * addition to lorc_vocab_is_eog. */
int lorc_chat_stop_tokens(const lorc_vocab *vocab, const char *template_name, int32_t *out, int cap);

/* ------------------------------------------------------------- context */

/* Element type of the KV cache (llama.cpp's -ctk / -ctv). */
typedef enum lorc_kv_type { LORC_KV_F16 = 0, LORC_KV_F32 = 1, LORC_KV_Q8_0 = 2 } lorc_kv_type;

typedef struct lorc_context_params {
    int n_threads; /* 0: the number of physical cores */
    int n_ctx;     /* 0: the model's trained context; the most positions one sequence may hold */
    int n_batch;   /* max tokens per forward pass; 0: 512 */
    /* KV cache: fixed-size pages from one pool shared by the context's
     * sequences, taken as a sequence grows. */
    lorc_kv_type type_k;    /* default LORC_KV_F16 */
    lorc_kv_type type_v;    /* default LORC_KV_F16 */
    int kv_page_tokens;     /* positions per page; 0: 16 */
    size_t kv_budget_bytes; /* bytes the pool may hold; 0: no limit */
    bool prefix_cache;      /* keep full pages of finished prompts for reuse (lorc_sequence_reuse_prefix); default true */
    /* Kernel family: "auto" (the fastest this CPU runs), "scalar", "avx2",
     * "avx512". NULL: the LORC_KERNELS environment variable, else "auto". */
    const char *kernels;
} lorc_context_params;

lorc_context_params lorc_context_default_params(void);
lorc_status lorc_context_new(lorc_model *model, const lorc_context_params *params, lorc_context **out,
                             lorc_error *err);
void lorc_context_free(lorc_context *ctx); /* free its sequences first: they hold its KV pages */
int lorc_context_n_ctx(const lorc_context *ctx);
int lorc_context_n_batch(const lorc_context *ctx);
/* Bytes of KV pages allocated now (in use by sequences + held by the prefix
 * cache), and the budget (0: none). */
size_t lorc_context_kv_bytes(const lorc_context *ctx);
size_t lorc_context_kv_budget(const lorc_context *ctx);
/* The same in pages: allocated (held by sequences or kept by the prefix
 * cache), of which idle (prefix cache only, reclaimable), the budget
 * (-1: none) and one page's bytes. Read it on the thread that decodes. */
typedef struct lorc_kv_usage {
    int64_t pages, idle_pages, budget_pages;
    size_t page_bytes;
} lorc_kv_usage;
lorc_kv_usage lorc_context_kv_usage(const lorc_context *ctx);
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
 * changes nothing, when the tokens do not fit; fails with LORC_ERR_NUMERIC
 * ("non-finite logits at position N ...") when a returned row holds Inf or
 * NaN, leaving the sequence at its position before the call. */
lorc_status lorc_decode(lorc_context *ctx, lorc_sequence *seq, const int32_t *tokens, int n, bool all_logits,
                        float *logits, lorc_error *err);

/* One sequence's share of a batched step. */
typedef struct lorc_decode_item {
    lorc_sequence *seq;
    const int32_t *tokens; /* run at the sequence's next positions */
    int n_tokens;          /* >= 1 (a prompt chunk, or one generated token) */
    bool all_logits;       /* logits of every token, else of the last one only */
    float *logits;         /* n_vocab (or n_tokens * n_vocab) floats; NULL: no logits */
} lorc_decode_item;

/* One step for many sequences in ONE forward pass (Σ n_tokens <= n_batch;
 * each sequence at most once). Every sequence computes with its own
 * adapters, scales and overlay; rows that share an adapter are grouped
 * across sequences (one A·x and one B·t product per adapter per weight).
 * Batch invariance: each item's logits are bit-identical to decoding the
 * same tokens alone with lorc_decode, whatever else is in the batch, where
 * it sits, and however its prompt was cut into chunks. On failure no
 * sequence advances (LORC_ERR_KV_FULL when pages run out). */
lorc_status lorc_decode_batch(lorc_context *ctx, const lorc_decode_item *items, int n, lorc_error *err);

/* Prefix cache: attaches to an EMPTY sequence the KV pages already computed
 * for the longest prefix of tokens[0..n) — whole pages, at most n - 1
 * tokens, so the last prompt token is always run — under exactly this
 * sequence's base, overlay, adapters and scales (never another's). Shared
 * pages are copy-on-write. Returns the number of tokens reused (0..n-1);
 * the caller decodes tokens[reused..n). 0 when the cache is off. */
int lorc_sequence_reuse_prefix(lorc_sequence *seq, const int32_t *tokens, int n);
/* Positions whose KV pages the sequence holds (grows with its tokens). */
size_t lorc_sequence_kv_bytes(const lorc_sequence *seq);

/* ------------------------------------------------------------- sampler */

/* Allowed ranges (lorc_sampler_new refuses anything else, NaN included,
 * with LORC_ERR_INVALID naming the parameter): */
typedef struct lorc_sampler_params {
    float temp;           /* finite; <= 0: greedy */
    int top_k;            /* >= 0; 0: off */
    float top_p;          /* (0, 1]; 1: off */
    float min_p;          /* [0, 1]; 0: off */
    float repeat_penalty; /* finite, > 0; 1: off */
    int repeat_last_n;    /* -1..LORC_SAMPLER_MAX_LAST_N: tokens the penalty looks back on; 0: off, -1: all accepted */
    uint64_t seed;        /* LORC_SEED_RANDOM: drawn from the OS at lorc_sampler_new */
} lorc_sampler_params;

#define LORC_SEED_RANDOM UINT64_MAX
#define LORC_SAMPLER_MAX_LAST_N (1 << 24)

lorc_sampler_params lorc_sampler_default_params(void);
/* params NULL: the defaults. Fails with LORC_ERR_INVALID when a parameter is
 * outside its range above. */
lorc_status lorc_sampler_new(const lorc_sampler_params *params, lorc_sampler **out, lorc_error *err);
void lorc_sampler_free(lorc_sampler *sampler);
/* Picks a token from n_vocab logits (the array is used as scratch). Returns
 * -1 for bad arguments and when no logit is a number (all NaN). */
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

/* Per-sequence overlays: loads and checks an overlay (as lorc_overlay_apply
 * does) WITHOUT applying it to the model, for lorc_sequence_set_overlay.
 * Free it with lorc_overlay_free once no sequence uses it. */
lorc_status lorc_overlay_load(lorc_model *model, const char *path, bool force, lorc_overlay **out, lorc_error *err);
void lorc_overlay_free(lorc_overlay *overlay);
/* The sequence's rows compute with the overlay's tensors in place of the
 * base's (NULL: back to the base); other sequences are unaffected and the
 * shared model is never touched. The sequence's adapters apply on top of
 * the overlay's weights. Refused (LORC_ERR_MISMATCH) when an attached
 * adapter replaces a tensor the overlay replaces too, or the overlay was
 * loaded for another model; refused (LORC_ERR_UNSUPPORTED) when it replaces
 * a bias or RoPE factors (read once per batch: only lorc_overlay_apply can)
 * — matrices and F32 norm weights go per sequence. On failure the sequence
 * keeps what it had. */
lorc_status lorc_sequence_set_overlay(lorc_sequence *seq, lorc_overlay *overlay, lorc_error *err);

/* ------------------------------------------------------------ registry */

typedef enum lorc_entry_kind {
    LORC_ENTRY_AUTO = 0, /* decided on first load: PEFT directory or GGUF adapter -> LoRA; GGUF overlay -> overlay */
    LORC_ENTRY_LORA = 1,
    LORC_ENTRY_OVERLAY = 2
} lorc_entry_kind;

typedef enum lorc_entry_state {
    LORC_ENTRY_COLD = 0,    /* registered, not in memory (never loaded, or evicted) */
    LORC_ENTRY_LOADING = 1, /* a load is running */
    LORC_ENTRY_READY = 2,   /* resident */
    LORC_ENTRY_FAILED = 3   /* the last load failed (message in lorc_entry_info.error); retried on next use */
} lorc_entry_state;

typedef struct lorc_entry_info {
    lorc_entry_kind kind;   /* AUTO until the first load decided it */
    lorc_entry_state state;
    size_t bytes;           /* resident bytes (adapter tensors + DoRA weights computed for it); 0 when cold */
    bool pinned;            /* never evicted */
    int refs;               /* sequences using it now */
    uint64_t last_use;      /* registry clock tick of the last acquire (larger: more recent) */
    int loads;              /* times loaded (reloads after eviction included) */
    char error[256];        /* when FAILED */
} lorc_entry_info;

/* A registry over `model` (borrowed). budget_bytes: resident adapter and
 * overlay memory is kept at most this (0: no limit) by evicting, least
 * recently used first, entries that are neither pinned nor in use. Loads
 * run on a background thread owned by the registry. A load (or a DoRA
 * scale's weights) that fits only by evicting entries in use or pinned
 * fails with LORC_ERR_NOMEM naming the bytes needed and held: the budget is
 * never exceeded (docs/adapters.md). */
lorc_status lorc_registry_new(lorc_model *model, size_t budget_bytes, lorc_registry **out, lorc_error *err);
/* Frees every entry; no sequence may still use one. */
void lorc_registry_free(lorc_registry *reg);
/* Registers `name` -> `path` (GGUF adapter, PEFT directory or GGUF
 * overlay). Opens nothing: a registered entry costs its name and path
 * until first used. Refuses a duplicate or empty name. Thread-safe. */
lorc_status lorc_registry_add(lorc_registry *reg, const char *name, const char *path, lorc_entry_kind kind,
                              lorc_error *err);
/* Unregisters; LORC_ERR_BUSY while a sequence uses it. Thread-safe. */
lorc_status lorc_registry_remove(lorc_registry *reg, const char *name, lorc_error *err);
lorc_status lorc_registry_pin(lorc_registry *reg, const char *name, bool pinned, lorc_error *err);
lorc_status lorc_registry_info(lorc_registry *reg, const char *name, lorc_entry_info *out, lorc_error *err);
/* Starts loading a cold entry on the background thread and returns at once
 * (READY/LOADING: nothing to do). Poll lorc_registry_info for the state. */
lorc_status lorc_registry_prefetch(lorc_registry *reg, const char *name, lorc_error *err);
size_t lorc_registry_resident_bytes(lorc_registry *reg);
size_t lorc_registry_budget(const lorc_registry *reg);
int lorc_registry_count(lorc_registry *reg);

/* Counters since lorc_registry_new, and the state now, read under the
 * registry's lock in one go (so they agree with each other). */
typedef struct lorc_registry_stats {
    int registered;          /* entries registered now */
    int resident;            /* of which READY */
    int loading;             /* of which LOADING */
    size_t resident_bytes;   /* what READY entries hold (lorc_registry_resident_bytes) */
    size_t budget_bytes;     /* 0: no limit */
    uint64_t loads;          /* loads that succeeded (reloads after eviction included) */
    uint64_t load_failures;  /* loads that failed (unreadable file, mismatch, no room in the budget) */
    uint64_t evictions;      /* READY entries dropped to make room for another load (not removals) */
} lorc_registry_stats;

void lorc_registry_get_stats(lorc_registry *reg, lorc_registry_stats *out);

/* One adapter of a stack, by registry name. */
typedef struct lorc_adapter_use {
    const char *name;
    float scale;
} lorc_adapter_use;

/* Sets the sequence's adapter stack and overlay by registry name (n = 0 and
 * overlay NULL: the plain base). Cold entries are loaded first (the caller
 * waits; the scheduler instead prefetches and keeps other sequences
 * running). The sequence holds a reference on each entry until they are
 * changed or the sequence is freed, so nothing it uses is ever evicted.
 * On failure the sequence keeps what it had. */
lorc_status lorc_sequence_use(lorc_sequence *seq, lorc_registry *reg, const lorc_adapter_use *adapters, int n,
                              const char *overlay, lorc_error *err);

/* ----------------------------------------------------------- scheduler */

typedef struct lorc_scheduler_params {
    int max_seqs;      /* requests generating at once; 0: 8; at most step_tokens (each needs a token per step) */
    int step_tokens;   /* tokens per forward pass (the step's budget); 0: the context's n_batch; at most n_batch */
    int prefill_chunk; /* prompt tokens one request may feed per step, so long prompts do not stall
                          generation; 0: step_tokens / 2 (at least 1) */
} lorc_scheduler_params;

typedef enum lorc_event_kind {
    LORC_EVENT_TOKEN = 0, /* a generated token */
    LORC_EVENT_DONE = 1   /* the request finished (the last event it gets) */
} lorc_event_kind;

typedef enum lorc_finish_reason {
    LORC_FINISH_NONE = 0,
    LORC_FINISH_EOG = 1,      /* the model produced an end-of-generation token */
    LORC_FINISH_LENGTH = 2,   /* max_tokens reached, or the context is full */
    LORC_FINISH_CANCELLED = 3,
    LORC_FINISH_ERROR = 4     /* status / message say why */
} lorc_finish_reason;

/* A token and its log-probability under the model: log-softmax of the raw
 * logits, before temperature, penalties and truncation. */
typedef struct lorc_token_logprob {
    int32_t token;
    float logprob;
} lorc_token_logprob;

enum { LORC_MAX_LOGPROBS = 20 };

typedef struct lorc_event {
    uint64_t id;
    lorc_event_kind kind;
    int32_t token;           /* TOKEN */
    lorc_finish_reason finish; /* DONE */
    lorc_status status;      /* DONE: LORC_OK unless finish == ERROR */
    const char *message;     /* DONE with an error: one line; valid during the callback */
    int n_prompt;            /* prompt tokens */
    int n_cached;            /* of which reused from the prefix cache */
    int n_generated;
    double queue_ms;         /* submit -> first step it ran in */
    double prompt_ms;        /* first step -> first generated token */
    double gen_ms;           /* first generated token -> done */
    /* TOKEN, when the request asked for n_logprobs > 0: the token's own
     * log-probability and the n_logprobs most likely tokens (most likely
     * first; the array is valid during the callback). */
    float logprob;
    const lorc_token_logprob *top;
    int n_top;
} lorc_event;

typedef void (*lorc_event_fn)(void *user, const lorc_event *ev);

typedef struct lorc_request {
    const int32_t *prompt; /* copied at submit */
    int n_prompt;          /* >= 1 */
    const lorc_adapter_use *adapters; /* by registry name, copied at submit */
    int n_adapters;
    const char *overlay;   /* registry name or NULL */
    lorc_sampler_params sampling;
    int max_tokens;        /* tokens to generate (>= 0; stops earlier at EOG) */
    bool ignore_eog;       /* keep generating past end-of-generation tokens */
    const int32_t *stop_tokens; /* more tokens that end generation like EOG (a chat template's
                                   end-of-turn tokens); copied at submit; ignore_eog ignores them too */
    int n_stop_tokens;
    int n_logprobs;        /* 0..LORC_MAX_LOGPROBS: TOKEN events report log-probabilities (lorc_event) */
    lorc_event_fn on_event; /* called from the thread running lorc_scheduler_step */
    void *user;
} lorc_request;

/* A scheduler over ctx (borrowed) whose requests name entries of reg
 * (borrowed; NULL: requests may only use the base). */
lorc_status lorc_scheduler_new(lorc_context *ctx, lorc_registry *reg, const lorc_scheduler_params *params,
                               lorc_scheduler **out, lorc_error *err);
void lorc_scheduler_free(lorc_scheduler *sched);
/* Queues a request (thread-safe); *id identifies its events. Bad requests
 * (empty prompt, prompt longer than the context, unknown entry name, bad
 * sampling parameters) are refused here with a one-line message. */
lorc_status lorc_scheduler_submit(lorc_scheduler *sched, const lorc_request *req, uint64_t *id, lorc_error *err);
/* Asks a request to stop (thread-safe); it gets DONE with FINISH_CANCELLED. */
void lorc_scheduler_cancel(lorc_scheduler *sched, uint64_t id);
/* One step: admits waiting requests whose entries are loaded (prefetching
 * the others in the background), runs one lorc_decode_batch over prompt
 * chunks and generated tokens of the running requests within the token
 * budget (oldest first, no request starves), samples, and emits events.
 * Returns LORC_OK also when some requests failed (they get DONE events).
 * When KV pages run out the scheduler waits rather than fails: it preempts
 * the most recently admitted request (recomputed later, same output) and
 * admits nothing new until a request finishes; only a request that does
 * not fit alone ends with LORC_ERR_KV_FULL. Cancellations and requests
 * submitted during a step (from callbacks too) take effect in the next. */
lorc_status lorc_scheduler_step(lorc_scheduler *sched, lorc_error *err);
/* Requests queued or running. */
int lorc_scheduler_pending(lorc_scheduler *sched);
/* The pending requests split: waiting (queued, loading their entries, or
 * preempted) and running (holding a sequence). Thread-safe. */
void lorc_scheduler_counts(lorc_scheduler *sched, int *waiting, int *running);

#ifdef __cplusplus
}
#endif
#endif /* LORC_H */
