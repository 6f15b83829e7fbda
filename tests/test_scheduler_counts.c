/* test_scheduler_counts.c — lorc_scheduler_counts and lorc_context_kv_usage
 * (what `lorc serve`'s /metrics reports as waiting, running and KV pages)
 * on stories260K: three requests over two sequences are 3 waiting before
 * the first step, then 2 running and 1 waiting, and waiting + running
 * always equals lorc_scheduler_pending; a request cancelled while queued
 * leaves the running count alone; when all are done both are 0, and the
 * pages left are the prefix cache's idle ones. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "lorc.h"

static void on_event(void *user, const lorc_event *ev) {
    int *done = user;
    if (ev->kind == LORC_EVENT_DONE) (*done)++;
}

static void counts(lorc_scheduler *s, int *w, int *r) { lorc_scheduler_counts(s, w, r); }

int main(void) {
    lorc_model *m = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) == LORC_OK, "%s", err.message);
    if (!m) return test_finish("test_scheduler_counts");
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 1;
    cp.kv_page_tokens = 16;
    lorc_context *ctx = NULL;
    CHECK_MSG(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK, "%s", err.message);
    lorc_scheduler_params sp = {2, 0, 0};
    lorc_scheduler *s = NULL;
    CHECK_MSG(lorc_scheduler_new(ctx, NULL, &sp, &s, &err) == LORC_OK, "%s", err.message);
    if (!ctx || !s) return test_finish("test_scheduler_counts");

    lorc_kv_usage u = lorc_context_kv_usage(ctx);
    CHECK(u.pages == 0 && u.idle_pages == 0 && u.budget_pages == -1 && u.page_bytes > 0);
    CHECK(lorc_context_kv_bytes(ctx) == 0);

    int32_t prompt[3][20];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 20; k++) prompt[i][k] = k == 0 ? 1 : 100 + 7 * i + k;
    int done = 0, w = -1, r = -1;
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        lorc_request q = {0};
        q.prompt = prompt[i];
        q.n_prompt = 20;
        q.sampling = lorc_sampler_default_params();
        q.sampling.temp = 0;
        q.max_tokens = 6;
        q.ignore_eog = true;
        q.on_event = on_event;
        q.user = &done;
        CHECK_MSG(lorc_scheduler_submit(s, &q, &ids[i], &err) == LORC_OK, "%s", err.message);
    }
    counts(s, &w, &r);
    CHECK_MSG(w == 3 && r == 0, "before a step: waiting %d running %d", w, r);
    CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
    counts(s, &w, &r);
    CHECK_MSG(w == 1 && r == 2, "after a step: waiting %d running %d", w, r);
    u = lorc_context_kv_usage(ctx);
    /* Two 20-token prompts in 16-token pages: two pages each. */
    CHECK_MSG(u.pages == 4 && lorc_context_kv_bytes(ctx) == (size_t)u.pages * u.page_bytes, "pages %lld",
              (long long)u.pages);
    /* The queued one is cancelled: it ends without ever running. */
    lorc_scheduler_cancel(s, ids[2]);
    CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
    counts(s, &w, &r);
    CHECK_MSG(w == 0 && r == 2 && done == 1, "after the cancel: waiting %d running %d done %d", w, r, done);
    for (int step = 0; step < 64 && lorc_scheduler_pending(s) > 0; step++) {
        CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
        counts(s, &w, &r);
        CHECK(w + r == lorc_scheduler_pending(s) && r <= 2 && w >= 0);
    }
    counts(s, &w, &r);
    CHECK_MSG(w == 0 && r == 0 && done == 3, "at the end: waiting %d running %d done %d", w, r, done);
    u = lorc_context_kv_usage(ctx);
    /* Sequences hold nothing now; the prefix cache keeps each prompt's one full page. */
    CHECK_MSG(u.pages == u.idle_pages && u.idle_pages == 2, "pages %lld idle %lld", (long long)u.pages,
              (long long)u.idle_pages);
    printf("page %zu bytes; %lld idle pages kept by the prefix cache\n", u.page_bytes, (long long)u.idle_pages);
    lorc_scheduler_free(s);
    lorc_context_free(ctx);
    lorc_model_free(m);
    return test_finish("test_scheduler_counts");
}
