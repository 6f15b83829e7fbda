/* test_review_core.c — crafted models whose hyper-parameters are odd or
 * disagree with their tensors: each must either be refused at load with a
 * one-line error or run a forward pass without reading out of bounds (the
 * ASan build makes any overrun fatal). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/safetensors.h"
#include "lorc.h"
#include "synth.h"
#include "testutil.h"

/* A metadata edit applied on copy: set `key` to u32 `val` (or a token list of
 * `n_tokens` entries when n_tokens > 0). */
typedef struct kv_edit {
    const char *key;
    uint32_t val;
    int n_tokens;
} kv_edit;

static lorc_status copy_with(const char *src, const char *dst, const kv_edit *e, int n, lorc_error *err) {
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_status st = synth_copy_gguf(src, NULL, NULL, &w, &f, err);
    if (st) return st;
    for (int i = 0; i < n && !st; i++) {
        if (e[i].n_tokens > 0) {
            const char **toks = malloc((size_t)e[i].n_tokens * sizeof *toks);
            char(*buf)[16] = malloc((size_t)e[i].n_tokens * sizeof *buf);
            for (int t = 0; t < e[i].n_tokens; t++) {
                snprintf(buf[t], sizeof buf[t], "tok%d", t);
                toks[t] = buf[t];
            }
            /* scores/types must keep the same length as the tokens */
            float *scores = calloc((size_t)e[i].n_tokens, sizeof *scores);
            int32_t *types = calloc((size_t)e[i].n_tokens, sizeof *types);
            for (int t = 0; t < e[i].n_tokens; t++) types[t] = 1;
            gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)e[i].n_tokens);
            gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)e[i].n_tokens);
            st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types,
                                     (uint64_t)e[i].n_tokens);
            /* the writer borrows nothing from these for kvs: values are encoded on set */
            free(toks);
            free(buf);
            free(scores);
            free(types);
        } else {
            st = gguf_writer_set_u32(w, e[i].key, e[i].val);
        }
    }
    if (!st) st = gguf_writer_write(w, dst, NULL, NULL, err);
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}

/* Loads `path`; when it loads, decodes a few tokens and checks the logits
 * are finite. Returns the load status; err gets the load error. */
static lorc_status load_and_run(const char *path, lorc_error *err) {
    lorc_model *m = NULL;
    lorc_status st = lorc_model_load(path, &m, err);
    if (st != LORC_OK) {
        CHECK_MSG(m == NULL, "%s: model returned on failure", path);
        CHECK_MSG(strchr(err->message, '\n') == NULL, "multi-line message: %s", err->message);
        return st;
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = 16;
    cp.n_batch = 4;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    lorc_error e2 = {0};
    CHECK_MSG(lorc_context_new(m, &cp, &ctx, &e2) == LORC_OK, "%s: context: %s", path, e2.message);
    if (ctx) CHECK_MSG(lorc_sequence_new(ctx, &seq, &e2) == LORC_OK, "%s: sequence: %s", path, e2.message);
    if (seq) {
        int nv = lorc_model_n_vocab(m);
        int32_t toks[6] = {1, 3 % nv, 5 % nv, 7 % nv, 2, nv - 1};
        float *logits = malloc(6 * (size_t)nv * sizeof(float));
        CHECK_MSG(lorc_decode(ctx, seq, toks, 6, true, logits, &e2) == LORC_OK, "%s: decode: %s", path, e2.message);
        bool finite = true;
        for (size_t i = 0; i < 6 * (size_t)nv; i++) finite &= isfinite(logits[i]) != 0;
        CHECK_MSG(finite, "%s: non-finite logits", path);
        free(logits);
    }
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    lorc_model_free(m);
    return LORC_OK;
}

static void expect_refused(const char *path, const char *needle) {
    lorc_error err = {0};
    lorc_status st = load_and_run(path, &err);
    CHECK_MSG(st != LORC_OK, "%s: loaded, expected a refusal mentioning '%s'", path, needle);
    CHECK_MSG(st == LORC_OK || strstr(err.message, needle), "%s: message '%s' lacks '%s'", path, err.message, needle);
}

static void expect_runs(const char *path) {
    lorc_error err = {0};
    lorc_status st = load_and_run(path, &err);
    CHECK_MSG(st == LORC_OK, "%s: refused: %s", path, err.message);
}

/* A safetensors file of one JSON header and `n_data` zero bytes. */
static lorc_status st_open_json(const char *json, size_t n_data, lorc_error *err) {
    size_t hl = strlen(json), n = 8 + hl + n_data;
    uint8_t *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, json, hl);
    safetensors_file *f = NULL;
    lorc_status st = safetensors_open_memory(buf, n, "rc.safetensors", &f, err);
    safetensors_close(f);
    free(buf);
    return st;
}

