/* test_forward.c — forward-pass bookkeeping on synthetic models: a prompt in
 * one batch equals token-by-token decoding, n_batch splitting changes
 * nothing, several sequences in one lorc_forward batch equal separate runs,
 * reset works, -t 1 == -t 2, and context overflow fails cleanly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "synth.h"
#include "tensor/types.h"
#include "testutil.h"

static const int32_t toks_a[] = {1, 7, 22, 3, 40, 41, 9, 63, 12, 5, 30};
static const int32_t toks_b[] = {1, 50, 2, 17, 17, 8};
#define NA ((int)(sizeof toks_a / sizeof toks_a[0]))
#define NB ((int)(sizeof toks_b / sizeof toks_b[0]))

static lorc_context *new_ctx(lorc_model *m, int threads, int n_ctx, int n_batch) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    if (lorc_context_new(m, &cp, &ctx, &err) != LORC_OK) fprintf(stderr, "%s\n", err.message);
    return ctx;
}

static lorc_sequence *new_seq(lorc_context *ctx) {
    lorc_sequence *s = NULL;
    lorc_error err = {0};
    if (lorc_sequence_new(ctx, &s, &err) != LORC_OK) fprintf(stderr, "%s\n", err.message);
    return s;
}

/* All-position logits of toks decoded one token at a time. */
static void one_by_one(lorc_context *ctx, const int32_t *toks, int n, float *out, int n_vocab) {
    lorc_sequence *s = new_seq(ctx);
    lorc_error err = {0};
    for (int i = 0; i < n; i++) CHECK(lorc_decode(ctx, s, &toks[i], 1, false, out + (size_t)i * n_vocab, &err) == 0);
    lorc_sequence_free(s);
}

static bool same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

