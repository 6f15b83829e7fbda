/* test_decode_batch.c — lorc_decode_batch on stories260K: several
 * sequences (base and the real moon-qv adapter) in one step, prompts and
 * generated tokens mixed, each item's logits bit-identical to the same
 * sequence decoded alone; argument errors change no sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "lorc.h"

#define N_SEQ 3

static const char *prompts[N_SEQ] = {"Once upon a time", "The little dog ran to the park and", "Lily"};

/* Logits of every token of `toks`, decoded alone on a fresh sequence. */
static float *alone(lorc_context *ctx, lorc_adapter *ad, const int32_t *toks, int n, int nv) {
    lorc_error err = {0};
    lorc_sequence *s = NULL;
    CHECK(lorc_sequence_new(ctx, &s, &err) == LORC_OK);
    float one = 1.0f;
    if (ad) CHECK(lorc_sequence_set_adapters(s, &ad, &one, 1, &err) == LORC_OK);
    float *l = malloc((size_t)n * (size_t)nv * sizeof *l);
    CHECK_MSG(lorc_decode(ctx, s, toks, n, true, l, &err) == LORC_OK, "%s", err.message);
    lorc_sequence_free(s);
    return l;
}

int main(void) {
    lorc_error err = {0};
    lorc_model *m = NULL;
    lorc_adapter *moon = NULL;
    lorc_context *ctx = NULL;
    if (lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    CHECK_MSG(lorc_adapter_load(m, test_shared("adapters/moon-qv/moon-qv.gguf"), &moon, &err) == LORC_OK, "%s",
              err.message);
    lorc_context_params cp = lorc_context_default_params();
    cp.n_batch = 64;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
    const int nv = lorc_model_n_vocab(m);
    int32_t *toks[N_SEQ];
    size_t n[N_SEQ];
    float *ref[N_SEQ];
    lorc_adapter *ads[N_SEQ] = {NULL, moon, NULL};
    for (int k = 0; k < N_SEQ; k++) {
        CHECK(lorc_tokenize(lorc_model_vocab(m), prompts[k], strlen(prompts[k]), LORC_TOKENIZE_ADD_BOS, &toks[k], &n[k],
                            &err) == LORC_OK);
        ref[k] = alone(ctx, ads[k], toks[k], (int)n[k], nv);
    }
    lorc_sequence *seq[N_SEQ];
    float one = 1.0f;
    for (int k = 0; k < N_SEQ; k++) {
        CHECK(lorc_sequence_new(ctx, &seq[k], &err) == LORC_OK);
        if (ads[k]) CHECK(lorc_sequence_set_adapters(seq[k], &ads[k], &one, 1, &err) == LORC_OK);
    }
    /* Steps: each sequence feeds a chunk whose size differs per sequence
     * and per step (1, 2, 3, ... tokens), in rotating order. */
    size_t done[N_SEQ] = {0};
    float *got[N_SEQ];
    for (int k = 0; k < N_SEQ; k++) got[k] = calloc(n[k] * (size_t)nv, sizeof(float));
    for (int step = 0;; step++) {
        lorc_decode_item items[N_SEQ];
        int ni = 0;
        for (int j = 0; j < N_SEQ; j++) {
            int k = (j + step) % N_SEQ;
            if (done[k] == n[k]) continue;
            size_t c = (size_t)(1 + (step + k) % 3);
            if (c > n[k] - done[k]) c = n[k] - done[k];
            items[ni++] = (lorc_decode_item){seq[k], toks[k] + done[k], (int)c, true, got[k] + done[k] * (size_t)nv};
            done[k] += c;
        }
        if (ni == 0) break;
        CHECK_MSG(lorc_decode_batch(ctx, items, ni, &err) == LORC_OK, "%s", err.message);
    }
    for (int k = 0; k < N_SEQ; k++) {
        CHECK_MSG(!memcmp(got[k], ref[k], n[k] * (size_t)nv * sizeof(float)), "sequence %d differs from alone", k);
        CHECK(lorc_sequence_n_past(seq[k]) == (int)n[k]);
    }
    /* Last-token logits only, one generated token each. */
    lorc_decode_item items[N_SEQ];
    float *last = malloc((size_t)N_SEQ * (size_t)nv * sizeof(float));
    int32_t next[N_SEQ] = {5, 6, 7};
    for (int k = 0; k < N_SEQ; k++) items[k] = (lorc_decode_item){seq[k], &next[k], 1, false, last + (size_t)k * nv};
    CHECK(lorc_decode_batch(ctx, items, N_SEQ, &err) == LORC_OK);
    /* Errors: the same sequence twice, and a bad token; nobody advances. */
    items[1].seq = seq[0];
    CHECK(lorc_decode_batch(ctx, items, N_SEQ, &err) == LORC_ERR_INVALID);
    items[1].seq = seq[1];
    int32_t bad = nv + 5;
    items[2].tokens = &bad;
    CHECK(lorc_decode_batch(ctx, items, N_SEQ, &err) == LORC_ERR_INVALID && strstr(err.message, "vocabulary"));
    for (int k = 0; k < N_SEQ; k++) CHECK(lorc_sequence_n_past(seq[k]) == (int)n[k] + 1);
    free(last);
    for (int k = 0; k < N_SEQ; k++) {
        lorc_sequence_free(seq[k]);
        free(toks[k]);
        free(ref[k]);
        free(got[k]);
    }
    lorc_context_free(ctx);
    lorc_adapter_free(moon);
    lorc_model_free(m);
    return test_finish("test_decode_batch");
}
