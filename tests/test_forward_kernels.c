/* test_forward_kernels.c — the context's kernel choice and the forward
 * pass's batch invariance through the blocked products and attention:
 *   - params.kernels / LORC_KERNELS pick the family; an unknown name and a
 *     family this CPU lacks fail with one-line messages;
 *   - a 45-token prompt (several attention row blocks, GQA) in one batch, in
 *     n_batch chunks, and token by token give bit-identical logits, on 1 and
 *     2 threads, for every kernel family this CPU runs, and for the AVX-512
 *     family with emulated instructions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "tensor/types.h"
#include "kernel_check.h"
#include "testutil.h"

enum { N_TOK = 45 };

static lorc_context *new_ctx(lorc_model *m, const char *kernels, int threads, int n_batch, lorc_error *err) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_batch = n_batch;
    cp.kernels = kernels;
    lorc_context *ctx = NULL;
    if (lorc_context_new(m, &cp, &ctx, err) != LORC_OK) return NULL;
    return ctx;
}

static void test_choice(lorc_model *m) {
    lorc_error err = {0};
    lorc_context *ctx = new_ctx(m, "scalar", 1, 0, &err);
    CHECK_MSG(ctx != NULL, "%s", err.message);
    if (ctx) CHECK(strcmp(lorc_context_kernels(ctx), "scalar") == 0);
    lorc_context_free(ctx);

    memset(&err, 0, sizeof err);
    lorc_context_params cp = lorc_context_default_params();
    cp.kernels = "sse9";
    ctx = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_ERR_INVALID && ctx == NULL);
    CHECK_MSG(strstr(err.message, "kernels 'sse9'") && !strchr(err.message, '\n'), "message: %s", err.message);

    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    if (!lorc_isa_supported(&cpu, LORC_ISA_AVX512)) {
        memset(&err, 0, sizeof err);
        cp.kernels = "avx512";
        CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_ERR_UNSUPPORTED && ctx == NULL);
        CHECK_MSG(strstr(err.message, "kernels 'avx512': this CPU lacks AVX-512"), "message: %s", err.message);
    }

    /* NULL falls back to the environment. */
    const char *saved = getenv("LORC_KERNELS");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("LORC_KERNELS", "bogus", 1);
    memset(&err, 0, sizeof err);
    cp.kernels = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "LORC_KERNELS 'bogus'"), "message: %s", err.message);
    setenv("LORC_KERNELS", "scalar", 1);
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
    if (ctx) CHECK(strcmp(lorc_context_kernels(ctx), "scalar") == 0);
    lorc_context_free(ctx);
    if (copy) {
        setenv("LORC_KERNELS", copy, 1);
        free(copy);
    } else {
        unsetenv("LORC_KERNELS");
    }

    /* "auto" is the best family this build and CPU run. */
    memset(&err, 0, sizeof err);
    ctx = new_ctx(m, "auto", 1, 0, &err);
    CHECK_MSG(ctx != NULL, "%s", err.message);
    lorc_kernels best;
    lorc_kernels_init(&best, &cpu, lorc_isa_best(&cpu));
    if (ctx) CHECK(strcmp(lorc_context_kernels(ctx), lorc_isa_name(best.isa)) == 0);
    lorc_context_free(ctx);
}

/* All-position logits of the prompt fed in chunks of n_batch tokens, with
 * the kernel table `swap` instead of the chosen one when not NULL. */
static bool run(lorc_model *m, const char *kernels, const lorc_kernels *swap, int threads, int n_batch,
                const int32_t *toks, float *out) {
    lorc_error err = {0};
    lorc_context *ctx = new_ctx(m, kernels, threads, n_batch, &err);
    if (ctx && swap) ctx->kern = *swap;
    lorc_sequence *s = NULL;
    bool ok = ctx && lorc_sequence_new(ctx, &s, &err) == LORC_OK &&
              lorc_decode(ctx, s, toks, N_TOK, true, out, &err) == LORC_OK;
    if (!ok) fprintf(stderr, "%s\n", err.message);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    return ok;
}

static void test_invariance(lorc_model *m, const char *label, const char *kernels, const lorc_kernels *swap) {
    const int V = lorc_model_n_vocab(m);
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++) toks[i] = (int32_t)((i * 37 + 1) % V);
    const size_t n = (size_t)N_TOK * (size_t)V;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    CHECK(run(m, kernels, swap, 1, 1, toks, ref));
    const int batches[] = {N_TOK, 7, 16};
    for (int t = 1; t <= 2; t++)
        for (size_t k = 0; k < sizeof batches / sizeof *batches; k++) {
            CHECK(run(m, kernels, swap, t, batches[k], toks, got));
            CHECK_MSG(memcmp(got, ref, n * sizeof(float)) == 0,
                      "%s/%s: n_batch %d on %d threads differs from token by token", label, kernels, batches[k], t);
        }
    free(ref);
    free(got);
}

int main(void) {
    synth_params p = synth_default_params();
    p.n_embd = 64;
    p.n_head = 8;
    p.n_head_kv = 2;
    p.n_ff = 96;
    p.weight_type = LORC_TYPE_Q4_0;
    const char *path = test_tmp("forward_kernels.gguf");
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(path, &p, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    if (lorc_model_load(path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return test_finish("test_forward_kernels");
    }
    test_choice(m);
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++)
        if (lorc_isa_supported(&cpu, (lorc_isa)isa))
            test_invariance(m, "q4_0 gqa", lorc_isa_name((lorc_isa)isa), NULL);
    /* The AVX-512 family with emulated instructions, swapped into an AVX2
     * context: its 16-row Q4_0 prompt tiles next to the AVX2 decode tile,
     * its ZMM F16 tiles in attention (the F16 KV cache). */
    lorc_kernels emulated;
    if (kc_avx512_emulated(&emulated, &cpu)) test_invariance(m, "q4_0 gqa, emulated avx512", "avx2", &emulated);
    lorc_model_free(m);
    return test_finish("test_forward_kernels");
}
