/* test_sequence_overlay.c — lorc_sequence_set_overlay: a sequence computes
 * with an overlay's tensors (here the real moon-full-qvo fine-tune, written
 * as an overlay of its 15 changed tensors with the library's writer) while
 * another sequence of the same context stays on the base, bit for bit equal
 * to the complete fine-tuned model; adapters (LoRA, DoRA) apply on top of
 * the overlay's weights exactly as on the fine-tuned model; the shared
 * weight table is never touched; a tied output follows a replaced
 * token_embd; norm weights are replaced per row; and every refusal
 * (modules_to_save on an overlay tensor, an overlay of another model, a
 * bias) leaves the sequence as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "testutil.h"

enum { N_TOK = 24 };

/* Logits of every token through `seq` (n × nv, malloc'd); NULL on failure. */
static float *run(lorc_context *ctx, lorc_sequence *seq, const int32_t *tok, int n, size_t nv) {
    lorc_error err = {0};
    float *l = malloc((size_t)n * nv * sizeof *l);
    lorc_sequence_reset(seq);
    if (!l || lorc_decode(ctx, seq, tok, n, true, l, &err)) {
        fprintf(stderr, "run: %s\n", err.message);
        free(l);
        return NULL;
    }
    return l;
}

/* Logits through a fresh sequence of ctx with adapters and an overlay. */
static float *seq_logits(lorc_context *ctx, const int32_t *tok, int n, size_t nv, lorc_adapter *const *ads,
                         const float *sc, int n_ads, lorc_overlay *ov) {
    lorc_error err = {0};
    lorc_sequence *seq = NULL;
    float *l = NULL;
    lorc_status st = lorc_sequence_new(ctx, &seq, &err);
    if (!st && n_ads) st = lorc_sequence_set_adapters(seq, ads, sc, n_ads, &err);
    if (!st && ov) st = lorc_sequence_set_overlay(seq, ov, &err);
    if (!st) l = run(ctx, seq, tok, n, nv);
    else fprintf(stderr, "seq_logits: %s\n", err.message);
    lorc_sequence_free(seq);
    return l;
}

static bool same(const float *a, const float *b, size_t n, const char *what) {
    bool eq = a && b && !memcmp(a, b, n * sizeof *a);
    CHECK_MSG(eq, "%s: logits differ (rel %.3g)", what, a && b ? fx_rel_diff(a, b, n) : -1.0);
    return eq;
}

/* A refusal: the status, one line naming `word`, and the sequence computing
 * exactly as before (`before`). */
static void refused(lorc_status st, lorc_status want, const lorc_error *err, const char *word, lorc_context *ctx,
                    lorc_sequence *seq, const int32_t *tok, int n, size_t nv, const float *before, const char *what) {
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", what, st, want, err->message);
    CHECK_MSG(!strchr(err->message, '\n') && strstr(err->message, word), "%s: message '%s' lacks '%s'", what,
              err->message, word);
    printf("  %s: %s\n", what, err->message);
    float *l = run(ctx, seq, tok, n, nv);
    same(l, before, (size_t)n * nv, what);
    free(l);
}

