/* test_attention_blocks.c — attention's blocked P·V keeps batch invariance
 * through the forward pass: for each KV cache type (F16, F32, Q8_0) and
 * kernel family this CPU runs, a prompt fed token by token (every query
 * alone, as in decode) and in chunks of 2..N tokens (blocks of queries, on
 * 1 or 2 threads, with pages ending inside blocks) gives bit-identical
 * logits, with GQA and head sizes that reach the P·V kernel's 16-, 8- and
 * tail-column paths (test_attention_kernels checks the kernel itself). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "testutil.h"

/* Logits of every token of the prompt fed in chunks of `chunk` tokens. */
static bool logits_of(lorc_model *m, const char *kernels, lorc_kv_type type, int threads, const int32_t *toks,
                      int n_tok, int chunk, float *out) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = threads;
    cp.n_batch = chunk;
    cp.type_k = type;
    cp.type_v = type;
    cp.kv_page_tokens = 8; /* several pages, page ends inside prompt blocks */
    cp.kernels = kernels;
    lorc_error err = {0};
    lorc_context *ctx = NULL;
    lorc_sequence *s = NULL;
    bool ok = lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &s, &err) == LORC_OK;
    const size_t nv = (size_t)lorc_model_n_vocab(m);
    for (int done = 0; ok && done < n_tok; done += chunk) {
        const int c = n_tok - done < chunk ? n_tok - done : chunk;
        ok = lorc_decode(ctx, s, toks + done, c, true, out + (size_t)done * nv, &err) == LORC_OK;
    }
    if (!ok) fprintf(stderr, "%s\n", err.message);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    return ok;
}

enum { N_TOK = 29 };

static void test_forward(const char *label, const synth_params *sp, const lorc_kv_type *types, int n_types) {
    const char *path = test_tmp(label);
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(path, sp, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    if (lorc_model_load(path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return;
    }
    const int V = lorc_model_n_vocab(m);
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++) toks[i] = (int32_t)((i * 29 + 5) % V);
    const size_t n = (size_t)N_TOK * (size_t)V;
    float *alone = malloc(n * sizeof(float)), *blocked = malloc(n * sizeof(float));
    static const char *const type_names[] = {"f16", "f32", "q8_0"};
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    for (int isa = 0; isa < LORC_ISA_COUNT; isa++) {
        if (!lorc_isa_supported(&cpu, (lorc_isa)isa) || !lorc_isa_built((lorc_isa)isa)) continue;
        const char *kern = lorc_isa_name((lorc_isa)isa);
        for (int ti = 0; ti < n_types; ti++) {
            if (!logits_of(m, kern, types[ti], 1, toks, N_TOK, 1, alone)) {
                CHECK_MSG(false, "%s %s %s: token by token failed", label, kern, type_names[types[ti]]);
                continue;
            }
            int differ = 0, failed = 0;
            for (int chunk = 2; chunk <= N_TOK; chunk++) {
                const int threads = chunk % 2 ? 2 : 1;
                if (!logits_of(m, kern, types[ti], threads, toks, N_TOK, chunk, blocked))
                    failed++;
                else if (memcmp(alone, blocked, n * sizeof(float)) != 0) {
                    if (differ++ == 0)
                        fprintf(stderr, "%s %s %s: chunks of %d differ from token by token\n", label, kern,
                                type_names[types[ti]], chunk);
                }
            }
            CHECK_MSG(failed == 0 && differ == 0, "%s %s %s: %d chunk sizes failed, %d differ", label, kern,
                      type_names[types[ti]], failed, differ);
            /* The logits are real numbers, not a constant that would match
             * whatever attention did. */
            bool varied = false;
            for (size_t i = 1; i < n && !varied; i++) varied = alone[i] != alone[0] && isfinite(alone[i]);
            CHECK(varied);
        }
    }
    free(alone);
    free(blocked);
    lorc_model_free(m);
}


int main(void) {
    /* head_dim 32: Q8_0's blocks fit; GQA group 2. */
    synth_params sp = synth_default_params();
    sp.n_embd = 64;
    sp.n_head = 4;
    sp.n_head_kv = 2;
    sp.head_dim = 32;
    sp.n_ff = 96;
    const lorc_kv_type all[] = {LORC_KV_F16, LORC_KV_F32, LORC_KV_Q8_0};
    test_forward("attention_blocks_hd32.gguf", &sp, all, 3);
    /* head_dim 44 (16 + 16 + 8 + a 4-column tail), one KV head for 4 query
     * heads; Q8_0 does not fit it. */
    sp.n_head_kv = 1;
    sp.head_dim = 44;
    const lorc_kv_type float_types[] = {LORC_KV_F16, LORC_KV_F32};
    test_forward("attention_blocks_hd44.gguf", &sp, float_types, 2);
    return test_finish("test_attention_blocks");
}
