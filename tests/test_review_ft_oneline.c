/* test_review_ft_oneline.c — review regressions: strings quoted from a file
 * (PEFT config values and regexes, GGUF string metadata of adapters and
 * overlays) must not break the one-line error rule with control characters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "overlay_fixtures.h"
#include "synth_adapter.h"
#include "testutil.h"

static bool one_line(const char *m) {
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return m[0] != 0;
}

static void expect_refused(lorc_model *m, const char *path, const char *what) {
    lorc_adapter *a = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_adapter_load(m, path, &a, &err);
    CHECK_MSG(st != LORC_OK && !a, "%s: accepted", what);
    CHECK_MSG(one_line(err.message), "%s: message is not one line: [%s]", what, err.message);
    lorc_adapter_free(a);
}

static void gguf_adapter(const char *path, const char *type, const char *atype, const char *arch) {
    gguf_writer *w = gguf_writer_new();
    CHECK(w != NULL);
    if (!w) return;
    lorc_error err = {0};
    CHECK(gguf_writer_set_str(w, "general.type", type) == LORC_OK);
    CHECK(gguf_writer_set_str(w, "adapter.type", atype) == LORC_OK);
    CHECK(gguf_writer_set_str(w, "general.architecture", arch) == LORC_OK);
    CHECK_MSG(gguf_writer_write(w, path, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
}

int main(void) {
    synth_params p = synth_default_params();
    FX_TMP(base, "rf_line_base.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    lorc_model *m = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    if (!m) return test_finish("test_review_ft_oneline");
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, "blk.0.attn_q.weight", 2, 3, 0.1f, &err) == LORC_OK);

    static const char *const configs[] = {
        "{\"peft_type\": \"PROMPT\\nTUNING\"}",
        "{\"bias\": \"all\\nof them\"}",
        "{\"target_modules\": \"(q_proj\\n\"}",
        "{\"rank_pattern\": {\"q_proj\\n(\": 4}}",
        "{\"alpha_pattern\": {\"q_proj\\u0007[\": 4}}",
        "{\"r\": 4,\n \"lora_alpha\": \"x\\ny\" }",
        "{\"r\": 4,\n \"lora_alpha\": 8, \"use_dora\": \"\\n\" }",
        "{\"r\": 4,\n \"target_modules\": [\"q_proj\"], \"x\": \"\\n\" \n\n , }",
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "rf_line_peft_%zu", i);
        FX_TMP(dir, rel);
        CHECK(synth_write_peft_dir(dir, &p, configs[i], &l, 1, "F32", &err) == LORC_OK);
        expect_refused(m, dir, configs[i]);
    }
    synth_lora_free(&l);

    FX_TMP(g1, "rf_line_a1.gguf");
    gguf_adapter(g1, "adap\nter", "lora", "llama");
    expect_refused(m, g1, "general.type with a newline");
    gguf_adapter(g1, "adapter", "lo\r\nra", "llama");
    expect_refused(m, g1, "adapter.type with a newline");
    gguf_adapter(g1, "adapter", "lora", "lla\nma");
    expect_refused(m, g1, "general.architecture with a newline");

    /* An overlay made for architecture "x\ny". */
    FX_TMP(ov, "rf_line_ov.gguf");
    const char *names[1] = {"blk.0.attn_q.weight"};
    const int64_t ne[1][2] = {{p.n_embd, p.n_embd}};
    const char *hashes[1] = {"0000000000000000"};
    CHECK(fx_write_raw_overlay(ov, "lla\nma", "0000000000000000", 1, names, ne, hashes, 0.5f, &err) == LORC_OK);
    lorc_overlay *o = NULL;
    CHECK(lorc_overlay_apply(m, ov, false, &o, &err) != LORC_OK && !o);
    CHECK_MSG(one_line(err.message), "overlay: message is not one line: [%s]", err.message);
    lorc_overlay_remove(m, o);

    lorc_model_free(m);
    return test_finish("test_review_ft_oneline");
}
