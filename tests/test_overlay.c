/* test_overlay.c — tensor-subset overlays end to end on synthetic models:
 * `lorc diff` yields exactly the changed tensors, base + overlay gives the
 * fine-tuned logits bit for bit (F32), removal restores the base, every kind
 * of mismatch is refused with one line naming it and nothing half-applied,
 * force, several overlays at once and overlap, tied embeddings, and the
 * size of an overlay against its tensors' share of the full file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/fingerprint.h"
#include "adapter/overlay.h"
#include "format/gguf.h"
#include "model/model.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

enum { N_TOK = 12 };
static const int32_t tokens[N_TOK] = {1, 5, 9, 33, 2, 17, 40, 41, 3, 60, 7, 28};

/* Three changed tensors of the fine-tune (and their new values). */
static const char *const changed[3] = {"blk.0.attn_q.weight", "blk.1.attn_v.weight", "output.weight"};

static float *perturbed(const synth_params *p, const char *name, uint64_t seed) {
    int64_t n = 0;
    float *v = synth_tensor_values(p, name, &n);
    float *d = malloc((size_t)n * sizeof *d);
    if (!v || !d) {
        free(v);
        free(d);
        return NULL;
    }
    synth_random_floats(seed, d, n, 0.05f);
    for (int64_t i = 0; i < n; i++) v[i] += d[i];
    free(d);
    return v;
}

static bool same_logits(lorc_model *m, const float *want, const char *what) {
    float *got = fx_logits(m, tokens, N_TOK, NULL, NULL, 0);
    size_t n = (size_t)N_TOK * (size_t)lorc_model_n_vocab(m);
    bool same = got && !memcmp(got, want, n * sizeof *got);
    CHECK_MSG(same, "%s: logits differ (rel %.3g)", what, got ? fx_rel_diff(got, want, n) : -1.0);
    free(got);
    return same;
}

static bool weights_are_base(const lorc_model *m) {
    for (int s = 0; s < m->n_slots; s++)
        if (m->w[s] != m->base[s]) return false;
    return true;
}

/* A refusal: the status, one line, the expected words, the model untouched. */
static void expect_refused(lorc_model *m, const char *path, bool force, const char *must_contain, const float *base_logits,
                           const char *what) {
    lorc_error err = {0};
    lorc_overlay *ov = (lorc_overlay *)&err; /* must be reset to NULL */
    lorc_status st = lorc_overlay_apply(m, path, force, &ov, &err);
    CHECK_MSG(st != LORC_OK, "%s: accepted", what);
    CHECK_MSG(ov == NULL, "%s: out not cleared", what);
    CHECK_MSG(strchr(err.message, '\n') == NULL && err.message[0], "%s: not one line: '%s'", what, err.message);
    CHECK_MSG(strstr(err.message, must_contain) != NULL, "%s: message '%s' lacks '%s'", what, err.message, must_contain);
    CHECK_MSG(weights_are_base(m), "%s: half-applied", what);
    same_logits(m, base_logits, what);
    if (st == LORC_OK) lorc_overlay_remove(m, ov);
    else printf("  refused as expected (%s): %s\n", what, err.message);
}

static lorc_overlay *apply_ok(lorc_model *m, const char *path, bool force, const char *what) {
    lorc_error err = {0};
    lorc_overlay *ov = NULL;
    lorc_status st = lorc_overlay_apply(m, path, force, &ov, &err);
    CHECK_MSG(st == LORC_OK, "%s: %s", what, err.message);
    return st == LORC_OK ? ov : NULL;
}

static void test_diff_roundtrip(const synth_params *p, const char *base, const char *ft, const char *ov_path) {
    char *out = NULL;
    int rc = fx_run_cli(&out, "diff %s %s -o %s", base, ft, ov_path);
    CHECK_MSG(rc == 0, "lorc diff failed: %s", out ? out : "");
    CHECK(fx_count(out, " bytes") == 3);
    CHECK(strstr(out, "3 of ") != NULL);
    free(out);
    lorc_error err = {0};
    gguf_file *f = NULL;
    if (gguf_open(ov_path, &f, &err) == LORC_OK) {
        CHECK_MSG(f->n_tensors == 3, "overlay has %llu tensors", (unsigned long long)f->n_tensors);
        for (int i = 0; i < 3; i++) CHECK_MSG(gguf_find_tensor(f, changed[i]) != NULL, "missing %s", changed[i]);
        CHECK(gguf_str_eq(f, "general.type", "overlay"));
        CHECK(gguf_str_eq(f, "general.architecture", "llama"));
        gguf_close(f);
    } else {
        CHECK_MSG(0, "%s", err.message);
    }
    (void)p;
}

