/* test_lora_peft.c — PEFT directories: the PEFT form, the equivalent GGUF
 * adapter and the `lorc convert` output give identical logits (Q/K rows
 * permuted for llama, not for qwen2; embedding LoRA transposed); rsLoRA and
 * rank/alpha patterns give PEFT's scales; DoRA and modules_to_save equal
 * their merged-weight models; F16/BF16 safetensors read exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

static const int32_t tokens[] = {1, 5, 9, 17, 33, 2, 60, 7, 12, 40, 3};
enum { N_TOK = sizeof tokens / sizeof tokens[0] };

static synth_params model_params(const char *arch, uint32_t wtype, uint64_t seed) {
    synth_params p = synth_default_params();
    p.arch = arch;
    p.n_embd = 64;
    p.n_ff = 96;
    p.n_head = 4;
    p.n_head_kv = 2; /* q and k permute with different head counts */
    p.weight_type = wtype;
    p.qkv_bias = !strcmp(arch, "qwen2");
    p.seed = seed;
    return p;
}

static float *adapter_logits(lorc_model *m, const char *path, float scale, lorc_adapter **keep) {
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    if (lorc_adapter_load(m, path, &a, &err) != LORC_OK) {
        CHECK_MSG(false, "%s", err.message);
        return NULL;
    }
    float *l = synth_logits(m, &a, &scale, 1, tokens, N_TOK, &err);
    CHECK_MSG(l, "%s", err.message);
    if (keep) *keep = a;
    else lorc_adapter_free(a);
    return l;
}

static int run_cli(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", getenv("LORC_BIN") ? getenv("LORC_BIN") : "lorc", args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool same(const float *x, const float *y, int64_t n, double tol, const char *what) {
    if (!x || !y) return false;
    double d = synth_rel_diff(x, y, n);
    CHECK_MSG(d <= tol, "%s: relative difference %g > %g", what, d, tol);
    return d <= tol;
}

