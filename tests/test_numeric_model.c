/* test_numeric_model.c — issue 6 item 2: a model whose numbers can only give
 * Inf/NaN is refused at load naming the key or tensor (LORC_ERR_NUMERIC),
 * and one whose big weights overflow fails lorc_decode with "non-finite
 * logits at position N" (leaving the sequence where it was), so that
 * `lorc run` and `lorc perplexity` exit 1 with that line and never print nan. */
#include <math.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "perplexity_chunk.h"
#include "synth.h"
#include "tensor/types.h"
#include "testutil.h"

/* Expects lorc_model_load(path) to fail with LORC_ERR_NUMERIC naming `what`. */
static void expect_refused(const char *path, const char *what) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_model_load(path, &m, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC, "%s: status %d (%s), want LORC_ERR_NUMERIC", what, (int)st, err.message);
    CHECK_MSG(strstr(err.message, what) != NULL, "message '%s' does not name '%s'", err.message, what);
    CHECK(m == NULL);
    lorc_model_free(m);
}

static void test_hparams(void) {
    const float bad_eps[] = {0.0f, -1e-5f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++) {
        synth_params p = synth_default_params();
        p.norm_eps = bad_eps[i];
        lorc_error err = {0};
        const char *path = test_tmp("numeric_eps.gguf");
        CHECK_MSG(synth_write_model(path, &p, &err) == LORC_OK, "%s", err.message);
        expect_refused(path, "layer_norm_rms_epsilon");
    }
    const float bad_base[] = {INFINITY, NAN, 0.0f};
    for (size_t i = 0; i < sizeof bad_base / sizeof bad_base[0]; i++) {
        synth_params p = synth_default_params();
        p.rope_freq_base = bad_base[i];
        lorc_error err = {0};
        const char *path = test_tmp("numeric_base.gguf");
        CHECK_MSG(synth_write_model(path, &p, &err) == LORC_OK, "%s", err.message);
        expect_refused(path, "rope.freq_base");
    }
}

/* synth_copy_gguf edit: values [index, index + count) of tensor `name`
 * become `value` (count 0: one value). */
typedef struct poke {
    const char *name;
    int64_t index;
    float value;
    float *copy;
    int64_t count;
} poke;

static bool poke_tensor(void *user, const char *name, uint32_t *type, uint32_t *n_dims, int64_t ne[4],
                        const void **data) {
    poke *pk = user;
    (void)n_dims;
    if (strcmp(name, pk->name) != 0) return true;
    CHECK(*type == LORC_TYPE_F32);
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3];
    pk->copy = malloc((size_t)n * sizeof *pk->copy);
    memcpy(pk->copy, *data, (size_t)n * sizeof *pk->copy);
    for (int64_t i = 0; i < (pk->count ? pk->count : 1); i++) pk->copy[pk->index + i] = pk->value;
    *data = pk->copy;
    return true;
}

