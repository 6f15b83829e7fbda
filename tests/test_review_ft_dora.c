/* test_review_ft_dora.c — review regressions for adapters: a DoRA adapter's
 * cached weights must follow the weight in use when one overlay is removed
 * and another (same size, so likely mapped at the same address) is applied;
 * a PEFT lora_alpha whose scale overflows a float is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "overlay_fixtures.h"
#include "synth_adapter.h"
#include "testutil.h"

static const int32_t tokens[] = {1, 5, 9, 17, 33, 2, 60, 7};
enum { N_TOK = sizeof tokens / sizeof tokens[0] };

static const char *const target = "blk.0.attn_q.weight";

static synth_params params(void) {
    synth_params p = synth_default_params();
    p.n_embd = 64;
    p.n_ff = 96;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.seed = 91;
    return p;
}

/* An overlay replacing `target` by the base values times `factor`. */
static void write_overlay(const char *base, const char *path, float factor) {
    lorc_error err = {0};
    int64_t n = 0;
    float *v = synth_read_tensor_f32(base, target, &n);
    CHECK(v != NULL);
    if (!v) return;
    for (int64_t i = 0; i < n; i++) v[i] = v[i] * factor + 0.01f * (float)(i % 7);
    const char *names[1] = {target};
    float *vals[1] = {v};
    CHECK_MSG(fx_write_overlay_f32(base, path, names, vals, 1, &err) == LORC_OK, "%s", err.message);
    free(v);
}

static void dora_overlay_swap(void) {
    synth_params p = params();
    FX_TMP(base, "rf_dora_base.gguf");
    FX_TMP(dir, "rf_dora_dir");
    FX_TMP(ova, "rf_dora_ov_a.gguf");
    FX_TMP(ovb, "rf_dora_ov_b.gguf");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, target, 4, 5, 0.2f, &err) == LORC_OK);
    CHECK(synth_lora_add_magnitude(&l, 6, 0.5f, 1.5f, &err) == LORC_OK);
    CHECK_MSG(synth_write_peft_dir(dir, &p,
                                   "{\"r\": 4, \"lora_alpha\": 8, \"use_dora\": true, \"target_modules\": [\"q_proj\"]}",
                                   &l, 1, "F32", &err) == LORC_OK,
              "%s", err.message);
    synth_lora_free(&l);
    write_overlay(base, ova, 1.5f);
    write_overlay(base, ovb, -0.75f);

    /* Reference: a fresh model with overlay B and a fresh adapter. */
    float *ref = NULL;
    {
        lorc_model *m = NULL;
        lorc_overlay *o = NULL;
        lorc_adapter *a = NULL;
        CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
        CHECK_MSG(m && lorc_overlay_apply(m, ovb, false, &o, &err) == LORC_OK, "%s", err.message);
        CHECK_MSG(m && lorc_adapter_load(m, dir, &a, &err) == LORC_OK, "%s", err.message);
        float s = 1.0f;
        if (a) ref = fx_logits(m, tokens, N_TOK, &a, &s, 1);
        lorc_adapter_free(a);
        lorc_overlay_remove(m, o);
        lorc_model_free(m);
    }
    /* The same adapter over A, then (A removed) over B. */
    lorc_model *m = NULL;
    lorc_adapter *a = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    CHECK_MSG(m && lorc_adapter_load(m, dir, &a, &err) == LORC_OK, "%s", err.message);
    if (m && a && ref) {
        float s = 1.0f;
        for (int round = 0; round < 3; round++) {
            lorc_overlay *o = NULL;
            CHECK_MSG(lorc_overlay_apply(m, ova, false, &o, &err) == LORC_OK, "%s", err.message);
            free(fx_logits(m, tokens, N_TOK, &a, &s, 1)); /* caches W' for overlay A */
            lorc_overlay_remove(m, o);
            o = NULL;
            CHECK_MSG(lorc_overlay_apply(m, ovb, false, &o, &err) == LORC_OK, "%s", err.message);
            float *got = fx_logits(m, tokens, N_TOK, &a, &s, 1);
            double d = got ? fx_rel_diff(got, ref, (size_t)N_TOK * (size_t)p.n_vocab) : 1.0;
            CHECK_MSG(d <= 1e-5, "round %d: DoRA over overlay B differs from a fresh load by %g (stale cache?)", round, d);
            free(got);
            lorc_overlay_remove(m, o);
        }
    }
    free(ref);
    lorc_adapter_free(a);
    lorc_model_free(m);
}

/* lora_alpha 1e300 is a finite JSON number, but alpha/r does not fit a float. */
static void peft_huge_alpha(void) {
    synth_params p = params();
    FX_TMP(base, "rf_alpha_base.gguf");
    FX_TMP(dir, "rf_alpha_dir");
    lorc_error err = {0};
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, target, 4, 5, 0.2f, &err) == LORC_OK);
    CHECK(synth_write_peft_dir(dir, &p, "{\"r\": 4, \"lora_alpha\": 1e300, \"target_modules\": [\"q_proj\"]}", &l, 1,
                               "F32", &err) == LORC_OK);
    synth_lora_free(&l);
    lorc_model *m = NULL;
    lorc_adapter *a = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK);
    lorc_status st = m ? lorc_adapter_load(m, dir, &a, &err) : LORC_ERR_INVALID;
    CHECK_MSG(st != LORC_OK && a == NULL, "an adapter with scale 1e300/4 was accepted");
    CHECK_MSG(strstr(err.message, "lora_alpha") && strstr(err.message, "q_proj") && !strchr(err.message, '\n'),
              "message: %s", err.message);
    lorc_adapter_free(a);
    lorc_model_free(m);
}

int main(void) {
    dora_overlay_swap();
    peft_huge_alpha();
    return test_finish("test_review_ft_dora");
}