/* PEFT form == GGUF form == converted GGUF, bit for bit, on every kind of target. */
static void forms_agree(const char *arch) {
    synth_params p = model_params(arch, LORC_TYPE_F32, 21);
    char base[256], peft[256], gguf[256], conv[256], args[1024];
    snprintf(base, sizeof base, "%s", test_tmp("peft_forms_base.gguf"));
    snprintf(peft, sizeof peft, "%s", test_tmp("peft_forms_dir"));
    snprintf(gguf, sizeof gguf, "%s", test_tmp("peft_forms.gguf"));
    snprintf(conv, sizeof conv, "%s", test_tmp("peft_forms_conv.gguf"));
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    const char *targets[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.1.attn_v.weight",
                             "blk.1.attn_output.weight", "blk.0.ffn_gate.weight", "blk.1.ffn_up.weight",
                             "blk.0.ffn_down.weight", "blk.1.attn_q.weight", "blk.1.attn_k.weight",
                             "output.weight", "token_embd.weight"};
    enum { N = sizeof targets / sizeof targets[0] };
    synth_lora l[N];
    for (int i = 0; i < N; i++) synth_lora_init(&l[i], &p, targets[i], 4, 300 + i, 0.2f, &err);
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"bias\": \"none\","
                      " \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\","
                      " \"down_proj\", \"lm_head\", \"embed_tokens\"], \"use_rslora\": false, \"use_dora\": false,"
                      " \"fan_in_fan_out\": false, \"modules_to_save\": null, \"rank_pattern\": {}, \"alpha_pattern\": {}}";
    CHECK_MSG(synth_write_peft_dir(peft, &p, cfg, l, N, "F32", &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(synth_write_gguf_adapter(gguf, arch, 8.0f, l, N, LORC_TYPE_F32, &err) == LORC_OK, "%s", err.message);
    snprintf(args, sizeof args, "convert %s -m %s -o %s > /dev/null", peft, base, conv);
    CHECK_MSG(run_cli(args) == 0, "lorc %s failed", args);

    lorc_model *m = NULL;
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s", err.message);
    if (m) {
        int64_t n = (int64_t)N_TOK * p.n_vocab;
        float *lb = synth_logits(m, NULL, NULL, 0, tokens, N_TOK, &err);
        float *lp = adapter_logits(m, peft, 0.8f, NULL);
        float *lg = adapter_logits(m, gguf, 0.8f, NULL);
        float *lc = adapter_logits(m, conv, 0.8f, NULL);
        CHECK(lp && lg && lc && lb);
        if (lp && lg && lc && lb) {
            CHECK_MSG(!memcmp(lp, lg, (size_t)n * sizeof *lp), "%s: PEFT and GGUF forms differ (%g)", arch,
                      synth_rel_diff(lp, lg, n));
            CHECK_MSG(!memcmp(lp, lc, (size_t)n * sizeof *lp), "%s: PEFT and converted GGUF differ (%g)", arch,
                      synth_rel_diff(lp, lc, n));
            CHECK(synth_rel_diff(lp, lb, n) > 1e-2);
        }
        /* Lossy outtypes still load and stay close. */
        snprintf(args, sizeof args, "convert %s -m %s -o %s --outtype bf16 > /dev/null", peft, base, conv);
        CHECK(run_cli(args) == 0);
        float *lbf = adapter_logits(m, conv, 0.8f, NULL);
        if (lp && lbf) CHECK_MSG(synth_rel_diff(lbf, lp, n) < 2e-2, "bf16: %g", synth_rel_diff(lbf, lp, n));
        free(lbf);
        free(lb);
        free(lp);
        free(lg);
        free(lc);
    }
    lorc_model_free(m);
    for (int i = 0; i < N; i++) synth_lora_free(&l[i]);
}

/* F16 and BF16 safetensors hold exactly what a GGUF adapter of the rounded values holds. */
static void half_dtypes(void) {
    synth_params p = model_params("llama", LORC_TYPE_F32, 22);
    const char *base = test_tmp("peft_half_base.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    lorc_model *m = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    const char *dtypes[2] = {"F16", "BF16"};
    for (int d = 0; d < 2 && m; d++) {
        synth_lora l[2];
        synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 4, 40, 0.2f, &err);
        synth_lora_init(&l[1], &p, "blk.1.attn_k.weight", 4, 41, 0.2f, &err);
        for (int i = 0; i < 2; i++) {
            float *v[2] = {l[i].a, l[i].b};
            int64_t nv[2] = {l[i].n_in * 4, l[i].n_out * 4};
            for (int k = 0; k < 2; k++)
                for (int64_t j = 0; j < nv[k]; j++)
                    v[k][j] = d ? lorc_bf16_to_fp32(lorc_fp32_to_bf16(v[k][j])) : lorc_fp16_to_fp32(lorc_fp32_to_fp16(v[k][j]));
        }
        const char *dir = test_tmp(d ? "peft_bf16_dir" : "peft_f16_dir");
        const char *gg = test_tmp("peft_half.gguf");
        CHECK(synth_write_peft_dir(dir, &p, "{\"r\": 4, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\", \"k_proj\"]}",
                                   l, 2, dtypes[d], &err) == LORC_OK);
        CHECK(synth_write_gguf_adapter(gg, "llama", 4.0f, l, 2, LORC_TYPE_F32, &err) == LORC_OK);
        float *lp = adapter_logits(m, dir, 1.0f, NULL), *lg = adapter_logits(m, gg, 1.0f, NULL);
        same(lp, lg, (int64_t)N_TOK * p.n_vocab, 1e-6, dtypes[d]);
        free(lp);
        free(lg);
        synth_lora_free(&l[0]);
        synth_lora_free(&l[1]);
    }
    lorc_model_free(m);
}

/* rsLoRA, rank_pattern and alpha_pattern give PEFT's per-module scales. */
static void scales(void) {
    synth_params p = model_params("llama", LORC_TYPE_F32, 23);
    const char *base = test_tmp("peft_scale_base.gguf"), *dir = test_tmp("peft_scale_dir");
    const char *merged = test_tmp("peft_scale_merged.gguf"), *conv = test_tmp("peft_scale_conv.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    lorc_model *m = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    if (!m) return;
    int64_t nl = (int64_t)N_TOK * p.n_vocab;

    /* rsLoRA: scale alpha / sqrt(r) = 6 / 2 = 3, i.e. a GGUF alpha of 12 at r = 4. */
    synth_lora l[6];
    synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 4, 50, 0.2f, &err);
    synth_lora_init(&l[1], &p, "blk.1.attn_v.weight", 4, 51, 0.2f, &err);
    CHECK(synth_write_peft_dir(dir, &p, "{\"r\": 4, \"lora_alpha\": 6, \"use_rslora\": true, \"target_modules\": "
                               "[\"q_proj\", \"v_proj\"]}", l, 2, "F32", &err) == LORC_OK);
    const char *gg = test_tmp("peft_rslora.gguf");
    CHECK(synth_write_gguf_adapter(gg, "llama", 12.0f, l, 2, LORC_TYPE_F32, &err) == LORC_OK);
    lorc_adapter *a = NULL;
    float *lp = adapter_logits(m, dir, 1.0f, &a), *lg = adapter_logits(m, gg, 1.0f, NULL);
    if (a) CHECK(a->slots[lorc_model_slot_of_name(m, "blk.1.attn_v.weight")].scale == 3.0f);
    CHECK_MSG(lp && lg && !memcmp(lp, lg, (size_t)nl * sizeof *lp), "rsLoRA PEFT vs GGUF alpha = scale x r");
    lorc_adapter_free(a);
    free(lp);
    free(lg);
    synth_lora_free(&l[0]);
    synth_lora_free(&l[1]);

    /* Patterns: the first matching key in file order wins; a key matches the
     * whole module name or a "."-separated suffix of it; keys are regexes. */
    struct {
        const char *target;
        int rank;
        float scale;
    } want[6] = {
        {"blk.0.attn_q.weight", 4, 2.0f / 4},    /* alpha_pattern "q_proj": 2 */
        {"blk.1.attn_q.weight", 4, 32.0f / 4},   /* "layers.1.self_attn.q_proj": 32 (listed before q_proj) */
        {"blk.0.attn_v.weight", 2, 8.0f / 2},    /* rank_pattern "v_proj": 2 */
        {"blk.1.attn_k.weight", 4, 8.0f / 4},    /* no pattern ("proj" does not match "k_proj") */
        {"blk.0.ffn_down.weight", 8, 8.0f / 8},  /* rank_pattern regex */
        {"blk.1.ffn_down.weight", 4, 8.0f / 4},  /* the regex names layer 0 only */
    };
    for (int i = 0; i < 6; i++) synth_lora_init(&l[i], &p, want[i].target, want[i].rank, 60 + i, 0.2f, &err);
    const char *cfg = "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": \"model\\\\.layers\\\\.[0-9]+\\\\."
                      "(self_attn\\\\.[qkv]_proj|mlp\\\\.down_proj)\","
                      " \"rank_pattern\": {\"v_proj\": 2, \"model\\\\.layers\\\\.0\\\\.mlp\\\\.down_proj\": 8},"
                      " \"alpha_pattern\": {\"proj\": 1000, \"layers.1.self_attn.q_proj\": 32, \"q_proj\": 2}}";
    CHECK(synth_write_peft_dir(dir, &p, cfg, l, 6, "F32", &err) == LORC_OK);
    a = NULL;
    lp = adapter_logits(m, dir, 1.0f, &a);
    for (int i = 0; a && i < 6; i++) {
        const lorc_adapter_weight *w = &a->slots[lorc_model_slot_of_name(m, want[i].target)];
        CHECK_MSG(w->has_lora && w->scale == want[i].scale, "%s: scale %g, PEFT gives %g", want[i].target,
                  (double)w->scale, (double)want[i].scale);
    }
    /* ...and the logits are those of the merged weights at these scales. */
    const char *names[6];
    float *vals[6];
    for (int i = 0; i < 6; i++) {
        int64_t ne;
        vals[i] = synth_read_tensor_f32(base, want[i].target, &ne);
        synth_lora_merge(vals[i], &l[i], want[i].scale);
        names[i] = want[i].target;
    }
    CHECK(synth_write_replaced_model(base, merged, names, vals, 6, &err) == LORC_OK);
    float *lr = synth_logits_file(merged, tokens, N_TOK, &err);
    same(lp, lr, nl, 1e-4, "patterns vs merged");
    /* Converted to GGUF, the per-module scales are folded into lora_b. */
    char args[1024];
    snprintf(args, sizeof args, "convert %s -m %s -o %s > /dev/null", dir, base, conv);
    CHECK(run_cli(args) == 0);
    float *lc = adapter_logits(m, conv, 1.0f, NULL);
    same(lc, lp, nl, 1e-6, "patterns: converted GGUF vs PEFT");
    for (int i = 0; i < 6; i++) {
        free(vals[i]);
        synth_lora_free(&l[i]);
    }
    free(lc);
    free(lr);
    free(lp);
    lorc_adapter_free(a);
    lorc_model_free(m);
}

/* DoRA: W' = m (W + sBA) / ||W + sBA|| per output row, for the scale in use. */
static void dora(uint32_t wtype) {
    synth_params p = model_params("llama", wtype, 24);
    if (wtype != LORC_TYPE_F32) p.n_embd = p.n_ff = 256;
    const char *base = test_tmp("peft_dora_base.gguf"), *dir = test_tmp("peft_dora_dir");
    const char *merged = test_tmp("peft_dora_merged.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l[3];
    const char *targets[3] = {"blk.0.attn_q.weight", "blk.1.attn_v.weight", "blk.1.attn_k.weight"};
    for (int i = 0; i < 3; i++) {
        synth_lora_init(&l[i], &p, targets[i], 4, 70 + i, 0.2f, &err);
        synth_lora_add_magnitude(&l[i], 80 + i, 0.5f, 1.5f, &err);
    }
    CHECK(synth_write_peft_dir(dir, &p, "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true, \"target_modules\": "
                               "[\"q_proj\", \"k_proj\", \"v_proj\"]}", l, 3, "F32", &err) == LORC_OK);
    lorc_model *m = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    lorc_adapter *a = NULL;
    CHECK_MSG(m && lorc_adapter_load(m, dir, &a, &err) == LORC_OK, "%s", err.message);
    if (a) {
        CHECK(a->is_dora);
        int64_t nl = (int64_t)N_TOK * p.n_vocab;
        const float user[3] = {1.0f, 0.5f, 1.0f}; /* back to 1: the cached weights are reused */
        for (int k = 0; k < 3; k++) {
            float s = user[k];
            float *got = synth_logits(m, &a, &s, 1, tokens, N_TOK, &err);
            const char *names[3];
            float *vals[3];
            for (int i = 0; i < 3; i++) {
                int64_t ne;
                vals[i] = synth_read_tensor_f32(base, targets[i], &ne);
                synth_dora_merge(vals[i], &l[i], s * 2.0f);
                names[i] = targets[i];
            }
            CHECK(synth_write_replaced_model(base, merged, names, vals, 3, &err) == LORC_OK);
            float *ref = synth_logits_file(merged, tokens, N_TOK, &err);
            char what[64];
            snprintf(what, sizeof what, "DoRA on %s at scale %g", lorc_type_name(wtype), (double)s);
            same(got, ref, nl, 1e-4, what);
            /* Dropping the magnitude would not pass: the test can tell. */
            for (int i = 0; i < 3; i++) {
                free(vals[i]);
                int64_t ne;
                vals[i] = synth_read_tensor_f32(base, targets[i], &ne);
                synth_lora_merge(vals[i], &l[i], s * 2.0f);
            }
            CHECK(synth_write_replaced_model(base, merged, names, vals, 3, &err) == LORC_OK);
            float *plain = synth_logits_file(merged, tokens, N_TOK, &err);
            CHECK(got && plain && synth_rel_diff(got, plain, nl) > 1e-3);
            for (int i = 0; i < 3; i++) free(vals[i]);
            free(got);
            free(ref);
            free(plain);
        }
        /* Detached, the base is back. */
        float *lb = synth_logits(m, NULL, NULL, 0, tokens, N_TOK, &err);
        float *lb2 = synth_logits_file(base, tokens, N_TOK, &err);
        CHECK(lb && lb2 && !memcmp(lb, lb2, (size_t)nl * sizeof *lb));
        free(lb);
        free(lb2);
        /* convert refuses DoRA with a clear message. */
        char args[1024];
        snprintf(args, sizeof args, "convert %s -m %s -o %s 2> %s", dir, base, test_tmp("peft_dora_conv.gguf"),
                 test_tmp("peft_dora_conv.err"));
        CHECK(run_cli(args) == 1);
        char *msg = test_read_file(test_tmp("peft_dora_conv.err"), NULL);
        CHECK_MSG(msg && strstr(msg, "DoRA"), "convert message: %s", msg ? msg : "(none)");
        free(msg);
    }
    lorc_adapter_free(a);
    lorc_model_free(m);
    for (int i = 0; i < 3; i++) synth_lora_free(&l[i]);
}

/* modules_to_save: full replacements of lm_head, embed_tokens and k_proj (HF row order). */
static void modules_to_save(void) {
    synth_params p = model_params("llama", LORC_TYPE_Q8_0, 25);
    const char *base = test_tmp("peft_mts_base.gguf"), *dir = test_tmp("peft_mts_dir");
    const char *merged = test_tmp("peft_mts_merged.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l;
    synth_lora_init(&l, &p, "blk.0.attn_q.weight", 4, 90, 0.2f, &err);
    int64_t n_head_full = (int64_t)p.n_embd * p.n_vocab;
    int64_t kd = (int64_t)p.n_head_kv * (p.n_embd / p.n_head);
    float *head = malloc((size_t)n_head_full * sizeof *head), *embd = malloc((size_t)n_head_full * sizeof *embd);
    float *kw = malloc((size_t)(kd * p.n_embd) * sizeof *kw), *kw_hf = malloc((size_t)(kd * p.n_embd) * sizeof *kw);
    synth_random_floats(91, head, n_head_full, 0.2f);
    synth_random_floats(92, embd, n_head_full, 0.5f);
    synth_random_floats(93, kw, kd * p.n_embd, 0.15f);
    for (int64_t o = 0; o < kd; o++)
        memcpy(kw_hf + synth_hf_row(o, kd / p.n_head_kv) * p.n_embd, kw + o * p.n_embd, (size_t)p.n_embd * sizeof *kw);
    synth_st_tensor extra[3] = {
        {"base_model.model.lm_head.weight", "F32", 2, {p.n_vocab, p.n_embd}, head, (size_t)n_head_full * 4},
        {"base_model.model.model.embed_tokens.weight", "F32", 2, {p.n_vocab, p.n_embd}, embd, (size_t)n_head_full * 4},
        {"base_model.model.model.layers.1.self_attn.k_proj.modules_to_save.default.weight", "F32", 2, {kd, p.n_embd},
         kw_hf, (size_t)(kd * p.n_embd) * 4},
    };
    CHECK(synth_write_peft_dir_ex(dir, &p, "{\"r\": 4, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"],"
                                  " \"modules_to_save\": [\"lm_head\", \"embed_tokens\", \"layers.1.self_attn.k_proj\"]}",
                                  &l, 1, "F32", extra, 3, &err) == LORC_OK);
    lorc_model *m = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    lorc_adapter *a = NULL;
    float s = 1.5f;
    float *got = m ? adapter_logits(m, dir, s, &a) : NULL;
    int64_t ne;
    float *q = synth_read_tensor_f32(base, "blk.0.attn_q.weight", &ne);
    synth_lora_merge(q, &l, s);
    const char *names[4] = {"blk.0.attn_q.weight", "output.weight", "token_embd.weight", "blk.1.attn_k.weight"};
    float *vals[4] = {q, head, embd, kw};
    CHECK(synth_write_replaced_model(base, merged, names, vals, 4, &err) == LORC_OK);
    float *ref = synth_logits_file(merged, tokens, N_TOK, &err);
    same(got, ref, (int64_t)N_TOK * p.n_vocab, 1e-4, "modules_to_save vs merged");
    char args[1024];
    snprintf(args, sizeof args, "convert %s -m %s -o %s 2> %s", dir, base, test_tmp("peft_mts_conv.gguf"),
             test_tmp("peft_mts_conv.err"));
    CHECK(run_cli(args) == 1);
    char *msg = test_read_file(test_tmp("peft_mts_conv.err"), NULL);
    CHECK_MSG(msg && strstr(msg, "modules_to_save"), "convert message: %s", msg ? msg : "(none)");
    free(msg);
    free(got);
    free(ref);
    free(q);
    free(head);
    free(embd);
    free(kw);
    free(kw_hf);
    synth_lora_free(&l);
    lorc_adapter_free(a);
    lorc_model_free(m);
}

int main(void) {
    forms_agree("llama");
    forms_agree("qwen2");
    half_dtypes();
    scales();
    dora(LORC_TYPE_F32);
    dora(LORC_TYPE_Q8_0);
    modules_to_save();
    return test_finish("test_lora_peft");
}
