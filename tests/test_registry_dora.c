/* test_registry_dora.c — the DoRA per-scale cache is bounded and counted:
 * the real ocean-dora adapter (PEFT) used at many scales keeps at most
 * LORC_DORA_CACHED_SCALES unreferenced weights per slot, the registry's
 * bytes for it equal what the adapter holds, a scale dropped from the
 * cache is recomputed to the same logits, and under a budget a new scale
 * is refused (one line) when only in-use weights could make room, while
 * unused ones are dropped to make it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "adapter/registry.h"
#include "testutil.h"

static const int32_t toks[] = {1, 403, 407, 261, 378, 300};
#define N_TOK ((int)(sizeof toks / sizeof toks[0]))

static float *run(lorc_context *ctx, lorc_sequence *seq, int nv) {
    lorc_error err = {0};
    float *l = malloc((size_t)N_TOK * (size_t)nv * sizeof *l);
    lorc_sequence_reset(seq);
    CHECK_MSG(lorc_decode(ctx, seq, toks, N_TOK, true, l, &err) == LORC_OK, "%s", err.message);
    return l;
}

static size_t entry_bytes(lorc_registry *reg, const char *name) {
    lorc_entry_info in;
    lorc_error err = {0};
    CHECK(lorc_registry_info(reg, name, &in, &err) == LORC_OK);
    return in.bytes;
}

static lorc_status use(lorc_sequence *seq, lorc_registry *reg, float scale, lorc_error *err) {
    lorc_adapter_use u = {"dora", scale};
    return lorc_sequence_use(seq, reg, &u, 1, NULL, err);
}

static const float scales[] = {1.0f, 0.5f, 0.25f, 2.0f, 3.0f, 4.0f, 5.0f};
#define N_SCALES ((int)(sizeof scales / sizeof scales[0]))

/* Bytes of one scale's DoRA weights for ocean-dora on this model. */
static size_t scale_bytes(const lorc_model *m) {
    /* q and v of every layer: n_embd x n_embd (q) and n_embd x n_kv (v) F32 values. */
    const lorc_hparams *hp = &m->hp;
    size_t q = (size_t)hp->n_embd * (size_t)(hp->n_head * hp->head_dim);
    size_t v = (size_t)hp->n_embd * (size_t)(hp->n_head_kv * hp->head_dim);
    return (size_t)hp->n_layer * (q + v) * sizeof(float);
}

static void bounded_and_counted(lorc_model *m, lorc_context *ctx) {
    int nv = lorc_model_n_vocab(m);
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "dora", test_shared("adapters/ocean-dora/peft"), LORC_ENTRY_AUTO, &err) == 0);
    lorc_registry_entry *held = NULL;
    CHECK_MSG(lorc_registry_acquire(reg, "dora", LORC_ENTRY_LORA, true, &held, &err) == LORC_OK, "%s", err.message);
    lorc_adapter *ad = lorc_registry_entry_adapter(held);
    CHECK(ad && ad->is_dora);
    size_t b0 = entry_bytes(reg, "dora"), d = 0;
    CHECK(b0 == lorc_adapter_resident_bytes(ad));
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    float *first_half = NULL;
    for (int k = 0; k < N_SCALES; k++) {
        CHECK_MSG(use(seq, reg, scales[k], &err) == LORC_OK, "%s", err.message);
        size_t b = entry_bytes(reg, "dora");
        CHECK_MSG(b == lorc_adapter_resident_bytes(ad), "registry counts %zu, the adapter holds %zu", b,
                  lorc_adapter_resident_bytes(ad));
        if (k == 0) d = b - b0;
        int cached = k + 1 < LORC_DORA_CACHED_SCALES ? k + 1 : LORC_DORA_CACHED_SCALES;
        CHECK_MSG(b == b0 + (size_t)cached * d, "after %d scales: %zu bytes, expected %zu + %d x %zu", k + 1, b, b0,
                  cached, d);
        CHECK(lorc_registry_resident_bytes(reg) == b);
        if (k == 1) first_half = run(ctx, seq, nv);
    }
    CHECK_MSG(d >= scale_bytes(m) && d < scale_bytes(m) + 4096, "one scale costs %zu bytes (weights %zu)", d,
              scale_bytes(m));
    printf("ocean-dora: %zu bytes loaded, %zu per cached scale, %zu after %d scales (at most %d cached)\n", b0, d,
           entry_bytes(reg, "dora"), N_SCALES, LORC_DORA_CACHED_SCALES);
    /* 0.5 was dropped from the cache long ago: recomputed, same logits. */
    CHECK(use(seq, reg, 0.5f, &err) == LORC_OK);
    float *again = run(ctx, seq, nv);
    CHECK_MSG(first_half && !memcmp(first_half, again, (size_t)N_TOK * (size_t)nv * sizeof *again),
              "recomputed DoRA weights give other logits");
    free(first_half);
    free(again);

    /* Referenced weights always stay: six sequences at six scales hold six. */
    lorc_sequence *many[6] = {0};
    for (int i = 0; i < 6; i++) {
        CHECK(lorc_sequence_new(ctx, &many[i], &err) == LORC_OK);
        CHECK(use(many[i], reg, 10.0f + (float)i, &err) == LORC_OK);
    }
    CHECK(entry_bytes(reg, "dora") >= b0 + 6 * d && entry_bytes(reg, "dora") == lorc_adapter_resident_bytes(ad));
    for (int i = 0; i < 6; i++) lorc_sequence_free(many[i]);
    /* released: trimmed back to the bound (the current scale of `seq` included) */
    CHECK_MSG(entry_bytes(reg, "dora") == b0 + (size_t)LORC_DORA_CACHED_SCALES * d, "%zu bytes after release",
              entry_bytes(reg, "dora"));
    lorc_sequence_free(seq);
    lorc_registry_release(held);
    lorc_registry_free(reg);
}

