/* test_registry.c — the adapter registry with the real stories260K
 * adapters: registering opens nothing; lorc_sequence_use loads a cold
 * entry and computes exactly what attaching the adapter directly does;
 * AUTO kinds (GGUF adapter, PEFT directory, GGUF overlay); references
 * (remove refused while used); a failed load is FAILED with its message
 * and retried on the next use; prefetch; a budget smaller than the
 * adapters' total evicts least recently used entries and reloads them on
 * demand, never goes over the budget, and refuses (one line) a load that
 * only fits by evicting what is in use or pinned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "overlay_fixtures.h"
#include "synth_adapter.h"
#include "testutil.h"

static const int32_t toks[] = {1, 403, 407, 261, 378, 300, 270, 290};
#define N_TOK ((int)(sizeof toks / sizeof toks[0]))

/* Logits of every token on a reset sequence. */
static float *run(lorc_context *ctx, lorc_sequence *seq, int nv) {
    lorc_error err = {0};
    float *l = malloc((size_t)N_TOK * (size_t)nv * sizeof *l);
    lorc_sequence_reset(seq);
    lorc_status st = lorc_decode(ctx, seq, toks, N_TOK, true, l, &err);
    CHECK_MSG(st == LORC_OK, "%s", err.message);
    return l;
}

static bool same(const float *a, const float *b, int nv) {
    return a && b && !memcmp(a, b, (size_t)N_TOK * (size_t)nv * sizeof *a);
}

/* Logits with the adapter at `path` attached directly (the reference). */
static float *direct(lorc_model *m, lorc_context *ctx, const char *path, float scale) {
    lorc_error err = {0};
    lorc_adapter *ad = NULL;
    lorc_sequence *seq = NULL;
    CHECK_MSG(lorc_adapter_load(m, path, &ad, &err) == LORC_OK, "%s", err.message);
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    CHECK(lorc_sequence_set_adapters(seq, &ad, &scale, 1, &err) == LORC_OK);
    float *l = run(ctx, seq, lorc_model_n_vocab(m));
    lorc_sequence_free(seq);
    lorc_adapter_free(ad);
    return l;
}

/* Logits with the overlay at `ov_path` (and optionally the adapter at
 * `ad_path`) set directly on a fresh sequence. */
static float *direct_overlay(lorc_model *m, lorc_context *ctx, const char *ov_path, const char *ad_path) {
    lorc_error err = {0};
    lorc_overlay *ov = NULL;
    lorc_adapter *ad = NULL;
    lorc_sequence *seq = NULL;
    float one = 1.0f;
    CHECK_MSG(lorc_overlay_load(m, ov_path, false, &ov, &err) == LORC_OK, "%s", err.message);
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    CHECK_MSG(lorc_sequence_set_overlay(seq, ov, &err) == LORC_OK, "%s", err.message);
    if (ad_path) {
        CHECK_MSG(lorc_adapter_load(m, ad_path, &ad, &err) == LORC_OK, "%s", err.message);
        CHECK_MSG(lorc_sequence_set_adapters(seq, &ad, &one, 1, &err) == LORC_OK, "%s", err.message);
    }
    float *l = run(ctx, seq, lorc_model_n_vocab(m));
    lorc_sequence_free(seq);
    lorc_adapter_free(ad);
    lorc_overlay_free(ov);
    return l;
}

static lorc_entry_info info(lorc_registry *reg, const char *name) {
    lorc_entry_info in;
    lorc_error err = {0};
    CHECK_MSG(lorc_registry_info(reg, name, &in, &err) == LORC_OK, "%s", err.message);
    return in;
}

static lorc_status use1(lorc_sequence *seq, lorc_registry *reg, const char *name, float scale, lorc_error *err) {
    lorc_adapter_use u = {name, scale};
    return lorc_sequence_use(seq, reg, name ? &u : NULL, name ? 1 : 0, NULL, err);
}

