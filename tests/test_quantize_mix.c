/* test_quantize_mix.c — llama-quantize's named mixes (tools/quant_mix.c):
 * the type each tensor of a TinyLlama-shaped model gets under Q4_K_M, Q3_K_M,
 * Q2_K, Q4_K_S, Q4_0, Q8_0, F16 and --pure (the layers llama.cpp's
 * use_more_bits picks, worked out by hand below), the row-length fallbacks,
 * a tied output; then `lorc quantize` end to end on a synthetic model: every
 * tensor of the output has the planned type, the output loads and its
 * logits stay close to the F32 model's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "format/gguf.h"
#include "quant_mix.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

/* A TinyLlama-like tensor walk (file order) for the planner. */
typedef struct walk {
    quant_planner pl;
    int n_layer;
    int64_t n_embd, n_ff;
} walk;

static void walk_init(walk *w, const char *mix_name, bool pure, int n_layer, int n_gqa, bool has_output,
                      int64_t n_embd, int64_t n_ff) {
    quant_mix mix;
    bool found = quant_mix_lookup(mix_name, pure, &mix);
    CHECK_MSG(found, "mix %s", mix_name);
    quant_model_shape shape = {n_layer, n_layer, n_gqa, has_output, n_layer == 80 && n_gqa > 1};
    quant_planner_init(&w->pl, &mix, &shape);
    w->n_layer = n_layer;
    w->n_embd = n_embd;
    w->n_ff = n_ff;
}

/* The types of one layer's tensors in synth file order. */
typedef struct layer_types {
    uint32_t attn_norm, q, k, v, o, ffn_norm, gate, up, down;
} layer_types;

static layer_types walk_layer(walk *w, int l) {
    char n[64];
    layer_types t;
#define NEXT(field, suffix, nd, ne0)                                                         \
    snprintf(n, sizeof n, "blk.%d." suffix, l);                                             \
    t.field = quant_planner_next(&w->pl, n, nd, ne0, LORC_TYPE_F32);
    NEXT(attn_norm, "attn_norm.weight", 1, w->n_embd);
    NEXT(q, "attn_q.weight", 2, w->n_embd);
    NEXT(k, "attn_k.weight", 2, w->n_embd);
    NEXT(v, "attn_v.weight", 2, w->n_embd);
    NEXT(o, "attn_output.weight", 2, w->n_embd);
    NEXT(ffn_norm, "ffn_norm.weight", 1, w->n_embd);
    NEXT(gate, "ffn_gate.weight", 2, w->n_embd);
    NEXT(up, "ffn_up.weight", 2, w->n_embd);
    NEXT(down, "ffn_down.weight", 2, w->n_ff);
#undef NEXT
    return t;
}

static bool in_set(int i, const int *set, int n) {
    for (int k = 0; k < n; k++)
        if (set[k] == i) return true;
    return false;
}

/* use_more_bits(i, 22): i < 2, i >= 19, or (i - 2) % 3 == 2. */
static const int more_bits_22[] = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};

static void test_q4_k_m(void) {
    walk w;
    walk_init(&w, "q4_k_m", false, 22, 8, true, 2048, 5632);
    CHECK(quant_planner_next(&w.pl, "token_embd.weight", 2, 2048, LORC_TYPE_F32) == LORC_TYPE_Q4_K);
    for (int l = 0; l < 22; l++) {
        layer_types t = walk_layer(&w, l);
        uint32_t more = in_set(l, more_bits_22, 10) ? LORC_TYPE_Q6_K : LORC_TYPE_Q4_K;
        CHECK_MSG(t.v == more && t.down == more, "Q4_K_M layer %d: v %s down %s", l, lorc_type_name(t.v),
                  lorc_type_name(t.down));
        CHECK(t.q == LORC_TYPE_Q4_K && t.k == LORC_TYPE_Q4_K && t.o == LORC_TYPE_Q4_K);
        CHECK(t.gate == LORC_TYPE_Q4_K && t.up == LORC_TYPE_Q4_K);
        CHECK(t.attn_norm == LORC_TYPE_F32 && t.ffn_norm == LORC_TYPE_F32);
    }
    CHECK(quant_planner_next(&w.pl, "output_norm.weight", 1, 2048, LORC_TYPE_F32) == LORC_TYPE_F32);
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 2048, LORC_TYPE_F32) == LORC_TYPE_Q6_K);

    /* --pure: one type everywhere, the output too */
    walk_init(&w, "Q4_K_M", true, 22, 8, true, 2048, 5632);
    for (int l = 0; l < 22; l++) {
        layer_types t = walk_layer(&w, l);
        CHECK(t.v == LORC_TYPE_Q4_K && t.down == LORC_TYPE_Q4_K);
    }
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 2048, LORC_TYPE_F32) == LORC_TYPE_Q4_K);
}

