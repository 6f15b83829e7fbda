/* test_scheduler_registry.c — the scheduler with a registry of the real
 * stories260K adapters: a request on a cold adapter does not stall the
 * step (the others keep generating while it loads in the background, and
 * its text then equals the adapter decoded alone); an entry that fails to
 * load ends its request with an error naming it; under a budget that holds
 * one adapter but not two, the second request waits for the first to
 * finish (its adapter becomes evictable) instead of failing, and resident
 * memory never exceeds the budget; idle sequences hold no entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_model.h"
#include "testutil.h"
#include "lorc.h"

#define MAX_TOK 64

typedef struct rec {
    int32_t toks[MAX_TOK];
    int n_tok;
    int first_token_step;
    int done_step;
    bool done;
    lorc_event done_ev;
    char message[256];
} rec;

static int g_step;

static void on_event(void *user, const lorc_event *ev) {
    rec *r = user;
    if (ev->kind == LORC_EVENT_TOKEN) {
        if (r->n_tok == 0) r->first_token_step = g_step;
        if (r->n_tok < MAX_TOK) r->toks[r->n_tok++] = ev->token;
        return;
    }
    r->done = true;
    r->done_step = g_step;
    r->done_ev = *ev;
    r->done_ev.message = NULL;
    if (ev->message) snprintf(r->message, sizeof r->message, "%s", ev->message);
}

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    r->first_token_step = -1;
}

static lorc_request request(const int32_t *prompt, int n, const lorc_adapter_use *use, int max_tokens, rec *r) {
    lorc_request q = {0};
    q.prompt = prompt;
    q.n_prompt = n;
    q.adapters = use;
    q.n_adapters = use ? 1 : 0;
    q.sampling = lorc_sampler_default_params();
    q.sampling.temp = 0;
    q.max_tokens = max_tokens;
    q.ignore_eog = true;
    q.on_event = on_event;
    q.user = r;
    return q;
}

/* Greedy tokens (end-of-generation ignored) with `ad` attached, alone. */
static void greedy_ref(lorc_context *ctx, int nv, lorc_adapter *ad, const int32_t *prompt, int n, int k,
                       int32_t *out) {
    lorc_error err = {0};
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    float one = 1.0f;
    if (ad) CHECK(lorc_sequence_set_adapters(seq, &ad, &one, 1, &err) == LORC_OK);
    float *logits = malloc((size_t)nv * sizeof *logits);
    CHECK(lorc_decode(ctx, seq, prompt, n, false, logits, &err) == LORC_OK);
    for (int i = 0; i < k; i++) {
        int32_t best = 0;
        for (int j = 1; j < nv; j++)
            if (logits[j] > logits[best]) best = j;
        out[i] = best;
        if (i + 1 < k) CHECK(lorc_decode(ctx, seq, &best, 1, false, logits, &err) == LORC_OK);
    }
    free(logits);
    lorc_sequence_free(seq);
}

static int32_t *tokens_of(lorc_model *m, const char *text, int *n) {
    lorc_error err = {0};
    int32_t *t = NULL;
    size_t nn = 0;
    CHECK(lorc_tokenize(lorc_model_vocab(m), text, strlen(text), LORC_TOKENIZE_ADD_BOS, &t, &nn, &err) == LORC_OK);
    *n = (int)nn;
    return t;
}

static lorc_entry_state state_of(lorc_registry *reg, const char *name) {
    lorc_entry_info info;
    lorc_error err = {0};
    CHECK(lorc_registry_info(reg, name, &info, &err) == LORC_OK);
    return info.state;
}

static void run_all(lorc_scheduler *s, lorc_registry *reg, size_t budget) {
    lorc_error err = {0};
    for (int i = 0; i < 5000 && lorc_scheduler_pending(s) > 0; i++) {
        g_step++;
        CHECK_MSG(lorc_scheduler_step(s, &err) == LORC_OK, "%s", err.message);
        if (budget) CHECK(lorc_registry_resident_bytes(reg) <= budget);
    }
    CHECK(lorc_scheduler_pending(s) == 0);
}

#define MOON "adapters/moon-qv/moon-qv.gguf"
#define OCEAN "adapters/ocean-all/peft"

