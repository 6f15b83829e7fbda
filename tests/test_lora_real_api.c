/* test_lora_real_api.c — real adapters on one loaded stories260K model via
 * the API: attach, rescale, stack and detach on one sequence (detaching
 * gives the base logits bit for bit; re-attaching the same logits as
 * before), and the real DoRA adapter (ocean-dora) equal to its merged
 * weights m·(W+sBA)/‖W+sBA‖ computed here from the safetensors values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "format/safetensors.h"
#include "synth_adapter.h"
#include "testutil.h"

static int32_t *tokens;
static size_t n_tok;

static float *decode(lorc_context *ctx, lorc_sequence *seq, int n_vocab) {
    lorc_error err = {0};
    float *l = malloc(n_tok * (size_t)n_vocab * sizeof *l);
    lorc_sequence_reset(seq);
    lorc_status st = lorc_decode(ctx, seq, tokens, (int)n_tok, true, l, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    return l;
}

static bool eq(const float *a, const float *b, int n_vocab) {
    return a && b && !memcmp(a, b, n_tok * (size_t)n_vocab * sizeof *a);
}

static void attach_detach(lorc_model *m) {
    int nv = lorc_model_n_vocab(m);
    lorc_error err = {0};
    lorc_adapter *moon = NULL, *ocean = NULL;
    CHECK_MSG(lorc_adapter_load(m, test_shared("adapters/moon-qv/moon-qv.gguf"), &moon, &err) == LORC_OK, "%s",
              err.message);
    CHECK_MSG(lorc_adapter_load(m, test_shared("adapters/ocean-all/peft"), &ocean, &err) == LORC_OK, "%s", err.message);
    if (!moon || !ocean) return;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    CHECK(lorc_context_new(m, NULL, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    float *base = decode(ctx, seq, nv);
    float one = 1.0f, half = 0.5f;
    CHECK(lorc_sequence_set_adapters(seq, &moon, &one, 1, &err) == LORC_OK);
    float *l_moon = decode(ctx, seq, nv);
    CHECK(!eq(l_moon, base, nv));
    CHECK(lorc_sequence_set_adapters(seq, &moon, &half, 1, &err) == LORC_OK);
    float *l_half = decode(ctx, seq, nv);
    CHECK(!eq(l_half, l_moon, nv) && !eq(l_half, base, nv));
    lorc_adapter *both[2] = {moon, ocean};
    float sc[2] = {1.0f, 0.5f};
    CHECK(lorc_sequence_set_adapters(seq, both, sc, 2, &err) == LORC_OK);
    float *l_both = decode(ctx, seq, nv);
    CHECK(!eq(l_both, l_moon, nv));
    CHECK(lorc_sequence_set_adapters(seq, NULL, NULL, 0, &err) == LORC_OK);
    float *l_back = decode(ctx, seq, nv);
    CHECK_MSG(eq(l_back, base, nv), "detached logits differ from the base");
    CHECK(lorc_sequence_set_adapters(seq, &moon, &one, 1, &err) == LORC_OK);
    float *l_again = decode(ctx, seq, nv);
    CHECK_MSG(eq(l_again, l_moon, nv), "re-attached logits differ");
    /* Two sequences on one context, each with its own adapters. */
    lorc_sequence *seq2 = NULL;
    CHECK(lorc_sequence_new(ctx, &seq2, &err) == LORC_OK);
    CHECK(lorc_sequence_set_adapters(seq2, both, sc, 2, &err) == LORC_OK);
    float *l_s2 = decode(ctx, seq2, nv), *l_s1 = decode(ctx, seq, nv);
    CHECK(eq(l_s2, l_both, nv) && eq(l_s1, l_moon, nv));
    free(l_s2);
    free(l_s1);
    lorc_sequence_free(seq2);
    free(base);
    free(l_moon);
    free(l_half);
    free(l_both);
    free(l_back);
    free(l_again);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    lorc_adapter_free(moon);
    lorc_adapter_free(ocean);
}

