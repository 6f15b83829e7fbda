/* test_batch_mixed.c — the mixed-batch proof on stories260K with the real
 * adapters: sequences on the base, moon-qv (GGUF), ocean-all (PEFT dir), a
 * stack moon-qv x0.7 + ocean-all x0.4, ocean-dora (PEFT DoRA), the
 * moon-full-qvo overlay, moon-qv on that overlay, and moon-qv again at
 * another scale, all in ONE lorc_decode_batch per step (prompt chunks and
 * single tokens mixed): every logits row equals, bit for bit, the same
 * sequence decoded alone with lorc_decode — and again with the batch
 * reordered and the prompts cut differently. Then: attach / overlay /
 * detach cycles leave the base's mapped bytes and the model's weight table
 * unchanged, and switching a sequence between resident adapters gives each
 * adapter's own logits (time printed; the integrator benchmarks it).
 * And the grouping seen from the forward pass: 8 sequences on one adapter
 * at 8 scales run one A·x and one B·t per adapted weight per step; on 8
 * copies of the adapter, 8 of each, with the same logits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/context.h"
#include "format/fingerprint.h"
#include "model/model.h"
#include "overlay_fixtures.h"
#include "testutil.h"

enum { N_SEQ = 8, MAX_TOK = 24, N_BATCH = 64 };

/* One sequence's setup: adapters (indices into ads[]), scales, overlay. */
typedef struct setup {
    const char *what;
    int n;
    int ad[2];
    float sc[2];
    bool overlay;
} setup;

enum { MOON, OCEAN, DORA, N_ADS };

static const setup setups[N_SEQ] = {
    {"base", 0, {0, 0}, {0, 0}, false},
    {"moon-qv (GGUF)", 1, {MOON, 0}, {1.0f, 0}, false},
    {"ocean-all (PEFT dir)", 1, {OCEAN, 0}, {1.0f, 0}, false},
    {"moon-qv x0.7 + ocean-all x0.4", 2, {MOON, OCEAN}, {0.7f, 0.4f}, false},
    {"ocean-dora (PEFT DoRA)", 1, {DORA, 0}, {1.0f, 0}, false},
    {"overlay moon-full-qvo", 0, {0, 0}, {0, 0}, true},
    {"moon-qv x0.8 on the overlay", 1, {MOON, 0}, {0.8f, 0}, true},
    {"moon-qv x0.5", 1, {MOON, 0}, {0.5f, 0}, false},
};

typedef struct world {
    lorc_model *m;
    lorc_context *ctx;
    lorc_adapter *ads[N_ADS];
    lorc_overlay *ov;
    int nv;
    int32_t tok[N_SEQ][MAX_TOK];
    int n_tok[N_SEQ];
    float *ref[N_SEQ]; /* n_tok × nv: decoded alone */
} world;

static lorc_status configure(world *w, lorc_sequence *s, const setup *su, lorc_error *err) {
    lorc_adapter *a[2] = {w->ads[su->ad[0]], w->ads[su->ad[1]]};
    lorc_status st = lorc_sequence_set_adapters(s, a, su->sc, su->n, err);
    if (!st) st = lorc_sequence_set_overlay(s, su->overlay ? w->ov : NULL, err);
    return st;
}

/* Logits of every token of sequence k decoded alone (one lorc_decode). */
static float *alone(world *w, int k, const setup *su) {
    lorc_error err = {0};
    lorc_sequence *s = NULL;
    float *l = malloc((size_t)w->n_tok[k] * (size_t)w->nv * sizeof *l);
    lorc_status st = l ? lorc_sequence_new(w->ctx, &s, &err) : LORC_ERR_NOMEM;
    if (!st) st = configure(w, s, su, &err);
    if (!st) st = lorc_decode(w->ctx, s, w->tok[k], w->n_tok[k], true, l, &err);
    CHECK_MSG(st == LORC_OK, "%s alone: %s", su->what, err.message);
    lorc_sequence_free(s);
    if (st) {
        free(l);
        return NULL;
    }
    return l;
}

/* Tokens sequence k feeds at `step` under schedule `v` (0 = none this step). */
static int chunk(int v, int k, int step) {
    if (v == 0) return step == 0 ? 2 + k % 5 : ((step + k) % 3 == 0 ? 4 : 1);
    if ((step + k) % 4 == 3) return 0; /* sits this step out */
    return step == 0 ? 7 - k % 4 : ((step * (k + 1)) % 2 ? 3 : 1);
}

/* Runs all sequences through lorc_decode_batch under schedule v, items in
 * the order perm[]; every logits row must equal the reference. */
