/* test_adapter_errors.c — mismatched and broken adapters are refused with a
 * one-line message naming the file and the tensor (or field) at fault:
 * another architecture, wrong shapes, unknown tensor names, A/B rank
 * mismatch, NaN/Inf, truncated safetensors, bad JSON, unsupported PEFT
 * settings. Nothing is half-applied: the model and a sequence's adapters
 * keep working exactly as before. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter/adapter.h"
#include "format/gguf.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

static const int32_t tokens[] = {1, 4, 8, 15, 16, 23, 42};
enum { N_TOK = sizeof tokens / sizeof tokens[0] };

static synth_params P;
static lorc_model *M;
static float *BASE_LOGITS;

/* Loading `path` must fail; the message is one line holding every needle. */
static void expect_refused(const char *what, const char *path, const char *n1, const char *n2) {
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_adapter_load(M, path, &a, &err);
    CHECK_MSG(st != LORC_OK, "%s: accepted", what);
    CHECK(a == NULL);
    lorc_adapter_free(a);
    CHECK_MSG(strchr(err.message, '\n') == NULL, "%s: multi-line message", what);
    CHECK_MSG(n1 == NULL || strstr(err.message, n1), "%s: message '%s' lacks '%s'", what, err.message, n1);
    CHECK_MSG(n2 == NULL || strstr(err.message, n2), "%s: message '%s' lacks '%s'", what, err.message, n2);
    printf("  %-28s -> %s\n", what, err.message);
}

/* A GGUF adapter with explicit tensors (F32 zeros unless data given). */
typedef struct raw_tensor {
    const char *name;
    int64_t ne0, ne1;
    const float *data;
} raw_tensor;

static void write_raw_adapter(const char *path, const char *arch, const char *type, const raw_tensor *t, int n) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", arch);
    gguf_writer_set_str(w, "general.type", type);
    gguf_writer_set_str(w, "adapter.type", "lora");
    gguf_writer_set_f32(w, "adapter.lora.alpha", 4.0f);
    float *bufs[8] = {0};
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        bufs[i] = calloc((size_t)(ne[0] * ne[1]), sizeof(float));
        if (t[i].data) memcpy(bufs[i], t[i].data, (size_t)(ne[0] * ne[1]) * sizeof(float));
        gguf_writer_add_tensor(w, t[i].name, LORC_TYPE_F32, 2, ne, bufs[i]);
    }
    lorc_error err;
    CHECK_MSG(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    for (int i = 0; i < n; i++) free(bufs[i]);
}

