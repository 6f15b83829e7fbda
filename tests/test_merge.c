/* test_merge.c — `lorc merge` on synthetic models and adapters: the merged
 * F32 weights equal W + Σ s·B·A computed independently; base + merged F32
 * overlay gives runtime-LoRA logits within 1e-4; --full gives the same
 * model; merging into Q8_0 / Q4_K reports its KL cost; types that do not
 * fit fall back visibly; a tied embedding and bad inputs are refused. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "adapter/merge.h"
#include "format/gguf.h"
#include "model/model.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

enum { N_TOK = 16 };
static const int32_t tokens[N_TOK] = {1, 4, 8, 15, 16, 23, 42, 7, 3, 30, 31, 50, 12, 9, 2, 60};

static const char *const a1_targets[5] = {"blk.0.attn_q.weight", "blk.1.attn_v.weight", "blk.0.ffn_down.weight",
                                          "token_embd.weight", "output.weight"};
static const char *const a2_targets[2] = {"blk.0.attn_q.weight", "blk.1.ffn_gate.weight"};

typedef struct adapters {
    synth_lora l1[5], l2[2];
    float alpha1, alpha2; /* rank 4 and 2: scales alpha/r = 2 and 1.5 */
} adapters;

static bool make_adapters(const synth_params *p, adapters *a, const char *path1, const char *path2) {
    lorc_error err = {0};
    a->alpha1 = 8.0f;
    a->alpha2 = 3.0f;
    for (int i = 0; i < 5; i++)
        if (synth_lora_init(&a->l1[i], p, a1_targets[i], 4, 10 + (uint64_t)i, 0.2f, &err)) return false;
    for (int i = 0; i < 2; i++)
        if (synth_lora_init(&a->l2[i], p, a2_targets[i], 2, 20 + (uint64_t)i, 0.2f, &err)) return false;
    return synth_write_gguf_adapter(path1, p->arch, a->alpha1, a->l1, 5, LORC_TYPE_F32, &err) == LORC_OK &&
           synth_write_gguf_adapter(path2, p->arch, a->alpha2, a->l2, 2, LORC_TYPE_F32, &err) == LORC_OK;
}

static void free_adapters(adapters *a) {
    for (int i = 0; i < 5; i++) synth_lora_free(&a->l1[i]);
    for (int i = 0; i < 2; i++) synth_lora_free(&a->l2[i]);
}

/* lorc_merge_rows_f32 against synth's own W + s·B·A. */
static void test_library_merge(const synth_params *p, lorc_model *m, lorc_adapter **ads, const float *user, adapters *a) {
    lorc_error err = {0};
    lorc_adapter_set set = {0};
    if (lorc_adapter_set_build(&set, m, NULL, ads, user, 2, &err)) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    lorc_merge_plan plan = {0};
    CHECK(lorc_merge_plan_build(m, &set, -1, &plan, &err) == LORC_OK);
    CHECK_MSG(plan.n_items == 6, "plan has %d tensors", plan.n_items);
    for (int i = 0; i < plan.n_items; i++) {
        const lorc_merge_item *it = &plan.items[i];
        CHECK(it->out_type == LORC_TYPE_F32 && !it->type_fallback);
        int64_t n = 0;
        float *want = synth_tensor_values(p, it->name, &n);
        for (int k = 0; k < 5; k++)
            if (!strcmp(a->l1[k].target, it->name)) synth_lora_merge(want, &a->l1[k], user[0] * a->alpha1 / 4);
        for (int k = 0; k < 2; k++)
            if (!strcmp(a->l2[k].target, it->name)) synth_lora_merge(want, &a->l2[k], user[1] * a->alpha2 / 2);
        float *got = malloc((size_t)n * sizeof *got);
        lorc_merge_job job = {.model = m, .slot = it->slot, .list = lorc_adapter_set_slot(&set, it->slot),
                              .out_type = LORC_TYPE_F32};
        const lorc_tensor *w = m->w[it->slot];
        CHECK(lorc_merge_rows_f32(&job, 0, w->ne[1], got, &err) == LORC_OK);
        double d = fx_rel_diff(got, want, (size_t)n);
        CHECK_MSG(d < 1e-6, "%s: merged rows differ from W + s*B*A (rel %.3g)", it->name, d);
        /* the threaded fill writes the same bytes */
        float *filled = malloc((size_t)n * sizeof *filled);
        CHECK(lorc_merge_fill(&job, filled, (uint64_t)n * 4, &err) == LORC_OK);
        CHECK(!memcmp(filled, got, (size_t)n * 4));
        free(filled);
        free(got);
        free(want);
    }
    lorc_merge_plan_free(&plan);
    lorc_adapter_set_clear(&set);
}

