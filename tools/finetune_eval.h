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

/* The evaluation text, tokenized and checked before the command writes
 * anything (a failed command leaves no output behind). */
typedef struct finetune_eval_text {
    int32_t *tokens; /* owned; the first n_use are evaluated */
    size_t n_use;
    int n_ctx;
} finetune_eval_text;

/* Reads o->text, tokenizes it with `model`'s vocab and keeps at most
 * o->chunks chunks of the context finetune_eval_ctx(model, o->ctx). A
 * missing or unreadable file, or a text too short for one chunk, fails with
 * a one-line message naming the file. */
lorc_status finetune_eval_text_load(const finetune_eval_opts *o, const lorc_model *model, finetune_eval_text *out,
                                    lorc_error *err);
void finetune_eval_text_free(finetune_eval_text *t);

/* Compares `test` against `ref` on the loaded text and prints the summary
 * under the names `ref_name` / `test_name`. Returns the exit code (errors
 * printed). */
int finetune_eval_print(const char *cmd, const char *text_path, const finetune_eval_text *text, const kld_setup *ref,
                        const kld_setup *test, const char *ref_name, const char *test_name);

/* After a failure that happened once `out` was written: deletes it (and
 * says so on stderr), so that a failed command leaves nothing behind. */
void finetune_eval_discard_output(const char *cmd, const char *out);

#endif