static void test_real(void) {
    lorc_error err = {0};
    char base[1024], full[1024], qv[1024], dora[1024], head[1024];
    snprintf(base, sizeof base, "%s", test_shared("models/stories260K.gguf"));
    snprintf(full, sizeof full, "%s", test_shared("adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf"));
    snprintf(qv, sizeof qv, "%s", test_shared("adapters/moon-qv/moon-qv.gguf"));
    snprintf(dora, sizeof dora, "%s", test_shared("adapters/ocean-dora/peft"));
    snprintf(head, sizeof head, "%s", test_shared("adapters/moon-head/peft"));
    FX_TMP(ovp, "seqov_moon.overlay.gguf");
    FX_TMP(ov_out, "seqov_output.overlay.gguf");
    lorc_model *mb = NULL, *mf = NULL;
    lorc_overlay *ov = NULL, *ov_f = NULL, *ov_o = NULL;
    lorc_adapter *qv_b = NULL, *qv_f = NULL, *dora_b = NULL, *dora_f = NULL, *head_b = NULL;
    lorc_context *ctx = NULL;
    lorc_sequence *sa = NULL, *sb = NULL;
    const lorc_tensor **w0 = NULL;
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = i == 0 ? 1 : (int32_t)((i * 37 + 11) % 500 + 3);
    if (lorc_model_load(base, &mb, &err) || lorc_model_load(full, &mf, &err) ||
        fx_write_moon_overlay(ovp, &err) || lorc_overlay_load(mb, ovp, false, &ov, &err) ||
        lorc_overlay_load(mf, ovp, true, &ov_f, &err) || lorc_adapter_load(mb, qv, &qv_b, &err) ||
        lorc_adapter_load(mf, qv, &qv_f, &err) || lorc_adapter_load(mb, dora, &dora_b, &err) ||
        lorc_adapter_load(mf, dora, &dora_f, &err) || lorc_adapter_load(mb, head, &head_b, &err)) {
        CHECK_MSG(0, "setup: %s", err.message);
        goto done;
    }
    const size_t nv = (size_t)lorc_model_n_vocab(mb), nl = (size_t)N_TOK * nv;
    /* the shared weight table, to prove nothing below changes it */
    w0 = malloc((size_t)mb->n_slots * sizeof *w0);
    if (!w0) goto done;
    memcpy(w0, mb->w, (size_t)mb->n_slots * sizeof *w0);

    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = 64;
    cp.n_batch = 64;
    if (lorc_context_new(mb, &cp, &ctx, &err) || lorc_sequence_new(ctx, &sa, &err) || lorc_sequence_new(ctx, &sb, &err)) {
        CHECK_MSG(0, "context: %s", err.message);
        goto done;
    }
    float *want_full = fx_logits(mf, tok, N_TOK, NULL, NULL, 0), *want_base = fx_logits(mb, tok, N_TOK, NULL, NULL, 0);
    CHECK(want_full && want_base && memcmp(want_full, want_base, nl * sizeof(float)) != 0);

    /* overlay on one sequence, base on the other, one batch */
    CHECK(lorc_sequence_set_overlay(sa, ov, &err) == LORC_OK);
    float *la = malloc(nl * sizeof *la), *lb = malloc(nl * sizeof *lb);
    lorc_decode_item it[2] = {{sa, tok, N_TOK, true, la}, {sb, tok, N_TOK, true, lb}};
    CHECK_MSG(la && lb && lorc_decode_batch(ctx, it, 2, &err) == LORC_OK, "%s", err.message);
    if (same(la, want_full, nl, "overlay sequence == moon-full-qvo") &&
        same(lb, want_base, nl, "base sequence in the same batch == base"))
        printf("  one batch: sequence on the overlay == the full fine-tune, its neighbour == the base, bit for bit\n");

    /* adapters on top of the overlay == the same adapters on the fine-tuned model */
    const float s07 = 0.7f, s1 = 1.0f;
    float *got = seq_logits(ctx, tok, N_TOK, nv, &qv_b, &s07, 1, ov), *want = fx_logits(mf, tok, N_TOK, &qv_f, &s07, 1);
    same(got, want, nl, "overlay + moon-qv x0.7 == moon-full-qvo + moon-qv x0.7");
    free(got);
    free(want);
    got = seq_logits(ctx, tok, N_TOK, nv, &dora_b, &s1, 1, ov);
    want = fx_logits(mf, tok, N_TOK, &dora_f, &s1, 1);
    if (same(got, want, nl, "overlay + ocean-dora == moon-full-qvo + ocean-dora (DoRA from the overlay's weights)"))
        printf("  adapters over the overlay (LoRA, DoRA) == the same adapters over the full fine-tune\n");
    /* and DoRA over the base still computes from the base's weights */
    float *dora_base = seq_logits(ctx, tok, N_TOK, nv, &dora_b, &s1, 1, NULL);
    float *dora_ref = fx_logits(mb, tok, N_TOK, &dora_b, &s1, 1);
    same(dora_base, dora_ref, nl, "ocean-dora over the base after its use over the overlay");
    CHECK(got && dora_base && memcmp(got, dora_base, nl * sizeof(float)) != 0);
    free(got);
    free(want);
    free(dora_base);
    free(dora_ref);

    /* back to the base */
    CHECK(lorc_sequence_set_overlay(sa, NULL, &err) == LORC_OK);
    got = run(ctx, sa, tok, N_TOK, nv);
    same(got, want_base, nl, "overlay cleared == base");
    free(got);

    /* refusals leave the sequence as it was */
    float *head_only = seq_logits(ctx, tok, N_TOK, nv, &head_b, &s1, 1, NULL);
    float *oo = NULL;
    {
        int slot = lorc_model_slot_of_name(mb, "output.weight");
        int64_t ne = mb->base[slot]->ne[0] * mb->base[slot]->ne[1];
        oo = malloc((size_t)ne * sizeof *oo);
        if (!oo) goto done;
        for (int64_t i = 0; i < ne; i++) oo[i] = ((const float *)mb->base[slot]->data)[i] * 1.25f;
        const char *n_out[1] = {"output.weight"};
        CHECK(fx_write_overlay_f32(base, ov_out, n_out, &oo, 1, &err) == LORC_OK);
    }
    if (lorc_overlay_load(mb, ov_out, false, &ov_o, &err)) {
        CHECK_MSG(0, "overlays: %s", err.message);
        goto done;
    }
    CHECK(lorc_sequence_set_adapters(sa, &head_b, &s1, 1, &err) == LORC_OK);
    lorc_status st = lorc_sequence_set_overlay(sa, ov_o, &err);
    refused(st, LORC_ERR_MISMATCH, &err, "output.weight", ctx, sa, tok, N_TOK, nv, head_only,
            "modules_to_save lm_head + overlay of output.weight");
    CHECK(strstr(err.message, "moon-head") && strstr(err.message, "seqov_output"));
    CHECK(lorc_sequence_set_adapters(sa, NULL, NULL, 0, &err) == LORC_OK);
    CHECK(lorc_sequence_set_overlay(sa, ov_o, &err) == LORC_OK);
    float *out_ov = run(ctx, sa, tok, N_TOK, nv);
    st = lorc_sequence_set_adapters(sa, &head_b, &s1, 1, &err);
    refused(st, LORC_ERR_MISMATCH, &err, "output.weight", ctx, sa, tok, N_TOK, nv, out_ov,
            "overlay of output.weight, then modules_to_save lm_head");
    CHECK(out_ov && memcmp(out_ov, want_base, nl * sizeof(float)) != 0);
    free(out_ov);
    st = lorc_sequence_set_overlay(sb, ov_f, &err);
    refused(st, LORC_ERR_MISMATCH, &err, "another model", ctx, sb, tok, N_TOK, nv, want_base, "overlay of another model");
    free(head_only);

    CHECK_MSG(!memcmp(w0, mb->w, (size_t)mb->n_slots * sizeof *w0), "the model's weight table changed");
    for (int s = 0; s < mb->n_slots; s++) CHECK(mb->w[s] == mb->base[s]);
    free(la);
    free(lb);
    free(want_full);
    free(want_base);
done:
    free(oo);
    free(w0);
    lorc_sequence_free(sa);
    lorc_sequence_free(sb);
    lorc_context_free(ctx);
    lorc_adapter_free(qv_b);
    lorc_adapter_free(qv_f);
    lorc_adapter_free(dora_b);
    lorc_adapter_free(dora_f);
    lorc_adapter_free(head_b);
    lorc_overlay_free(ov);
    lorc_overlay_free(ov_f);
    lorc_overlay_free(ov_o);
    lorc_model_free(mb);
    lorc_model_free(mf);
}