static void test_q3_k_m_and_q4_k_s(void) {
    walk w;
    walk_init(&w, "Q3_K_M", false, 22, 8, true, 2048, 5632);
    for (int l = 0; l < 22; l++) {
        layer_types t = walk_layer(&w, l);
        CHECK_MSG(t.v == (l < 2 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K), "Q3_K_M attn_v %d: %s", l, lorc_type_name(t.v));
        /* 22 / 16 = 1: only layer 0 gets Q5_K */
        CHECK_MSG(t.down == (l < 1 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K), "Q3_K_M ffn_down %d", l);
        CHECK(t.o == LORC_TYPE_Q4_K && t.q == LORC_TYPE_Q3_K && t.gate == LORC_TYPE_Q3_K);
    }
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 2048, LORC_TYPE_F32) == LORC_TYPE_Q6_K);

    walk_init(&w, "Q4_K_S", false, 22, 8, true, 2048, 5632);
    for (int l = 0; l < 22; l++) {
        layer_types t = walk_layer(&w, l);
        CHECK_MSG(t.v == (l < 4 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K), "Q4_K_S attn_v %d", l);
        CHECK_MSG(t.down == (l < 2 ? LORC_TYPE_Q5_K : LORC_TYPE_Q4_K), "Q4_K_S ffn_down %d", l); /* 22 / 8 = 2 */
        CHECK(t.o == LORC_TYPE_Q4_K);
    }

    walk_init(&w, "Q5_K_M", false, 22, 8, true, 2048, 5632);
    for (int l = 0; l < 22; l++) {
        layer_types t = walk_layer(&w, l);
        uint32_t more = in_set(l, more_bits_22, 10) ? LORC_TYPE_Q6_K : LORC_TYPE_Q5_K;
        CHECK_MSG(t.v == more && t.down == more, "Q5_K_M layer %d", l);
    }
}

static void test_q2_k(void) {
    walk w;
    walk_init(&w, "Q2_K", false, 22, 8, true, 2048, 5632);
    layer_types t = walk_layer(&w, 5);
    CHECK(t.v == LORC_TYPE_Q4_K); /* n_gqa 8 >= 4 */
    CHECK(t.down == LORC_TYPE_Q3_K && t.o == LORC_TYPE_Q3_K);
    CHECK(t.q == LORC_TYPE_Q2_K && t.up == LORC_TYPE_Q2_K);
    walk_init(&w, "Q2_K", false, 22, 1, true, 2048, 5632);
    t = walk_layer(&w, 5);
    CHECK(t.v == LORC_TYPE_Q3_K); /* no GQA */

    walk_init(&w, "Q3_K_L", false, 22, 8, true, 2048, 5632);
    t = walk_layer(&w, 9);
    CHECK(t.v == LORC_TYPE_Q5_K && t.o == LORC_TYPE_Q5_K && t.down == LORC_TYPE_Q5_K && t.q == LORC_TYPE_Q3_K);

    /* llama.cpp's 70B rule: attn_v in Q3_K/Q4_K moves to Q5_K */
    walk_init(&w, "Q4_K_M", false, 80, 8, true, 8192, 28672);
    t = walk_layer(&w, 0);
    CHECK(t.v == LORC_TYPE_Q6_K); /* more bits anyway */
    t = walk_layer(&w, 1);
    CHECK(t.v == LORC_TYPE_Q6_K); /* 1 < 80/8 */
    for (int l = 2; l < 12; l++) t = walk_layer(&w, l);
    CHECK(t.v == LORC_TYPE_Q5_K); /* layer 11: (11 - 10) % 3 != 2: Q4_K, raised to Q5_K */
}

