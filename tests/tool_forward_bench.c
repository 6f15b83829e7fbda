/* tool_forward_bench.c — prompt and decode speed of the forward pass, for
 * humans (no test asserts on time):
 *
 *   tool_forward_bench MODEL.gguf [THREADS [N_PROMPT [N_GEN]]]
 *
 * Feeds N_PROMPT tokens as one batch, then N_GEN single-token steps
 * (greedy), and prints tokens/s for both. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lorc.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [THREADS [N_PROMPT [N_GEN]]]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    int n_prompt = argc > 3 ? atoi(argv[3]) : 128;
    int n_gen = argc > 4 ? atoi(argv[4]) : 256;
    lorc_error err = {0};
    lorc_model *m = NULL;
    lorc_context *ctx = NULL;
    lorc_sequence *s = NULL;
    if (lorc_model_load(argv[1], &m, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_ctx = n_prompt + n_gen;
    if (lorc_context_new(m, &cp, &ctx, &err) != LORC_OK || lorc_sequence_new(ctx, &s, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const int V = lorc_model_n_vocab(m);
    int32_t *toks = malloc((size_t)n_prompt * sizeof *toks);
    float *logits = malloc((size_t)V * sizeof(float));
    for (int i = 0; i < n_prompt; i++) toks[i] = i == 0 ? 1 : (int32_t)((i * 7919) % V);
    double t0 = now();
    int rc = lorc_decode(ctx, s, toks, n_prompt, false, logits, &err) != LORC_OK;
    double t1 = now();
    for (int g = 0; g < n_gen && !rc; g++) {
        int32_t best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        rc = lorc_decode(ctx, s, &best, 1, false, logits, &err) != LORC_OK;
    }
    double t2 = now();
    if (rc) {
        fprintf(stderr, "%s\n", err.message);
    } else {
        printf("threads %d: prompt %d tokens %.1f tok/s, decode %d tokens %.1f tok/s\n", threads, n_prompt,
               n_prompt / (t1 - t0), n_gen, n_gen / (t2 - t1));
    }
    free(toks);
    free(logits);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    lorc_model_free(m);
    return rc;
}