static void test_apply_remove(const char *base, const char *ft, const char *ov_path, float **base_logits_out) {
    lorc_error err = {0};
    lorc_model *m = NULL, *mf = NULL;
    if (lorc_model_load(base, &m, &err) || lorc_model_load(ft, &mf, &err)) {
        CHECK_MSG(0, "%s", err.message);
        lorc_model_free(m);
        return;
    }
    float *lb = fx_logits(m, tokens, N_TOK, NULL, NULL, 0), *lf = fx_logits(mf, tokens, N_TOK, NULL, NULL, 0);
    size_t n = (size_t)N_TOK * (size_t)lorc_model_n_vocab(m);
    CHECK(lb && lf && memcmp(lb, lf, n * sizeof *lb) != 0); /* the fine-tune does change the output */
    lorc_overlay *ov = apply_ok(m, ov_path, false, "apply diff overlay");
    if (ov && lf) {
        same_logits(m, lf, "base + overlay == fine-tuned");
        CHECK(!weights_are_base(m));
        lorc_overlay_remove(m, ov);
        CHECK(weights_are_base(m));
        if (lb) same_logits(m, lb, "after remove == base");
        /* apply again after removal: the same result */
        ov = apply_ok(m, ov_path, false, "re-apply");
        if (ov) same_logits(m, lf, "re-applied");
        lorc_overlay_remove(m, ov);
    }
    lorc_overlay_remove(m, NULL); /* NULL-safe */
    free(lf);
    *base_logits_out = lb;
    lorc_model_free(mf);
    lorc_model_free(m);
}