/* Tied output: a sequence's overlay of token_embd changes its output
 * projection too, like the complete fine-tuned model. */
static void test_tied(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.tied_output = true;
    p.seed = 5;
    FX_TMP(base, "seqov_tied_base.gguf");
    FX_TMP(ft, "seqov_tied_ft.gguf");
    FX_TMP(ovp, "seqov_tied.overlay.gguf");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    int64_t n = 0;
    float *e = synth_tensor_values(&p, "token_embd.weight", &n);
    if (!e) {
        CHECK(0);
        return;
    }
    for (int64_t i = 0; i < n; i++) e[i] = e[i] * 0.8f + (float)((i * 7) % 13) * 0.01f;
    const char *names[1] = {"token_embd.weight"};
    CHECK(synth_write_replaced_model(base, ft, names, &e, 1, &err) == LORC_OK);
    CHECK(fx_write_overlay_f32(base, ovp, names, &e, 1, &err) == LORC_OK);
    free(e);
    lorc_model *m = NULL, *mf = NULL;
    lorc_overlay *ov = NULL;
    lorc_context *ctx = NULL;
    int32_t tok[12] = {1, 5, 9, 33, 2, 17, 40, 41, 3, 60, 7, 28};
    if (lorc_model_load(base, &m, &err) || lorc_model_load(ft, &mf, &err) || lorc_overlay_load(m, ovp, false, &ov, &err) ||
        lorc_context_new(m, NULL, &ctx, &err)) {
        CHECK_MSG(0, "tied setup: %s", err.message);
    } else {
        size_t nv = (size_t)lorc_model_n_vocab(m);
        float *want = fx_logits(mf, tok, 12, NULL, NULL, 0);
        float *got = seq_logits(ctx, tok, 12, nv, NULL, NULL, 0, ov);
        if (same(got, want, 12 * nv, "tied: sequence overlay of token_embd == fine-tuned (output follows)"))
            printf("  tied output: the sequence's token_embd overlay drives its output projection too\n");
        free(want);
        free(got);
    }
    lorc_context_free(ctx);
    lorc_overlay_free(ov);
    lorc_model_free(mf);
    lorc_model_free(m);
}