static void write_poked(const char *src, const char *dst, poke *pk) {
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_error err = {0};
    CHECK_MSG(synth_copy_gguf(src, poke_tensor, pk, &w, &f, &err) == LORC_OK, "%s", err.message);
    if (!w) return;
    CHECK_MSG(gguf_writer_write(w, dst, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(pk->copy != NULL, "no tensor '%s' to edit", pk->name);
    gguf_writer_free(w);
    gguf_close(f);
    free(pk->copy);
    pk->copy = NULL;
}

static void test_small_tensors(void) {
    synth_params p = synth_default_params();
    p.arch = "qwen2";
    p.qkv_bias = true;
    p.rope_freqs = true;
    lorc_error err = {0};
    const char *base = test_tmp("numeric_small_base.gguf");
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    lorc_model *m = NULL;
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "the clean model: %s", err.message);
    lorc_model_free(m);

    struct {
        const char *tensor;
        float value;
    } cases[] = {
        {"blk.0.attn_norm.weight", NAN},
        {"blk.1.ffn_norm.weight", INFINITY},
        {"output_norm.weight", -INFINITY},
        {"blk.1.attn_k.bias", NAN},
        {"blk.0.attn_v.bias", INFINITY},
        {"rope_freqs.weight", NAN},
        {"rope_freqs.weight", 0.0f},
        {"rope_freqs.weight", -2.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        poke pk = {cases[i].tensor, 1, cases[i].value, NULL, 1};
        const char *path = test_tmp("numeric_small.gguf");
        write_poked(base, path, &pk);
        expect_refused(path, cases[i].tensor);
    }
}

/* A model that loads (its big matrices are not read at load) but whose
 * output row 5 holds +Inf: every logits row has Inf or NaN at token 5. */
static const char *write_overflowing_model(void) {
    synth_params p = synth_default_params();
    lorc_error err = {0};
    const char *base = test_tmp("numeric_logits_base.gguf");
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    const char *path = test_tmp("numeric_logits.gguf");
    poke pk = {"output.weight", 5 * 32 + 3, INFINITY, NULL, 1};
    write_poked(base, path, &pk);
    return path;
}

static void test_decode(const char *path) {
    lorc_model *m = NULL;
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(path, &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return;
    CHECK(lorc_context_new(m, NULL, &ctx, &err) == LORC_OK);
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    const int V = lorc_model_n_vocab(m);
    float *logits = malloc(sizeof(float) * (size_t)V * 4);
    const int32_t toks[4] = {1, 7, 9, 11};

    lorc_status st = lorc_decode(ctx, seq, toks, 4, false, logits, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC, "last-row decode: status %d (%s)", (int)st, err.message);
    CHECK_MSG(strstr(err.message, "non-finite logits at position 3 (the model or an adapter produced Inf/NaN)"),
              "message: %s", err.message);
    CHECK(lorc_sequence_n_past(seq) == 0); /* nothing kept */

    st = lorc_decode(ctx, seq, toks, 4, true, logits, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, "at position 0 "), "all-rows decode: %s", err.message);
    CHECK(lorc_sequence_n_past(seq) == 0);

    /* Without logits wanted there is nothing to check. */
    CHECK(lorc_decode(ctx, seq, toks, 2, false, NULL, &err) == LORC_OK && lorc_sequence_n_past(seq) == 2);
    st = lorc_decode(ctx, seq, toks + 2, 2, true, logits, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, "at position 2 "), "after 2 tokens: %s", err.message);
    CHECK(lorc_sequence_n_past(seq) == 2);
    free(logits);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    lorc_model_free(m);
}

/* Runs `lorc ARGS` with stdout and stderr to files; returns the exit code. */
static int run_cli(const char *args, char **out, char **errtxt) {
    const char *bin = getenv("LORC_BIN");
    if (!bin) return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", bin, args, test_tmp("numeric_cli.out"),
             test_tmp("numeric_cli.err"));
    int rc = system(cmd);
    *out = test_read_file(test_tmp("numeric_cli.out"), NULL);
    *errtxt = test_read_file(test_tmp("numeric_cli.err"), NULL);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(const char *model_path) {
    CHECK_MSG(getenv("LORC_BIN") != NULL, "LORC_BIN is not set");
    char path[1024], text[1024]; /* test_tmp's buffers are reused */
    snprintf(path, sizeof path, "%s", model_path);
    snprintf(text, sizeof text, "%s", test_tmp("numeric_text.txt"));
    FILE *fp = fopen(test_tmp("numeric_text.txt"), "w");
    for (int i = 0; i < 200; i++) fprintf(fp, "a b c d e ");
    fclose(fp);
    char args[1024];
    const char *cmds[] = {"run -m '%s' -p '' -n 4 --temp 0", "run -m '%s' -p '' -n 4",
                          "perplexity -m '%s' -f '%s' -c 16"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, cmds[i], path, text);
        char *out = NULL, *err = NULL;
        int rc = run_cli(args, &out, &err);
        CHECK_MSG(rc == 1, "lorc %s: exit %d, want 1", args, rc);
        CHECK_MSG(err && strstr(err, "non-finite logits at position"), "lorc %s: stderr '%s'", args, err ? err : "");
        CHECK_MSG(out && !strstr(out, "nan") && !strstr(out, "NaN"), "lorc %s printed nan: '%s'", args,
                  out ? out : "");
        free(out);
        free(err);
    }
}

/* Finite but extreme logits: output row 5 all 1e30, so every other token has
 * an NLL near 1e30 and exp(mean NLL) is not a double. */
static void test_perplexity_overflow(void) {
    const double nll = ppl_token_nll((const float[]){3e38f, -3e38f}, 2, 1);
    CHECK_MSG(isfinite(nll) && nll > 6e38, "NLL of finite extreme logits: %g", nll);
    synth_params p = synth_default_params();
    lorc_error err = {0};
    char base[1024], path[1024], text[1024];
    snprintf(base, sizeof base, "%s", test_tmp("numeric_ppl_base.gguf"));
    snprintf(path, sizeof path, "%s", test_tmp("numeric_ppl.gguf"));
    snprintf(text, sizeof text, "%s", test_tmp("numeric_text.txt"));
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    poke pk = {"output.weight", 5 * 32, 1e30f, NULL, 32};
    write_poked(base, path, &pk);
    char args[3072];
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' -c 16", path, text);
    char *out = NULL, *errtxt = NULL;
    int rc = run_cli(args, &out, &errtxt);
    CHECK_MSG(rc == 1, "lorc %s: exit %d, want 1", args, rc);
    CHECK_MSG(errtxt && strstr(errtxt, "perplexity overflows"), "stderr: %s", errtxt ? errtxt : "");
    CHECK_MSG(out && !strstr(out, "nan") && !strstr(out, "inf"), "stdout: %s", out ? out : "");
    free(out);
    free(errtxt);
}

int main(void) {
    test_hparams();
    test_small_tensors();
    char path[1024];
    snprintf(path, sizeof path, "%s", write_overflowing_model());
    test_decode(path);
    test_cli(path);
    test_perplexity_overflow();
    return test_finish("test_numeric_model");
}