static void run_schedule(world *w, int v, const int *perm, const char *what) {
    lorc_error err = {0};
    lorc_sequence *seq[N_SEQ] = {0};
    float *got[N_SEQ] = {0};
    int done[N_SEQ] = {0};
    for (int k = 0; k < N_SEQ; k++) {
        got[k] = malloc((size_t)w->n_tok[k] * (size_t)w->nv * sizeof(float));
        if (!got[k] || lorc_sequence_new(w->ctx, &seq[k], &err) || configure(w, seq[k], &setups[k], &err)) {
            CHECK_MSG(0, "%s: setup %d: %s", what, k, err.message);
            goto out;
        }
    }
    int steps = 0, mixed_steps = 0;
    for (int step = 0;; step++) {
        lorc_decode_item items[N_SEQ];
        int n = 0, total = 0, singles = 0, chunks = 0;
        for (int j = 0; j < N_SEQ; j++) {
            const int k = perm[j];
            int c = chunk(v, k, step), left = w->n_tok[k] - done[k];
            if (c > left) c = left;
            if (c <= 0) continue;
            items[n++] = (lorc_decode_item){seq[k], w->tok[k] + done[k], c, true,
                                            got[k] + (size_t)done[k] * (size_t)w->nv};
            total += c;
            singles += c == 1;
            chunks += c > 1;
        }
        if (n == 0) {
            bool all = true;
            for (int k = 0; k < N_SEQ; k++) all &= done[k] == w->n_tok[k];
            if (all) break;
            continue;
        }
        CHECK(total <= N_BATCH);
        lorc_status st = lorc_decode_batch(w->ctx, items, n, &err);
        CHECK_MSG(st == LORC_OK, "%s, step %d: %s", what, step, err.message);
        if (st) goto out;
        for (int j = 0; j < n; j++)
            for (int k = 0; k < N_SEQ; k++)
                if (items[j].seq == seq[k]) done[k] += items[j].n_tokens;
        steps++;
        mixed_steps += singles > 0 && chunks > 0;
    }
    int bad = 0;
    for (int k = 0; k < N_SEQ; k++) {
        bool eq = w->ref[k] && !memcmp(got[k], w->ref[k], (size_t)w->n_tok[k] * (size_t)w->nv * sizeof(float));
        CHECK_MSG(eq, "%s: sequence '%s' differs from the same sequence decoded alone (rel %.3g)", what,
                  setups[k].what,
                  w->ref[k] ? fx_rel_diff(got[k], w->ref[k], (size_t)w->n_tok[k] * (size_t)w->nv) : -1.0);
        bad += !eq;
    }
    CHECK_MSG(mixed_steps > 0, "%s: no step mixed prompt chunks and single tokens", what);
    printf("  %s: %d steps (%d mixing chunks and single tokens), %d/%d sequences bit-identical to decoding alone\n",
           what, steps, mixed_steps, N_SEQ - bad, N_SEQ);
out:
    for (int k = 0; k < N_SEQ; k++) {
        lorc_sequence_free(seq[k]);
        free(got[k]);
    }
}

