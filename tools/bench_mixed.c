/* bench_mixed.c — `lorc bench --mixed N`: the throughput of N sequences
 * decoding together in one batched step per token, in three set-ups
 * measured in the same run (rounds alternate so all three see the same
 * machine state): all N on the base, all N on ONE adapter, each on its OWN
 * adapter. The ratio mixed / one is what multi-adapter serving costs over
 * single-adapter serving. Plus the time to switch a sequence between
 * resident adapters. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "bench.h"

typedef enum mixed_setup { SETUP_BASE, SETUP_ONE, SETUP_MIXED, SETUP_COUNT } mixed_setup;

/* Everything one round needs, allocated once. */
typedef struct mixed_state {
    lorc_context *ctx;
    lorc_adapter *const *adapters;
    int n;
    int n_prompt, n_gen, n_vocab;
    lorc_sequence **seqs;
    lorc_decode_item *items;
    int32_t *tokens; /* [n][n_prompt]: prompts; then each sequence's next token */
    float *logits;   /* [n][n_vocab] */
} mixed_state;

static lorc_status attach(mixed_state *s, mixed_setup setup, lorc_error *err) {
    float one = 1.0f;
    for (int k = 0; k < s->n; k++) {
        lorc_status st;
        if (setup == SETUP_BASE) {
            st = lorc_sequence_set_adapters(s->seqs[k], NULL, NULL, 0, err);
        } else {
            lorc_adapter *ad = s->adapters[setup == SETUP_ONE ? 0 : k];
            st = lorc_sequence_set_adapters(s->seqs[k], &ad, &one, 1, err);
        }
        if (st != LORC_OK) return st;
    }
    return LORC_OK;
}

/* One round of a set-up: the n prompts (chunked into steps of at most
 * n_batch tokens), then n_gen steps of one token per sequence. */
static lorc_status round_of(mixed_state *s, mixed_setup setup, double *pp_tps, double *tg_tps, lorc_error *err) {
    for (int k = 0; k < s->n; k++) lorc_sequence_reset(s->seqs[k]);
    lorc_status st = attach(s, setup, err);
    if (st != LORC_OK) return st;
    const int n_batch = lorc_context_n_batch(s->ctx);
    double t0 = bench_now_ms();
    /* Prompts: as many whole prompts per step as fit, split one otherwise. */
    for (int k = 0; k < s->n;) {
        int ni = 0, used = 0;
        while (k < s->n && used < n_batch) {
            int take = s->n_prompt - lorc_sequence_n_past(s->seqs[k]);
            if (take > n_batch - used) take = n_batch - used;
            const int32_t *toks = s->tokens + (size_t)k * (size_t)s->n_prompt + lorc_sequence_n_past(s->seqs[k]);
            bool last = lorc_sequence_n_past(s->seqs[k]) + take == s->n_prompt;
            s->items[ni++] = (lorc_decode_item){s->seqs[k], toks, take, false,
                                                last ? s->logits + (size_t)k * (size_t)s->n_vocab : NULL};
            used += take;
            if (last) k++;
        }
        if ((st = lorc_decode_batch(s->ctx, s->items, ni, err))) return st;
    }
    double t1 = bench_now_ms();
    *pp_tps = (double)s->n * s->n_prompt / ((t1 - t0) * 1e-3);
    int32_t *next = s->tokens; /* the prompts are no longer needed */
    for (int k = 0; k < s->n; k++) next[k] = (int32_t)((k * 7919 + 11) % s->n_vocab);
    for (int g = 0; g < s->n_gen; g++) {
        for (int k = 0; k < s->n; k++)
            s->items[k] = (lorc_decode_item){s->seqs[k], &next[k], 1, false, s->logits + (size_t)k * (size_t)s->n_vocab};
        if ((st = lorc_decode_batch(s->ctx, s->items, s->n, err))) return st;
        /* the work does not depend on the tokens: no sampling, just move on */
        for (int k = 0; k < s->n; k++) next[k] = (int32_t)(((int64_t)next[k] * 31 + 7) % s->n_vocab);
    }
    *tg_tps = (double)s->n * s->n_gen / ((bench_now_ms() - t1) * 1e-3);
    for (int k = 0; k < s->n; k++)
        for (int i = 0; i < s->n_prompt; i++)
            s->tokens[(size_t)k * (size_t)s->n_prompt + (size_t)i] = (int32_t)(((int64_t)(k * 131 + i) * 7919 + 13) % s->n_vocab);
    return LORC_OK;
}