static void test_cold_and_failed(lorc_model *m, lorc_context *ctx, int nv) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "moon", test_shared(MOON), LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "broken", test_tmp("no-such-adapter.gguf"), LORC_ENTRY_AUTO, &err) == LORC_OK);
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {4, 32, 0};
    CHECK(lorc_scheduler_new(ctx, reg, &p, &s, &err) == LORC_OK);
    int n = 0;
    int32_t *t = tokens_of(m, "Once upon a time", &n);
    rec base, moon, broken;
    rec_init(&base);
    rec_init(&moon);
    rec_init(&broken);
    lorc_adapter_use use_moon = {"moon", 1.0f}, use_broken = {"broken", 1.0f};
    lorc_request qb = request(t, n, NULL, 40, &base);
    CHECK(lorc_scheduler_submit(s, &qb, NULL, &err) == LORC_OK);
    g_step = 1;
    CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
    CHECK(base.n_tok == 1);
    /* A cold adapter: the step starts its load and goes on without it. */
    CHECK(state_of(reg, "moon") == LORC_ENTRY_COLD);
    lorc_request qm = request(t, n, &use_moon, 20, &moon), qx = request(t, n, &use_broken, 20, &broken);
    CHECK(lorc_scheduler_submit(s, &qm, NULL, &err) == LORC_OK);
    CHECK(lorc_scheduler_submit(s, &qx, NULL, &err) == LORC_OK);
    g_step = 2;
    CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
    CHECK_MSG(base.n_tok == 2, "the base request got %d tokens by step 2", base.n_tok);
    CHECK_MSG(moon.first_token_step == -1, "the cold adapter's request ran in the step that started its load");
    CHECK(state_of(reg, "moon") != LORC_ENTRY_COLD);
    run_all(s, reg, 0);
    CHECK(base.done && base.n_tok == 40 && moon.done && moon.n_tok == 20);
    CHECK(moon.first_token_step > 2);
    lorc_adapter *ad = NULL;
    CHECK(lorc_adapter_load(m, test_shared(MOON), &ad, &err) == LORC_OK);
    int32_t ref[MAX_TOK];
    greedy_ref(ctx, nv, ad, t, n, 20, ref);
    CHECK_MSG(!memcmp(ref, moon.toks, 20 * sizeof *ref), "moon through the scheduler differs from alone");
    greedy_ref(ctx, nv, NULL, t, n, 40, ref);
    CHECK_MSG(!memcmp(ref, base.toks, 40 * sizeof *ref), "the base request differs from alone");
    CHECK_MSG(broken.done && broken.done_ev.finish == LORC_FINISH_ERROR && strstr(broken.message, "'broken'") &&
                  broken.n_tok == 0,
              "broken adapter: finish %d '%s'", broken.done_ev.finish, broken.message);
    /* The scheduler's idle sequences hold no entry. */
    lorc_entry_info info;
    CHECK(lorc_registry_info(reg, "moon", &info, &err) == LORC_OK && info.refs == 0);
    lorc_adapter_free(ad);
    lorc_scheduler_free(s);
    lorc_registry_free(reg);
    free(t);
}

/* Resident bytes of an adapter, measured by a registry of its own. */
static size_t resident_of(lorc_model *m, const char *rel) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "x", test_shared(rel), LORC_ENTRY_AUTO, &err) == LORC_OK);
    lorc_entry_info info = {0};
    CHECK(lorc_registry_prefetch(reg, "x", &err) == LORC_OK);
    for (int i = 0; i < 100000; i++) {
        CHECK(lorc_registry_info(reg, "x", &info, &err) == LORC_OK);
        if (info.state != LORC_ENTRY_LOADING) break;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    CHECK(info.state == LORC_ENTRY_READY);
    lorc_registry_free(reg);
    return info.bytes;
}

static void test_budget_wait(lorc_model *m, lorc_context *ctx, int nv) {
    lorc_error err = {0};
    size_t b_moon = resident_of(m, MOON), b_ocean = resident_of(m, OCEAN);
    size_t big = b_moon > b_ocean ? b_moon : b_ocean, small = b_moon > b_ocean ? b_ocean : b_moon;
    const size_t budget = big + small / 2; /* one of them, never both */
    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, budget, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "moon", test_shared(MOON), LORC_ENTRY_AUTO, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "ocean", test_shared(OCEAN), LORC_ENTRY_AUTO, &err) == LORC_OK);
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {2, 32, 0};
    CHECK(lorc_scheduler_new(ctx, reg, &p, &s, &err) == LORC_OK);
    int n = 0;
    int32_t *t = tokens_of(m, "Once upon a time", &n);
    rec r[2];
    lorc_adapter_use use[2] = {{"moon", 1.0f}, {"ocean", 1.0f}};
    for (int i = 0; i < 2; i++) {
        rec_init(&r[i]);
        lorc_request q = request(t, n, &use[i], 24, &r[i]);
        CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_OK);
    }
    run_all(s, reg, budget);
    const char *paths[2] = {MOON, OCEAN};
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(r[i].done && r[i].done_ev.finish == LORC_FINISH_LENGTH && r[i].n_tok == 24,
                  "%s under a one-adapter budget: finish %d, %d tokens, '%s'", use[i].name, r[i].done_ev.finish,
                  r[i].n_tok, r[i].message);
        lorc_adapter *ad = NULL;
        CHECK(lorc_adapter_load(m, test_shared(paths[i]), &ad, &err) == LORC_OK);
        int32_t ref[MAX_TOK];
        greedy_ref(ctx, nv, ad, t, n, 24, ref);
        CHECK_MSG(!memcmp(ref, r[i].toks, 24 * sizeof *ref), "%s differs from alone", use[i].name);
        lorc_adapter_free(ad);
    }
    /* They could not both run: one started after the other finished. */
    CHECK_MSG(r[0].first_token_step > r[1].done_step || r[1].first_token_step > r[0].done_step,
              "moon ran in steps %d..%d, ocean in %d..%d", r[0].first_token_step, r[0].done_step,
              r[1].first_token_step, r[1].done_step);
    lorc_scheduler_free(s);
    lorc_registry_free(reg);
    free(t);
}

int main(void) {
    lorc_model *m;
    lorc_context *ctx;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_batch = 64;
    if (!test_open_stories(&cp, &m, &ctx)) return 1;
    const int nv = lorc_model_n_vocab(m);
    test_cold_and_failed(m, ctx, nv);
    test_budget_wait(m, ctx, nv);
    test_close_stories(m, ctx);
    return test_finish("scheduler_registry");
}