static void test_overlay_vs_runtime(const char *base, const char *ad1, const char *ad2, lorc_model *m, lorc_adapter **ads,
                                    const float *user) {
    FX_TMP(ovp, "merge_f32.gguf");
    FX_TMP(full, "merge_full.gguf");
    char *out = NULL;
    int rc = fx_run_cli(&out, "merge -m %s --lora-scaled %s %g --lora-scaled %s %g -o %s -t 2", base, ad1,
                        (double)user[0], ad2, (double)user[1], ovp);
    CHECK_MSG(rc == 0, "merge failed: %s", out ? out : "");
    CHECK(fx_count(out, " -> ") == 6);
    free(out);
    rc = fx_run_cli(&out, "merge -m %s --lora-scaled %s %g --lora-scaled %s %g -o %s --full", base, ad1,
                    (double)user[0], ad2, (double)user[1], full);
    CHECK_MSG(rc == 0, "merge --full failed: %s", out ? out : "");
    free(out);

    lorc_error err = {0};
    size_t nl = (size_t)N_TOK * (size_t)lorc_model_n_vocab(m);
    float *runtime = fx_logits(m, tokens, N_TOK, ads, user, 2);
    lorc_model *mb = NULL, *mf = NULL;
    lorc_overlay *ov = NULL;
    if (lorc_model_load(base, &mb, &err) || lorc_overlay_apply(mb, ovp, false, &ov, &err) ||
        lorc_model_load(full, &mf, &err)) {
        CHECK_MSG(0, "%s", err.message);
    } else if (runtime) {
        float *merged = fx_logits(mb, tokens, N_TOK, NULL, NULL, 0);
        float *fullv = fx_logits(mf, tokens, N_TOK, NULL, NULL, 0);
        float *plain = fx_logits(m, tokens, N_TOK, NULL, NULL, 0);
        if (merged && fullv && plain) {
            double d = fx_rel_diff(merged, runtime, nl);
            printf("  F32 merge vs runtime LoRA: max relative logit difference %.3g\n", d);
            CHECK_MSG(d < 1e-4, "merged overlay vs runtime LoRA: %.3g", d);
            CHECK_MSG(fx_rel_diff(plain, runtime, nl) > 1e-2, "the adapters hardly change the logits");
            CHECK_MSG(!memcmp(merged, fullv, nl * sizeof *merged), "--full and the overlay differ");
        }
        free(merged);
        free(fullv);
        free(plain);
    }
    /* the overlay holds exactly the six touched tensors; --full all of the base's */
    gguf_file *fo = NULL, *ff = NULL, *fb = NULL;
    if (!gguf_open(ovp, &fo, &err) && !gguf_open(full, &ff, &err) && !gguf_open(base, &fb, &err)) {
        CHECK(fo->n_tensors == 6);
        CHECK(gguf_find_tensor(fo, "blk.1.ffn_gate.weight") && !gguf_find_tensor(fo, "blk.1.attn_q.weight"));
        CHECK(ff->n_tensors == fb->n_tensors && ff->n_kv >= fb->n_kv);
        const gguf_tensor_info *a = gguf_find_tensor(ff, "blk.1.attn_q.weight"), *b = gguf_find_tensor(fb, "blk.1.attn_q.weight");
        CHECK(a && b && a->nbytes == b->nbytes && !memcmp(a->data, b->data, (size_t)a->nbytes));
    }
    gguf_close(fo);
    gguf_close(ff);
    gguf_close(fb);
    lorc_overlay_remove(mb, ov);
    lorc_model_free(mb);
    lorc_model_free(mf);
    free(runtime);
}

