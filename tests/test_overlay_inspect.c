/* test_overlay_inspect.c — the fine-tune summary `lorc inspect` prints
 * (tools/inspect_finetune.c, compiled into this test): overlays (base
 * fingerprint, replaced tensors, fit against a base or the first mismatch),
 * GGUF adapters and PEFT directories (rank, alpha, targets), models (not
 * summarised) and unreadable files (error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect_finetune.h"
#include "tensor/types.h"
#include "overlay_fixtures.h"
#include "synth.h"
#include "synth_adapter.h"
#include "testutil.h"

/* Runs inspect_finetune into a string. */
static int inspect(const char *path, const char *base, char **text, lorc_error *err) {
    size_t len = 0;
    FILE *fp = open_memstream(text, &len);
    int rc = inspect_finetune(path, base, fp, err);
    fclose(fp);
    return rc;
}

static void expect(const char *text, const char *what) {
    CHECK_MSG(text && strstr(text, what), "missing '%s' in:\n%s", what, text ? text : "");
}

int main(void) {
    lorc_error err = {0};
    synth_params p = synth_default_params();
    p.seed = 12;
    FX_TMP(base, "insp_base.gguf");
    FX_TMP(other, "insp_other.gguf");
    FX_TMP(ovp, "insp_overlay.gguf");
    FX_TMP(ad, "insp_adapter.gguf");
    FX_TMP(junk, "insp_junk.gguf");
    CHECK(synth_write_model(base, &p, &err) == LORC_OK);
    synth_params p2 = p;
    p2.seed = 13;
    CHECK(synth_write_model(other, &p2, &err) == LORC_OK);
    int64_t n = 0;
    float *q = synth_tensor_values(&p, "blk.1.attn_q.weight", &n);
    for (int64_t i = 0; q && i < n; i++) q[i] *= 0.5f;
    const char *names[1] = {"blk.1.attn_q.weight"};
    CHECK(q && fx_write_overlay_f32(base, ovp, names, &q, 1, &err) == LORC_OK);
    free(q);
    synth_lora l[2];
    CHECK(synth_lora_init(&l[0], &p, "blk.0.attn_q.weight", 4, 1, 0.1f, &err) == LORC_OK);
    CHECK(synth_lora_init(&l[1], &p, "blk.1.attn_q.weight", 4, 2, 0.1f, &err) == LORC_OK);
    CHECK(synth_write_gguf_adapter(ad, "llama", 8.0f, l, 2, LORC_TYPE_F32, &err) == LORC_OK);
    synth_lora_free(&l[0]);
    synth_lora_free(&l[1]);

    char *t = NULL;
    CHECK(inspect(ovp, base, &t, &err) == 1);
    expect(t, "overlay (tensor subset, version 1)");
    expect(t, "architecture:  llama");
    expect(t, "base table:    xxh64 ");
    expect(t, "replaces 1 tensor");
    expect(t, "attn_q.weight");
    expect(t, "fits base:     yes");
    free(t);
    CHECK(inspect(ovp, other, &t, &err) == 1);
    expect(t, "fits base:     NO: ");
    expect(t, "blk.1.attn_q.weight");
    free(t);

    CHECK(inspect(ad, base, &t, &err) == 1);
    expect(t, "LoRA adapter (llama.cpp GGUF)");
    expect(t, "rank:          4");
    expect(t, "alpha:         8 (scale alpha/r = 2)");
    expect(t, "targets:       2 LoRA pairs");
    expect(t, "layers 0-1 (2)");
    expect(t, "fits base:     yes");
    free(t);

    CHECK(inspect(test_shared("adapters/moon-head/peft"), NULL, &t, &err) == 1);
    expect(t, "PEFT directory");
    expect(t, "rank:          8");
    expect(t, "modules_to_save: lm_head");
    expect(t, "self_attn.q_proj");
    free(t);

    CHECK(inspect(base, NULL, &t, &err) == 0 && t && !*t); /* a model: nothing printed */
    free(t);
    FILE *fp = fopen(junk, "wb");
    if (fp) {
        fputs("GGUF but not really", fp);
        fclose(fp);
    }
    CHECK(inspect(junk, NULL, &t, &err) == -1 && strstr(err.message, "insp_junk.gguf"));
    free(t);
    return test_finish("test_overlay_inspect");
}
