/* test_lora_runtime.c — runtime LoRA equals merged weights: on F32, Q8_0 and
 * Q4_K synthetic bases, two stacked GGUF adapters (every kind of weight,
 * token_embd and output included; F32 and F16 adapter tensors; with and
 * without adapter.lora.alpha) give the logits of a model whose weights are
 * W + s·B·A computed in F32, within 1e-4 relative. Attaching, rescaling and
 * detaching on one loaded model; detaching restores the base bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

static const int32_t tokens[] = {1, 5, 9, 17, 33, 2, 60, 7, 12, 40};
enum { N_TOK = sizeof tokens / sizeof tokens[0] };

static const char *const targets_x[] = {"blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.0.attn_v.weight",
                                        "token_embd.weight"};
static const char *const targets_y[] = {"blk.1.attn_output.weight", "blk.0.ffn_gate.weight", "blk.1.ffn_up.weight",
                                        "blk.0.ffn_down.weight", "output.weight", "blk.1.attn_q.weight"};
enum { NX = 4, NY = 6 };

/* Rounds values through F16, so an F16 adapter holds exactly what the reference merges. */
static void round_f16(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) v[i] = lorc_fp16_to_fp32(lorc_fp32_to_fp16(v[i]));
}

/* Writes the merged-F32 reference model for adapter scales sx, sy (effective). */
static bool write_merged(const char *base, const char *out, const synth_lora *x, const synth_lora *y, float sx,
                         float sy) {
    const char *names[NX + NY];
    float *vals[NX + NY];
    int n = 0;
    bool ok = true;
    /* Targets are distinct per adapter but blk.1.attn_q / others never collide across them. */
    for (int i = 0; i < NX + NY; i++) {
        const synth_lora *l = i < NX ? &x[i] : &y[i - NX];
        int64_t ne;
        float *w = synth_read_tensor_f32(base, l->target, &ne);
        if (!w) {
            ok = false;
            break;
        }
        synth_lora_merge(w, l, i < NX ? sx : sy);
        names[n] = l->target;
        vals[n++] = w;
    }
    lorc_error err = {0};
    if (ok) {
        ok = synth_write_replaced_model(base, out, names, vals, n, &err) == LORC_OK;
        CHECK_MSG(ok, "%s", err.message);
    }
    for (int i = 0; i < n; i++) free(vals[i]);
    return ok;
}

