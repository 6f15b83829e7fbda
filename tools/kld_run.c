/* kld_run.c — `lorc perplexity --kl-divergence`: re-evaluates the chunks of a
 * saved logits file (llama.cpp's or lorc's) and compares distributions. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kld_file.h"
#include "kld_report.h"
#include "kld_stats.h"
#include "perplexity_chunk.h"
#include "perplexity_run.h"

int ppl_run_kl_divergence(const ppl_opts *o, ppl_env *env) {
    lorc_error err = {0};
    kld_reader r;
    if (kld_reader_open(&r, o->logits_file, &err) != LORC_OK) return cli_fail("perplexity", &err);
    int rc = 1;
    float *logits = NULL, *base_lp = NULL, *kv = NULL, *pv = NULL;
    uint16_t *rows = NULL;
    const int n_vocab = lorc_model_n_vocab(env->model);
    const int n_ctx = r.n_ctx;
    if (r.n_vocab != n_vocab) {
        fprintf(stderr, "lorc perplexity: %s was saved with a vocab of %d tokens, the model has %d\n", o->logits_file,
                r.n_vocab, n_vocab);
        goto out;
    }
    if (o->ctx && o->ctx != n_ctx)
        fprintf(stderr, "lorc perplexity: using the context of %d the logits were saved with (not -c %ld)\n", n_ctx,
                o->ctx);
    if (!ppl_env_open(env, o, n_ctx)) goto out;

    const lorc_vocab *vocab = lorc_model_vocab(env->model);
    const int32_t bos = ppl_vocab_adds_bos(vocab) ? lorc_vocab_bos(vocab) : -1;
    const int first = ppl_chunk_first(n_ctx), scored = r.rows_per_chunk;
    const size_t total = (size_t)scored * (size_t)r.n_chunk;
    logits = malloc((size_t)ppl_chunk_rows(n_ctx) * (size_t)n_vocab * sizeof *logits);
    base_lp = malloc((size_t)n_vocab * sizeof *base_lp);
    rows = malloc((size_t)scored * r.row_words * sizeof *rows);
    kv = malloc(total * sizeof *kv);
    pv = malloc(total * sizeof *pv);
    if (!logits || !base_lp || !rows || !kv || !pv) {
        fprintf(stderr, "lorc perplexity: out of memory\n");
        goto out;
    }
    fprintf(stderr, "lorc perplexity: %d chunks of %d from %s\n", r.n_chunk, n_ctx, o->logits_file);

    kld_stats k = {0};
    size_t at = 0;
    kld_report_chunk_header(stdout);
    for (int c = 0; c < r.n_chunk; c++) {
        const int32_t *chunk = r.tokens + (size_t)c * (size_t)n_ctx;
        if (kld_reader_chunk(&r, rows, &err) != LORC_OK ||
            ppl_eval_chunk(env->ctx, env->seq, chunk, n_ctx, bos, logits, &err) != LORC_OK) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
        for (int j = 0; j < scored; j++, at++) {
            kld_row_unpack(rows + (size_t)j * r.row_words, n_vocab, base_lp);
            kld_stats_add(&k, n_vocab, logits + (size_t)j * (size_t)n_vocab, base_lp, chunk[first + j + 1], &kv[at],
                          &pv[at]);
        }
        kld_report_chunk(stdout, c + 1, &k);
        fflush(stdout);
    }
    kld_report_final(stdout, &k, kv, pv, at);
    rc = 0;
out:
    kld_reader_close(&r);
    free(logits);
    free(base_lp);
    free(rows);
    free(kv);
    free(pv);
    return rc;
}