static void test_legacy_float_and_fallbacks(void) {
    walk w;
    walk_init(&w, "Q4_0", false, 4, 4, true, 256, 512);
    CHECK(quant_planner_next(&w.pl, "token_embd.weight", 2, 256, LORC_TYPE_F32) == LORC_TYPE_Q4_0);
    layer_types t = walk_layer(&w, 0);
    CHECK(t.v == LORC_TYPE_Q4_0 && t.down == LORC_TYPE_Q4_0);
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 256, LORC_TYPE_F32) == LORC_TYPE_Q6_K);
    /* output rows not a multiple of Q4_0's 32: Q8_0 would not fit either, the tensor is kept */
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 48, LORC_TYPE_F32) == LORC_TYPE_F32 && w.pl.last_unfit);
    /* output rows of 64: Q6_K does not fit, Q8_0 does (llama.cpp: Q6_K -> Q8_0) */
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 64, LORC_TYPE_F32) == LORC_TYPE_Q8_0 && !w.pl.last_unfit);

    walk_init(&w, "Q8_0", false, 4, 4, true, 256, 512);
    t = walk_layer(&w, 0);
    CHECK(t.v == LORC_TYPE_Q8_0 && t.down == LORC_TYPE_Q8_0);
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 256, LORC_TYPE_F32) == LORC_TYPE_Q8_0);

    walk_init(&w, "f16", false, 4, 4, true, 96, 200);
    t = walk_layer(&w, 0);
    CHECK(t.q == LORC_TYPE_F16 && t.down == LORC_TYPE_F16 && t.attn_norm == LORC_TYPE_F32);
    CHECK(quant_planner_next(&w.pl, "output.weight", 2, 96, LORC_TYPE_F32) == LORC_TYPE_F16);

    /* k-quant rows of 288 (not 256-aligned): Q4_K -> Q5_0, Q6_K -> Q8_0 */
    walk_init(&w, "Q4_K_M", false, 8, 4, true, 256, 288);
    t = walk_layer(&w, 0); /* use_more_bits(0, 8) */
    CHECK(t.down == LORC_TYPE_Q8_0 && t.v == LORC_TYPE_Q6_K);
    t = walk_layer(&w, 1);
    CHECK(t.down == LORC_TYPE_Q5_0 && t.v == LORC_TYPE_Q4_K);
    /* Q2_K/Q3_K: IQ4_NL in llama.cpp, Q4_0 here; rows fitting nothing but F16 */
    walk_init(&w, "Q2_K", false, 8, 4, true, 256, 288);
    t = walk_layer(&w, 0);
    CHECK(t.down == LORC_TYPE_Q4_0);
    walk_init(&w, "Q4_K_M", false, 8, 4, true, 256, 40);
    t = walk_layer(&w, 1);
    CHECK(t.down == LORC_TYPE_F16);
    /* pure k-quant rows that do not fit: kept */
    walk_init(&w, "Q4_K", false, 8, 4, true, 256, 288);
    CHECK(w.pl.mix.pure);
    t = walk_layer(&w, 1);
    CHECK(t.down == LORC_TYPE_F32 && t.q == LORC_TYPE_Q4_K);

    /* tied output: token_embd is quantized like the output */
    walk_init(&w, "Q4_K_M", false, 8, 4, false, 256, 512);
    CHECK(quant_planner_next(&w.pl, "token_embd.weight", 2, 256, LORC_TYPE_F32) == LORC_TYPE_Q6_K);
    walk_init(&w, "Q4_K_M", false, 8, 4, true, 256, 512);
    CHECK(quant_planner_next(&w.pl, "token_embd.weight", 2, 256, LORC_TYPE_F32) == LORC_TYPE_Q4_K);

    quant_mix m;
    CHECK(!quant_mix_lookup("Q4_K_X", false, &m));
    CHECK(!quant_mix_lookup("IQ2_XXS", false, &m)); /* no quantizer in lorc */
    CHECK(quant_mix_lookup("Q6_K", false, &m) && m.ftype == 18 && !m.pure);
    CHECK(quant_mix_lookup("q4_k_m", false, &m) && m.ftype == 15 && m.base_type == LORC_TYPE_Q4_K);
}

