/* finetune_eval.h — the cost report of the lossy fine-tune tools (`lorc
 * merge`, `lorc extract`): KL divergence, top-token agreement and both
 * perplexities of a result against its reference on a sample text, with
 * the chunking of `lorc perplexity` (tools/kld.h). */
#ifndef LORC_TOOLS_FINETUNE_EVAL_H
#define LORC_TOOLS_FINETUNE_EVAL_H

#include "kld.h"
#include "lorc.h"

/* The evaluation options shared by merge and extract. */
typedef struct finetune_eval_opts {
    const char *text; /* --eval-text FILE: NULL, no evaluation */
    long ctx;         /* -c N: 0, default */
    long chunks;      /* --eval-chunks N: 0, the whole text */
} finetune_eval_opts;

/* Consumes --eval-text, -c or --eval-chunks (and its value) at argv[*i].
 * Returns 1 when consumed, 0 when not one of these, -1 after printing an error. */
int finetune_eval_opts_parse(finetune_eval_opts *o, const char *cmd, int argc, char **argv, int *i);

/* A context and a sequence on `model` for chunks of n_ctx tokens. */
lorc_status finetune_eval_setup(lorc_model *model, int n_ctx, int n_threads, kld_setup *out, lorc_error *err);
void finetune_eval_setup_free(kld_setup *s);

/* The context length to evaluate with: `want`, capped by the model's. */
int finetune_eval_ctx(const lorc_model *model, long want);

/* Tokenizes the text file with ref's vocab, compares `test` against `ref`
 * on up to max_chunks chunks (0: all) and prints the summary under the
 * names `ref_name` / `test_name`. Returns the exit code (errors printed). */
int finetune_eval_print(const char *cmd, const char *text_path, const kld_setup *ref, const kld_setup *test, int n_ctx,
                        long max_chunks, const char *ref_name, const char *test_name);

#endif
