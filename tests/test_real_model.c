/* test_real_model.c — the engine on the real stories260K model: hparams as
 * its README states, a prompt processed as one batch gives the same
 * last-token logits as token-by-token decoding, greedy decoding reproduces
 * the llama2.c reference text, and context overflow fails cleanly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static lorc_context *new_ctx(lorc_model *m, int threads, int n_ctx) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_ctx = n_ctx;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    if (lorc_context_new(m, &cp, &ctx, &err) != LORC_OK) fprintf(stderr, "%s\n", err.message);
    return ctx;
}

int main(void) {
    lorc_error err = {0};
    lorc_model *m = NULL;
    if (lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return test_finish("test_real_model");
    }
    CHECK(strcmp(lorc_model_arch(m), "llama") == 0);
    CHECK(lorc_model_n_vocab(m) == 512);
    CHECK(lorc_model_n_embd(m) == 64);
    CHECK(lorc_model_n_layer(m) == 5);
    CHECK(lorc_model_n_ctx_train(m) == 512);
    const int V = lorc_model_n_vocab(m);
    const lorc_vocab *vocab = lorc_model_vocab(m);

    size_t ref_len = 0;
    char *ref = test_read_file(test_shared("models/stories260K.once-upon-a-time.greedy200.txt"), &ref_len);
    CHECK(ref != NULL);

    /* Greedy as llama2.c's `run -n 200 -t 0 -i "Once upon a time"`: 200
     * forward steps (positions 0..199), each yielding the next token, so
     * BOS + 200 tokens in all. */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    CHECK(lorc_tokenize(vocab, "Once upon a time", 16, LORC_TOKENIZE_ADD_BOS, &ids, &n_ids, &err) == LORC_OK);
    lorc_context *c1 = new_ctx(m, 1, 0);
    CHECK(c1 && lorc_context_n_ctx(c1) == 512);
    if (ids && c1) {
        int32_t seq[201];
        int n = (int)n_ids;
        memcpy(seq, ids, n_ids * sizeof *ids);
        lorc_sequence *s = NULL;
        CHECK(lorc_sequence_new(c1, &s, &err) == LORC_OK);
        float *logits = malloc((size_t)V * sizeof(float));
        CHECK(lorc_decode(c1, s, seq, n, false, logits, &err) == LORC_OK);
        while (n < 201) {
            seq[n] = argmax(logits, V);
            n++;
            if (n == 201) break;
            if (lorc_decode(c1, s, &seq[n - 1], 1, false, logits, &err) != LORC_OK) {
                CHECK_MSG(false, "%s", err.message);
                break;
            }
        }
        char *text = NULL;
        CHECK(lorc_detokenize(vocab, seq, (size_t)n, &text, &err) == LORC_OK);
        if (text && ref) {
            /* The reference file may end with a newline that run.c printed. */
            size_t rl = ref_len;
            while (rl > 0 && ref[rl - 1] == '\n') rl--;
            size_t tl = strlen(text);
            while (tl > 0 && text[tl - 1] == '\n') tl--;
            CHECK_MSG(tl == rl && memcmp(text, ref, rl) == 0, "greedy text differs:\n--- got\n%s\n--- want\n%s", text,
                      ref);
        }
        free(text);
        free(logits);

        /* The first 200 tokens: one batch vs token by token. */
        const int np = 200;
        float *batched = malloc((size_t)V * sizeof(float)), *single = malloc((size_t)V * sizeof(float));
        lorc_context *c2 = new_ctx(m, 2, 0);
        lorc_sequence *s2 = NULL;
        CHECK(lorc_sequence_new(c2, &s2, &err) == LORC_OK);
        CHECK(lorc_decode(c2, s2, seq, np, false, batched, &err) == LORC_OK);
        lorc_sequence_reset(s);
        for (int i = 0; i < np; i++) CHECK(lorc_decode(c1, s, &seq[i], 1, false, single, &err) == LORC_OK);
        double worst = 0, mx = 1;
        for (int i = 0; i < V; i++) {
            worst = fmax(worst, fabs((double)batched[i] - single[i]));
            mx = fmax(mx, fabs((double)single[i]));
        }
        CHECK_MSG(worst <= 1e-5 * mx, "batched vs token-by-token last logits differ by %g", worst);
        CHECK(argmax(batched, V) == seq[200]);
        lorc_sequence_free(s2);
        lorc_context_free(c2);
        free(batched);
        free(single);
        lorc_sequence_free(s);
    }

    /* Overflow: a 16-position context refuses 20 tokens, changes nothing,
     * and still takes 16. */
    {
        lorc_context *c = new_ctx(m, 1, 16);
        lorc_sequence *s = NULL;
        CHECK(lorc_sequence_new(c, &s, &err) == LORC_OK);
        int32_t toks[20];
        for (int i = 0; i < 20; i++) toks[i] = i == 0 ? 1 : 100 + i;
        float *logits = malloc((size_t)V * sizeof(float));
        memset(&err, 0, sizeof err);
        CHECK(lorc_decode(c, s, toks, 20, false, logits, &err) == LORC_ERR_CONTEXT_FULL);
        CHECK(err.status == LORC_ERR_CONTEXT_FULL && strstr(err.message, "capacity 16") != NULL);
        CHECK(lorc_sequence_n_past(s) == 0);
        CHECK(lorc_decode(c, s, toks, 16, false, logits, &err) == LORC_OK);
        CHECK(lorc_sequence_n_past(s) == 16);
        CHECK(lorc_decode(c, s, toks, 1, false, logits, &err) == LORC_ERR_CONTEXT_FULL);
        free(logits);
        lorc_sequence_free(s);
        lorc_context_free(c);
    }

    free(ids);
    free(ref);
    lorc_context_free(c1);
    lorc_model_free(m);
    return test_finish("test_real_model");
}
