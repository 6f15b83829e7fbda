/* tool_forward_dump.c — writes a synthetic F32 model (a named preset) and
 * dumps lorc's logits for a fixed token sequence, for test_forward_numpy.py
 * to compare against its own numpy implementation of the architecture.
 *
 *   tool_forward_dump PRESET MODEL.gguf LOGITS.f32 THREADS
 *
 * The prompt goes through lorc_decode as one batch (logits for every
 * position), then two single-token decode steps follow. LOGITS.f32 holds
 * n_tokens × n_vocab little-endian floats; stdout says "tokens t0 t1 ...". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "synth.h"

static const int32_t prompt[] = {1, 17, 5, 42, 9, 33, 2, 60, 11};
static const int32_t steps[] = {71, 4};
#define N_PROMPT ((int)(sizeof prompt / sizeof prompt[0]))
#define N_STEPS ((int)(sizeof steps / sizeof steps[0]))

static bool preset(const char *name, synth_params *p) {
    *p = synth_default_params();
    p->n_vocab = 96;
    p->n_embd = 64;
    p->n_layer = 2;
    p->n_ff = 96;
    p->n_ctx = 32;
    p->seed = 11;
    if (strcmp(name, "llama-gqa") == 0) {
        /* GQA (4 query heads per KV head) with the output tied to token_embd. */
        p->n_head = 8;
        p->n_head_kv = 2;
        p->tied_output = true;
    } else if (strcmp(name, "llama-ropefreqs") == 0) {
        /* Llama 3.1 style rope factors, untied output, a base of 500000. */
        p->n_head = 4;
        p->n_head_kv = 2;
        p->rope_freqs = true;
        p->rope_freq_base = 500000.0f;
        p->seed = 12;
    } else if (strcmp(name, "qwen2-bias") == 0) {
        /* NeoX rope, QKV biases, head size set by key_length (not n_embd/n_head). */
        p->arch = "qwen2";
        p->n_head = 4;
        p->n_head_kv = 2;
        p->head_dim = 8;
        p->qkv_bias = true;
        p->rope_freq_base = 1000000.0f;
        p->norm_eps = 1e-6f;
        p->seed = 13;
    } else {
        return false;
    }
    return true;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PRESET MODEL.gguf LOGITS.f32 THREADS\n", argv[0]);
        return 2;
    }
    synth_params p;
    if (!preset(argv[1], &p)) {
        fprintf(stderr, "unknown preset '%s'\n", argv[1]);
        return 2;
    }
    lorc_error err = {0};
    if (synth_write_model(argv[2], &p, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    lorc_model *model = NULL;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    if (lorc_model_load(argv[2], &model, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = atoi(argv[4]);
    /* A numeric reference of the math: the KV cache keeps F32 (the F16
     * default rounds K and V, which numpy does not). */
    cp.type_k = cp.type_v = LORC_KV_F32;
    if (lorc_context_new(model, &cp, &ctx, &err) != LORC_OK || lorc_sequence_new(ctx, &seq, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const int n_vocab = lorc_model_n_vocab(model), n_tok = N_PROMPT + N_STEPS;
    float *logits = calloc((size_t)n_tok * (size_t)n_vocab, sizeof(float));
    int rc = 0;
    if (lorc_decode(ctx, seq, prompt, N_PROMPT, true, logits, &err) != LORC_OK) rc = 1;
    for (int s = 0; s < N_STEPS && rc == 0; s++)
        if (lorc_decode(ctx, seq, &steps[s], 1, false, logits + (size_t)(N_PROMPT + s) * n_vocab, &err) != LORC_OK)
            rc = 1;
    if (rc) fprintf(stderr, "%s\n", err.message);
    if (rc == 0) {
        FILE *fp = fopen(argv[3], "wb");
        if (!fp || fwrite(logits, sizeof(float), (size_t)n_tok * n_vocab, fp) != (size_t)n_tok * n_vocab) rc = 1;
        if (fp && fclose(fp) != 0) rc = 1;
        if (rc) fprintf(stderr, "cannot write %s\n", argv[3]);
    }
    if (rc == 0) {
        printf("tokens");
        for (int i = 0; i < N_PROMPT; i++) printf(" %d", prompt[i]);
        for (int i = 0; i < N_STEPS; i++) printf(" %d", steps[i]);
        printf("\nn_vocab %d\n", n_vocab);
    }
    free(logits);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    lorc_model_free(model);
    return rc;
}