static void budget(lorc_model *m, lorc_context *ctx) {
    lorc_error err = {0};
    /* Sizes first, without a budget. */
    lorc_registry *probe = NULL;
    CHECK(lorc_registry_new(m, 0, &probe, &err) == LORC_OK);
    CHECK(lorc_registry_add(probe, "dora", test_shared("adapters/ocean-dora/peft"), LORC_ENTRY_LORA, &err) == 0);
    lorc_sequence *s1 = NULL, *s2 = NULL;
    CHECK(lorc_sequence_new(ctx, &s1, &err) == LORC_OK && lorc_sequence_new(ctx, &s2, &err) == LORC_OK);
    CHECK(use(s1, probe, 1.0f, &err) == LORC_OK);
    size_t b1 = entry_bytes(probe, "dora");
    CHECK(lorc_sequence_use(s1, probe, NULL, 0, NULL, &err) == LORC_OK);
    lorc_registry_free(probe);
    size_t d = scale_bytes(m);
    size_t bud = b1 + d / 2; /* one scale fits, two do not */

    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, bud, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "dora", test_shared("adapters/ocean-dora/peft"), LORC_ENTRY_LORA, &err) == 0);
    CHECK_MSG(use(s1, reg, 1.0f, &err) == LORC_OK, "%s", err.message);
    CHECK(entry_bytes(reg, "dora") == b1);
    /* A second scale while the first is in use: refused, naming DoRA and the budget. */
    CHECK(use(s2, reg, 2.0f, &err) == LORC_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "'dora'") && strstr(err.message, "DoRA") && strstr(err.message, "budget"), "%s",
              err.message);
    /* (weights of the slots computed before the refusal stay cached, unused, within the budget) */
    CHECK_MSG(lorc_registry_resident_bytes(reg) <= bud && entry_bytes(reg, "dora") >= b1, "resident %zu budget %zu entry %zu b1 %zu", lorc_registry_resident_bytes(reg), bud, entry_bytes(reg, "dora"), b1);
    /* The first scale unused: its weights are dropped to make the room. */
    CHECK(lorc_sequence_use(s1, reg, NULL, 0, NULL, &err) == LORC_OK);
    CHECK_MSG(use(s2, reg, 2.0f, &err) == LORC_OK, "%s", err.message);
    CHECK(entry_bytes(reg, "dora") == b1 && lorc_registry_resident_bytes(reg) <= bud);
    lorc_sequence_free(s1);
    lorc_sequence_free(s2);
    lorc_registry_free(reg);
}

/* Without a registry the cache is bounded too (no budget hook). */
static void plain(lorc_model *m, lorc_context *ctx) {
    lorc_error err = {0};
    lorc_adapter *ad = NULL;
    CHECK_MSG(lorc_adapter_load(m, test_shared("adapters/ocean-dora/peft"), &ad, &err) == LORC_OK, "%s", err.message);
    if (!ad) return;
    size_t b0 = lorc_adapter_resident_bytes(ad), d = scale_bytes(m);
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    for (int k = 0; k < 20; k++) {
        float s = 0.1f * (float)(k + 1);
        CHECK(lorc_sequence_set_adapters(seq, &ad, &s, 1, &err) == LORC_OK);
        CHECK_MSG(lorc_adapter_resident_bytes(ad) <= b0 + LORC_DORA_CACHED_SCALES * (d + 4096), "%zu bytes after %d scales",
                  lorc_adapter_resident_bytes(ad), k + 1);
    }
    lorc_sequence_free(seq);
    lorc_adapter_free(ad);
}

int main(void) {
    lorc_model *m = NULL;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (m && lorc_context_new(m, &cp, &ctx, &err) == LORC_OK) {
        bounded_and_counted(m, ctx);
        budget(m, ctx);
        plain(m, ctx);
    }
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_registry_dora");
}
