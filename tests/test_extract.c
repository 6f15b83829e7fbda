/* test_extract.c — `lorc extract` on a synthetic fine-tune whose difference
 * is known to be rank 3 (including token_embd, whose adapter layout is
 * transposed): at rank 3 the factors recover it (relative error ~1e-6) and
 * base + extracted adapter gives the fine-tuned logits; below the rank the
 * error is the SVD's; above it the pairs are zero-padded; a changed 1-D
 * tensor is reported as not expressible; mismatched files are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/extract.h"
#include "format/gguf.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

enum { N_TOK = 16, N_T = 4 };
static const int32_t tokens[N_TOK] = {1, 6, 10, 14, 22, 35, 44, 51, 3, 27, 29, 58, 13, 9, 2, 63};
static const char *const targets[N_T] = {"token_embd.weight", "blk.0.attn_q.weight", "blk.1.ffn_up.weight",
                                          "output.weight"};

/* Relative errors printed by extract (each tensor's, then the overall one). */
static int parse_errors(const char *out, double *errs, int cap) {
    int n = 0;
    const char *key = "relative error ";
    for (const char *p = out ? strstr(out, key) : NULL; p && n < cap; p = strstr(p + 1, key))
        errs[n++] = atof(p + strlen(key));
    return n;
}

static void test_library(const char *base, const char *ft) {
    lorc_error err = {0};
    gguf_file *fb = NULL, *ff = NULL;
    if (gguf_open(base, &fb, &err) || gguf_open(ft, &ff, &err)) {
        CHECK_MSG(0, "%s", err.message);
        gguf_close(fb);
        return;
    }
    CHECK(lorc_finetune_check_tables(fb, ff, &err) == LORC_OK);
    for (int i = 0; i < N_T; i++) {
        const gguf_tensor_info *b = gguf_find_tensor(fb, targets[i]), *f = gguf_find_tensor(ff, targets[i]);
        CHECK(!lorc_finetune_tensor_same(b, f));
        bool embd = i == 0;
        const int ranks[3] = {3, 2, 6};
        for (int k = 0; k < 3; k++) {
            lorc_lowrank lr;
            if (lorc_lowrank_extract(b, f, ranks[k], embd, &lr, &err)) {
                CHECK_MSG(0, "%s", err.message);
                continue;
            }
            int r = ranks[k];
            if (r >= 3) CHECK_MSG(lr.rel_err < 1e-5, "%s rank %d: error %.3g", targets[i], r, lr.rel_err);
            else CHECK_MSG(lr.rel_err > 1e-3 && lr.rel_err < 1, "%s rank %d (below 3): error %.3g", targets[i], r, lr.rel_err);
            /* shapes: lora_a [n_in, r] / lora_b [r, n_out]; token_embd [r, n_vocab] / [r, n_embd] */
            if (embd) CHECK(lr.a_ne[0] == r && lr.a_ne[1] == b->ne[1] && lr.b_ne[0] == r && lr.b_ne[1] == b->ne[0]);
            else CHECK(lr.a_ne[0] == b->ne[0] && lr.a_ne[1] == r && lr.b_ne[0] == r && lr.b_ne[1] == b->ne[1]);
            lorc_lowrank_free(&lr);
        }
    }
    gguf_close(ff);
    gguf_close(fb);
}

static void test_cli(const char *base, const char *ft, const char *text) {
    lorc_error err = {0};
    FX_TMP(ad, "extract_r3.gguf");
    char *out = NULL;
    int rc = fx_run_cli(&out, "extract %s %s -r 3 -o %s --eval-text %s -c 32 --eval-chunks 2", base, ft, ad, text);
    CHECK_MSG(rc == 0, "extract failed: %s", out ? out : "");
    double errs[16];
    int n = parse_errors(out, errs, 16);
    CHECK_MSG(n == N_T + 1, "%d error lines", n); /* one per tensor and the overall one */
    for (int i = 0; i < n; i++) CHECK_MSG(errs[i] < 1e-5, "error %d = %.3g", i, errs[i]);
    CHECK(out && strstr(out, "mean KL divergence") && strstr(out, "fine-tuned (reference)"));
    free(out);

    /* the adapter, applied at runtime, gives the fine-tuned model */
    lorc_model *mb = NULL, *mf = NULL;
    lorc_adapter *a = NULL;
    float one = 1.0f;
    if (lorc_model_load(base, &mb, &err) || lorc_model_load(ft, &mf, &err) || lorc_adapter_load(mb, ad, &a, &err)) {
        CHECK_MSG(0, "%s", err.message);
    } else {
        size_t nl = (size_t)N_TOK * (size_t)lorc_model_n_vocab(mb);
        float *want = fx_logits(mf, tokens, N_TOK, NULL, NULL, 0);
        float *got = fx_logits(mb, tokens, N_TOK, &a, &one, 1);
        float *plain = fx_logits(mb, tokens, N_TOK, NULL, NULL, 0);
        if (want && got && plain) {
            double d = fx_rel_diff(got, want, nl);
            printf("  base + extracted rank-3 adapter vs fine-tuned: max relative logit difference %.3g\n", d);
            CHECK_MSG(d < 1e-4, "logits differ by %.3g", d);
            CHECK(fx_rel_diff(plain, want, nl) > 1e-2);
        }
        free(want);
        free(got);
        free(plain);
    }
    lorc_adapter_free(a);
    lorc_model_free(mf);
    lorc_model_free(mb);

    /* metadata a llama.cpp reader needs */
    gguf_file *f = NULL;
    if (gguf_open(ad, &f, &err) == LORC_OK) {
        CHECK(gguf_str_eq(f, "general.type", "adapter") && gguf_str_eq(f, "adapter.type", "lora"));
        CHECK(gguf_str_eq(f, "general.architecture", "llama"));
        CHECK(gguf_get_f32_or(f, "adapter.lora.alpha", 0) == 3.0f);
        CHECK(f->n_tensors == 2 * N_T);
        const gguf_tensor_info *ta = gguf_find_tensor(f, "token_embd.weight.lora_a");
        CHECK(ta && ta->ne[0] == 3 && ta->ne[1] == 64);
        const gguf_tensor_info *qa = gguf_find_tensor(f, "blk.0.attn_q.weight.lora_a");
        const gguf_tensor_info *qb = gguf_find_tensor(f, "blk.0.attn_q.weight.lora_b");
        CHECK(qa && qb && qa->ne[0] == 32 && qa->ne[1] == 3 && qb->ne[0] == 3 && qb->ne[1] == 32);
    }
    gguf_close(f);

    /* rank above the difference's: zero-padded to exactly that rank, still exact */
    FX_TMP(ad6, "extract_r6.gguf");
    rc = fx_run_cli(&out, "extract %s %s -r 6 -o %s -t 1", base, ft, ad6);
    n = parse_errors(out, errs, 16);
    CHECK_MSG(rc == 0 && n == N_T + 1, "rank 6: %s", out ? out : "");
    for (int i = 0; i < n; i++) CHECK_MSG(errs[i] < 1e-5, "rank 6: error %d = %.3g", i, errs[i]);
    free(out);
    if (gguf_open(ad6, &f, &err) == LORC_OK) {
        const gguf_tensor_info *qb = gguf_find_tensor(f, "blk.0.attn_q.weight.lora_b");
        CHECK(qb && qb->ne[0] == 6);
    }
    gguf_close(f);
}