/* ----------------------------------------------------- the CLI end to end */

static int run(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static synth_params e2e_params(void) {
    synth_params p = synth_default_params();
    p.n_embd = 256;
    p.n_layer = 8;
    p.n_ff = 288; /* not 256-aligned: exercises the fallbacks in ffn_down */
    p.n_head = 4;
    p.n_head_kv = 1; /* n_gqa 4 */
    p.n_vocab = 64;
    p.seed = 5;
    return p;
}

/* `lorc quantize` with `mix`, then: every tensor has the planner's type,
 * the named ones the type given, the logits stay within `max_rel` of F32. */
static void check_cli(const char *in, const float *ref_logits, const int32_t *tokens, int n_tokens, const char *mix_name,
                      int ftype, double max_rel, const char *const *names, const uint32_t *types, int n_named) {
    const char *bin = getenv("LORC_BIN");
    char out[1024], cmd[4096];
    snprintf(out, sizeof out, "%s", test_tmp("quantize_mix_out"));
    strncat(out, mix_name, sizeof out - strlen(out) - 6);
    strcat(out, ".gguf");
    remove(out);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s -t 2 > '%s.log' 2>&1", bin ? bin : "lorc", in, out, mix_name,
             out);
    CHECK_MSG(run(cmd) == 0, "%s", cmd);

    lorc_error err = {0};
    gguf_file *src = NULL, *f = NULL;
    CHECK_MSG(gguf_open(in, &src, &err) == LORC_OK && gguf_open(out, &f, &err) == LORC_OK, "%s", err.message);
    if (!src || !f) {
        gguf_close(src);
        gguf_close(f);
        return;
    }
    quant_mix mix;
    CHECK(quant_mix_lookup(mix_name, false, &mix));
    synth_params p = e2e_params();
    quant_model_shape shape = {p.n_layer, p.n_layer, p.n_head / p.n_head_kv, true, false};
    quant_planner pl;
    quant_planner_init(&pl, &mix, &shape);
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor_info *t = &src->tensors[i];
        const gguf_tensor_info *o = gguf_find_tensor(f, t->name);
        uint32_t want = quant_planner_next(&pl, t->name, t->n_dims, t->ne[0], t->type);
        CHECK_MSG(o && o->type == want, "%s: %s is %s, planned %s", mix_name, t->name, o ? lorc_type_name(o->type) : "-",
                  lorc_type_name(want));
    }
    for (int i = 0; i < n_named; i++) {
        const gguf_tensor_info *o = gguf_find_tensor(f, names[i]);
        CHECK_MSG(o && o->type == types[i], "%s: %s is %s, want %s", mix_name, names[i],
                  o ? lorc_type_name(o->type) : "-", lorc_type_name(types[i]));
    }
    CHECK_MSG(gguf_get_u32_or(f, "general.file_type", 999) == (uint32_t)ftype, "%s: file_type", mix_name);
    gguf_close(src);
    gguf_close(f);

    float *logits = synth_logits_file(out, tokens, n_tokens, &err);
    CHECK_MSG(logits != NULL, "%s: %s", mix_name, err.message);
    if (logits) {
        int n_vocab = p.n_vocab;
        double rel = synth_rel_diff(logits, ref_logits, (int64_t)n_tokens * n_vocab);
        CHECK_MSG(rel < max_rel, "%s: logits differ from F32 by %g (limit %g)", mix_name, rel, max_rel);
        CHECK_MSG(rel > 0, "%s: logits identical to F32: nothing was quantized", mix_name);
    }
    free(logits);
}