static uint32_t overlay_type(const char *path, const char *name) {
    lorc_error err = {0};
    gguf_file *f = NULL;
    uint32_t t = 9999;
    if (gguf_open(path, &f, &err) == LORC_OK) {
        const gguf_tensor_info *ti = gguf_find_tensor(f, name);
        if (ti) t = ti->type;
    }
    gguf_close(f);
    return t;
}

static double kl_of(const char *out) {
    const char *p = out ? strstr(out, "mean KL divergence") : NULL;
    return p ? atof(p + strlen("mean KL divergence")) : -1.0;
}

/* Quantized merges report their cost on a sample text. */
static void test_quantized(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.n_embd = 256;
    p.n_ff = 512;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.weight_type = LORC_TYPE_Q8_0;
    p.seed = 5;
    FX_TMP(base, "merge_q_base.gguf");
    FX_TMP(ad, "merge_q_adapter.gguf");
    FX_TMP(text, "merge_eval.txt");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_lora l[2];
    CHECK(synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 8, 31, 0.3f, &err) == LORC_OK);
    CHECK(synth_lora_init(&l[1], &p, "blk.1.attn_v.weight", 8, 32, 0.3f, &err) == LORC_OK);
    CHECK(synth_write_gguf_adapter(ad, "llama", 16.0f, l, 2, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&l[0]);
    synth_lora_free(&l[1]);
    FILE *fp = fopen(text, "w");
    for (int i = 0; fp && i < 40; i++) fputs("the quick brown fox jumps over a lazy dog and then it sleeps ", fp);
    if (fp) fclose(fp);

    const char *types[3] = {"", "Q8_0", "Q4_K"};
    const uint32_t want[3] = {LORC_TYPE_Q8_0, LORC_TYPE_Q8_0, LORC_TYPE_Q4_K};
    double kl[3] = {0};
    for (int i = 0; i < 3; i++) {
        FX_TMP(ovp, "merge_q.gguf");
        char *out = NULL;
        int rc = fx_run_cli(&out, "merge -m %s --lora %s -o %s %s%s --eval-text %s -c 32 --eval-chunks 4", base, ad, ovp,
                            *types[i] ? "--type " : "", types[i], text);
        CHECK_MSG(rc == 0, "merge %s failed: %s", types[i], out ? out : "");
        CHECK(out && strstr(out, "mean KL divergence") && strstr(out, "same top token") && strstr(out, "runtime LoRA"));
        kl[i] = kl_of(out);
        printf("  merge into %s: KL vs runtime LoRA %.6f\n", lorc_type_name(want[i]), kl[i]);
        CHECK_MSG(kl[i] >= 0 && kl[i] < 0.5, "KL %g", kl[i]);
        CHECK(overlay_type(ovp, "blk.0.attn_q.weight") == want[i]);
        free(out);
    }
    CHECK_MSG(kl[2] > kl[1], "Q4_K should cost more than Q8_0 (%g vs %g)", kl[2], kl[1]);
}

