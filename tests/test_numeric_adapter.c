/* test_numeric_adapter.c — issue 6 item 2, adapters: LORC_ERR_NUMERIC naming
 * the key or tensor for a non-finite alpha, an effective scale (user scale ×
 * alpha/r) that is not a finite float, factors whose bound
 * |s|·max|B|·max|A|·r overflows a float (at load, at user scale 1, and again
 * when attached at another scale), and a DoRA magnitude that overflows. A
 * sane adapter at a sane scale still attaches. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

#define TARGET "blk.0.attn_q.weight"

static synth_params P;
static lorc_model *M;

static void expect_load_refused(const char *path, const char *n1, const char *n2) {
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_adapter_load(M, path, &a, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && a == NULL, "%s: status %d (%s), want LORC_ERR_NUMERIC", path, (int)st,
              err.message);
    CHECK_MSG(strstr(err.message, n1) && (!n2 || strstr(err.message, n2)), "message '%s' lacks '%s'/'%s'",
              err.message, n1, n2 ? n2 : "");
    CHECK(strchr(err.message, '\n') == NULL);
    lorc_adapter_free(a);
}

/* Writes an adapter of one pair on TARGET (rank 4, values ±0.2; a0/b0, when
 * not 0, replace the first value of A/B): GGUF with `alpha`, or, with a DoRA
 * magnitude `mag`, a PEFT directory with alpha 4. */
static const char *write_adapter(const char *file, float alpha, float a0, float b0, float mag) {
    synth_lora l;
    lorc_error err = {0};
    CHECK(synth_lora_init(&l, &P, TARGET, 4, 3, 0.2f, &err) == LORC_OK);
    if (a0 != 0.0f) l.a[0] = a0;
    if (b0 != 0.0f) l.b[0] = b0;
    if (mag != 0.0f) {
        CHECK(synth_lora_add_magnitude(&l, 5, mag, mag, &err) == LORC_OK);
        for (int64_t i = 0; i < l.n_out; i++) l.magnitude[i] = mag;
    }
    const char *path = test_tmp(file);
    if (mag != 0.0f)
        CHECK_MSG(synth_write_peft_dir(path, &P, "{\"r\": 4, \"lora_alpha\": 4, \"use_dora\": true, "
                                                 "\"target_modules\": [\"q_proj\"]}",
                                       &l, 1, "F32", &err) == LORC_OK,
                  "%s", err.message);
    else
        CHECK_MSG(synth_write_gguf_adapter(path, "llama", alpha, &l, 1, LORC_TYPE_F32, &err) == LORC_OK, "%s",
                  err.message);
    synth_lora_free(&l);
    return path;
}

/* The GGUF writer of the test support omits a negative or NaN alpha: set
 * it on a copy. */
static const char *write_alpha(const char *file, float alpha) {
    char src[1024];
    snprintf(src, sizeof src, "%s", write_adapter("num_alpha_src.gguf", 4.0f, 0, 0, 0));
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_error err = {0};
    const char *path = test_tmp(file);
    CHECK_MSG(synth_copy_gguf(src, NULL, NULL, &w, &f, &err) == LORC_OK, "%s", err.message);
    if (!w) return path;
    CHECK(gguf_writer_set_f32(w, "adapter.lora.alpha", alpha) == LORC_OK);
    CHECK_MSG(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(f);
    return path;
}

static void test_load(void) {
    expect_load_refused(write_alpha("num_alpha_nan.gguf", NAN), "adapter.lora.alpha", NULL);
    expect_load_refused(write_alpha("num_alpha_inf.gguf", -INFINITY), "adapter.lora.alpha", NULL);
    /* Finite factors whose product overflows: 1e30 x 1e10 x rank 4 x alpha/r 1. */
    expect_load_refused(write_adapter("num_bound.gguf", 4.0f, 1e10f, 1e30f, 0), TARGET, "overflows");
    /* A huge alpha with ordinary factors: alpha/r 7.5e37 x 0.2 x 0.2 x 4 is fine... */
    const char *ok = write_adapter("num_alpha_big_ok.gguf", 3e38f, 0, 0, 0);
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_adapter_load(M, ok, &a, &err) == LORC_OK, "%s", err.message);
    lorc_adapter_free(a);
    /* ...but with one B entry of 1000 the bound is 7.5e37 x 1000 x 0.2 x 4. */
    expect_load_refused(write_adapter("num_alpha_big.gguf", 3e38f, 0, 1000.0f, 0), TARGET, "overflows");
}

static lorc_status attach(lorc_adapter *a, float scale, lorc_error *err) {
    lorc_context *ctx = NULL;
    lorc_sequence *seq = NULL;
    lorc_status st = lorc_context_new(M, NULL, &ctx, err);
    if (st == LORC_OK) st = lorc_sequence_new(ctx, &seq, err);
    if (st == LORC_OK) st = lorc_sequence_set_adapters(seq, &a, &scale, 1, err);
    lorc_sequence_free(seq);
    lorc_context_free(ctx);
    return st;
}

static void test_attach_scale(void) {
    /* alpha/r = 1e30, bound at scale 1: 1e30 x 1000 x 0.2 x 4 = 8e32. */
    const char *path = write_adapter("num_scale.gguf", 4e30f, 0, 1000.0f, 0);
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_adapter_load(M, path, &a, &err) == LORC_OK, "%s", err.message);
    if (!a) return;
    CHECK_MSG(attach(a, 1.0f, &err) == LORC_OK, "scale 1: %s", err.message);
    CHECK_MSG(attach(a, -2.0f, &err) == LORC_OK, "scale -2: %s", err.message);
    /* 1e30 x 1e9 is not a float. */
    lorc_status st = attach(a, 1e9f, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, TARGET) && strstr(err.message, "not a finite float"),
              "scale 1e9: %d %s", (int)st, err.message);
    /* 1e30 x 1e6 = 1e36 is a float, but the bound 8e38 is not. */
    st = attach(a, -1e6f, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, TARGET) && strstr(err.message, "overflows"),
              "scale -1e6: %d %s", (int)st, err.message);
    lorc_adapter_free(a);
}

static void test_dora(void) {
    /* Magnitude FLT_MAX over a row norm below 1: m / norm is not a float. */
    const char *path = write_adapter("num_dora", 4.0f, 0, 0, FLT_MAX);
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_adapter_load(M, path, &a, &err);
    if (st == LORC_OK) st = attach(a, 1.0f, &err);
    CHECK_MSG(st == LORC_ERR_NUMERIC && strstr(err.message, TARGET) && strstr(err.message, "DoRA"),
              "DoRA magnitude FLT_MAX: %d %s", (int)st, err.message);
    lorc_adapter_free(a);
    /* An ordinary magnitude attaches. */
    a = NULL;
    path = write_adapter("num_dora_ok", 4.0f, 0, 0, 1.5f);
    st = lorc_adapter_load(M, path, &a, &err);
    if (st == LORC_OK) st = attach(a, 1.0f, &err);
    CHECK_MSG(st == LORC_OK, "DoRA magnitude 1.5: %s", err.message);
    lorc_adapter_free(a);
}

int main(void) {
    P = synth_default_params();
    lorc_error err = {0};
    const char *base = test_tmp("num_adapter_base.gguf");
    CHECK_MSG(synth_write_model(base, &P, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(lorc_model_load(base, &M, &err) == LORC_OK, "%s", err.message);
    if (!M) return test_finish("test_numeric_adapter");
    test_load();
    test_attach_scale();
    test_dora();
    lorc_model_free(M);
    return test_finish("test_numeric_adapter");
}
