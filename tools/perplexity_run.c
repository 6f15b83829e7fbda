/* perplexity_run.c — `lorc perplexity` on a text: chunked evaluation with the
 * running and final PPL as llama.cpp prints them, and (with
 * --kl-divergence-base) the logits saved in llama.cpp's file format. */
#include "perplexity_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "kld_file.h"
#include "perplexity_chunk.h"
#include "text_file.h"

bool ppl_env_open(ppl_env *env, const ppl_opts *o, int n_ctx) {
    lorc_error err = {0};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = (int)o->threads;
    cp.n_batch = o->batch ? (int)o->batch : n_ctx;
    kv_opts_apply(&o->kv, &cp);
    if (lorc_context_new(env->model, &cp, &env->ctx, &err) != LORC_OK ||
        lorc_sequence_new(env->ctx, &env->seq, &err) != LORC_OK ||
        adapter_state_attach(env->adapters, env->seq, &err) != LORC_OK) {
        cli_fail("perplexity", &err);
        return false;
    }
    return true;
}

void ppl_env_close(ppl_env *env) {
    lorc_sequence_free(env->seq);
    lorc_context_free(env->ctx);
    env->seq = NULL;
    env->ctx = NULL;
}

int ppl_run_perplexity(const ppl_opts *o, ppl_env *env) {
    lorc_error err = {0};
    int rc = 1;
    size_t len = 0, n_tokens = 0;
    int32_t *tokens = NULL;
    float *logits = NULL;
    uint16_t *rows = NULL;
    kld_writer writer = {0};
    bool writing = false;

    char *text = text_file_read(o->text_file, &len, &err);
    if (!text) return cli_fail("perplexity", &err);
    const lorc_vocab *vocab = lorc_model_vocab(env->model);
    /* As llama.cpp: BOS when the vocab adds it, special-token texts not parsed. */
    lorc_status st = lorc_tokenize(vocab, text, len, LORC_TOKENIZE_ADD_BOS, &tokens, &n_tokens, &err);
    free(text);
    if (st != LORC_OK) return cli_fail("perplexity", &err);

    const int n_ctx = o->ctx ? (int)o->ctx : PPL_DEFAULT_CTX;
    if (n_tokens < 2 * (size_t)n_ctx) {
        fprintf(stderr,
                "lorc perplexity: %s tokenizes to only %zu tokens; a context of %d needs at least %d (lower -c)\n",
                o->text_file, n_tokens, n_ctx, 2 * n_ctx);
        goto out;
    }
    if (!ppl_env_open(env, o, n_ctx)) goto out;

    const int n_vocab = lorc_model_n_vocab(env->model);
    const int n_chunk = (int)(n_tokens / (size_t)n_ctx);
    const int first = ppl_chunk_first(n_ctx), scored = ppl_chunk_scored(n_ctx);
    const int32_t bos = ppl_vocab_adds_bos(vocab) ? lorc_vocab_bos(vocab) : -1;
    fprintf(stderr, "lorc perplexity: %zu tokens, %d chunks of %d, scoring the last %d of each\n", n_tokens, n_chunk,
            n_ctx, scored);

    logits = malloc((size_t)ppl_chunk_rows(n_ctx) * (size_t)n_vocab * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "lorc perplexity: out of memory for %d x %d logits\n", ppl_chunk_rows(n_ctx), n_vocab);
        goto out;
    }
    const size_t words = kld_row_words(n_vocab);
    if (o->logits_file) {
        rows = malloc((size_t)scored * words * sizeof *rows);
        if (!rows) {
            fprintf(stderr, "lorc perplexity: out of memory\n");
            goto out;
        }
        if (kld_writer_open(&writer, o->logits_file, n_ctx, n_vocab, n_chunk, tokens, &err) != LORC_OK) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
        writing = true;
        fprintf(stderr, "lorc perplexity: saving the logits to %s\n", o->logits_file);
    }

    double nll = 0.0, nll2 = 0.0;
    long count = 0;
    for (int c = 0; c < n_chunk; c++) {
        const int32_t *chunk = tokens + (size_t)c * (size_t)n_ctx;
        double t0 = cli_now_seconds();
        if (ppl_eval_chunk(env->ctx, env->seq, chunk, n_ctx, bos, logits, &err) != LORC_OK) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
        if (c == 0) {
            double t = cli_now_seconds() - t0;
            fprintf(stderr, "lorc perplexity: %.2f seconds per pass - ETA %.2f minutes\n", t, t * n_chunk / 60.0);
        }
        for (int j = 0; j < scored; j++) {
            const float *row = logits + (size_t)j * (size_t)n_vocab;
            const int32_t tok = chunk[first + j + 1];
            double v = writing ? kld_row_pack(row, n_vocab, tok, rows + (size_t)j * words)
                               : ppl_token_nll(row, n_vocab, tok);
            nll += v;
            nll2 += v * v;
        }
        count += scored;
        if (writing && kld_writer_rows(&writer, rows, (size_t)scored, &err) != LORC_OK) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
        const double chunk_ppl = exp(nll / (double)count);
        if (!isfinite(chunk_ppl)) {
            putchar('\n');
            fprintf(stderr, "lorc perplexity: the perplexity overflows after chunk %d (mean NLL %g nats)\n", c + 1,
                    nll / (double)count);
            goto out;
        }
        printf("[%d]%.4f,", c + 1, chunk_ppl);
        fflush(stdout);
    }
    printf("\n");

    nll /= (double)count;
    nll2 /= (double)count;
    const double ppl = exp(nll);
    nll2 -= nll * nll;
    if (nll2 > 0 && count > 1)
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, sqrt(nll2 / (double)(count - 1)) * ppl);
    else
        printf("Final estimate: PPL = %.4f\n", ppl);
    fflush(stdout);
    if (writing) {
        writing = false;
        if (kld_writer_commit(&writer, &err) != LORC_OK) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
    }
    rc = 0;
out:
    if (writing) kld_writer_abort(&writer);
    free(tokens);
    free(logits);
    free(rows);
    return rc;
}