static void gguf_cases(void) {
    const char *path = test_tmp("err_adapter.gguf");
    lorc_error err = {0};
    synth_lora l;
    synth_lora_init(&l, &P, "blk.0.attn_v.weight", 4, 1, 0.1f, &err);

    CHECK(synth_write_gguf_adapter(path, "qwen2", 8.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    expect_refused("another architecture", path, "general.architecture", "qwen2");

    l.b[5] = NAN;
    CHECK(synth_write_gguf_adapter(path, "llama", 8.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    expect_refused("NaN in lora_b", path, "blk.0.attn_v.weight.lora_b", "NaN");
    l.b[5] = 0.0f;
    l.a[7] = -INFINITY;
    CHECK(synth_write_gguf_adapter(path, "llama", 8.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    expect_refused("Inf in lora_a", path, "blk.0.attn_v.weight.lora_a", "Inf");
    synth_lora_free(&l);

    /* An adapter made for a wider model. */
    synth_params wide = P;
    wide.n_embd = 48;
    synth_lora_init(&l, &wide, "blk.1.ffn_up.weight", 4, 2, 0.1f, &err);
    CHECK(synth_write_gguf_adapter(path, "llama", 8.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    expect_refused("wrong shape", path, "blk.1.ffn_up.weight", "48");
    synth_lora_free(&l);

    int64_t e = P.n_embd, kv = (int64_t)P.n_head_kv * (P.n_embd / P.n_head);
    raw_tensor unknown[2] = {{"blk.0.attn_zz.weight.lora_a", e, 4, NULL}, {"blk.0.attn_zz.weight.lora_b", 4, e, NULL}};
    write_raw_adapter(path, "llama", "adapter", unknown, 2);
    expect_refused("unknown tensor name", path, "blk.0.attn_zz.weight", NULL);
    raw_tensor beyond[2] = {{"blk.9.attn_q.weight.lora_a", e, 4, NULL}, {"blk.9.attn_q.weight.lora_b", 4, e, NULL}};
    write_raw_adapter(path, "llama", "adapter", beyond, 2);
    expect_refused("layer beyond the base", path, "blk.9.attn_q.weight", NULL);
    raw_tensor rank[2] = {{"blk.0.attn_k.weight.lora_a", e, 4, NULL}, {"blk.0.attn_k.weight.lora_b", 3, kv, NULL}};
    write_raw_adapter(path, "llama", "adapter", rank, 2);
    expect_refused("A/B rank mismatch", path, "blk.0.attn_k.weight", "rank");
    raw_tensor half[1] = {{"blk.0.attn_k.weight.lora_a", e, 4, NULL}};
    write_raw_adapter(path, "llama", "adapter", half, 1);
    expect_refused("missing lora_b", path, "blk.0.attn_k.weight.lora_b", NULL);
    raw_tensor odd[1] = {{"blk.0.attn_k.weight.scale", e, 4, NULL}};
    write_raw_adapter(path, "llama", "adapter", odd, 1);
    expect_refused("not a LoRA tensor", path, "blk.0.attn_k.weight.scale", NULL);
    raw_tensor norm[2] = {{"blk.0.attn_norm.weight.lora_a", e, 4, NULL}, {"blk.0.attn_norm.weight.lora_b", 4, 1, NULL}};
    write_raw_adapter(path, "llama", "adapter", norm, 2);
    expect_refused("LoRA on a norm", path, "blk.0.attn_norm.weight", NULL);
    raw_tensor ok[2] = {{"blk.0.attn_k.weight.lora_a", e, 4, NULL}, {"blk.0.attn_k.weight.lora_b", 4, kv, NULL}};
    write_raw_adapter(path, "llama", "model", ok, 2);
    expect_refused("general.type model", path, "general.type", "'model'");
    /* Norm vectors llama.cpp's converter may add are ignored, like llama.cpp does. */
    raw_tensor with_norm[3] = {ok[0], ok[1], {"blk.0.attn_norm.weight", e, 1, NULL}};
    write_raw_adapter(path, "llama", "adapter", with_norm, 3);
    lorc_adapter *a = NULL;
    CHECK_MSG(lorc_adapter_load(M, path, &a, &err) == LORC_OK, "%s", err.message);
    lorc_adapter_free(a);

    expect_refused("a base model", test_tmp("err_base.gguf"), "general.type", NULL);
    expect_refused("no such file", test_tmp("err_missing.gguf"), "err_missing.gguf", NULL);
}

/* A valid PEFT directory to break. */
static synth_lora PL[2];

static void write_peft(const char *dir, const char *cfg) {
    lorc_error err = {0};
    CHECK_MSG(synth_write_peft_dir(dir, &P, cfg, PL, 2, "F32", &err) == LORC_OK, "%s", err.message);
}

static void write_config(const char *dir, const char *cfg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *fp = fopen(path, "wb");
    fputs(cfg, fp);
    fclose(fp);
}

static void peft_cases(void) {
    const char *dir = test_tmp("err_peft");
    const char *good = "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"]}";
    lorc_error err = {0};
    synth_lora_init(&PL[0], &P, "blk.0.attn_q.weight", 4, 3, 0.1f, &err);
    synth_lora_init(&PL[1], &P, "blk.1.attn_v.weight", 4, 4, 0.1f, &err);
    write_peft(dir, good);
    lorc_adapter *a = NULL;
    CHECK_MSG(lorc_adapter_load(M, dir, &a, &err) == LORC_OK, "%s", err.message);
    lorc_adapter_free(a);

    /* Truncated safetensors: every cut inside the data or header is refused. */
    char st_path[1024];
    snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    size_t len;
    char *bytes = test_read_file(st_path, &len);
    CHECK(bytes != NULL);
    size_t cuts[4] = {len - 1, len - 600, 20, 4};
    for (int i = 0; bytes && i < 4; i++) {
        FILE *fp = fopen(st_path, "wb");
        fwrite(bytes, 1, cuts[i], fp);
        fclose(fp);
        expect_refused("truncated safetensors", dir, "adapter_model.safetensors", i < 2 ? "lora_" : NULL);
    }
    free(bytes);

    write_peft(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"]");
    expect_refused("bad JSON", dir, "adapter_config.json", "JSON");
    write_config(dir, "{\"r\": \"four\"}");
    expect_refused("r not a number", dir, "adapter_config.json", "r ");
    write_config(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"], \"bias\": \"all\"}");
    expect_refused("bias all", dir, "bias", "all");
    write_config(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"], \"peft_type\": \"IA3\"}");
    expect_refused("not LoRA", dir, "peft_type", "IA3");
    write_config(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": \"(unclosed\"}");
    expect_refused("bad regex", dir, "target_modules", "(unclosed");
    write_config(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}");
    expect_refused("not a target", dir, "v_proj.lora_A.weight", "target_modules");
    write_config(dir, "{\"r\": 2, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"]}");
    expect_refused("rank vs config", dir, "q_proj.lora_A.weight", "r=2");
    write_config(dir, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"], \"use_dora\": true}");
    expect_refused("use_dora, no magnitude", dir, "lora_magnitude_vector", NULL);

    /* Tensor-level problems in the safetensors file. */
    int64_t e = P.n_embd;
    float *zeros = calloc((size_t)(e * 8), sizeof(float));
    float *nan = calloc((size_t)(e * 8), sizeof(float));
    nan[3] = NAN;
    synth_st_tensor bad_name[1] = {
        {"base_model.model.model.layers.0.self_attn.qq_proj.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", bad_name, 1, &err) == LORC_OK);
    expect_refused("unknown PEFT module", dir, "layers.0.self_attn.qq_proj.lora_A.weight", NULL);
    synth_st_tensor not_peft[1] = {{"lm_head.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", not_peft, 1, &err) == LORC_OK);
    expect_refused("no base_model prefix", dir, "'lm_head.lora_A.weight'", NULL);
    synth_st_tensor too_deep[2] = {
        {"base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16},
        {"base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight", "F32", 2, {e, 4}, zeros, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", too_deep, 2, &err) == LORC_OK);
    expect_refused("layer beyond the base", dir, "layers.7.self_attn.q_proj", "blk.7.attn_q.weight");
    synth_st_tensor wrong[2] = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", 2, {4, e + 8}, zeros, (size_t)(e + 8) * 16},
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", "F32", 2, {e, 4}, zeros, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", wrong, 2, &err) == LORC_OK);
    expect_refused("wrong shape", dir, "blk.1.attn_q.weight", "inputs");
    synth_st_tensor rank[2] = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16},
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", "F32", 2, {e, 2}, zeros, (size_t)e * 8}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", rank, 2, &err) == LORC_OK);
    expect_refused("A/B rank mismatch", dir, "blk.1.attn_q.weight", "rank");
    synth_st_tensor nans[2] = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16},
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", "F32", 2, {e, 4}, nan, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", nans, 2, &err) == LORC_OK);
    expect_refused("NaN", dir, "layers.1.self_attn.q_proj.lora_B.weight", "NaN");
    synth_st_tensor lonely[1] = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", 2, {4, e}, zeros, (size_t)e * 16}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", lonely, 1, &err) == LORC_OK);
    expect_refused("missing lora_B", dir, "layers.1.self_attn.q_proj", "lora_B");
    synth_st_tensor dtype[1] = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "I64", 2, {4, e}, zeros, (size_t)e * 32}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", dtype, 1, &err) == LORC_OK);
    expect_refused("I64 dtype", dir, "layers.1.self_attn.q_proj.lora_A.weight", "I64");
    synth_st_tensor mag[1] = {
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "F32", 1, {e}, zeros, (size_t)e * 4}};
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", mag, 1, &err) == LORC_OK);
    expect_refused("magnitude without DoRA", dir, "q_proj.lora_magnitude_vector", "use_dora");
    synth_st_tensor saved[1] = {{"base_model.model.lm_head.weight", "F32", 2, {P.n_vocab, e}, NULL, 0}};
    float *head = calloc((size_t)(P.n_vocab * e), sizeof(float));
    saved[0].data = head;
    saved[0].nbytes = (size_t)(P.n_vocab * e) * 4;
    CHECK(synth_write_peft_dir_ex(dir, &P, good, PL, 2, "F32", saved, 1, &err) == LORC_OK);
    expect_refused("not in modules_to_save", dir, "lm_head.weight", "modules_to_save");
    saved[0].shape[0] = P.n_vocab - 1;
    saved[0].nbytes = (size_t)((P.n_vocab - 1) * e) * 4;
    CHECK(synth_write_peft_dir_ex(dir, &P, "{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"],"
                                  " \"modules_to_save\": [\"lm_head\"]}", PL, 2, "F32", saved, 1, &err) == LORC_OK);
    expect_refused("replacement shape", dir, "lm_head.weight", "output.weight");
    free(head);
    free(zeros);
    free(nan);

    /* A directory without the weights, and one with pickled weights only. */
    char path[1024];
    write_peft(dir, good);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    unlink(path);
    expect_refused("no safetensors", dir, "adapter_model.safetensors", NULL);
    snprintf(path, sizeof path, "%s/adapter_model.bin", dir);
    FILE *fp = fopen(path, "wb");
    fputs("pickle", fp);
    fclose(fp);
    expect_refused("pickled weights", dir, "adapter_model.bin", "safetensors");
    unlink(path);
    synth_lora_free(&PL[0]);
    synth_lora_free(&PL[1]);
}

