/* test_kernels_kl.c — the fast kernels keep the scalar path's accuracy.
 *
 * For every weight type: one synthetic model written in F32 and in that
 * type from the same random weights; the same tokens run through the F32
 * model (scalar kernels: the reference), the typed model on the scalar
 * kernels (F32 activations), and the typed model on the best kernel family
 * this CPU has (which may pack activations into 8- or 16-bit blocks). The
 * mean KL divergence of the fast path's next-token distributions against
 * the reference must stay within 1.1x of the scalar path's (issue #7). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "tensor/types.h"
#include "testutil.h"

#define N_TOK 48

/* All-position logits of a fixed token sequence; NULL on failure. */
static float *run_logits(const char *path, const char *kernels, int *n_vocab) {
    lorc_error err = {0};
    lorc_model *m = NULL;
    if (lorc_model_load(path, &m, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return NULL;
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.kernels = kernels;
    lorc_context *ctx = NULL;
    lorc_sequence *s = NULL;
    float *out = NULL;
    const int V = lorc_model_n_vocab(m);
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++) toks[i] = (int32_t)((i * 37 + 11) % V);
    if (lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &s, &err) == LORC_OK &&
        (out = malloc((size_t)N_TOK * (size_t)V * sizeof(float))) != NULL &&
        lorc_decode(ctx, s, toks, N_TOK, true, out, &err) != LORC_OK) {
        free(out);
        out = NULL;
    }
    CHECK_MSG(out != NULL, "%s (kernels %s): %s", path, kernels, err.message);
    lorc_sequence_free(s);
    lorc_context_free(ctx);
    lorc_model_free(m);
    *n_vocab = V;
    return out;
}

/* Mean over positions of KL(softmax(ref) || softmax(x)), in double. */
static double mean_kl(const float *ref, const float *x, int n_pos, int V) {
    double total = 0;
    for (int t = 0; t < n_pos; t++) {
        const float *a = ref + (size_t)t * V, *b = x + (size_t)t * V;
        double ma = a[0], mb = b[0];
        for (int i = 1; i < V; i++) {
            if (a[i] > ma) ma = a[i];
            if (b[i] > mb) mb = b[i];
        }
        double za = 0, zb = 0;
        for (int i = 0; i < V; i++) {
            za += exp(a[i] - ma);
            zb += exp(b[i] - mb);
        }
        double kl = 0;
        for (int i = 0; i < V; i++) {
            double la = a[i] - ma - log(za), lb = b[i] - mb - log(zb);
            kl += exp(la) * (la - lb);
        }
        total += kl;
    }
    return total / n_pos;
}

int main(void) {
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_isa best = lorc_isa_best(&cpu);
    printf("kernel family under test: %s\n", lorc_isa_name(best));

    synth_params p = synth_default_params();
    p.n_vocab = 512;
    p.n_embd = 256; /* k-quant rows are multiples of 256 */
    p.n_ff = 512;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ctx = 64;
    p.seed = 42;
    p.weight_scale = 2.0f; /* peaked distributions: KL is then dominated by real error, not flat logits */
    const char *ref_path = test_tmp("kl_f32.gguf");
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(ref_path, &p, &err) == LORC_OK, "%s", err.message);
    int V = 0;
    float *ref = run_logits(ref_path, "scalar", &V);
    if (!ref) return test_finish("test_kernels_kl");

    const uint32_t types[] = {LORC_TYPE_F16,  LORC_TYPE_BF16, LORC_TYPE_Q8_0, LORC_TYPE_Q4_0, LORC_TYPE_Q4_1,
                              LORC_TYPE_Q5_0, LORC_TYPE_Q5_1, LORC_TYPE_Q2_K, LORC_TYPE_Q3_K, LORC_TYPE_Q4_K,
                              LORC_TYPE_Q5_K, LORC_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        synth_params q = p;
        q.weight_type = types[ti];
        q.embd_type = types[ti];
        const char *path = test_tmp("kl_typed.gguf");
        CHECK_MSG(synth_write_model(path, &q, &err) == LORC_OK, "%s", err.message);
        int V2 = 0;
        float *slow = run_logits(path, "scalar", &V2);
        float *fast = run_logits(path, lorc_isa_name(best), &V2);
        if (slow && fast) {
            double kl_slow = mean_kl(ref, slow, N_TOK, V), kl_fast = mean_kl(ref, fast, N_TOK, V);
            printf("%-5s KL scalar %.3e  KL %s %.3e  ratio %.4f\n", lorc_type_name(types[ti]), kl_slow,
                   lorc_isa_name(best), kl_fast, kl_slow > 0 ? kl_fast / kl_slow : 1.0);
            /* The float types' KL is ~1e-9 or less: there a tiny absolute
             * allowance stands for "no measurable loss". */
            CHECK_MSG(kl_fast <= 1.1 * kl_slow + 1e-7, "%s: KL of the %s kernels %.4e > 1.1 x scalar %.4e",
                      lorc_type_name(types[ti]), lorc_isa_name(best), kl_fast, kl_slow);
            CHECK_MSG(kl_slow > 0 || types[ti] == LORC_TYPE_F32, "%s: scalar KL is zero: the comparison is empty",
                      lorc_type_name(types[ti]));
        }
        free(slow);
        free(fast);
    }
    free(ref);
    return test_finish("test_kernels_kl");
}