static void test_refusals(const synth_params *p, const char *base, const char *ov_path, const float *lb) {
    lorc_error err = {0};
    lorc_model *m = NULL;
    if (lorc_model_load(base, &m, &err)) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    char table[17];
    lorc_fingerprint_to_hex(lorc_fingerprint_table(m->file), table);
    const gguf_tensor_info *q0 = gguf_find_tensor(m->file, "blk.0.attn_q.weight");
    char q0_hash[17];
    lorc_fingerprint_to_hex(lorc_fingerprint_bytes(q0->data, (size_t)q0->nbytes), q0_hash);
    int64_t n_embd = p->n_embd;

    /* not an overlay at all */
    expect_refused(m, base, false, "not an overlay", lb, "model file as overlay");
    expect_refused(m, base, true, "not an overlay", lb, "model file as overlay, force");
    expect_refused(m, test_tmp("ov_missing.gguf"), false, "ov_missing.gguf", lb, "missing file");

    /* wrong architecture: refused; force applies it */
    const char *nm[2] = {"blk.0.attn_q.weight", "blk.7.attn_q.weight"};
    const int64_t ne_ok[2][2] = {{n_embd, n_embd}, {n_embd, n_embd}};
    const char *hs[2] = {q0_hash, q0_hash};
    FX_TMP(arch_path, "ov_arch.gguf");
    CHECK(fx_write_raw_overlay(arch_path, "qwen2", table, 1, nm, ne_ok, hs, 0.5f, &err) == LORC_OK);
    expect_refused(m, arch_path, false, "'qwen2'", lb, "wrong architecture");
    lorc_overlay *ov = apply_ok(m, arch_path, true, "wrong architecture, force");
    lorc_overlay_remove(m, ov);
    CHECK(weights_are_base(m));

    /* wrong shape: refused even with force */
    const int64_t ne_bad[1][2] = {{n_embd, n_embd / 2}};
    FX_TMP(shape_path, "ov_shape.gguf");
    CHECK(fx_write_raw_overlay(shape_path, "llama", table, 1, nm, ne_bad, hs, 0.5f, &err) == LORC_OK);
    expect_refused(m, shape_path, false, "blk.0.attn_q.weight", lb, "wrong shape");
    expect_refused(m, shape_path, true, "shape", lb, "wrong shape, force");

    /* an unknown tensor after a good one: refused, the good one not applied */
    FX_TMP(unk_path, "ov_unknown.gguf");
    CHECK(fx_write_raw_overlay(unk_path, "llama", table, 2, nm, ne_ok, hs, 0.5f, &err) == LORC_OK);
    expect_refused(m, unk_path, false, "blk.7.attn_q.weight", lb, "unknown tensor");
    expect_refused(m, unk_path, true, "blk.7.attn_q.weight", lb, "unknown tensor, force");

    /* a 1-D tensor in another type, and a tensor lorc cannot compute with, are never accepted */
    const char *norm_nm[1] = {"blk.0.attn_norm.weight"};
    const int64_t norm_ne[1][2] = {{n_embd, 1}};
    FX_TMP(norm_path, "ov_norm.gguf");
    CHECK(fx_write_raw_overlay(norm_path, "llama", table, 1, norm_nm, norm_ne, hs, 1.0f, &err) == LORC_OK);
    /* written as a 2-D [n_embd, 1] matrix: its shape is not the base's [n_embd] */
    expect_refused(m, norm_path, true, "blk.0.attn_norm.weight", lb, "norm with another shape");

    /* malformed header: hash list of the wrong length, bad hex */
    const char *bad_hex[1] = {"xyz"};
    FX_TMP(hex_path, "ov_hex.gguf");
    CHECK(fx_write_raw_overlay(hex_path, "llama", table, 1, nm, ne_ok, bad_hex, 0.5f, &err) == LORC_OK);
    expect_refused(m, hex_path, true, "not 16 hex digits", lb, "bad hash");
    FX_TMP(tbl_path, "ov_table.gguf");
    CHECK(fx_write_raw_overlay(tbl_path, "llama", "0123", 1, nm, ne_ok, hs, 0.5f, &err) == LORC_OK);
    expect_refused(m, tbl_path, true, LORC_OVERLAY_KEY_TABLE, lb, "bad table hash");

    /* made for another tensor table (well-formed hash, other value): force applies it */
    FX_TMP(other_path, "ov_othertable.gguf");
    CHECK(fx_write_raw_overlay(other_path, "llama", "0123456789abcdef", 1, nm, ne_ok, hs, 0.5f, &err) == LORC_OK);
    expect_refused(m, other_path, false, "another base", lb, "other tensor table");
    ov = apply_ok(m, other_path, true, "other tensor table, force");
    lorc_overlay_remove(m, ov);

    /* the real diff overlay on bases it was not made for */
    synth_params p2 = *p;
    p2.seed = 99; /* same table, other contents */
    FX_TMP(base2, "ov_base_seed99.gguf");
    CHECK(synth_write_model(base2, &p2, &err) == LORC_OK);
    synth_params p3 = *p;
    p3.n_ff = p->n_ff + 16; /* other table, same shapes for the overlay's tensors */
    FX_TMP(base3, "ov_base_ff.gguf");
    CHECK(synth_write_model(base3, &p3, &err) == LORC_OK);
    synth_params p4 = *p;
    p4.n_embd = p->n_embd * 2; /* other shapes */
    p4.n_ff = p->n_ff * 2;
    FX_TMP(base4, "ov_base_wide.gguf");
    CHECK(synth_write_model(base4, &p4, &err) == LORC_OK);
    const char *bases[3] = {base2, base3, base4};
    const char *expect[3] = {"blk.0.attn_q.weight", "another base", "blk.0.attn_q.weight"};
    const bool forcible[3] = {true, true, false};
    for (int i = 0; i < 3; i++) {
        lorc_model *mo = NULL;
        if (lorc_model_load(bases[i], &mo, &err)) {
            CHECK_MSG(0, "%s", err.message);
            continue;
        }
        float *lo = fx_logits(mo, tokens, N_TOK, NULL, NULL, 0);
        if (lo) {
            expect_refused(mo, ov_path, false, expect[i], lo, bases[i]);
            if (forcible[i]) {
                lorc_overlay *o = apply_ok(mo, ov_path, true, "another base, force");
                lorc_overlay_remove(mo, o);
                CHECK(weights_are_base(mo));
                same_logits(mo, lo, "other base after forced overlay removed");
            } else {
                expect_refused(mo, ov_path, true, "shape", lo, "another base with other shapes, force");
            }
        }
        free(lo);
        lorc_model_free(mo);
    }

    /* the base changed in one replaced tensor only: named; force applies */
    float *v = perturbed(p, "blk.1.attn_v.weight", 5);
    const char *names1[1] = {"blk.1.attn_v.weight"};
    FX_TMP(base5, "ov_base_changed_v1.gguf");
    CHECK(v && synth_write_replaced_model(base, base5, names1, &v, 1, &err) == LORC_OK);
    free(v);
    lorc_model *m5 = NULL;
    if (lorc_model_load(base5, &m5, &err) == LORC_OK) {
        float *l5 = fx_logits(m5, tokens, N_TOK, NULL, NULL, 0);
        if (l5) expect_refused(m5, ov_path, false, "blk.1.attn_v.weight", l5, "changed base contents");
        lorc_overlay *o = apply_ok(m5, ov_path, true, "changed base contents, force");
        lorc_overlay_remove(m5, o);
        free(l5);
        lorc_model_free(m5);
    } else {
        CHECK_MSG(0, "%s", err.message);
    }
    lorc_model_free(m);
}

