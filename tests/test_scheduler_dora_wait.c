/* test_scheduler_dora_wait.c — under a registry budget that holds the real
 * ocean-dora adapter with its DoRA weights for one scale but not for two,
 * two requests on it at different scales both complete: the second, refused
 * for memory when it would be admitted (its scale's weights are charged at
 * use), waits for the first to finish instead of failing, and resident
 * memory never exceeds the budget. (`lorc serve`'s soak found those 500s.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_model.h"
#include "testutil.h"
#include "lorc.h"

#define DORA "adapters/ocean-dora/peft"
#define N_GEN 16

typedef struct rec {
    int n_tok, first_step, done_step;
    bool done;
    lorc_finish_reason finish;
    char message[256];
} rec;

static int g_step;

static void on_event(void *user, const lorc_event *ev) {
    rec *r = user;
    if (ev->kind == LORC_EVENT_TOKEN) {
        if (r->n_tok++ == 0) r->first_step = g_step;
        return;
    }
    r->done = true;
    r->done_step = g_step;
    r->finish = ev->finish;
    if (ev->message) snprintf(r->message, sizeof r->message, "%s", ev->message);
}

static size_t bytes_of(lorc_registry *reg) {
    lorc_entry_info info;
    lorc_error err = {0};
    CHECK(lorc_registry_info(reg, "dora", &info, &err) == LORC_OK);
    return info.bytes;
}

/* The entry's bytes loaded (b0) and with one scale's DoRA weights (b1). */
static void sizes(lorc_model *m, lorc_context *ctx, size_t *b0, size_t *b1) {
    lorc_error err = {0};
    lorc_registry *reg = NULL;
    lorc_sequence *seq = NULL;
    CHECK(lorc_registry_new(m, 0, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "dora", test_shared(DORA), LORC_ENTRY_LORA, &err) == LORC_OK);
    CHECK(lorc_registry_prefetch(reg, "dora", &err) == LORC_OK);
    lorc_entry_info info = {0};
    for (int i = 0; i < 5000; i++) {
        CHECK(lorc_registry_info(reg, "dora", &info, &err) == LORC_OK);
        if (info.state == LORC_ENTRY_READY || info.state == LORC_ENTRY_FAILED) break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    CHECK_MSG(info.state == LORC_ENTRY_READY, "ocean-dora did not load: %s", info.error);
    *b0 = bytes_of(reg);
    lorc_adapter_use u = {"dora", 1.0f};
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    CHECK_MSG(lorc_sequence_use(seq, reg, &u, 1, NULL, &err) == LORC_OK, "%s", err.message);
    *b1 = bytes_of(reg);
    lorc_sequence_free(seq);
    lorc_registry_free(reg);
}

int main(void) {
    lorc_error err = {0};
    lorc_model *m;
    lorc_context *ctx;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_batch = 64;
    if (!test_open_stories(&cp, &m, &ctx)) return 1;
    size_t b0 = 0, b1 = 0;
    sizes(m, ctx, &b0, &b1);
    CHECK_MSG(b1 > b0, "DoRA weights counted: %zu loaded, %zu in use", b0, b1);
    const size_t budget = b1 + (b1 - b0) / 2; /* one scale's weights fit, two do not */

    lorc_registry *reg = NULL;
    CHECK(lorc_registry_new(m, budget, &reg, &err) == LORC_OK);
    CHECK(lorc_registry_add(reg, "dora", test_shared(DORA), LORC_ENTRY_LORA, &err) == LORC_OK);
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {2, 32, 0};
    CHECK(lorc_scheduler_new(ctx, reg, &p, &s, &err) == LORC_OK);
    int32_t *t = NULL;
    size_t n = 0;
    const char *prompt = "Once upon a time";
    CHECK(lorc_tokenize(lorc_model_vocab(m), prompt, strlen(prompt), LORC_TOKENIZE_ADD_BOS, &t, &n, &err) == LORC_OK);
    rec r[2];
    lorc_adapter_use use[2] = {{"dora", 1.0f}, {"dora", 0.5f}};
    for (int i = 0; i < 2; i++) {
        memset(&r[i], 0, sizeof r[i]);
        lorc_request q = {0};
        q.prompt = t;
        q.n_prompt = (int)n;
        q.adapters = &use[i];
        q.n_adapters = 1;
        q.sampling = lorc_sampler_default_params();
        q.sampling.temp = 0;
        q.max_tokens = N_GEN;
        q.ignore_eog = true;
        q.on_event = on_event;
        q.user = &r[i];
        CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_OK);
    }
    for (int i = 0; i < 5000 && lorc_scheduler_pending(s) > 0; i++) {
        g_step++;
        CHECK_MSG(lorc_scheduler_step(s, &err) == LORC_OK, "%s", err.message);
        CHECK(lorc_registry_resident_bytes(reg) <= budget);
    }
    CHECK(lorc_scheduler_pending(s) == 0);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(r[i].done && r[i].finish == LORC_FINISH_LENGTH && r[i].n_tok == N_GEN,
                  "dora at scale %g under a one-scale budget: finish %d, %d tokens, '%s'", (double)use[i].scale,
                  r[i].finish, r[i].n_tok, r[i].message);
    /* They could not both run: the second started once the first was done. */
    CHECK_MSG(r[1].first_step > r[0].done_step, "scale 1 ran in steps %d..%d, scale 0.5 from %d", r[0].first_step,
              r[0].done_step, r[1].first_step);
    lorc_scheduler_free(s);
    lorc_registry_free(reg);
    free(t);
    test_close_stories(m, ctx);
    return test_finish("test_scheduler_dora_wait");
}