/* Median time of `reps` switches of one sequence between two resident
 * adapters (attach = rebuild the sequence's per-weight term lists). */
static double switch_ms(lorc_sequence *seq, lorc_adapter *const *adapters, int n, lorc_error *err) {
    enum { REPS = 101 };
    double t[REPS];
    float one = 1.0f;
    for (int r = 0; r < REPS; r++) {
        lorc_adapter *ad = adapters[r % n];
        double t0 = bench_now_ms();
        if (lorc_sequence_set_adapters(seq, &ad, &one, 1, err) != LORC_OK) return -1;
        t[r] = bench_now_ms() - t0;
    }
    /* insertion sort: 101 values */
    for (int i = 1; i < REPS; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[REPS / 2];
}

lorc_status bench_mixed_run(const lorc_model *model, lorc_context *ctx, lorc_adapter *const *adapters, int n, int n_prompt, int n_gen, int reps,
                            bench_mixed_result *out, lorc_error *err) {
    memset(out, 0, sizeof *out);
    out->n = n;
    for (int s = 0; s < SETUP_COUNT; s++) out->pp_tps[s] = out->tg_tps[s] = -1;
    out->switch_ms = -1;
    if (n < 1 || n_prompt < 1 || n_gen < 1)
        return lorc_fail(err, LORC_ERR_INVALID, "bench --mixed: needs N >= 1, -p >= 1 and -n >= 1");
    mixed_state s = {.ctx = ctx, .adapters = adapters, .n = n, .n_prompt = n_prompt, .n_gen = n_gen};
    s.n_vocab = lorc_model_n_vocab(model);
    s.seqs = calloc((size_t)n, sizeof *s.seqs);
    s.items = calloc((size_t)n, sizeof *s.items);
    s.tokens = malloc((size_t)n * (size_t)n_prompt * sizeof *s.tokens);
    s.logits = malloc((size_t)n * (size_t)s.n_vocab * sizeof *s.logits);
    lorc_status st = LORC_OK;
    if (!s.seqs || !s.items || !s.tokens || !s.logits)
        st = lorc_fail(err, LORC_ERR_NOMEM, "bench --mixed: out of memory for %d sequences", n);
    for (int k = 0; k < n && st == LORC_OK; k++) st = lorc_sequence_new(ctx, &s.seqs[k], err);
    for (int k = 0; k < n && st == LORC_OK; k++)
        for (int i = 0; i < n_prompt; i++)
            s.tokens[(size_t)k * (size_t)n_prompt + (size_t)i] = (int32_t)(((int64_t)(k * 131 + i) * 7919 + 13) % s.n_vocab);
    /* Rounds alternate the set-ups; each figure is the best of its rounds.
     * A first, unmeasured round pages every weight and adapter in. */
    for (int r = -1; r < reps && st == LORC_OK; r++)
        for (int setup = 0; setup < SETUP_COUNT && st == LORC_OK; setup++) {
            double pp, tg;
            st = round_of(&s, (mixed_setup)setup, &pp, &tg, err);
            if (st == LORC_OK && r >= 0) {
                if (pp > out->pp_tps[setup]) out->pp_tps[setup] = pp;
                if (tg > out->tg_tps[setup]) out->tg_tps[setup] = tg;
            }
        }
    if (st == LORC_OK && n > 1) {
        out->switch_ms = switch_ms(s.seqs[0], adapters, n, err);
        if (out->switch_ms < 0) st = err ? err->status : LORC_ERR_INVALID;
    }
    for (int k = 0; s.seqs && k < n; k++) lorc_sequence_free(s.seqs[k]);
    free(s.seqs);
    free(s.items);
    free(s.tokens);
    free(s.logits);
    return st;
}