/* Every tensor's bytes of the base mapping, hashed. */
static uint64_t base_hash(const lorc_model *m) {
    uint64_t h = 0;
    for (int i = 0; i < m->n_tensors; i++)
        h = h * 0x9E3779B97F4A7C15ull ^ lorc_fingerprint_bytes(m->tensors[i].data, m->tensors[i].nbytes);
    return h;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Attach / overlay / detach cycles never write the base, and switching a
 * sequence between resident adapters computes with the new one. */
static void test_untouched_and_switch(world *w) {
    lorc_error err = {0};
    const uint64_t h0 = base_hash(w->m);
    const lorc_tensor **w0 = malloc((size_t)w->m->n_slots * sizeof *w0);
    lorc_sequence *s = NULL;
    if (!w0 || lorc_sequence_new(w->ctx, &s, &err)) {
        CHECK(0);
        free(w0);
        return;
    }
    memcpy(w0, w->m->w, (size_t)w->m->n_slots * sizeof *w0);
    int fails = 0;
    const int cycles = 200;
    double t0 = now_ms();
    for (int c = 0; c < cycles; c++) fails += configure(w, s, &setups[1 + c % (N_SEQ - 1)], &err) != LORC_OK;
    double per_switch = (now_ms() - t0) / cycles;
    CHECK_MSG(fails == 0, "%d switches failed: %s", fails, err.message);
    fails += configure(w, s, &setups[0], &err) != LORC_OK;
    CHECK(fails == 0);
    CHECK_MSG(base_hash(w->m) == h0, "the base model's mapped bytes changed");
    CHECK_MSG(!memcmp(w0, w->m->w, (size_t)w->m->n_slots * sizeof *w0), "the model's weight table changed");
    for (int i = 0; i < w->m->n_slots; i++) CHECK(w->m->w[i] == w->m->base[i]);
    printf("  %d attach/overlay/detach switches: base bytes (xxh64 of every tensor) and weight table unchanged; "
           "%.3f ms per switch (informative)\n",
           cycles, per_switch);
    /* switching one sequence back and forth: each time its adapter's logits */
    const int order[5] = {1, 2, 1, 4, 0};
    int bad = 0;
    float *l = malloc((size_t)w->n_tok[0] * (size_t)w->nv * sizeof *l);
    for (int i = 0; l && i < 5; i++) {
        const int k = order[i];
        lorc_sequence_reset(s);
        if (configure(w, s, &setups[k], &err) || lorc_decode(w->ctx, s, w->tok[k], w->n_tok[k], true, l, &err)) {
            CHECK_MSG(0, "switch to %s: %s", setups[k].what, err.message);
            break;
        }
        bad += !w->ref[k] || memcmp(l, w->ref[k], (size_t)w->n_tok[k] * (size_t)w->nv * sizeof *l) != 0;
    }
    CHECK_MSG(bad == 0, "%d switched runs differ from the adapter's own logits", bad);
    if (bad == 0) printf("  one sequence switched moon -> ocean -> moon -> dora -> base: each run == that setup alone\n");
    free(l);
    free(w0);
    lorc_sequence_free(s);
}

/* 8 sequences on moon-qv at 8 scales, in one step: one A·x and one B·t per
 * adapted weight (q and v of each layer); the same on 8 separately loaded
 * copies: 8 of each, and every sequence's logits the same as on the shared
 * adapter. */
static void test_forward_grouping(world *w) {
    lorc_error err = {0};
    enum { N = 8 };
    lorc_adapter *copies[N] = {0};
    lorc_sequence *seq[N] = {0};
    float *shared[N] = {0}, *sep[N] = {0};
    const int n_w = 2 * lorc_model_n_layer(w->m); /* moon-qv adapts attn_q and attn_v */
    lorc_matmul_stats st_shared = {0}, st_sep = {0};
    for (int round = 0; round < 2; round++) {
        lorc_decode_item items[N];
        for (int k = 0; k < N; k++) {
            const float sc = 0.25f + 0.25f * (float)k;
            lorc_adapter *ad = w->ads[MOON];
            if (round == 1 && !copies[k] &&
                lorc_adapter_load(w->m, test_shared("adapters/moon-qv/moon-qv.gguf"), &copies[k], &err)) {
                CHECK_MSG(0, "%s", err.message);
                goto out;
            }
            if (round == 1) ad = copies[k];
            float **dst = round ? &sep[k] : &shared[k];
            *dst = malloc((size_t)3 * (size_t)w->nv * sizeof(float));
            lorc_sequence_free(seq[k]);
            seq[k] = NULL;
            if (!*dst || lorc_sequence_new(w->ctx, &seq[k], &err) || lorc_sequence_set_adapters(seq[k], &ad, &sc, 1, &err)) {
                CHECK_MSG(0, "%s", err.message);
                goto out;
            }
            /* prompt chunks of 1..3 tokens */
            items[k] = (lorc_decode_item){seq[k], w->tok[k], 1 + k % 3, true, *dst};
        }
        if (lorc_decode_batch(w->ctx, items, N, &err)) {
            CHECK_MSG(0, "%s", err.message);
            goto out;
        }
        if (round == 0) st_shared = w->ctx->step_mm;
        else st_sep = w->ctx->step_mm;
    }
    CHECK_MSG(st_shared.a_parts == n_w && st_shared.b_parts == n_w,
              "8 sequences on one adapter: %d A·x and %d B·t products in the step, want %d each", st_shared.a_parts,
              st_shared.b_parts, n_w);
    CHECK_MSG(st_sep.a_parts == N * n_w && st_sep.b_parts == N * n_w,
              "8 sequences on 8 adapters: %d A·x and %d B·t products in the step, want %d each", st_sep.a_parts,
              st_sep.b_parts, N * n_w);
    int bad = 0;
    for (int k = 0; k < N; k++)
        bad += memcmp(shared[k], sep[k], (size_t)(1 + k % 3) * (size_t)w->nv * sizeof(float)) != 0;
    CHECK_MSG(bad == 0, "%d sequences compute differently on a shared adapter and on their own copy", bad);
    printf("  forward step, 8 sequences at 8 scales: one adapter -> %d A·x + %d B·t products (%d weights); "
           "8 copies -> %d + %d; same logits\n",
           st_shared.a_parts, st_shared.b_parts, n_w, st_sep.a_parts, st_sep.b_parts);
out:
    for (int k = 0; k < N; k++) {
        lorc_sequence_free(seq[k]);
        lorc_adapter_free(copies[k]);
        free(shared[k]);
        free(sep[k]);
    }
}

int main(void) {
    lorc_error err = {0};
    world w = {0};
    FX_TMP(ovp, "batch_mixed_moon.overlay.gguf");
    const char *paths[N_ADS] = {"adapters/moon-qv/moon-qv.gguf", "adapters/ocean-all/peft", "adapters/ocean-dora/peft"};
    lorc_status st = lorc_model_load(test_shared("models/stories260K.gguf"), &w.m, &err);
    for (int i = 0; !st && i < N_ADS; i++) st = lorc_adapter_load(w.m, test_shared(paths[i]), &w.ads[i], &err);
    if (!st) st = fx_write_moon_overlay(ovp, &err);
    if (!st) st = lorc_overlay_load(w.m, ovp, false, &w.ov, &err);
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = 64;
    cp.n_batch = N_BATCH;
    if (!st) st = lorc_context_new(w.m, &cp, &w.ctx, &err);
    if (st) {
        CHECK_MSG(0, "setup: %s", err.message);
        goto done;
    }
    w.nv = lorc_model_n_vocab(w.m);
    static const char *const prompts[N_SEQ] = {
        "Once upon a time, there was a little girl",
        "Lily went to the park",
        "The sun was shining and the birds",
        "One day, a big dog",
        "Tom had a red ball. He",
        "Once upon a time",
        "The cat sat on the mat and looked at",
        "Mom said",
    };
    for (int k = 0; k < N_SEQ; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (lorc_tokenize(lorc_model_vocab(w.m), prompts[k], strlen(prompts[k]), LORC_TOKENIZE_ADD_BOS, &ids, &n, &err)) {
            CHECK_MSG(0, "%s", err.message);
            goto done;
        }
        /* the prompt, then "generated" tokens (fixed, so every run feeds the same) */
        int len = 0;
        for (size_t i = 0; i < n && len < MAX_TOK - 6; i++) w.tok[k][len++] = ids[i];
        for (int g = 0; len < MAX_TOK - (k % 3); g++) w.tok[k][len++] = (int32_t)(3 + (k * 31 + g * 17) % 500);
        w.n_tok[k] = len;
        free(ids);
        w.ref[k] = alone(&w, k, &setups[k]);
    }
    {
        /* same tokens under every setup: each gives other logits than the base */
        float *b0 = NULL;
        int same_as_base = 0;
        for (int k = 0; k < N_SEQ; k++) {
            lorc_sequence *s = NULL;
            float *l = malloc((size_t)w.n_tok[0] * (size_t)w.nv * sizeof *l);
            if (l && !lorc_sequence_new(w.ctx, &s, &err) && !configure(&w, s, &setups[k], &err) &&
                !lorc_decode(w.ctx, s, w.tok[0], w.n_tok[0], false, l, &err)) {
                if (k == 0) b0 = l, l = NULL;
                else same_as_base += b0 && !memcmp(l, b0, (size_t)w.nv * sizeof *l);
            }
            free(l);
            lorc_sequence_free(s);
        }
        CHECK_MSG(b0 && same_as_base == 0, "%d setups compute the same logits as the base", same_as_base);
        free(b0);
    }
    const int order_a[N_SEQ] = {0, 1, 2, 3, 4, 5, 6, 7};
    const int order_b[N_SEQ] = {6, 3, 7, 0, 5, 2, 4, 1};
    run_schedule(&w, 0, order_a, "schedule A, setup order");
    run_schedule(&w, 1, order_b, "schedule B, shuffled order, other chunks");
    test_untouched_and_switch(&w);
    test_forward_grouping(&w);
done:
    for (int k = 0; k < N_SEQ; k++) free(w.ref[k]);
    lorc_context_free(w.ctx);
    lorc_overlay_free(w.ov);
    for (int i = 0; i < N_ADS; i++) lorc_adapter_free(w.ads[i]);
    lorc_model_free(w.m);
    return test_finish("test_batch_mixed");
}