static void run_case(uint32_t wtype) {
    const char *tn = lorc_type_name(wtype);
    char base[256], merged[256], ax[256], ay[256];
    snprintf(base, sizeof base, "%s", test_tmp("lora_rt_base.gguf"));
    snprintf(merged, sizeof merged, "%s", test_tmp("lora_rt_merged.gguf"));
    snprintf(ax, sizeof ax, "%s", test_tmp("lora_rt_x.gguf"));
    snprintf(ay, sizeof ay, "%s", test_tmp("lora_rt_y.gguf"));

    synth_params p = synth_default_params();
    p.n_embd = 256; /* Q4_K rows need 256 values */
    p.n_ff = 256;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_vocab = 64;
    p.n_layer = 2;
    p.weight_type = wtype;
    p.embd_type = wtype;
    p.seed = 11;
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s: %s", tn, err.message);

    synth_lora x[NX], y[NY];
    for (int i = 0; i < NX; i++) CHECK(synth_lora_init(&x[i], &p, targets_x[i], 4, 100 + i, 0.15f, &err) == LORC_OK);
    for (int i = 0; i < NY; i++) {
        CHECK(synth_lora_init(&y[i], &p, targets_y[i], 2, 200 + i, 0.15f, &err) == LORC_OK);
        round_f16(y[i].a, y[i].n_in * 2); /* no token_embd in Y: A is n_in x r */
        round_f16(y[i].b, y[i].n_out * 2);
    }
    /* X: alpha 8, r 4 -> scale 2, F32 tensors. Y: no alpha -> scale 1, F16 tensors. */
    CHECK_MSG(synth_write_gguf_adapter(ax, "llama", 8.0f, x, NX, LORC_TYPE_F32, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(synth_write_gguf_adapter(ay, "llama", -1.0f, y, NY, LORC_TYPE_F16, &err) == LORC_OK, "%s", err.message);

    lorc_model *m = NULL;
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return;
    lorc_adapter *ads[2] = {NULL, NULL};
    CHECK_MSG(lorc_adapter_load(m, ax, &ads[0], &err) == LORC_OK, "%s: %s", tn, err.message);
    CHECK_MSG(lorc_adapter_load(m, ay, &ads[1], &err) == LORC_OK, "%s: %s", tn, err.message);
    if (ads[0] && ads[1]) {
        CHECK(ads[0]->rank == 4 && ads[1]->rank == 2);
        CHECK(ads[0]->slots[lorc_model_slot_of_name(m, "blk.0.attn_q.weight")].scale == 2.0f);
        CHECK(ads[1]->slots[lorc_model_slot_of_name(m, "output.weight")].scale == 1.0f);
        int n_lora = 0;
        for (int s = 0; s < ads[1]->n_slots; s++) n_lora += ads[1]->slots[s].has_lora;
        CHECK(n_lora == NY);

        int n_vocab = lorc_model_n_vocab(m);
        int64_t nl = (int64_t)N_TOK * n_vocab;
        float *l_base = synth_logits(m, NULL, NULL, 0, tokens, N_TOK, &err);
        CHECK_MSG(l_base, "%s", err.message);

        /* One sequence: attach at other scales, then rescale to the tested ones. */
        lorc_context_params cp = lorc_context_default_params();
        cp.n_threads = 2;
        lorc_context *ctx = NULL;
        lorc_sequence *seq = NULL;
        CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
        float *l = malloc((size_t)nl * sizeof *l);
        const float wrong[2] = {-3.0f, 0.25f}, scales[2] = {0.7f, 1.3f};
        CHECK(lorc_sequence_set_adapters(seq, ads, wrong, 2, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);
        CHECK(synth_rel_diff(l, l_base, nl) > 1e-2); /* the adapters do change the output */
        lorc_sequence_reset(seq);
        CHECK(lorc_sequence_set_adapters(seq, ads, scales, 2, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);

        if (write_merged(base, merged, x, y, 0.7f * 2.0f, 1.3f * 1.0f)) {
            float *l_ref = synth_logits_file(merged, tokens, N_TOK, &err);
            CHECK_MSG(l_ref, "%s", err.message);
            if (l_ref) {
                double d = synth_rel_diff(l, l_ref, nl);
                CHECK_MSG(d <= 1e-4, "%s base: runtime LoRA vs merged F32: relative difference %g", tn, d);
                printf("%s base: runtime LoRA vs merged F32 weights: max relative difference %.3g\n", tn, d);
            }
            free(l_ref);
        }

        /* The same stack on a batch that starts mid-sequence (KV cache path). */
        lorc_sequence_reset(seq);
        float *l2 = malloc((size_t)nl * sizeof *l2);
        CHECK(lorc_decode(ctx, seq, tokens, 4, true, l2, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens + 4, N_TOK - 4, true, l2 + 4 * n_vocab, &err) == LORC_OK);
        CHECK_MSG(synth_rel_diff(l2, l, nl) <= 1e-5, "%s: split decode differs", tn);
        free(l2);

        /* Scale 0 contributes nothing; detaching restores the base exactly. */
        const float zero[2] = {0.0f, 0.0f};
        lorc_sequence_reset(seq);
        CHECK(lorc_sequence_set_adapters(seq, ads, zero, 2, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);
        CHECK_MSG(synth_rel_diff(l, l_base, nl) <= 1e-6, "%s: scale 0 differs from the base", tn);
        lorc_sequence_reset(seq);
        CHECK(lorc_sequence_set_adapters(seq, NULL, NULL, 0, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);
        CHECK_MSG(l_base && !memcmp(l, l_base, (size_t)nl * sizeof *l), "%s: detached logits differ from the base", tn);

        /* One adapter alone, re-attached after the detach. */
        lorc_sequence_reset(seq);
        CHECK(lorc_sequence_set_adapters(seq, &ads[1], &scales[1], 1, &err) == LORC_OK);
        CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);
        if (write_merged(base, merged, x, y, 0.0f, 1.3f)) {
            float *l_ref = synth_logits_file(merged, tokens, N_TOK, &err);
            if (l_ref) {
                double d = synth_rel_diff(l, l_ref, nl);
                CHECK_MSG(d <= 1e-4, "%s: adapter Y alone vs merged: %g", tn, d);
            }
            free(l_ref);
        }
        free(l);
        free(l_base);
        lorc_sequence_free(seq);
        lorc_context_free(ctx);
    }
    lorc_adapter_free(ads[0]);
    lorc_adapter_free(ads[1]);
    lorc_model_free(m);
    for (int i = 0; i < NX; i++) synth_lora_free(&x[i]);
    for (int i = 0; i < NY; i++) synth_lora_free(&y[i]);
}

/* A quantized (Q8_0) adapter is read and applied like any other type. */
static void quantized_adapter(void) {
    synth_params p = synth_default_params();
    p.n_embd = 64;
    p.n_ff = 64;
    p.seed = 5;
    lorc_error err = {0};
    const char *base = test_tmp("lora_q8a_base.gguf"), *ad = test_tmp("lora_q8a.gguf");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, "blk.1.ffn_up.weight", 32, 7, 0.1f, &err) == LORC_OK);
    CHECK_MSG(synth_write_gguf_adapter(ad, "llama", 32.0f, &l, 1, LORC_TYPE_Q8_0, &err) == LORC_OK, "%s", err.message);
    /* The reference uses the values Q8_0 holds. */
    const lorc_type_info *q8 = lorc_type_get(LORC_TYPE_Q8_0);
    size_t na = (size_t)(l.n_in * 32), nb = (size_t)(l.n_out * 32);
    void *qa = malloc(na * 2), *qb = malloc(nb * 2);
    q8->from_float(l.a, qa, (int64_t)na);
    q8->to_float(qa, l.a, (int64_t)na);
    q8->from_float(l.b, qb, (int64_t)nb);
    q8->to_float(qb, l.b, (int64_t)nb);
    free(qa);
    free(qb);
    lorc_model *m = NULL;
    lorc_adapter *a = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    if (m && lorc_adapter_load(m, ad, &a, &err) == LORC_OK) {
        float s = 1.0f;
        float *got = synth_logits(m, &a, &s, 1, tokens, N_TOK, &err);
        int64_t ne;
        float *w = synth_read_tensor_f32(base, l.target, &ne);
        synth_lora_merge(w, &l, 1.0f);
        const char *names[1] = {l.target};
        const char *merged = test_tmp("lora_q8a_merged.gguf");
        CHECK(synth_write_replaced_model(base, merged, names, &w, 1, &err) == LORC_OK);
        float *ref = synth_logits_file(merged, tokens, N_TOK, &err);
        CHECK(got && ref);
        if (got && ref) {
            double d = synth_rel_diff(got, ref, (int64_t)N_TOK * p.n_vocab);
            CHECK_MSG(d <= 1e-4, "Q8_0 adapter vs merged: %g", d);
        }
        free(got);
        free(ref);
        free(w);
    } else {
        CHECK_MSG(false, "Q8_0 adapter: %s", err.message);
    }
    lorc_adapter_free(a);
    lorc_model_free(m);
    synth_lora_free(&l);
}

int main(void) {
    /* The algebra is checked with F32 activations (the scalar kernels) in
     * every context this test and its helpers make: the fast kernels pack
     * activations into 8-bit blocks for k-quant weights, an error of its own
     * that test_kernels_kl and test_matmul_blocked bound. Runtime LoRA on the
     * fast kernels is covered by test_matmul_blocked and test_lora_real_api. */
    setenv("LORC_KERNELS", "scalar", 1);
    run_case(LORC_TYPE_F32);
    run_case(LORC_TYPE_Q8_0);
    run_case(LORC_TYPE_Q4_K);
    quantized_adapter();
    return test_finish("test_lora_runtime");
}
