/* test_writers_refuse.c — no writer stores a value that is not finite, and
 * `extract` refuses non-finite inputs (issue 6, items 3 and 4). Values a
 * type cannot hold (merge --type F16/Q8_0 of a huge merged value, convert
 * --outtype f16 of huge factors, quantize of huge weights) and NaN/Inf in a
 * source model (quantize, diff, extract) each fail with exit 1 and one line
 * naming the tensor (and, for a range overflow, the largest value), and
 * leave neither the output nor a temporary behind; the same inputs in a type
 * that holds them are written. A relative error that is 0/0 is printed as
 * undefined, never as 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "format/gguf.h"
#include "synth.h"
#include "synth_adapter.h"
#include "tensor/types.h"
#include "testutil.h"

static char dir[600];

static const char *path_in(const char *name) {
    static char bufs[8][800];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

typedef struct edit {
    const char *name;
    const float *values;
} edit;

static bool replace_values(void *user, const char *name, uint32_t *type, uint32_t *n_dims, int64_t ne[4],
                           const void **data) {
    const edit *e = user;
    (void)n_dims;
    (void)ne;
    if (!strcmp(name, e->name)) {
        *type = LORC_TYPE_F32;
        *data = e->values;
    }
    return true;
}

/* A copy of `src` whose F32 tensor `name` holds `values`. */
static void write_edited(const char *src, const char *dst, const char *name, const float *values) {
    edit e = {name, values};
    gguf_writer *w = NULL;
    gguf_file *f = NULL;
    lorc_error err = {0};
    CHECK_MSG(synth_copy_gguf(src, replace_values, &e, &w, &f, &err) == LORC_OK, "%s", err.message);
    if (w) CHECK_MSG(gguf_writer_write(w, dst, NULL, NULL, &err) == LORC_OK, "%s", err.message);
    gguf_writer_free(w);
    gguf_close(f);
}

/* The command failed with one line holding every `want` (NULL-terminated),
 * and left no `out` and no temporary. */
static void check_refused(const char *what, int rc, const char *tag, const char *out, const char *const *want) {
    char *e = cli_run_stderr(tag);
    CHECK_MSG(rc == 1, "%s: exit %d (want 1): %s", what, rc, e);
    size_t n = strlen(e);
    CHECK_MSG(n > 0 && strchr(e, '\n') == e + n - 1, "%s: not exactly one line: '%s'", what, e);
    for (int i = 0; want[i]; i++) CHECK_MSG(strstr(e, want[i]) != NULL, "%s: '%s' lacks '%s'", what, e, want[i]);
    CHECK_MSG(!cli_path_exists(out), "%s: left %s behind", what, out);
    CHECK_MSG(cli_temporaries_in(dir) == 0, "%s: left a temporary behind", what);
    free(e);
}

