/* test_writers_roundtrip.c — every file-writing command, in every output
 * type it offers, writes a file that lorc's own loaders accept: quantize (each
 * type lorc can write), merge (each --type, as an overlay and as --full),
 * convert (each --outtype), diff and extract. Each output is loaded back
 * (lorc_model_load / lorc_overlay_apply / lorc_adapter_load), its tensors are
 * checked to be in the requested type, and a forward pass on it must give
 * finite logits. */
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

/* The type `name` is stored in inside `file`; -1 when absent. */
static int tensor_type(const char *file, const char *name) {
    gguf_file *f = NULL;
    lorc_error err = {0};
    if (gguf_open(file, &f, &err) != LORC_OK) return -1;
    const gguf_tensor_info *t = gguf_find_tensor(f, name);
    int type = t ? (int)t->type : -1;
    gguf_close(f);
    return type;
}

/* Logits of a short prompt; true when every value is finite. */
static bool logits_finite(lorc_model *m, lorc_adapter *ad) {
    lorc_error err = {0};
    static const int32_t tokens[] = {1, 5, 9, 17, 33, 2};
    float one = 1.0f;
    float *lg = synth_logits(m, ad ? &ad : NULL, &one, ad ? 1 : 0, tokens, 6, &err);
    if (!lg) return false;
    bool ok = true;
    for (int i = 0; i < 6 * lorc_model_n_vocab(m); i++) ok &= isfinite(lg[i]) != 0;
    free(lg);
    return ok;
}

static void load_model(const char *what, const char *file) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(file, &m, &err) == LORC_OK, "%s: %s", what, err.message);
    if (m) CHECK_MSG(logits_finite(m, NULL), "%s: non-finite logits", what);
    lorc_model_free(m);
}

static void load_overlay(const char *what, const char *base, const char *file) {
    lorc_model *m = NULL;
    lorc_overlay *ov = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s: %s", what, err.message);
    if (!m) return;
    CHECK_MSG(lorc_overlay_apply(m, file, false, &ov, &err) == LORC_OK, "%s: %s", what, err.message);
    if (ov) CHECK_MSG(logits_finite(m, NULL), "%s: non-finite logits", what);
    lorc_overlay_remove(m, ov);
    lorc_model_free(m);
}

static void load_adapter(const char *what, const char *base, const char *file) {
    lorc_model *m = NULL;
    lorc_adapter *ad = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(base, &m, &err) == LORC_OK, "%s: %s", what, err.message);
    if (!m) return;
    CHECK_MSG(lorc_adapter_load(m, file, &ad, &err) == LORC_OK, "%s: %s", what, err.message);
    if (ad) CHECK_MSG(logits_finite(m, ad), "%s: non-finite logits", what);
    lorc_adapter_free(ad);
    lorc_model_free(m);
}