/* Waits (bounded) until the entry leaves LOADING/COLD after a prefetch. */
static lorc_entry_state wait_loaded(lorc_registry *reg, const char *name) {
    for (int i = 0; i < 20000; i++) {
        lorc_entry_info in = info(reg, name);
        if (in.state == LORC_ENTRY_READY || in.state == LORC_ENTRY_FAILED) return in.state;
        usleep(1000);
    }
    return LORC_ENTRY_LOADING;
}

static const char *overlay_path(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s", test_tmp("registry_overlay.gguf"));
    const char *model = test_shared("models/stories260K.gguf");
    int64_t n;
    float *w = synth_read_tensor_f32(model, "blk.0.attn_q.weight", &n);
    for (int64_t i = 0; w && i < n; i++) w[i] *= 0.5f;
    const char *names[1] = {"blk.0.attn_q.weight"};
    lorc_error err = {0};
    CHECK_MSG(w && fx_write_overlay_f32(model, path, names, &w, 1, &err) == LORC_OK, "%s", err.message);
    free(w);
    return path;
}

static void basics(lorc_model *m, lorc_context *ctx) {
    int nv = lorc_model_n_vocab(m);
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    if (!reg) return;
    char moon[1024], ocean[1024], late[1024];
    snprintf(moon, sizeof moon, "%s", test_shared("adapters/moon-qv/moon-qv.gguf"));
    snprintf(ocean, sizeof ocean, "%s", test_shared("adapters/ocean-all/peft"));
    snprintf(late, sizeof late, "%s", test_tmp("registry_late.gguf"));
    unlink(late);
    CHECK(lorc_registry_add(reg, "moon", moon, LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "ocean", ocean, LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "ov", overlay_path(), LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "late", late, LORC_ENTRY_LORA, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "moon", ocean, LORC_ENTRY_AUTO, &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "'moon'") && strstr(err.message, "already"), "%s", err.message);
    CHECK(lorc_registry_add(reg, "", ocean, LORC_ENTRY_AUTO, &err) == LORC_ERR_INVALID);
    CHECK(lorc_registry_count(reg) == 4);

    lorc_entry_info in = info(reg, "moon");
    CHECK(in.state == LORC_ENTRY_COLD && in.bytes == 0 && in.loads == 0 && in.kind == LORC_ENTRY_AUTO && in.refs == 0);
    CHECK(lorc_registry_resident_bytes(reg) == 0);
    CHECK(lorc_registry_info(reg, "nope", &in, &err) == LORC_ERR_INVALID && strstr(err.message, "'nope'"));

    /* Cold entry, loaded by use; the logits equal the adapter attached directly. */
    lorc_sequence *seq = NULL, *seq2 = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK && lorc_sequence_new(ctx, &seq2, &err) == LORC_OK);
    float *ref_moon = direct(m, ctx, moon, 1.0f), *ref_ocean = direct(m, ctx, ocean, 0.5f);
    float *base = run(ctx, seq, nv);
    CHECK_MSG(use1(seq, reg, "moon", 1.0f, &err) == LORC_OK, "%s", err.message);
    float *l = run(ctx, seq, nv);
    CHECK_MSG(same(l, ref_moon, nv), "moon through the registry differs from moon attached directly");
    free(l);
    in = info(reg, "moon");
    CHECK(in.state == LORC_ENTRY_READY && in.kind == LORC_ENTRY_LORA && in.refs == 1 && in.loads == 1 && in.bytes > 0);
    CHECK(lorc_registry_resident_bytes(reg) == in.bytes);
    uint64_t t_moon = in.last_use;

    /* In use: remove refused; a second sequence shares the entry. */
    CHECK(lorc_registry_remove(reg, "moon", &err) == LORC_ERR_BUSY);
    CHECK_MSG(strstr(err.message, "'moon'") && strstr(err.message, "in use"), "%s", err.message);
    lorc_adapter_use both[2] = {{"ocean", 0.5f}, {"moon", 1.0f}};
    CHECK_MSG(lorc_sequence_use(seq2, reg, both, 1, NULL, &err) == LORC_OK, "%s", err.message);
    l = run(ctx, seq2, nv);
    CHECK_MSG(same(l, ref_ocean, nv), "PEFT ocean through the registry differs");
    free(l);
    CHECK(info(reg, "ocean").kind == LORC_ENTRY_LORA && info(reg, "ocean").last_use > t_moon);
    CHECK_MSG(lorc_sequence_use(seq2, reg, both, 2, NULL, &err) == LORC_OK, "%s", err.message);
    CHECK(info(reg, "moon").refs == 2 && info(reg, "ocean").refs == 1 && info(reg, "moon").loads == 1);

    /* A failed use keeps what the sequence had (and its references). */
    lorc_adapter_use bad[2] = {{"ocean", 1.0f}, {"nope", 1.0f}};
    CHECK(lorc_sequence_use(seq, reg, bad, 2, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "'nope'"));
    CHECK(info(reg, "ocean").refs == 1 && info(reg, "moon").refs == 2);
    l = run(ctx, seq, nv);
    CHECK_MSG(same(l, ref_moon, nv), "a failed lorc_sequence_use changed the sequence");
    free(l);

    /* Back to the base: references dropped, the entry stays resident (cached). */
    CHECK(use1(seq, reg, NULL, 0, &err) == LORC_OK);
    l = run(ctx, seq, nv);
    CHECK(same(l, base, nv));
    free(l);
    CHECK(info(reg, "moon").refs == 1 && info(reg, "moon").state == LORC_ENTRY_READY);
    lorc_sequence_free(seq2); /* releases its references */
    seq2 = NULL;
    CHECK(info(reg, "moon").refs == 0 && info(reg, "ocean").refs == 0);

    /* AUTO overlay: refused as an adapter (the kind is decided by the load). */
    CHECK(use1(seq, reg, "ov", 1.0f, &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "'ov'") && strstr(err.message, "overlay"), "%s", err.message);
    in = info(reg, "ov");
    CHECK(in.kind == LORC_ENTRY_OVERLAY && in.state == LORC_ENTRY_READY && in.refs == 0 && in.bytes > 0);
    /* As an overlay: the sequence computes on it, alone and under an adapter. */
    float *ref_ov = direct_overlay(m, ctx, overlay_path(), NULL), *ref_ov_moon = direct_overlay(m, ctx, overlay_path(), moon);
    CHECK_MSG(lorc_sequence_use(seq, reg, NULL, 0, "ov", &err) == LORC_OK, "%s", err.message);
    l = run(ctx, seq, nv);
    CHECK_MSG(same(l, ref_ov, nv) && !same(l, base, nv), "overlay through the registry differs from the overlay set directly");
    free(l);
    lorc_adapter_use moon1 = {"moon", 1.0f};
    CHECK_MSG(lorc_sequence_use(seq, reg, &moon1, 1, "ov", &err) == LORC_OK, "%s", err.message);
    l = run(ctx, seq, nv);
    CHECK_MSG(same(l, ref_ov_moon, nv), "moon on the overlay through the registry differs");
    free(l);
    CHECK(info(reg, "ov").refs == 1 && info(reg, "moon").refs == 1);
    CHECK(lorc_registry_remove(reg, "ov", &err) == LORC_ERR_BUSY);
    CHECK(lorc_sequence_use(seq, reg, NULL, 0, "moon", &err) == LORC_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "'moon'") && strstr(err.message, "not an overlay"), "%s", err.message);
    l = run(ctx, seq, nv);
    CHECK_MSG(same(l, ref_ov_moon, nv), "a refused overlay changed the sequence");
    free(l);
    CHECK(use1(seq, reg, NULL, 0, &err) == LORC_OK);
    CHECK(info(reg, "ov").refs == 0 && info(reg, "moon").refs == 0);
    l = run(ctx, seq, nv);
    CHECK(same(l, base, nv));
    free(l);
    free(ref_ov);
    free(ref_ov_moon);

    /* A bad path: FAILED with the message; retried (and succeeding) once the file exists. */
    CHECK(use1(seq, reg, "late", 1.0f, &err) == LORC_ERR_IO);
    CHECK_MSG(strstr(err.message, "registry_late.gguf"), "%s", err.message);
    in = info(reg, "late");
    CHECK(in.state == LORC_ENTRY_FAILED && in.loads == 0 && in.bytes == 0);
    CHECK_MSG(strstr(in.error, "registry_late.gguf") != NULL, "error: '%s'", in.error);
    CHECK(symlink(moon, late) == 0);
    CHECK_MSG(use1(seq, reg, "late", 1.0f, &err) == LORC_OK, "%s", err.message);
    in = info(reg, "late");
    CHECK(in.state == LORC_ENTRY_READY && in.loads == 1 && in.error[0] == '\0');
    l = run(ctx, seq, nv);
    CHECK(same(l, ref_moon, nv));
    free(l);
    CHECK(use1(seq, reg, NULL, 0, &err) == LORC_OK);

    /* Prefetch returns at once; the background thread loads. */
    CHECK(lorc_registry_add(reg, "ocean2", ocean, LORC_ENTRY_LORA, &err) == LORC_OK);
    CHECK(lorc_registry_prefetch(reg, "ocean2", &err) == LORC_OK);
    CHECK(wait_loaded(reg, "ocean2") == LORC_ENTRY_READY);
    CHECK(info(reg, "ocean2").loads == 1 && info(reg, "ocean2").refs == 0);
    CHECK(lorc_registry_prefetch(reg, "ocean2", &err) == LORC_OK && info(reg, "ocean2").loads == 1);
    CHECK(lorc_registry_prefetch(reg, "nope", &err) == LORC_ERR_INVALID);

    /* Removing unreferenced entries gives their bytes back. */
    size_t before = lorc_registry_resident_bytes(reg), b2 = info(reg, "ocean2").bytes;
    CHECK(lorc_registry_remove(reg, "ocean2", &err) == LORC_OK);
    CHECK(lorc_registry_resident_bytes(reg) == before - b2 && lorc_registry_count(reg) == 4);
    CHECK(lorc_registry_info(reg, "ocean2", &in, &err) == LORC_ERR_INVALID);
    CHECK(lorc_registry_remove(reg, "moon", &err) == LORC_OK);

    free(ref_moon);
    free(ref_ocean);
    free(base);
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
    unlink(late);
}