static void test_several(const synth_params *p, const char *base, const char *ft, const float *lb) {
    lorc_error err = {0};
    float *vals[3];
    for (int i = 0; i < 3; i++) vals[i] = perturbed(p, changed[i], 100 + (uint64_t)i);
    FX_TMP(a_path, "ov_part_a.gguf");
    FX_TMP(b_path, "ov_part_b.gguf");
    FX_TMP(c_path, "ov_part_c.gguf");
    CHECK(fx_write_overlay_f32(base, a_path, changed, vals, 1, &err) == LORC_OK);
    CHECK(fx_write_overlay_f32(base, b_path, changed + 1, vals + 1, 2, &err) == LORC_OK);
    /* c overlaps a on blk.0.attn_q.weight, listed after a tensor of its own */
    float *k0 = perturbed(p, "blk.0.attn_k.weight", 7);
    const char *c_names[2] = {"blk.0.attn_k.weight", "blk.0.attn_q.weight"};
    float *c_vals[2] = {k0, vals[0]};
    CHECK(fx_write_overlay_f32(base, c_path, c_names, c_vals, 2, &err) == LORC_OK);

    lorc_model *m = NULL, *mf = NULL;
    if (lorc_model_load(base, &m, &err) || lorc_model_load(ft, &mf, &err)) {
        CHECK_MSG(0, "%s", err.message);
    } else {
        float *lf = fx_logits(mf, tokens, N_TOK, NULL, NULL, 0);
        lorc_overlay *oa = apply_ok(m, a_path, false, "overlay a");
        lorc_overlay *ob = apply_ok(m, b_path, false, "overlay b");
        if (lf && oa && ob) same_logits(m, lf, "a + b == fine-tuned");
        /* c overlaps: refused naming the tensor, its own tensor not applied */
        lorc_overlay *oc = NULL;
        lorc_status st = lorc_overlay_apply(m, c_path, true, &oc, &err);
        CHECK_MSG(st != LORC_OK && strstr(err.message, "blk.0.attn_q.weight") && strstr(err.message, "overlap"),
                  "overlap: %s", err.message);
        printf("  refused as expected (overlap): %s\n", err.message);
        int k_slot = lorc_model_slot_of_name(m, "blk.0.attn_k.weight");
        CHECK(m->w[k_slot] == m->base[k_slot]);
        if (lf) same_logits(m, lf, "after refused overlap");
        /* remove in application order (not reverse): fine */
        lorc_overlay_remove(m, oa);
        oc = apply_ok(m, c_path, false, "c once a is gone");
        lorc_overlay_remove(m, ob);
        lorc_overlay_remove(m, oc);
        CHECK(weights_are_base(m));
        same_logits(m, lb, "all removed");
        free(lf);
    }
    lorc_model_free(mf);
    lorc_model_free(m);
    free(k0);
    for (int i = 0; i < 3; i++) free(vals[i]);
}

/* Tied output: replacing token_embd changes the output projection too,
 * exactly like the complete fine-tuned model. */