static void test_cli(void) {
    synth_params p = e2e_params();
    lorc_error err = {0};
    const char *in = test_tmp("quantize_mix_f32.gguf");
    CHECK_MSG(synth_write_model(in, &p, &err) == LORC_OK, "%s", err.message);
    const int32_t tokens[] = {1, 17, 5, 42, 9, 33, 60, 3};
    const int n_tokens = 8;
    float *ref = synth_logits_file(in, tokens, n_tokens, &err);
    CHECK_MSG(ref != NULL, "%s", err.message);
    if (!ref) return;

    /* use_more_bits(i, 8): layers 0, 3, 6, 7 */
    const char *km_names[] = {"token_embd.weight",      "output.weight",          "blk.0.attn_v.weight",
                              "blk.1.attn_v.weight",    "blk.3.attn_v.weight",    "blk.7.attn_v.weight",
                              "blk.0.ffn_down.weight",  "blk.1.ffn_down.weight",  "blk.2.attn_q.weight",
                              "blk.2.attn_norm.weight", "output_norm.weight"};
    const uint32_t km_types[] = {LORC_TYPE_Q4_K, LORC_TYPE_Q6_K, LORC_TYPE_Q6_K, LORC_TYPE_Q4_K,
                                 LORC_TYPE_Q6_K, LORC_TYPE_Q6_K, LORC_TYPE_Q8_0 /* Q6_K rows of 288 */,
                                 LORC_TYPE_Q5_0 /* Q4_K rows of 288 */, LORC_TYPE_Q4_K, LORC_TYPE_F32, LORC_TYPE_F32};
    check_cli(in, ref, tokens, n_tokens, "Q4_K_M", 15, 0.2, km_names, km_types, 11);

    const char *q3_names[] = {"blk.0.attn_v.weight", "blk.2.attn_v.weight", "blk.4.attn_output.weight",
                              "blk.4.attn_k.weight", "blk.4.ffn_down.weight", "output.weight"};
    const uint32_t q3_types[] = {LORC_TYPE_Q5_K, LORC_TYPE_Q4_K, LORC_TYPE_Q4_K,
                                 LORC_TYPE_Q3_K, LORC_TYPE_Q5_0 /* Q4_K rows of 288 */, LORC_TYPE_Q6_K};
    check_cli(in, ref, tokens, n_tokens, "Q3_K_M", 12, 0.35, q3_names, q3_types, 6);

    const char *q4_names[] = {"blk.0.attn_v.weight", "blk.5.ffn_down.weight", "token_embd.weight", "output.weight"};
    const uint32_t q4_types[] = {LORC_TYPE_Q4_0, LORC_TYPE_Q4_0, LORC_TYPE_Q4_0, LORC_TYPE_Q6_K};
    check_cli(in, ref, tokens, n_tokens, "Q4_0", 2, 0.2, q4_names, q4_types, 4);

    const char *q8_names[] = {"blk.0.attn_v.weight", "output.weight", "blk.1.ffn_norm.weight"};
    const uint32_t q8_types[] = {LORC_TYPE_Q8_0, LORC_TYPE_Q8_0, LORC_TYPE_F32};
    check_cli(in, ref, tokens, n_tokens, "Q8_0", 7, 0.02, q8_names, q8_types, 3);
    free(ref);
}

int main(void) {
    test_q4_k_m();
    test_q3_k_m_and_q4_k_s();
    test_q2_k();
    test_legacy_float_and_fallbacks();
    test_cli();
    return test_finish("test_quantize_mix");
}
