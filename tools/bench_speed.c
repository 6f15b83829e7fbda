/* bench_speed.c — prompt (pp) and generation (tg) speed of a context, with
 * or without an adapter; each pass on a fresh, empty sequence, the way
 * llama-bench measures pp512 / tg128. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/error.h"
#include "bench.h"
#include "cli.h"
#include "engine/context.h" /* lorc_context.n_threads: the count the library settled on */

double bench_now_ms(void) { return cli_now_seconds() * 1e3; }

const char *bench_kernels(const lorc_context *ctx) { return lorc_context_kernels(ctx); }

int bench_threads(const lorc_context *ctx) { return ctx->n_threads; }

static lorc_status fresh_sequence(lorc_context *ctx, lorc_adapter *adapter, lorc_sequence **seq, lorc_error *err) {
    lorc_status st = lorc_sequence_new(ctx, seq, err);
    if (st != LORC_OK || !adapter) return st;
    float scale = 1.0f;
    return lorc_sequence_set_adapters(*seq, &adapter, &scale, 1, err);
}

lorc_status bench_speed_round(lorc_context *ctx, lorc_adapter *adapter, int n_prompt, int n_gen, bench_speed *out,
                              lorc_error *err) {
    *out = BENCH_SPEED_NONE;
    const lorc_model *model = ctx->model;
    const int n_vocab = lorc_model_n_vocab(model);
    const int n_tokens = n_prompt > 1 ? n_prompt : 1;
    float *logits = malloc(sizeof(float) * (size_t)n_vocab);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)n_tokens);
    lorc_sequence *seq = NULL;
    lorc_status st = LORC_OK;
    if (!logits || !tokens) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "bench: out of memory for %d tokens", n_tokens);
        goto out;
    }
    /* token ids spread over the vocabulary: the content does not change the work */
    for (int i = 0; i < n_tokens; i++) tokens[i] = (int32_t)(((int64_t)i * 7919 + 13) % n_vocab);
    if (n_prompt > 0) {
        if ((st = fresh_sequence(ctx, adapter, &seq, err))) goto out;
        double t0 = bench_now_ms();
        if ((st = lorc_decode(ctx, seq, tokens, n_prompt, false, logits, err))) goto out;
        out->pp_tps = n_prompt / ((bench_now_ms() - t0) * 1e-3);
        lorc_sequence_free(seq);
        seq = NULL;
    }
    if (n_gen > 0) {
        if ((st = fresh_sequence(ctx, adapter, &seq, err))) goto out;
        int32_t tok = tokens[0];
        double t0 = bench_now_ms();
        for (int i = 0; i < n_gen; i++) {
            if ((st = lorc_decode(ctx, seq, &tok, 1, false, logits, err))) goto out;
            tok = (int32_t)(((int64_t)tok * 31 + 7) % n_vocab);
        }
        out->tg_tps = n_gen / ((bench_now_ms() - t0) * 1e-3);
    }
out:
    lorc_sequence_free(seq);
    free(tokens);
    free(logits);
    return st;
}

void bench_speed_keep_best(bench_speed *best, const bench_speed *round) {
    if (round->pp_tps > best->pp_tps) best->pp_tps = round->pp_tps;
    if (round->tg_tps > best->tg_tps) best->tg_tps = round->tg_tps;
}