static void test_tied(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.tied_output = true;
    p.seed = 3;
    FX_TMP(base, "ov_tied_base.gguf");
    FX_TMP(ft, "ov_tied_ft.gguf");
    FX_TMP(ovp, "ov_tied.gguf");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    float *e = perturbed(&p, "token_embd.weight", 11);
    const char *names[1] = {"token_embd.weight"};
    CHECK(e && synth_write_replaced_model(base, ft, names, &e, 1, &err) == LORC_OK);
    free(e);
    char *out = NULL;
    CHECK(fx_run_cli(&out, "diff %s %s -o %s", base, ft, ovp) == 0);
    free(out);
    lorc_model *m = NULL, *mf = NULL;
    if (lorc_model_load(base, &m, &err) == LORC_OK && lorc_model_load(ft, &mf, &err) == LORC_OK) {
        float *lf = fx_logits(mf, tokens, N_TOK, NULL, NULL, 0);
        lorc_overlay *ov = apply_ok(m, ovp, false, "tied overlay");
        if (lf && ov) same_logits(m, lf, "tied: base + overlay == fine-tuned");
        lorc_overlay_remove(m, ov);
        free(lf);
    } else {
        CHECK_MSG(0, "%s", err.message);
    }
    lorc_model_free(mf);
    lorc_model_free(m);
}

/* Size: an overlay of Wq and Wv is their bytes plus a small header. The
 * model is big enough (Q4_K, n_embd 512) that 1% is a real bound. */
static void test_size(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.n_embd = 512;
    p.n_head = 8;
    p.n_head_kv = 8;
    p.n_ff = 1024;
    p.n_layer = 4;
    p.n_vocab = 256;
    p.weight_type = LORC_TYPE_Q4_K;
    p.embd_type = LORC_TYPE_Q8_0;
    p.seed = 21;
    FX_TMP(base, "ov_size_base.gguf");
    FX_TMP(ovp, "ov_size.gguf");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    gguf_file *f = NULL;
    lorc_overlay_writer *w = NULL;
    if (gguf_open(base, &f, &err) || lorc_overlay_writer_new(f, &w, &err)) {
        CHECK_MSG(0, "%s", err.message);
        gguf_close(f);
        return;
    }
    uint64_t share = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        if (!strstr(t->name, "attn_q.weight") && !strstr(t->name, "attn_v.weight")) continue;
        CHECK(lorc_overlay_writer_add(w, t->name, t->type, t->data, &err) == LORC_OK);
        share += t->nbytes;
    }
    CHECK(lorc_overlay_writer_write(w, ovp, NULL, NULL, &err) == LORC_OK);
    struct stat so, sf;
    CHECK(stat(ovp, &so) == 0 && stat(base, &sf) == 0);
    double over = ((double)so.st_size - (double)share) / (double)share;
    printf("  size: Wq+Wv = %llu bytes (%.1f%% of the %lld-byte model); overlay file %lld bytes (+%.3f%%)\n",
           (unsigned long long)share, 100.0 * (double)share / (double)sf.st_size, (long long)sf.st_size,
           (long long)so.st_size, 100.0 * over);
    CHECK_MSG(over >= 0 && over < 0.01, "overlay is %.3f%% larger than its tensors", 100.0 * over);
    lorc_overlay_writer_free(w);
    gguf_close(f);
    /* it applies (a Q4_K overlay over the Q4_K base) */
    lorc_model *m = NULL;
    if (lorc_model_load(base, &m, &err) == LORC_OK) {
        lorc_overlay *ov = apply_ok(m, ovp, false, "size overlay");
        lorc_overlay_remove(m, ov);
    }
    lorc_model_free(m);
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    FX_TMP(base, "ov_base.gguf");
    FX_TMP(ft, "ov_ft.gguf");
    FX_TMP(ovp, "ov_diff.gguf");
    if (synth_write_model(base, &p, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    float *vals[3];
    for (int i = 0; i < 3; i++) vals[i] = perturbed(&p, changed[i], 100 + (uint64_t)i);
    CHECK(synth_write_replaced_model(base, ft, changed, vals, 3, &err) == LORC_OK);
    for (int i = 0; i < 3; i++) free(vals[i]);

    test_diff_roundtrip(&p, base, ft, ovp);
    float *lb = NULL;
    test_apply_remove(base, ft, ovp, &lb);
    if (lb) {
        test_refusals(&p, base, ovp, lb);
        test_several(&p, base, ft, lb);
    }
    free(lb);
    test_tied();
    test_size();
    return test_finish("test_overlay");
}