static void check_ok(const char *what, int rc, const char *tag, const char *out) {
    char *e = cli_run_stderr(tag);
    CHECK_MSG(rc == 0 && cli_path_exists(out), "%s: exit %d: %s", what, rc, e);
    free(e);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", test_tmp("writers_refuse"));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    CHECK(system(cmd) == 0);
    lorc_error err = {0};
    const char *T = "writers_refuse";

    synth_params p = synth_default_params(); /* rows of 32 and 48: Q8_0 fits */
    char base[800], adapter[800], peft[800], nan_model[800], inf_norm[800], big[800], huge[800];
    snprintf(base, sizeof base, "%s", path_in("base.gguf"));
    snprintf(adapter, sizeof adapter, "%s", path_in("adapter.gguf"));
    snprintf(peft, sizeof peft, "%s", path_in("peft_huge"));
    snprintf(nan_model, sizeof nan_model, "%s", path_in("nan.gguf"));
    snprintf(inf_norm, sizeof inf_norm, "%s", path_in("inf_norm.gguf"));
    snprintf(big, sizeof big, "%s", path_in("big.gguf"));
    snprintf(huge, sizeof huge, "%s", path_in("huge.gguf"));
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);

    /* ---- merge: s·B·A of about 1e8 fits F32 and BF16, not F16 or Q8_0 */
    synth_lora l;
    CHECK(synth_lora_init(&l, &p, "blk.0.attn_q.weight", 4, 3, 0.5f, &err) == LORC_OK);
    CHECK(synth_write_gguf_adapter(adapter, "llama", 4.0f, &l, 1, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&l);
    static const char *const types_refused[] = {"F16", "Q8_0", "Q4_0"};
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "merge --type %s of 1e8", types_refused[i]);
        const char *out = path_in("merged.gguf");
        int rc = cli_run(T, "merge -m %s --lora-scaled %s 1e8 --type %s -o %s", base, adapter, types_refused[i], out);
        const char *want[] = {"blk.0.attn_q.weight", "largest |value|", "e+0", types_refused[i], NULL};
        check_refused(what, rc, T, out, want);
        /* the same, as a complete model */
        rc = cli_run(T, "merge -m %s --lora-scaled %s 1e8 --type %s --full -o %s", base, adapter, types_refused[i], out);
        check_refused(what, rc, T, out, want);
    }
    check_ok("merge --type BF16 of 1e8",
             cli_run(T, "merge -m %s --lora-scaled %s 1e8 --type BF16 -o %s", base, adapter, path_in("m_bf16.gguf")), T,
             path_in("m_bf16.gguf"));

    /* ---- convert: factors of 1e6 fit bf16, not f16 */
    CHECK(synth_lora_init(&l, &p, "blk.0.attn_q.weight", 4, 5, 1e6f, &err) == LORC_OK);
    CHECK_MSG(synth_write_peft_dir(peft, &p, "{\"r\": 4, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}", &l, 1,
                                   "F32", &err) == LORC_OK,
              "%s", err.message);
    synth_lora_free(&l);
    {
        const char *out = path_in("conv.gguf");
        const char *want[] = {"blk.0.attn_q.weight.lora_", "largest |value|", "F16", NULL};
        check_refused("convert --outtype f16 of 1e6", cli_run(T, "convert %s -m %s -o %s --outtype f16", peft, base, out),
                      T, out, want);
        check_ok("convert --outtype bf16 of 1e6",
                 cli_run(T, "convert %s -m %s -o %s --outtype bf16", peft, base, path_in("conv_bf16.gguf")), T,
                 path_in("conv_bf16.gguf"));
    }

    /* ---- quantize: weights of ~3e5 do not fit F16, but Q8_0 (a block scale
     * of ~3e3); of ~3e8 not even Q8_0 (its F16 block scale overflows) */
    synth_params pb = p;
    pb.weight_scale = 2e6f; /* weights uniform in ±s/sqrt(row length 32 or 48), token_embd in ±s */
    CHECK_MSG(synth_write_model(big, &pb, &err) == LORC_OK, "%s", err.message);
    pb.weight_scale = 2e9f;
    CHECK_MSG(synth_write_model(huge, &pb, &err) == LORC_OK, "%s", err.message);
    {
        const char *out = path_in("q.gguf");
        const char *want_f16[] = {".weight'", "largest |value|", "does not fit F16", NULL};
        check_refused("quantize F16 of 3e5", cli_run(T, "quantize %s %s F16", big, out), T, out, want_f16);
        check_ok("quantize Q8_0 of 3e5", cli_run(T, "quantize %s %s Q8_0", big, path_in("q_ok.gguf")), T,
                 path_in("q_ok.gguf"));
        const char *want_q8[] = {".weight'", "largest |value|", "does not fit Q8_0", NULL};
        check_refused("quantize Q8_0 of 3e8", cli_run(T, "quantize %s %s Q8_0", huge, out), T, out, want_q8);
        check_ok("quantize BF16 of 3e8", cli_run(T, "quantize %s %s BF16", huge, path_in("q_bf16.gguf")), T,
                 path_in("q_bf16.gguf"));
    }

    /* ---- NaN in a weight, Inf in a norm (which quantize copies as is) */
    int64_t n = 0;
    float *k = synth_tensor_values(&p, "blk.0.attn_k.weight", &n);
    float *norm = NULL;
    if (k) {
        k[37] = NAN;
        write_edited(base, nan_model, "blk.0.attn_k.weight", k);
    }
    int64_t nn = 0;
    norm = synth_tensor_values(&p, "blk.1.ffn_norm.weight", &nn);
    if (norm) {
        norm[3] = INFINITY;
        write_edited(base, inf_norm, "blk.1.ffn_norm.weight", norm);
    }
    {
        const char *out = path_in("q.gguf");
        const char *want_k[] = {"blk.0.attn_k.weight", "non-finite", "nan", NULL};
        check_refused("quantize Q8_0 of NaN", cli_run(T, "quantize %s %s Q8_0", nan_model, out), T, out, want_k);
        check_refused("quantize F32 of NaN", cli_run(T, "quantize %s %s F32", nan_model, out), T, out, want_k);
        const char *want_norm[] = {"blk.1.ffn_norm.weight", "non-finite", "inf", NULL};
        check_refused("quantize Q8_0 of an Inf norm", cli_run(T, "quantize %s %s Q8_0", inf_norm, out), T, out,
                      want_norm);

        /* diff copies the fine-tuned tensor: refused by the writer */
        const char *want_diff[] = {"blk.0.attn_k.weight", "non-finite", "nan", NULL};
        check_refused("diff to a NaN model", cli_run(T, "diff %s %s -o %s", base, nan_model, out), T, out, want_diff);

        /* extract: either side, named with its file */
        const char *want_ft[] = {"nan.gguf", "blk.0.attn_k.weight", "non-finite", NULL};
        check_refused("extract of a NaN fine-tune", cli_run(T, "extract %s %s -r 2 -o %s", base, nan_model, out), T, out,
                      want_ft);
        const char *want_base[] = {"inf_norm.gguf", "blk.1.ffn_norm.weight", "non-finite", NULL};
        check_refused("extract from an Inf base", cli_run(T, "extract %s %s -r 2 -o %s", inf_norm, base, out), T, out,
                      want_base);
    }
    free(k);
    free(norm);

    /* ---- extract where the bytes differ but the values do not (+0 vs -0):
     * ‖D‖ = 0, so the relative error is undefined, not 0 */
    float *q = synth_tensor_values(&p, "blk.1.attn_v.weight", &n);
    if (q) {
        for (int64_t i = 0; i < n; i++) q[i] = 0.0f;
        write_edited(base, path_in("zero_pos.gguf"), "blk.1.attn_v.weight", q);
        for (int64_t i = 0; i < n; i++) q[i] = -0.0f;
        write_edited(base, path_in("zero_neg.gguf"), "blk.1.attn_v.weight", q);
        free(q);
    }
    char zp[800], zn[800];
    snprintf(zp, sizeof zp, "%s", path_in("zero_pos.gguf"));
    snprintf(zn, sizeof zn, "%s", path_in("zero_neg.gguf"));
    check_ok("extract of +0 vs -0", cli_run(T, "extract %s %s -r 2 -o %s", zp, zn, path_in("z.gguf")), T,
             path_in("z.gguf"));
    char *o = cli_run_stdout(T);
    CHECK_MSG(strstr(o, "blk.1.attn_v.weight") && strstr(o, "relative error undefined"), "output: %s", o);
    CHECK_MSG(strstr(o, "overall relative error undefined"), "output: %s", o);
    CHECK_MSG(!strstr(o, "0.000e+00"), "an undefined error printed as 0: %s", o);
    free(o);
    return test_finish("test_writers_refuse");
}
