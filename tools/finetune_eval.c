/* finetune_eval.c — KL / top-token / PPL report of a merged or extracted
 * fine-tune against its reference (see finetune_eval.h). */
#include "finetune_eval.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "cli.h"
#include "perplexity_chunk.h"
#include "text_file.h"

lorc_status finetune_eval_setup(lorc_model *model, int n_ctx, int n_threads, kld_setup *out, lorc_error *err) {
    out->model = model;
    out->ctx = NULL;
    out->seq = NULL;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx;
    cp.n_threads = n_threads;
    lorc_status st = lorc_context_new(model, &cp, &out->ctx, err);
    if (!st) st = lorc_sequence_new(out->ctx, &out->seq, err);
    if (st) finetune_eval_setup_free(out);
    return st;
}

void finetune_eval_setup_free(kld_setup *s) {
    lorc_sequence_free(s->seq);
    lorc_context_free(s->ctx);
    s->seq = NULL;
    s->ctx = NULL;
}

int finetune_eval_opts_parse(finetune_eval_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *v;
    bool missing = false;
    if (cli_opt(argc, argv, i, "--eval-text", &v, &missing)) {
        if (missing) return -1;
        o->text = v;
    } else if (cli_opt(argc, argv, i, "-c", &v, &missing)) {
        if (missing || !cli_parse_int(cmd, "-c", v, 8, 1 << 20, &o->ctx)) return -1;
    } else if (cli_opt(argc, argv, i, "--eval-chunks", &v, &missing)) {
        if (missing || !cli_parse_int(cmd, "--eval-chunks", v, 1, 1 << 30, &o->chunks)) return -1;
    } else {
        return 0;
    }
    return 1;
}

int finetune_eval_ctx(const lorc_model *model, long want) {
    int train = lorc_model_n_ctx_train(model);
    if (want <= 0) want = 256;
    if (train > 0 && want > train) want = train;
    return (int)want;
}

lorc_status finetune_eval_text_load(const finetune_eval_opts *o, const lorc_model *model, finetune_eval_text *out,
                                    lorc_error *err) {
    memset(out, 0, sizeof *out);
    out->n_ctx = finetune_eval_ctx(model, o->ctx);
    size_t len = 0, n_tokens = 0;
    char *text = text_file_read(o->text, &len, err);
    if (!text) return err ? err->status : LORC_ERR_IO;
    lorc_status st = lorc_tokenize(lorc_model_vocab(model), text, len, LORC_TOKENIZE_ADD_BOS, &out->tokens, &n_tokens,
                                   err);
    free(text);
    if (st) return st;
    if (n_tokens < (size_t)out->n_ctx) {
        finetune_eval_text_free(out);
        return lorc_fail(err, LORC_ERR_INVALID,
                         "%s: %zu tokens do not fill one evaluation chunk of %d (use a longer text or a smaller -c)",
                         o->text, n_tokens, finetune_eval_ctx(model, o->ctx));
    }
    out->n_use = n_tokens;
    if (o->chunks > 0 && out->n_use > (size_t)o->chunks * (size_t)out->n_ctx)
        out->n_use = (size_t)o->chunks * (size_t)out->n_ctx;
    return LORC_OK;
}

void finetune_eval_text_free(finetune_eval_text *t) {
    free(t->tokens);
    t->tokens = NULL;
    t->n_use = 0;
}

int finetune_eval_print(const char *cmd, const char *text_path, const finetune_eval_text *text, const kld_setup *ref,
                        const kld_setup *test, const char *ref_name, const char *test_name) {
    lorc_error err = {0};
    const lorc_vocab *vocab = lorc_model_vocab(ref->model);
    int32_t bos = ppl_vocab_adds_bos(vocab) ? lorc_vocab_bos(vocab) : -1;
    kld_stats stats = {0};
    int n_ctx = text->n_ctx;
    lorc_status st = kld_compare(ref, test, text->tokens, text->n_use, n_ctx, bos, &stats, &err);
    if (st) return cli_fail(cmd, &err);
    kld_summary s;
    kld_summarize(&stats, &s);
    printf("cost on %s (%zu chunks of %d tokens, %zu scored positions):\n", text_path, text->n_use / (size_t)n_ctx,
           n_ctx, s.count);
    printf("  PPL %-28s %.4f ± %.4f\n", ref_name, s.ppl_base, s.ppl_base_unc);
    printf("  PPL %-28s %.4f ± %.4f\n", test_name, s.ppl, s.ppl_unc);
    /* rounding can make a zero divergence come out as -1e-9: print it as 0 */
    printf("  mean KL divergence            %.6f ± %.6f\n", s.kld < 0 && s.kld > -5e-7 ? 0.0 : s.kld, s.kld_unc);
    printf("  same top token                %.3f ± %.3f %%\n", 100.0 * s.same_top, 100.0 * s.same_top_unc);
    return 0;
}

void finetune_eval_discard_output(const char *cmd, const char *out) {
    if (unlink(out) == 0)
        fprintf(stderr, "lorc %s: removed %s: the command failed after writing it\n", cmd, out);
    else if (errno != ENOENT)
        fprintf(stderr, "lorc %s: could not remove %s after the failure: %s\n", cmd, out, strerror(errno));
}