static void test_fallback_and_refusals(const char *base, const char *ad1) {
    lorc_error err = {0};
    FX_TMP(ovp, "merge_fallback.gguf");
    char *out = NULL;
    /* n_embd 32: Q4_K's 256-value blocks do not fit; a 4.5-bit type with 32-value blocks does */
    int rc = fx_run_cli(&out, "merge -m %s --lora %s --type Q4_K -o %s", base, ad1, ovp);
    CHECK_MSG(rc == 0 && strstr(out, "does not fit"), "fallback: %s", out ? out : "");
    uint32_t t = overlay_type(ovp, "blk.0.attn_q.weight");
    CHECK_MSG(t == LORC_TYPE_Q4_0, "fell back to %s", lorc_type_name(t));
    free(out);
    lorc_model *m = NULL;
    lorc_overlay *ov = NULL;
    CHECK(lorc_model_load(base, &m, &err) == LORC_OK && lorc_overlay_apply(m, ovp, false, &ov, &err) == LORC_OK);
    lorc_overlay_remove(m, ov);
    lorc_model_free(m);

    /* tied output and an adapter on token_embd: refused, nothing written */
    synth_params p = synth_default_params();
    p.tied_output = true;
    FX_TMP(tied, "merge_tied.gguf");
    FX_TMP(tied_ad, "merge_tied_adapter.gguf");
    FX_TMP(tied_out, "merge_tied_out.gguf");
    CHECK(synth_write_model(tied, &p, &err) == LORC_OK);
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, "token_embd.weight", 2, 3, 0.1f, &err) == LORC_OK);
    CHECK(synth_write_gguf_adapter(tied_ad, "llama", 2.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&l);
    remove(tied_out);
    rc = fx_run_cli(&out, "merge -m %s --lora %s -o %s", tied, tied_ad, tied_out);
    CHECK_MSG(rc == 1 && strstr(out, "tied") && fx_count(out, "\n") == 1, "tied: %s", out ? out : "");
    FILE *fp = fopen(tied_out, "rb");
    CHECK(fp == NULL);
    if (fp) fclose(fp);
    free(out);

    /* an adapter for another model; missing arguments; unknown type */
    rc = fx_run_cli(&out, "merge -m %s --lora %s -o %s", tied, test_shared("adapters/moon-qv/moon-qv.gguf"), tied_out);
    CHECK_MSG(rc == 1 && strstr(out, "moon-qv.gguf"), "foreign adapter: %s", out ? out : "");
    free(out);
    rc = fx_run_cli(&out, "merge -m %s --lora %s", base, ad1);
    CHECK(rc == 1);
    free(out);
    rc = fx_run_cli(&out, "merge -m %s --lora %s -o %s --type IQ2_XS", base, ad1, tied_out);
    CHECK(rc == 1 && strstr(out, "IQ2_XS"));
    free(out);
    rc = fx_run_cli(&out, "merge --help");
    CHECK(rc == 0 && strstr(out, "--eval-text"));
    free(out);

    /* no temporary files left behind by any of the above. Only this test's
     * own files (named merge_*): other tests share the directory and may be
     * writing their own merged models (lora_merged.gguf.tmp.*) right now. */
    DIR *d = opendir(test_tmp(""));
    struct dirent *e;
    int tmp_files = 0;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, "merge_", 6) == 0 && strstr(e->d_name, ".tmp.")) tmp_files++;
    if (d) closedir(d);
    CHECK_MSG(tmp_files == 0, "%d temporary files left", tmp_files);
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.n_head_kv = 2;
    p.seed = 4;
    FX_TMP(base, "merge_base.gguf");
    FX_TMP(ad1, "merge_a1.gguf");
    FX_TMP(ad2, "merge_a2.gguf");
    adapters a;
    memset(&a, 0, sizeof a);
    if (synth_write_model(base, &p, &err) || !make_adapters(&p, &a, ad1, ad2)) {
        fprintf(stderr, "setup failed: %s\n", err.message);
        return 1;
    }
    lorc_model *m = NULL;
    lorc_adapter *ads[2] = {NULL, NULL};
    const float user[2] = {0.5f, -1.25f};
    if (lorc_model_load(base, &m, &err) || lorc_adapter_load(m, ad1, &ads[0], &err) ||
        lorc_adapter_load(m, ad2, &ads[1], &err)) {
        CHECK_MSG(0, "%s", err.message);
    } else {
        test_library_merge(&p, m, ads, user, &a);
        test_overlay_vs_runtime(base, ad1, ad2, m, ads, user);
    }
    lorc_adapter_free(ads[0]);
    lorc_adapter_free(ads[1]);
    lorc_model_free(m);
    free_adapters(&a);
    test_quantized();
    test_fallback_and_refusals(base, ad1);
    return test_finish("test_merge");
}