/* Norm weights (read per row by the forward pass) can be replaced per
 * sequence: the sequence equals a model file with those norms, its batch
 * neighbour on the base stays the base. A bias cannot (read once per
 * batch): refused by name. */
static void test_norms(void) {
    lorc_error err = {0};
    char base[1024];
    snprintf(base, sizeof base, "%s", test_shared("models/stories260K.gguf"));
    FX_TMP(ft, "seqov_norms_ft.gguf");
    FX_TMP(ovp, "seqov_norms.overlay.gguf");
    FX_TMP(bbase, "seqov_bias_base.gguf");
    FX_TMP(bov, "seqov_bias.overlay.gguf");
    const char *names[4] = {"blk.0.attn_norm.weight", "blk.2.ffn_norm.weight", "output_norm.weight", "blk.1.attn_q.weight"};
    lorc_model *m = NULL, *mf = NULL, *mq = NULL;
    lorc_overlay *ov = NULL, *ovb = NULL;
    lorc_context *ctx = NULL, *cq = NULL;
    lorc_sequence *sa = NULL, *sb = NULL, *sq = NULL;
    float *vals[4] = {0};
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = i == 0 ? 1 : (int32_t)((i * 53 + 7) % 500 + 3);
    if (lorc_model_load(base, &m, &err)) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    for (int k = 0; k < 4; k++) {
        const lorc_tensor *t = m->base[lorc_model_slot_of_name(m, names[k])];
        int64_t n = t->ne[0] * t->ne[1];
        vals[k] = malloc((size_t)n * sizeof(float));
        if (!vals[k]) goto done;
        for (int64_t i = 0; i < n; i++) vals[k][i] = ((const float *)t->data)[i] * (1.0f + 0.05f * (float)((i + k) % 7 - 3));
    }
    if (synth_write_replaced_model(base, ft, names, vals, 4, &err) || fx_write_overlay_f32(base, ovp, names, vals, 4, &err) ||
        lorc_model_load(ft, &mf, &err) || lorc_overlay_load(m, ovp, false, &ov, &err) ||
        lorc_context_new(m, NULL, &ctx, &err) || lorc_sequence_new(ctx, &sa, &err) || lorc_sequence_new(ctx, &sb, &err) ||
        lorc_sequence_set_overlay(sa, ov, &err)) {
        CHECK_MSG(0, "norms setup: %s", err.message);
        goto done;
    }
    const size_t nv = (size_t)lorc_model_n_vocab(m), nl = (size_t)N_TOK * nv;
    float *want = fx_logits(mf, tok, N_TOK, NULL, NULL, 0), *want_b = fx_logits(m, tok, N_TOK, NULL, NULL, 0);
    float *la = malloc(nl * sizeof *la), *lb = malloc(nl * sizeof *lb);
    lorc_decode_item it[2] = {{sb, tok, 5, true, lb}, {sa, tok, N_TOK, true, la}};
    lorc_decode_item it2 = {sb, tok + 5, N_TOK - 5, true, lb ? lb + 5 * nv : NULL};
    CHECK_MSG(la && lb && lorc_decode_batch(ctx, it, 2, &err) == LORC_OK && lorc_decode_batch(ctx, &it2, 1, &err) == LORC_OK,
              "%s", err.message);
    if (same(la, want, nl, "norm overlay sequence == model with those norms") &&
        same(lb, want_b, nl, "its base neighbour == base"))
        printf("  per-sequence norms (attn, ffn, output) + a matrix == the model file with them, bit for bit\n");
    CHECK(want && want_b && memcmp(want, want_b, nl * sizeof(float)) != 0);
    free(want);
    free(want_b);
    free(la);
    free(lb);

    /* a bias: refused by name, the sequence unchanged */
    synth_params p = synth_default_params();
    p.qkv_bias = true;
    p.seed = 9;
    int64_t nb = 0;
    float *bias = NULL;
    if (synth_write_model(bbase, &p, &err) || !(bias = synth_tensor_values(&p, "blk.0.attn_q.bias", &nb))) {
        CHECK_MSG(0, "bias model: %s", err.message);
        goto done;
    }
    for (int64_t i = 0; i < nb; i++) bias[i] += 0.5f;
    const char *bn[1] = {"blk.0.attn_q.bias"};
    lorc_status st = fx_write_overlay_f32(bbase, bov, bn, &bias, 1, &err);
    free(bias);
    if (st || lorc_model_load(bbase, &mq, &err) || lorc_overlay_load(mq, bov, false, &ovb, &err) ||
        lorc_context_new(mq, NULL, &cq, &err) || lorc_sequence_new(cq, &sq, &err)) {
        CHECK_MSG(0, "bias setup: %s", err.message);
        goto done;
    }
    const int32_t bt[6] = {1, 5, 9, 33, 2, 17};
    float *b0 = run(cq, sq, bt, 6, (size_t)lorc_model_n_vocab(mq));
    st = lorc_sequence_set_overlay(sq, ovb, &err);
    refused(st, LORC_ERR_UNSUPPORTED, &err, "blk.0.attn_q.bias", cq, sq, bt, 6, (size_t)lorc_model_n_vocab(mq), b0,
            "bias in a per-sequence overlay");
    free(b0);
done:
    for (int k = 0; k < 4; k++) free(vals[k]);
    lorc_sequence_free(sa);
    lorc_sequence_free(sb);
    lorc_sequence_free(sq);
    lorc_context_free(ctx);
    lorc_context_free(cq);
    lorc_overlay_free(ov);
    lorc_overlay_free(ovb);
    lorc_model_free(m);
    lorc_model_free(mf);
    lorc_model_free(mq);
}

int main(void) {
    test_real();
    test_norms();
    test_tied();
    return test_finish("test_sequence_overlay");
}