static void run_ok(const char *what, int rc, const char *tag) {
    char *e = cli_run_stderr(tag);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", what, rc, e);
    free(e);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", test_tmp("writers_rt"));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    CHECK(system(cmd) == 0);
    lorc_error err = {0};

    /* Rows of 256 so that every block size (32 and the K-quants' 256) fits. */
    synth_params p = synth_default_params();
    p.n_embd = 256;
    p.n_ff = 256;
    char base[800], adapter[800], peft[800], full[800];
    snprintf(base, sizeof base, "%s", path_in("base.gguf"));
    snprintf(adapter, sizeof adapter, "%s", path_in("adapter.gguf"));
    snprintf(peft, sizeof peft, "%s", path_in("peft"));
    snprintf(full, sizeof full, "%s", path_in("merge_F32.full.gguf"));
    CHECK_MSG(synth_write_model(base, &p, &err) == LORC_OK, "%s", err.message);
    synth_lora l[2];
    CHECK(synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 4, 7, 0.3f, &err) == LORC_OK);
    CHECK(synth_lora_init(&l[1], &p, "blk.1.ffn_down.weight", 4, 8, 0.3f, &err) == LORC_OK);
    CHECK_MSG(synth_write_gguf_adapter(adapter, "llama", 4.0f, l, 2, LORC_TYPE_F32, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(synth_write_peft_dir(peft, &p,
                                   "{\"r\": 4, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\", \"down_proj\"]}", l, 2,
                                   "F32", &err) == LORC_OK,
              "%s", err.message);

    int n_types = 0, n_quantize = 0;
    for (uint32_t type = 0; type < 64; type++) {
        const lorc_type_info *ti = lorc_type_get(type);
        if (!ti || !ti->from_float || !ti->to_float) continue;
        n_types++;
        const char *name = ti->name;
        char what[128], out[64];

        /* quantize: every 2-D weight in TYPE (Q8_1 and Q8_K are activation
         * types llama.cpp has no file type for: quantize refuses them) */
        bool quantize_offers = type != LORC_TYPE_Q8_1 && type != LORC_TYPE_Q8_K;
        snprintf(what, sizeof what, "quantize %s", name);
        snprintf(out, sizeof out, "quant_%s.gguf", name);
        if (quantize_offers) {
            run_ok(what, cli_run("writers_rt", "quantize %s %s %s -t 2", base, path_in(out), name), "writers_rt");
            CHECK_MSG(tensor_type(path_in(out), "blk.0.attn_q.weight") == (int)type, "%s: weight not in %s", what, name);
            load_model(what, path_in(out));
            n_quantize++;
        }

        /* merge: overlay and complete model */
        snprintf(what, sizeof what, "merge --type %s", name);
        snprintf(out, sizeof out, "merge_%s.overlay.gguf", name);
        run_ok(what, cli_run("writers_rt", "merge -m %s --lora %s --type %s -o %s -t 2", base, adapter, name, path_in(out)),
               "writers_rt");
        CHECK_MSG(tensor_type(path_in(out), "blk.1.ffn_down.weight") == (int)type, "%s: merged weight not in %s", what,
                  name);
        load_overlay(what, base, path_in(out));
        snprintf(what, sizeof what, "merge --full --type %s", name);
        snprintf(out, sizeof out, "merge_%s.full.gguf", name);
        run_ok(what,
               cli_run("writers_rt", "merge -m %s --lora %s --type %s --full -o %s -t 2", base, adapter, name, path_in(out)),
               "writers_rt");
        CHECK_MSG(tensor_type(path_in(out), "blk.0.attn_q.weight") == (int)type, "%s: merged weight not in %s", what,
                  name);
        load_model(what, path_in(out));
    }
    CHECK_MSG(n_types >= 15 && n_quantize == 13, "%d writable types, %d quantize types", n_types, n_quantize);

    /* convert: every --outtype */
    static const char *const outtypes[] = {"f32", "f16", "bf16", "q8_0"};
    static const uint32_t out_ids[] = {LORC_TYPE_F32, LORC_TYPE_F16, LORC_TYPE_BF16, LORC_TYPE_Q8_0};
    for (int i = 0; i < 4; i++) {
        char what[64], out[64];
        snprintf(what, sizeof what, "convert --outtype %s", outtypes[i]);
        snprintf(out, sizeof out, "convert_%s.gguf", outtypes[i]);
        run_ok(what, cli_run("writers_rt", "convert %s -m %s -o %s --outtype %s", peft, base, path_in(out), outtypes[i]),
               "writers_rt");
        CHECK_MSG(tensor_type(path_in(out), "blk.0.attn_q.weight.lora_a") == (int)out_ids[i], "%s: lora_a not in %s",
                  what, outtypes[i]);
        load_adapter(what, base, path_in(out));
    }

    /* diff and extract of the merged F32 model against the base */
    run_ok("diff", cli_run("writers_rt", "diff %s %s -o %s", base, full, path_in("diff.overlay.gguf")), "writers_rt");
    CHECK(tensor_type(path_in("diff.overlay.gguf"), "blk.0.attn_q.weight") == LORC_TYPE_F32);
    load_overlay("diff", base, path_in("diff.overlay.gguf"));
    run_ok("extract", cli_run("writers_rt", "extract %s %s -r 4 -o %s -t 2", base, full, path_in("extract.gguf")),
           "writers_rt");
    CHECK(tensor_type(path_in("extract.gguf"), "blk.1.ffn_down.weight.lora_b") == LORC_TYPE_F32);
    load_adapter("extract", base, path_in("extract.gguf"));

    CHECK(cli_temporaries_in(dir) == 0);
    synth_lora_free(&l[0]);
    synth_lora_free(&l[1]);
    return test_finish("test_writers_roundtrip");
}