static void test_refusals(const synth_params *p, const char *base, const char *ft) {
    lorc_error err = {0};
    char *out = NULL;
    /* a changed norm cannot be expressed: noted and skipped */
    int64_t n = 0;
    float *norm = synth_tensor_values(p, "blk.0.attn_norm.weight", &n);
    for (int64_t i = 0; norm && i < n; i++) norm[i] *= 1.5f;
    const char *nm[1] = {"blk.0.attn_norm.weight"};
    FX_TMP(ftn, "extract_ft_norm.gguf");
    FX_TMP(ad, "extract_norm.gguf");
    CHECK(norm && synth_write_replaced_model(ft, ftn, nm, &norm, 1, &err) == LORC_OK);
    free(norm);
    int rc = fx_run_cli(&out, "extract %s %s -r 3 -o %s", base, ftn, ad);
    CHECK_MSG(rc == 0 && strstr(out, "blk.0.attn_norm.weight") && strstr(out, "not a matrix"), "norm: %s", out ? out : "");
    free(out);

    /* identical files: nothing to extract */
    rc = fx_run_cli(&out, "extract %s %s -r 3 -o %s", base, base, ad);
    CHECK(rc == 1 && strstr(out, "no matrix differs"));
    free(out);

    /* another tensor table: refused naming the tensor */
    synth_params p2 = *p;
    p2.n_ff = p->n_ff + 16;
    FX_TMP(other, "extract_other.gguf");
    CHECK(synth_write_model(other, &p2, &err) == LORC_OK);
    rc = fx_run_cli(&out, "extract %s %s -r 3 -o %s", base, other, ad);
    CHECK_MSG(rc == 1 && strstr(out, "ffn_gate.weight") && fx_count(out, "\n") == 1, "other table: %s", out ? out : "");
    free(out);
    rc = fx_run_cli(&out, "diff %s %s -o %s", base, other, ad);
    CHECK_MSG(rc == 1 && strstr(out, "ffn_gate.weight") && fx_count(out, "\n") == 1, "diff other table: %s", out ? out : "");
    free(out);
    rc = fx_run_cli(&out, "extract %s %s -o %s", base, ft, ad); /* no rank */
    CHECK(rc == 1);
    free(out);
    rc = fx_run_cli(&out, "extract %s %s -r 0 -o %s", base, ft, ad);
    CHECK(rc == 1);
    free(out);
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.seed = 8;
    FX_TMP(base, "extract_base.gguf");
    FX_TMP(ft, "extract_ft.gguf");
    FX_TMP(text, "extract_eval.txt");
    if (synth_write_model(base, &p, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    /* the fine-tune: W + B·A at rank 3 for each target */
    float *vals[N_T];
    for (int i = 0; i < N_T; i++) {
        int64_t n = 0;
        vals[i] = synth_tensor_values(&p, targets[i], &n);
        synth_lora l;
        CHECK(synth_lora_init(&l, &p, targets[i], 3, 40 + (uint64_t)i, 0.5f, &err) == LORC_OK);
        synth_lora_merge(vals[i], &l, 1.0f);
        synth_lora_free(&l);
    }
    CHECK(synth_write_replaced_model(base, ft, targets, vals, N_T, &err) == LORC_OK);
    for (int i = 0; i < N_T; i++) free(vals[i]);
    FILE *fp = fopen(text, "w");
    for (int i = 0; fp && i < 20; i++) fputs("once there was a cat who liked to nap in the warm sun all day ", fp);
    if (fp) fclose(fp);

    test_library(base, ft);
    test_cli(base, ft, text);
    test_refusals(&p, base, ft);
    return test_finish("test_extract");
}