/* JSON escapes can put control characters into names and dtypes: the file is
 * refused (names) and every message stays on one line. */
static void test_safetensors_one_line(void) {
    lorc_error err = {0};
    CHECK(st_open_json("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &err) == LORC_OK);
    const char *bad[] = {
        "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F\\n32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"__metadata__\":{\"k\\r\":\"v\"}}",
        "{\"__metadata__\":{\"k\\n\":7}}",
        "{\"a\":\n{\"dtype\":\"F32\",\n\"shape\":[2],\"data_offsets\":[0,8]}\n,}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        lorc_status st = st_open_json(bad[i], 8, &err);
        CHECK_MSG(st != LORC_OK, "case %zu loaded", i);
        CHECK_MSG(strncmp(err.message, "rc.safetensors: ", 16) == 0 && !strchr(err.message, '\n') &&
                      !strchr(err.message, '\r'),
                  "case %zu: message '%s'", i, err.message);
    }
}

int main(void) {
    test_safetensors_one_line();
    lorc_error err = {0};
    char base[512];
    snprintf(base, sizeof base, "%s", test_tmp("rc_base.gguf"));
    synth_params p = synth_default_params();
    p.n_head_kv = 2;
    if (synth_write_model(base, &p, &err) != LORC_OK) {
        fprintf(stderr, "synth: %s\n", err.message);
        return 1;
    }
    expect_runs(base);

    /* n_head does not divide n_embd: head_dim is n_embd / n_head rounded
     * down, and the tensors are shaped for that. */
    synth_params q = synth_default_params();
    q.n_head = 5;
    q.n_head_kv = 5;
    q.n_ff = 40;
    CHECK(synth_write_model(test_tmp("rc_nodiv.gguf"), &q, &err) == LORC_OK);
    expect_runs(test_tmp("rc_nodiv.gguf"));

    /* head_dim * n_head larger than n_embd (key_length), with GQA and rope_freqs. */
    q = synth_default_params();
    q.head_dim = 16;
    q.n_head_kv = 2;
    q.rope_freqs = true;
    q.qkv_bias = true;
    CHECK(synth_write_model(test_tmp("rc_wide.gguf"), &q, &err) == LORC_OK);
    expect_runs(test_tmp("rc_wide.gguf"));

    /* Metadata that disagrees with the tensors or is out of range. */
    struct {
        const char *name;
        kv_edit e, e2; /* e2.key NULL and e2.n_tokens 0: no second edit */
        const char *needle;
    } bad[] = {
        {"rc_kv0.gguf", {"llama.attention.head_count_kv", 0, 0}, {NULL, 0, 0}, "head_count_kv"},
        {"rc_kvbig.gguf", {"llama.attention.head_count_kv", 8, 0}, {NULL, 0, 0}, "head_count_kv"},
        {"rc_kv3.gguf", {"llama.attention.head_count_kv", 3, 0}, {NULL, 0, 0}, "head_count_kv"},
        {"rc_head8.gguf", {"llama.attention.head_count", 8, 0}, {"llama.rope.dimension_count", 4, 0}, "shape"},
        {"rc_head8r.gguf", {"llama.attention.head_count", 8, 0}, {NULL, 0, 0}, "dimension_count"},
        {"rc_head0.gguf", {"llama.attention.head_count", 0, 0}, {NULL, 0, 0}, "head_count"},
        {"rc_keylen.gguf", {"llama.attention.key_length", 4, 0}, {"llama.rope.dimension_count", 4, 0}, "shape"},
        {"rc_vallen.gguf", {"llama.attention.value_length", 4, 0}, {NULL, 0, 0}, "value_length"},
        {"rc_embd.gguf", {"llama.embedding_length", 64, 0}, {NULL, 0, 0}, "shape"},
        {"rc_ff.gguf", {"llama.feed_forward_length", 40, 0}, {NULL, 0, 0}, "shape"},
        {"rc_layers.gguf", {"llama.block_count", 3, 0}, {NULL, 0, 0}, "missing tensor"},
        {"rc_layers1.gguf", {"llama.block_count", 1, 0}, {NULL, 0, 0}, "unexpected tensor"},
        {"rc_ctx_huge.gguf", {"llama.context_length", 0xffffffffu, 0}, {NULL, 0, 0}, "context_length"},
        {"rc_rope_odd.gguf", {"llama.rope.dimension_count", 3, 0}, {NULL, 0, 0}, "dimension_count"},
        {"rc_rope_big.gguf", {"llama.rope.dimension_count", 16, 0}, {NULL, 0, 0}, "dimension_count"},
        /* the tokenizer has fewer / more tokens than token_embd has rows */
        {"rc_vocab_small.gguf", {NULL, 0, 40}, {NULL, 0, 0}, "tokenizer has 40 tokens"},
        {"rc_vocab_big.gguf", {NULL, 0, 100}, {NULL, 0, 0}, "tokenizer has 100 tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s", test_tmp(bad[i].name));
        kv_edit e[2] = {bad[i].e, bad[i].e2};
        int n_e = bad[i].e2.key || bad[i].e2.n_tokens ? 2 : 1;
        CHECK_MSG(copy_with(base, path, e, n_e, &err) == LORC_OK, "%s: %s", bad[i].name, err.message);
        expect_refused(path, bad[i].needle);
    }

    /* Strings from the file quoted in refusals keep the message on one line. */
    const char *str_keys[] = {"general.architecture", "llama.rope.scaling.type"};
    for (int i = 0; i < 2; i++) {
        gguf_writer *w = NULL;
        gguf_file *src = NULL;
        char path[512];
        snprintf(path, sizeof path, "%s", test_tmp(i ? "rc_scaling_nl.gguf" : "rc_arch_nl.gguf"));
        CHECK(synth_copy_gguf(base, NULL, NULL, &w, &src, &err) == LORC_OK);
        CHECK(w && gguf_writer_set_str(w, str_keys[i], "bad\nname\r") == LORC_OK);
        CHECK(w && gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK);
        gguf_writer_free(w);
        gguf_close(src);
        expect_refused(path, "bad?name?");
    }

    /* Partial rotary dims and a huge trained context (the context here asks
     * for 16 positions) still run. */
    kv_edit ok_edits[] = {{"llama.rope.dimension_count", 4, 0}, {"llama.context_length", 0x7fffffffu, 0}};
    CHECK(copy_with(base, test_tmp("rc_rope4.gguf"), &ok_edits[0], 1, &err) == LORC_OK);
    expect_runs(test_tmp("rc_rope4.gguf"));
    CHECK(copy_with(base, test_tmp("rc_ctxmax.gguf"), &ok_edits[1], 1, &err) == LORC_OK);
    expect_runs(test_tmp("rc_ctxmax.gguf"));

    /* Bad tokens and overflowing contexts fail without moving n_past. */
    lorc_model *m = NULL;
    if (lorc_model_load(base, &m, &err) == LORC_OK) {
        lorc_context_params cp = lorc_context_default_params();
        cp.n_threads = 2;
        cp.n_ctx = 8;
        cp.n_batch = 3;
        lorc_context *ctx = NULL;
        lorc_sequence *seq = NULL;
        CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
        CHECK(ctx && lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
        if (seq) {
            int nv = lorc_model_n_vocab(m);
            float *logits = malloc(8 * (size_t)nv * sizeof(float));
            int32_t t1[3] = {1, nv, 2}, t2[3] = {1, -1, 2}, t9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
            CHECK(lorc_decode(ctx, seq, t1, 3, true, logits, &err) == LORC_ERR_INVALID);
            CHECK(lorc_decode(ctx, seq, t2, 3, true, logits, &err) == LORC_ERR_INVALID);
            CHECK(lorc_decode(ctx, seq, t9, 9, true, logits, &err) == LORC_ERR_CONTEXT_FULL);
            CHECK(lorc_sequence_n_past(seq) == 0);
            CHECK(lorc_decode(ctx, seq, t9, 8, true, logits, &err) == LORC_OK);
            CHECK(lorc_sequence_n_past(seq) == 8);
            CHECK(lorc_decode(ctx, seq, t9, 1, false, logits, &err) == LORC_ERR_CONTEXT_FULL);
            CHECK(lorc_sequence_n_past(seq) == 8);
            free(logits);
        }
        lorc_sequence_free(seq);
        lorc_context_free(ctx);
        lorc_model_free(m);
    }
    return test_finish("test_review_core");
}
