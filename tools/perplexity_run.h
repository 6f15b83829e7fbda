/* perplexity_run.h — the two modes of `lorc perplexity`: perplexity of a
 * text (optionally saving llama.cpp-format logits), and KL divergence against
 * a saved logits file. cmd_perplexity.c parses the options and loads the
 * model; these create the context they need. */
#ifndef LORC_TOOLS_PERPLEXITY_RUN_H
#define LORC_TOOLS_PERPLEXITY_RUN_H

#include <stdbool.h>

#include "adapter_opts.h"
#include "kv_opts.h"
#include "lorc.h"

enum { PPL_DEFAULT_CTX = 512 }; /* llama.cpp's perplexity default */

typedef struct ppl_opts {
    const char *model;
    const char *text_file;
    const char *logits_file; /* --kl-divergence-base */
    bool kl_divergence;
    long ctx;     /* 0: PPL_DEFAULT_CTX (KL mode: the file's) */
    long batch;   /* 0: the chunk length */
    long threads; /* 0: all cores */
    adapter_opts adapters;
    kv_opts kv;   /* -ctk / -ctv */
} ppl_opts;

typedef struct ppl_env {
    lorc_model *model;
    const adapter_state *adapters;
    lorc_context *ctx;
    lorc_sequence *seq;
} ppl_env;

/* Creates env->ctx and env->seq for chunks of n_ctx tokens, adapters
 * attached. Prints the error and returns false on failure. */
bool ppl_env_open(ppl_env *env, const ppl_opts *o, int n_ctx);
void ppl_env_close(ppl_env *env);

/* Each returns the process exit code (errors printed as one line). */
int ppl_run_perplexity(const ppl_opts *o, ppl_env *env);
int ppl_run_kl_divergence(const ppl_opts *o, ppl_env *env);

#endif