/* Sizes of the two real adapters as the registry counts them. */
static void sizes(lorc_model *m, size_t *moon, size_t *ocean) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    lorc_registry_new(m, 0, &reg, &err);
    lorc_registry_add(reg, "moon", test_shared("adapters/moon-qv/moon-qv.gguf"), LORC_ENTRY_LORA, &err);
    lorc_registry_add(reg, "ocean", test_shared("adapters/ocean-all/ocean-all.gguf"), LORC_ENTRY_LORA, &err);
    lorc_registry_prefetch(reg, "moon", &err);
    lorc_registry_prefetch(reg, "ocean", &err);
    CHECK(wait_loaded(reg, "moon") == LORC_ENTRY_READY && wait_loaded(reg, "ocean") == LORC_ENTRY_READY);
    *moon = info(reg, "moon").bytes;
    *ocean = info(reg, "ocean").bytes;
    lorc_registry_free(reg);
}

static void budget(lorc_model *m, lorc_context *ctx) {
    int nv = lorc_model_n_vocab(m);
    size_t b_moon = 0, b_ocean = 0;
    sizes(m, &b_moon, &b_ocean);
    CHECK(b_moon > 0 && b_ocean > 0);
    size_t bud = b_moon + b_ocean - 1; /* the two never fit together */
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, bud, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_budget(reg) == bud);
    CHECK(lorc_registry_add(reg, "moon", test_shared("adapters/moon-qv/moon-qv.gguf"), LORC_ENTRY_AUTO, &err) == 0);
    CHECK(lorc_registry_add(reg, "ocean", test_shared("adapters/ocean-all/ocean-all.gguf"), LORC_ENTRY_AUTO, &err) == 0);
    float *ref_moon = direct(m, ctx, test_shared("adapters/moon-qv/moon-qv.gguf"), 1.0f);
    float *ref_ocean = direct(m, ctx, test_shared("adapters/ocean-all/ocean-all.gguf"), 1.0f);
    lorc_sequence *s1 = NULL, *s2 = NULL;
    CHECK(lorc_sequence_new(ctx, &s1, &err) == LORC_OK && lorc_sequence_new(ctx, &s2, &err) == LORC_OK);

    CHECK_MSG(use1(s1, reg, "moon", 1.0f, &err) == LORC_OK, "%s", err.message);
    float *l = run(ctx, s1, nv);
    CHECK(same(l, ref_moon, nv));
    free(l);
    CHECK(use1(s1, reg, NULL, 0, &err) == LORC_OK); /* moon unused, still resident */
    CHECK(info(reg, "moon").state == LORC_ENTRY_READY);
    /* ocean needs moon's room: moon is evicted (COLD), the budget holds. */
    CHECK_MSG(use1(s2, reg, "ocean", 1.0f, &err) == LORC_OK, "%s", err.message);
    CHECK(info(reg, "moon").state == LORC_ENTRY_COLD && info(reg, "moon").bytes == 0 && info(reg, "moon").loads == 1);
    CHECK(lorc_registry_resident_bytes(reg) <= bud);
    /* moon again while ocean runs: ocean is in use, so the load is refused, naming both figures. */
    CHECK(use1(s1, reg, "moon", 1.0f, &err) == LORC_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "'moon'") && strstr(err.message, "budget") && strstr(err.message, "in use"), "%s",
              err.message);
    CHECK(info(reg, "moon").state == LORC_ENTRY_FAILED);
    l = run(ctx, s2, nv);
    CHECK_MSG(same(l, ref_ocean, nv), "ocean changed while moon's load was refused");
    free(l);
    /* ocean leaves: moon is reloaded on demand (loads counts it). */
    CHECK(use1(s2, reg, NULL, 0, &err) == LORC_OK);
    CHECK_MSG(use1(s1, reg, "moon", 1.0f, &err) == LORC_OK, "%s", err.message);
    CHECK(info(reg, "moon").loads == 2 && info(reg, "ocean").state == LORC_ENTRY_COLD);
    CHECK(lorc_registry_resident_bytes(reg) <= bud);
    l = run(ctx, s1, nv);
    CHECK_MSG(same(l, ref_moon, nv), "reloaded moon differs");
    free(l);

    /* Pinned and unused: still never evicted. */
    CHECK(use1(s1, reg, NULL, 0, &err) == LORC_OK);
    CHECK(lorc_registry_pin(reg, "moon", true, &err) == LORC_OK && info(reg, "moon").pinned);
    CHECK(use1(s2, reg, "ocean", 1.0f, &err) == LORC_ERR_NOMEM);
    CHECK(info(reg, "moon").state == LORC_ENTRY_READY);
    CHECK(lorc_registry_pin(reg, "moon", false, &err) == LORC_OK);
    CHECK_MSG(use1(s2, reg, "ocean", 1.0f, &err) == LORC_OK, "%s", err.message);
    CHECK(info(reg, "moon").state == LORC_ENTRY_COLD && info(reg, "ocean").loads == 2);
    CHECK(lorc_registry_pin(reg, "nope", true, &err) == LORC_ERR_INVALID);

    /* Bigger than the whole budget: refused up front. */
    lorc_registry *tiny = NULL;
    CHECK(lorc_registry_new(m, 1000, &tiny, &err) == LORC_OK);
    CHECK(lorc_registry_add(tiny, "moon", test_shared("adapters/moon-qv/moon-qv.gguf"), LORC_ENTRY_LORA, &err) == 0);
    CHECK(use1(s1, tiny, "moon", 1.0f, &err) == LORC_ERR_NOMEM);
    CHECK_MSG(strstr(err.message, "budget 1000"), "%s", err.message);
    CHECK(lorc_registry_resident_bytes(tiny) == 0);
    lorc_registry_free(tiny);

    free(ref_moon);
    free(ref_ocean);
    lorc_sequence_free(s1);
    lorc_sequence_free(s2);
    lorc_registry_free(reg);
}

int main(void) {
    lorc_model *m = NULL;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (m && lorc_context_new(m, &cp, &ctx, &err) == LORC_OK) {
        basics(m, ctx);
        budget(m, ctx);
    }
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_registry");
}