static void test_model(const char *label, const synth_params *p) {
    const char *path = test_tmp("forward_model.gguf");
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(path, p, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    if (lorc_model_load(path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s: %s", label, err.message);
        return;
    }
    const int V = lorc_model_n_vocab(m);
    CHECK(V == p->n_vocab);
    CHECK(lorc_model_n_ctx_train(m) == p->n_ctx);
    float *ref = calloc((size_t)NA * V, sizeof(float));
    float *got = calloc((size_t)NA * V, sizeof(float));
    float *last = calloc((size_t)V, sizeof(float));

    /* Token by token on one thread is the reference. */
    lorc_context *c1 = new_ctx(m, 1, 0, 0);
    one_by_one(c1, toks_a, NA, ref, V);

    /* The prompt in one batch, all logits and last logits, 1 and 2 threads. */
    for (int threads = 1; threads <= 2; threads++) {
        lorc_context *ctx = threads == 1 ? c1 : new_ctx(m, 2, 0, 0);
        lorc_sequence *s = new_seq(ctx);
        CHECK(lorc_decode(ctx, s, toks_a, NA, true, got, &err) == LORC_OK);
        CHECK_MSG(same(got, ref, (size_t)NA * V), "%s: batched prompt (-t %d) differs from token by token", label,
                  threads);
        CHECK(lorc_sequence_n_past(s) == NA);
        lorc_sequence_reset(s);
        CHECK(lorc_sequence_n_past(s) == 0);
        CHECK(lorc_decode(ctx, s, toks_a, NA, false, last, &err) == LORC_OK);
        CHECK_MSG(same(last, ref + (size_t)(NA - 1) * V, V), "%s: last logits after reset differ", label);
        lorc_sequence_free(s);
        if (threads == 2) lorc_context_free(ctx);
    }

    /* n_batch 3 splits the prompt into four passes. */
    lorc_context *c3 = new_ctx(m, 2, 0, 3);
    lorc_sequence *s3 = new_seq(c3);
    CHECK(lorc_decode(c3, s3, toks_a, NA, true, got, &err) == LORC_OK);
    CHECK_MSG(same(got, ref, (size_t)NA * V), "%s: n_batch 3 differs", label);
    /* NULL logits: prefill only. */
    lorc_sequence_reset(s3);
    CHECK(lorc_decode(c3, s3, toks_a, NA - 1, false, NULL, &err) == LORC_OK);
    CHECK(lorc_decode(c3, s3, toks_a + NA - 1, 1, false, last, &err) == LORC_OK);
    CHECK_MSG(same(last, ref + (size_t)(NA - 1) * V, V), "%s: prefill without logits then one step differs", label);
    lorc_sequence_free(s3);
    lorc_context_free(c3);

    /* Two sequences in one batch: A's first 4 tokens and B's first 3 mixed,
     * then A's 5th with B's 4th..6th. */
    {
        float *ref_b = calloc((size_t)NB * V, sizeof(float));
        one_by_one(c1, toks_b, NB, ref_b, V);
        lorc_context *ctx = new_ctx(m, 2, 0, 16);
        lorc_sequence *sa = new_seq(ctx), *sb = new_seq(ctx);
        lorc_sequence *seqs[8] = {sa, sb, sa, sb, sa, sa, sb, NULL};
        int32_t tk[8] = {toks_a[0], toks_b[0], toks_a[1], toks_b[1], toks_a[2], toks_a[3], toks_b[2]};
        int32_t pos[8] = {0, 0, 1, 1, 2, 3, 2};
        lorc_batch b = {7, tk, pos, seqs, NULL};
        float *lg = calloc((size_t)8 * V, sizeof(float));
        CHECK(lorc_forward(ctx, &b, lg, &err) == LORC_OK);
        const float *want[7] = {ref, ref_b, ref + V, ref_b + V, ref + 2 * V, ref + 3 * V, ref_b + 2 * V};
        for (int i = 0; i < 7; i++) CHECK_MSG(same(lg + (size_t)i * V, want[i], V), "%s: mixed batch row %d", label, i);
        CHECK(lorc_sequence_n_past(sa) == 4 && lorc_sequence_n_past(sb) == 3);
        lorc_sequence *seqs2[4] = {sb, sa, sb, sb};
        int32_t tk2[4] = {toks_b[3], toks_a[4], toks_b[4], toks_b[5]};
        int32_t pos2[4] = {3, 4, 4, 5};
        bool want2[4] = {false, true, false, true};
        lorc_batch b2 = {4, tk2, pos2, seqs2, want2};
        CHECK(lorc_forward(ctx, &b2, lg, &err) == LORC_OK);
        CHECK_MSG(same(lg, ref + 4 * V, V), "%s: mixed batch 2, row of A", label);
        CHECK_MSG(same(lg + V, ref_b + 5 * V, V), "%s: mixed batch 2, last row of B", label);
        /* A position gap is refused and changes nothing. */
        int32_t badpos[1] = {7};
        lorc_sequence *sq1[1] = {sa};
        lorc_batch bad = {1, tk2, badpos, sq1, NULL};
        CHECK(lorc_forward(ctx, &bad, lg, &err) == LORC_ERR_INVALID);
        CHECK(lorc_sequence_n_past(sa) == 5);
        lorc_sequence_free(sa);
        lorc_sequence_free(sb);
        lorc_context_free(ctx);
        free(lg);
        free(ref_b);
    }

    /* Context overflow: n_ctx 8. */
    {
        lorc_context *ctx = new_ctx(m, 1, 8, 0);
        CHECK(lorc_context_n_ctx(ctx) == 8);
        lorc_sequence *s = new_seq(ctx);
        CHECK(lorc_decode(ctx, s, toks_a, 6, false, last, &err) == LORC_OK);
        memset(&err, 0, sizeof err);
        CHECK(lorc_decode(ctx, s, toks_a + 6, 3, false, last, &err) == LORC_ERR_CONTEXT_FULL);
        CHECK_MSG(strstr(err.message, "6 positions used") && strstr(err.message, "3 more requested") &&
                      strstr(err.message, "capacity 8"),
                  "message: %s", err.message);
        CHECK(lorc_sequence_n_past(s) == 6);
        CHECK(lorc_decode(ctx, s, toks_a + 6, 2, false, last, &err) == LORC_OK);
        CHECK_MSG(same(last, ref + 7 * V, V), "%s: decoding after a refused overflow differs", label);
        CHECK(lorc_decode(ctx, s, toks_a, 1, false, last, &err) == LORC_ERR_CONTEXT_FULL);
        int32_t bad_tok = V;
        CHECK(lorc_decode(ctx, s, &bad_tok, 1, false, last, &err) == LORC_ERR_INVALID);
        lorc_sequence_free(s);
        lorc_context_free(ctx);
    }

    lorc_context_free(c1);
    lorc_model_free(m);
    free(ref);
    free(got);
    free(last);
}

int main(void) {
    synth_params p = synth_default_params();
    p.n_head_kv = 2;
    test_model("llama gqa", &p);
    p = synth_default_params();
    p.arch = "qwen2";
    p.qkv_bias = true;
    p.tied_output = true;
    p.n_layer = 3;
    test_model("qwen2 tied", &p);
    p = synth_default_params();
    p.weight_type = LORC_TYPE_Q8_0;
    p.rope_freqs = true;
    p.n_embd = 64;
    p.n_ff = 96;
    test_model("llama q8_0", &p);
    return test_finish("test_forward");
}
