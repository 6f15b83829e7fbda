/* test_metadata_types.c — issue 6 item 8: metadata is read by the type it
 * declares (an F64 or negative overlay.base.tensor_count is no count: inspect
 * must not print its raw bits, the overlay check must not use them), and a
 * string with a NUL inside is refused for general.architecture (models),
 * general.type, adapter.type and general.architecture (adapters), since as a
 * C string it reads as another value ("llama\0x" as "llama"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/overlay.h"
#include "format/gguf.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"

/* Copies src to dst with one kv changed by `set`. */
typedef lorc_status (*set_fn)(gguf_writer *w, const char *key);

static lorc_status set_f64_count(gguf_writer *w, const char *key) { return gguf_writer_set_f64(w, key, 5.0); }
static lorc_status set_neg_count(gguf_writer *w, const char *key) { return gguf_writer_set_i32(w, key, -3); }
static lorc_status set_u16_count(gguf_writer *w, const char *key) { return gguf_writer_set_u16(w, key, 7); }
static lorc_status set_nul_llama(gguf_writer *w, const char *key) { return gguf_writer_set_strn(w, key, "llama\0x", 7); }
static lorc_status set_nul_adapter(gguf_writer *w, const char *key) {
    return gguf_writer_set_strn(w, key, "adapter\0zz", 10);
}
static lorc_status set_nul_lora(gguf_writer *w, const char *key) { return gguf_writer_set_strn(w, key, "lora\0", 5); }

static void copy_with(const char *src, const char *dst, const char *key, set_fn set) {
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_error err = {0};
    CHECK_MSG(synth_copy_gguf(src, NULL, NULL, &w, &f, &err) == LORC_OK, "%s", err.message);
    if (!w) return;
    CHECK(set(w, key) == LORC_OK);
    CHECK_MSG(gguf_writer_write(w, dst, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(f);
}

static void test_overlay_count(const char *base, const char *other_base) {
    FX_TMP(ov, "meta_ov.gguf");
    FX_TMP(bad, "meta_ov_bad.gguf");
    const char *names[1] = {"blk.0.attn_q.weight"};
    float vals[32 * 32];
    for (int i = 0; i < 32 * 32; i++) vals[i] = 0.01f * (float)(i % 7);
    float *values[1] = {vals};
    lorc_error err = {0};
    CHECK_MSG(fx_write_overlay_f32(base, ov, names, values, 1, &err) == LORC_OK, "%s", err.message);

    struct {
        set_fn set;
        const char *shown; /* what inspect must say about the count */
    } cases[] = {
        {set_f64_count, "is not a non-negative integer: ignored"},
        {set_neg_count, "is not a non-negative integer: ignored"},
        {set_u16_count, "(7 tensors)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_with(ov, bad, LORC_OVERLAY_KEY_COUNT, cases[i].set);
        char *out = NULL;
        int rc = fx_run_cli(&out, "inspect '%s'", bad);
        CHECK_MSG(rc == 0, "inspect exit %d: %s", rc, out ? out : "");
        CHECK_MSG(out && strstr(out, cases[i].shown), "case %zu: inspect says: %s", i, out ? out : "");
        /* 5.0 as F64 is 0x4014000000000000 = 4617315517961601024. */
        CHECK_MSG(out && !strstr(out, "4617315517961601024") && !strstr(out, "18446744073709551613"),
                  "case %zu: raw bits printed: %s", i, out ? out : "");
        free(out);

        /* Against another base the count is the first clue; a float must not
         * be taken for one ("expects 4617315517961601024 tensors"). */
        lorc_model *m = NULL;
        CHECK_MSG(lorc_model_load(other_base, &m, &err) == LORC_OK, "%s", err.message);
        gguf_file *f = NULL;
        CHECK_MSG(gguf_open(bad, &f, &err) == LORC_OK, "%s", err.message);
        if (m && f) {
            lorc_status st = lorc_overlay_check(m, f, false, &err);
            CHECK_MSG(st == LORC_ERR_MISMATCH, "case %zu: overlay check status %d", i, (int)st);
            if (cases[i].set == set_u16_count)
                CHECK_MSG(strstr(err.message, "expects 7 tensors") != NULL, "case %zu: %s", i, err.message);
            else
                CHECK_MSG(strstr(err.message, "fingerprint") && !strstr(err.message, "expects"), "case %zu: %s", i,
                          err.message);
        }
        gguf_close(f);
        lorc_model_free(m);
    }
}

static void test_nul_strings(const char *base, const synth_params *p) {
    FX_TMP(bad, "meta_nul.gguf");
    copy_with(base, bad, "general.architecture", set_nul_llama);
    lorc_model *m = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_model_load(bad, &m, &err);
    CHECK_MSG(st == LORC_ERR_FORMAT && strstr(err.message, "general.architecture") && strstr(err.message, "NUL"),
              "model arch 'llama\\0x': %d %s", (int)st, err.message);
    lorc_model_free(m);

    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return;
    FX_TMP(ad, "meta_adapter.gguf");
    synth_lora l;
    CHECK(synth_lora_init(&l, p, "blk.0.attn_q.weight", 4, 3, 0.1f, &err) == LORC_OK);
    CHECK(synth_write_gguf_adapter(ad, "llama", 8.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&l);
    lorc_adapter *a = NULL;
    CHECK_MSG(lorc_adapter_load(m, ad, &a, &err) == LORC_OK, "the clean adapter: %s", err.message);
    lorc_adapter_free(a);
    struct {
        const char *key;
        set_fn set;
    } cases[] = {
        {"general.type", set_nul_adapter},
        {"adapter.type", set_nul_lora},
        {"general.architecture", set_nul_llama},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_with(ad, bad, cases[i].key, cases[i].set);
        a = NULL;
        st = lorc_adapter_load(m, bad, &a, &err);
        CHECK_MSG(st == LORC_ERR_FORMAT && a == NULL && strstr(err.message, cases[i].key) && strstr(err.message, "NUL"),
                  "adapter %s with a NUL: %d %s", cases[i].key, (int)st, err.message);
        lorc_adapter_free(a);
    }
    lorc_model_free(m);
}

int main(void) {
    synth_params p = synth_default_params();
    lorc_error err = {0};
    FX_TMP(base, "meta_base.gguf");
    FX_TMP(other, "meta_other.gguf");
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    synth_params q = p;
    q.n_layer = 3; /* another tensor table */
    CHECK_MSG(synth_write_model(other, &q, &err) == LORC_OK, "%s", err.message);
    test_overlay_count(base, other);
    test_nul_strings(base, &p);
    return test_finish("test_metadata_types");
}