int main(void) {
    P = synth_default_params();
    P.n_head_kv = 2;
    P.seed = 9;
    lorc_error err = {0};
    CHECK_MSG(synth_write_model(test_tmp("err_base.gguf"), &P, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(lorc_model_load(test_tmp("err_base.gguf"), &M, &err) == LORC_OK, "%s", err.message);
    if (!M) return test_finish("test_adapter_errors");
    int64_t nl = (int64_t)N_TOK * P.n_vocab;
    BASE_LOGITS = synth_logits(M, NULL, NULL, 0, tokens, N_TOK, &err);

    /* A sequence with a good adapter attached, kept across every failure. */
    synth_lora good;
    synth_lora_init(&good, &P, "blk.1.attn_q.weight", 4, 77, 0.2f, &err);
    const char *good_path = test_tmp("err_good.gguf");
    CHECK(synth_write_gguf_adapter(good_path, "llama", 8.0f, &good, 1, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&good);
    lorc_adapter *ga = NULL;
    CHECK(lorc_adapter_load(M, good_path, &ga, &err) == LORC_OK);
    float one = 1.0f;
    float *with_good = synth_logits(M, &ga, &one, 1, tokens, N_TOK, &err);

    gguf_cases();
    peft_cases();

    /* The model, and an adapter loaded before the failures, work as before. */
    float *after = synth_logits(M, NULL, NULL, 0, tokens, N_TOK, &err);
    CHECK(after && BASE_LOGITS && !memcmp(after, BASE_LOGITS, (size_t)nl * sizeof *after));
    float *after_good = synth_logits(M, &ga, &one, 1, tokens, N_TOK, &err);
    CHECK(after_good && with_good && !memcmp(after_good, with_good, (size_t)nl * sizeof *after_good));

    /* A refused adapter stack leaves the sequence's current stack in place. */
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    CHECK(lorc_context_new(M, NULL, &ctx, &err) == LORC_OK && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    CHECK(lorc_sequence_set_adapters(seq, &ga, &one, 1, &err) == LORC_OK);
    lorc_adapter *twice[2] = {ga, ga};
    float two[2] = {1.0f, 1.0f};
    CHECK(lorc_sequence_set_adapters(seq, twice, two, 2, &err) != LORC_OK);
    float nanscale = NAN;
    CHECK(lorc_sequence_set_adapters(seq, &ga, &nanscale, 1, &err) != LORC_OK);
    float *l = malloc((size_t)nl * sizeof *l);
    CHECK(lorc_decode(ctx, seq, tokens, N_TOK, true, l, &err) == LORC_OK);
    CHECK(with_good && !memcmp(l, with_good, (size_t)nl * sizeof *l));
    free(l);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);

    free(after);
    free(after_good);
    free(with_good);
    free(BASE_LOGITS);
    lorc_adapter_free(ga);
    lorc_model_free(M);
    return test_finish("test_adapter_errors");
}