/* F32 values of a safetensors tensor, rows permuted from HF to GGUF order when head_rows > 0. */
static float *st_values(const safetensors_file *f, const char *name, int64_t rows, int64_t head_rows) {
    const safetensors_tensor *t = safetensors_find(f, name);
    CHECK_MSG(t != NULL, "missing %s", name);
    if (!t) return NULL;
    float *v = malloc((size_t)t->n_elements * sizeof *v), *out = malloc((size_t)t->n_elements * sizeof *out);
    safetensors_to_f32(t, v);
    int64_t row = t->n_elements / rows;
    for (int64_t o = 0; o < rows; o++) {
        int64_t src = head_rows ? synth_hf_row(o, head_rows) : o;
        memcpy(out + o * row, v + src * row, (size_t)row * sizeof *v);
    }
    free(v);
    return out;
}

static void real_dora(lorc_model *m) {
    const char *dir = test_shared("adapters/ocean-dora/peft");
    const char *model = test_shared("models/stories260K.gguf");
    char st_path[1024];
    snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    safetensors_file *f = NULL;
    lorc_error err = {0};
    CHECK_MSG(safetensors_open(st_path, &f, &err) == LORC_OK, "%s", err.message);
    if (!f) return;
    int n_layer = lorc_model_n_layer(m), ne = lorc_model_n_embd(m);
    int n_head = m->hp.n_head;
    const char *names[32];
    float *vals[32];
    char name_buf[32][64];
    int n = 0;
    for (int layer = 0; layer < n_layer; layer++) {
        for (int kind = 0; kind < 2; kind++) { /* q_proj, v_proj */
            const char *hf = kind ? "v_proj" : "q_proj";
            char key[160];
            snprintf(name_buf[n], sizeof name_buf[n], "blk.%d.attn_%c.weight", layer, kind ? 'v' : 'q');
            int64_t cnt;
            float *w = synth_read_tensor_f32(model, name_buf[n], &cnt);
            synth_lora l = {0};
            snprintf(l.target, sizeof l.target, "%s", name_buf[n]);
            l.rank = 4;
            l.n_in = ne;
            l.n_out = cnt / ne;
            int64_t head_rows = kind ? 0 : l.n_out / n_head; /* llama Q rows: HF rotary order -> GGUF */
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.self_attn.%s.lora_A.weight", layer, hf);
            l.a = st_values(f, key, 4, 0);
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.self_attn.%s.lora_B.weight", layer, hf);
            l.b = st_values(f, key, l.n_out, head_rows);
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.self_attn.%s.lora_magnitude_vector", layer, hf);
            l.magnitude = st_values(f, key, l.n_out, head_rows);
            if (w && l.a && l.b && l.magnitude) synth_dora_merge(w, &l, 8.0f / 4.0f);
            synth_lora_free(&l);
            names[n] = name_buf[n];
            vals[n++] = w;
        }
    }
    safetensors_close(f);
    const char *merged = test_tmp("real_dora_merged.gguf");
    CHECK_MSG(synth_write_replaced_model(model, merged, names, vals, n, &err) == LORC_OK, "%s", err.message);
    for (int i = 0; i < n; i++) free(vals[i]);
    lorc_adapter *a = NULL;
    CHECK_MSG(lorc_adapter_load(m, dir, &a, &err) == LORC_OK, "%s", err.message);
    float one = 1.0f;
    /* F32 cache: see synth_logits_kv (with F16 this compare moved 2e-4 on AVX-512) */
    float *got = a ? synth_logits_kv(m, &a, &one, 1, tokens, (int)n_tok, LORC_KV_F32, &err) : NULL;
    float *ref = synth_logits_file_kv(merged, tokens, (int)n_tok, LORC_KV_F32, &err);
    CHECK(got && ref);
    if (got && ref) {
        double d = synth_rel_diff(got, ref, (int64_t)n_tok * lorc_model_n_vocab(m));
        CHECK_MSG(d <= 1e-5, "ocean-dora vs merged DoRA weights: %g", d);
        printf("ocean-dora: runtime vs merged DoRA weights: max relative difference %.3g\n", d);
    }
    free(got);
    free(ref);
    lorc_adapter_free(a);
}

int main(void) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return test_finish("test_lora_real_api");
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play outside";
    CHECK(lorc_tokenize(lorc_model_vocab(m), text, strlen(text), LORC_TOKENIZE_ADD_BOS, &tokens, &n_tok, &err) ==
          LORC_OK);
    attach_detach(m);
    real_dora(m);
    free(tokens);
    lorc_model_free(m);
    return test_finish("test_lora_real_api");
}
