/* test_scheduler.c — lorc_scheduler on stories260K: the budget policy on
 * its own (generation first, prompt chunks oldest first, never over the
 * budget), a long prompt fed in chunks while another request gets a token
 * in every step, greedy tokens equal to lorc_decode alone (batch
 * invariance through the scheduler), max_seqs, cancel (queued and
 * running), context full -> LENGTH, refused requests, submit/cancel from
 * another thread while stepping, and (with the paged
 * KV cache) preemption and recompute when KV pages run out. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/scheduler.h"
#include "test_model.h"
#include "testutil.h"
#include "lorc.h"

#define MAX_TOK 256
#define MAX_STEPS 256

/* What one request's events said. */
typedef struct rec {
    lorc_scheduler *sched;
    uint64_t id;
    int32_t toks[MAX_TOK];
    int n_tok;
    int first_token_step; /* step of its first TOKEN; -1: none */
    int tokens_at_step[MAX_STEPS];
    bool done;
    lorc_event done_ev;
    char message[256];
    int cancel_after;     /* > 0: cancels itself (from the callback) after this many tokens */
} rec;

static int g_step;                          /* the step being run: events land in it */
static int g_started, g_finished, g_max_active; /* requests that produced a token and are not done */

static void on_event(void *user, const lorc_event *ev) {
    rec *r = user;
    if (ev->kind == LORC_EVENT_TOKEN) {
        if (r->n_tok == 0) {
            r->first_token_step = g_step;
            g_started++;
            if (g_started - g_finished > g_max_active) g_max_active = g_started - g_finished;
        }
        if (r->n_tok < MAX_TOK) r->toks[r->n_tok++] = ev->token;
        if (g_step < MAX_STEPS) r->tokens_at_step[g_step]++;
        if (r->cancel_after > 0 && r->n_tok == r->cancel_after) lorc_scheduler_cancel(r->sched, r->id);
        return;
    }
    CHECK_MSG(!r->done, "two DONE events for request %llu", (unsigned long long)ev->id);
    r->done = true;
    r->done_ev = *ev;
    r->done_ev.message = NULL;
    if (ev->message) snprintf(r->message, sizeof r->message, "%s", ev->message);
    if (r->n_tok > 0) g_finished++;
}

static void rec_init(rec *r, lorc_scheduler *s) {
    memset(r, 0, sizeof *r);
    r->sched = s;
    r->first_token_step = -1;
}

static lorc_request greedy_request(const int32_t *prompt, int n, int max_tokens, rec *r) {
    lorc_request q = {0};
    q.prompt = prompt;
    q.n_prompt = n;
    q.sampling = lorc_sampler_default_params();
    q.sampling.temp = 0;
    q.max_tokens = max_tokens;
    q.on_event = on_event;
    q.user = r;
    return q;
}

/* Greedy continuation decoded alone, with `lorc run`'s order of checks. */
static int greedy_alone(lorc_context *ctx, int nv, const lorc_vocab *vocab, const int32_t *prompt, int n,
                        int max_tokens, int32_t *out) {
    lorc_error err = {0};
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(ctx, &seq, &err) == LORC_OK);
    float *logits = malloc((size_t)nv * sizeof *logits);
    CHECK_MSG(lorc_decode(ctx, seq, prompt, n, false, logits, &err) == LORC_OK, "%s", err.message);
    int k = 0;
    while (k < max_tokens && k < MAX_TOK) {
        int32_t best = 0;
        for (int i = 1; i < nv; i++)
            if (logits[i] > logits[best]) best = i;
        if (lorc_vocab_is_eog(vocab, best)) break;
        out[k++] = best;
        if (lorc_sequence_n_past(seq) >= lorc_context_n_ctx(ctx)) break;
        CHECK_MSG(lorc_decode(ctx, seq, &best, 1, false, logits, &err) == LORC_OK, "%s", err.message);
    }
    free(logits);
    lorc_sequence_free(seq);
    return k;
}

static void run_steps(lorc_scheduler *s, int limit) {
    lorc_error err = {0};
    for (int i = 0; i < limit && lorc_scheduler_pending(s) > 0; i++) {
        g_step++;
        CHECK_MSG(lorc_scheduler_step(s, &err) == LORC_OK, "%s", err.message);
    }
}

/* ------------------------------------------------------- the policy */

static void test_plan(void) {
    int chunk[5];
    /* Two generating, one long prompt, one short prompt; budget 10, chunk 6. */
    int pending[5] = {40, 1, 3, 1, 0};
    bool gen[5] = {false, true, false, true, false};
    int total = lorc_sched_plan(pending, gen, 5, 10, 6, chunk);
    CHECK(chunk[1] == 1 && chunk[3] == 1); /* generation first */
    CHECK(chunk[0] == 6);                  /* the oldest prompt: one chunk */
    CHECK(chunk[2] == 2);                  /* the rest of the budget */
    CHECK(chunk[4] == 0);
    CHECK(total == 10);
    /* A tight budget: the generating requests (younger than the long
     * prompt) still get theirs; the prompt takes what is left. */
    total = lorc_sched_plan(pending, gen, 5, 7, 6, chunk);
    CHECK(chunk[1] == 1 && chunk[3] == 1 && chunk[0] == 5 && chunk[2] == 0 && total == 7);
    /* The budget is never exceeded and generation always goes in, over many
     * shapes. */
    unsigned x = 12345;
    for (int t = 0; t < 2000; t++) {
        int n = 1 + (int)(x % 5), budget, pc;
        x = x * 1103515245u + 12345u;
        budget = n + (int)(x % 20);
        x = x * 1103515245u + 12345u;
        pc = 1 + (int)(x % (unsigned)budget);
        int sum = 0, want_gen = 0;
        for (int i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            gen[i] = x % 3 == 0;
            pending[i] = gen[i] ? 1 : 1 + (int)((x >> 8) % 50);
            want_gen += gen[i];
        }
        total = lorc_sched_plan(pending, gen, n, budget, pc, chunk);
        bool ok = total <= budget;
        for (int i = 0; i < n; i++) {
            sum += chunk[i];
            ok = ok && chunk[i] <= pending[i] && chunk[i] <= (gen[i] ? 1 : pc);
            if (gen[i]) ok = ok && chunk[i] == 1;
        }
        /* Oldest first: a younger prompt gets tokens only if every older
         * one got its full share. */
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (!gen[i] && !gen[j] && chunk[j] > 0)
                    ok = ok && chunk[i] == (pending[i] < pc ? pending[i] : pc);
        CHECK_MSG(ok && sum == total, "plan %d: n %d budget %d chunk %d", t, n, budget, pc);
        if (!ok) break;
    }
}

/* ------------------------------------------------------- with a model */

static int32_t *tokens_of(const lorc_vocab *v, const char *text, int *n) {
    lorc_error err = {0};
    int32_t *t = NULL;
    size_t nn = 0;
    CHECK(lorc_tokenize(v, text, strlen(text), LORC_TOKENIZE_ADD_BOS, &t, &nn, &err) == LORC_OK);
    *n = (int)nn;
    return t;
}

static const char *long_text =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big red ball under a tree. She ran to the ball and picked it up. Then she saw a little dog. The dog "
    "was sad because he lost his ball. Lily gave the ball to the dog and the dog was very happy. They played "
    "together all day long.";

static void test_chunking_and_invariance(lorc_context *ctx, const lorc_vocab *vocab, int nv) {
    lorc_error err = {0};
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {4, 16, 8};
    CHECK_MSG(lorc_scheduler_new(ctx, NULL, &p, &s, &err) == LORC_OK, "%s", err.message);
    int na = 0, nb = 0;
    int32_t *a = tokens_of(vocab, "Once upon a time", &na);
    int32_t *b = tokens_of(vocab, long_text, &nb);
    CHECK_MSG(nb > 60, "the long prompt has only %d tokens", nb);
    rec ra, rb;
    rec_init(&ra, s);
    rec_init(&rb, s);
    lorc_request qa = greedy_request(a, na, 40, &ra), qb = greedy_request(b, nb, 12, &rb);
    CHECK(lorc_scheduler_submit(s, &qa, &ra.id, &err) == LORC_OK);
    g_step = 0;
    run_steps(s, 1); /* A's prompt (< 8 tokens) goes in one step and it samples */
    CHECK(ra.first_token_step == 1);
    CHECK(lorc_scheduler_submit(s, &qb, &rb.id, &err) == LORC_OK);
    const int b_from = g_step + 1;
    run_steps(s, MAX_STEPS - 2);
    CHECK(lorc_scheduler_pending(s) == 0);
    /* B's prompt: 8 tokens a step (the budget's 15 left after A's token
     * would allow more), so its first token comes after ceil(nb / 8) steps. */
    const int b_steps = (nb + 7) / 8;
    CHECK_MSG(rb.first_token_step == b_from + b_steps - 1, "B's first token in step %d, expected %d",
              rb.first_token_step, b_from + b_steps - 1);
    /* A is never stalled: one token in every step while B prefills. */
    for (int st = b_from; st < b_from + b_steps && st < MAX_STEPS; st++)
        CHECK_MSG(ra.tokens_at_step[st] == 1 || ra.done, "A got %d tokens in step %d", ra.tokens_at_step[st], st);
    CHECK(ra.n_tok > b_steps);
    /* Greedy through the scheduler equals decoding alone. */
    int32_t ref[MAX_TOK];
    int nref = greedy_alone(ctx, nv, vocab, a, na, 40, ref);
    CHECK_MSG(nref == ra.n_tok && !memcmp(ref, ra.toks, (size_t)nref * sizeof *ref), "A: %d tokens vs %d alone",
              ra.n_tok, nref);
    nref = greedy_alone(ctx, nv, vocab, b, nb, 12, ref);
    CHECK_MSG(nref == rb.n_tok && !memcmp(ref, rb.toks, (size_t)nref * sizeof *ref), "B: %d tokens vs %d alone",
              rb.n_tok, nref);
    CHECK(ra.done && rb.done);
    CHECK(rb.done_ev.finish == (rb.n_tok == 12 ? LORC_FINISH_LENGTH : LORC_FINISH_EOG));
    CHECK(rb.done_ev.n_prompt == nb && rb.done_ev.n_generated == rb.n_tok && rb.done_ev.n_cached == 0);
    CHECK(rb.done_ev.queue_ms >= 0 && rb.done_ev.prompt_ms > 0 && rb.done_ev.gen_ms >= 0);
    lorc_scheduler_free(s);
    free(a);
    free(b);
}

static void test_max_seqs_and_cancel(lorc_context *ctx, const lorc_vocab *vocab, int nv) {
    lorc_error err = {0};
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {3, 32, 0};
    CHECK(lorc_scheduler_new(ctx, NULL, &p, &s, &err) == LORC_OK);
    static const char *prompts[6] = {"Lily", "The dog", "Tim had", "One day", "A cat", "The sun"};
    int32_t *t[6];
    int n[6];
    rec r[6];
    for (int i = 0; i < 6; i++) {
        t[i] = tokens_of(vocab, prompts[i], &n[i]);
        rec_init(&r[i], s);
        lorc_request q = greedy_request(t[i], n[i], 6, &r[i]);
        CHECK(lorc_scheduler_submit(s, &q, &r[i].id, &err) == LORC_OK);
    }
    rec rc, rq;
    rec_init(&rc, s);
    rec_init(&rq, s);
    rc.cancel_after = 3;
    int nc = 0;
    int32_t *tc = tokens_of(vocab, "Once upon a time", &nc);
    lorc_request qc = greedy_request(tc, nc, 50, &rc), qq = greedy_request(tc, nc, 50, &rq);
    CHECK(lorc_scheduler_submit(s, &qc, &rc.id, &err) == LORC_OK);
    CHECK(lorc_scheduler_submit(s, &qq, &rq.id, &err) == LORC_OK);
    CHECK(lorc_scheduler_pending(s) == 8);
    lorc_scheduler_cancel(s, rq.id); /* still queued */
    lorc_scheduler_cancel(s, 9999);  /* unknown: ignored */
    g_started = g_finished = g_max_active = 0;
    run_steps(s, MAX_STEPS);
    CHECK(lorc_scheduler_pending(s) == 0);
    CHECK_MSG(g_max_active == 3, "at most %d requests ran at once, max_seqs 3", g_max_active);
    for (int i = 0; i < 6; i++) {
        int32_t ref[MAX_TOK];
        int nref = greedy_alone(ctx, nv, vocab, t[i], n[i], 6, ref);
        CHECK_MSG(r[i].done && nref == r[i].n_tok && !memcmp(ref, r[i].toks, (size_t)nref * sizeof *ref),
                  "request %d differs from decoding alone", i);
        free(t[i]);
    }
    CHECK(rq.done && rq.done_ev.finish == LORC_FINISH_CANCELLED && rq.n_tok == 0);
    CHECK_MSG(rc.done && rc.done_ev.finish == LORC_FINISH_CANCELLED && rc.n_tok == 3,
              "cancelled after 3 tokens: finish %d with %d tokens", rc.done_ev.finish, rc.n_tok);
    free(tc);
    lorc_scheduler_free(s);
}

static void test_refusals_and_length(lorc_model *m, lorc_context *ctx, const lorc_vocab *vocab) {
    lorc_error err = {0};
    lorc_scheduler *s = NULL;
    lorc_scheduler_params bad = {64, 16, 0};
    CHECK(lorc_scheduler_new(ctx, NULL, &bad, &s, &err) == LORC_ERR_INVALID && strstr(err.message, "max_seqs"));
    bad = (lorc_scheduler_params){0, 1 << 20, 0};
    CHECK(lorc_scheduler_new(ctx, NULL, &bad, &s, &err) == LORC_ERR_INVALID && strstr(err.message, "n_batch"));
    /* A context of 24 positions: a 20-token prompt ends with LENGTH after
     * 24 - 20 + 1 tokens, as `lorc run` stops on a full context. */
    lorc_context *small = NULL;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_ctx = 24;
    cp.n_batch = 16;
    CHECK(lorc_context_new(m, &cp, &small, &err) == LORC_OK);
    CHECK(lorc_scheduler_new(small, NULL, NULL, &s, &err) == LORC_OK);
    int n = 0;
    int32_t *t = tokens_of(vocab, long_text, &n);
    rec r;
    rec_init(&r, s);
    lorc_request q = greedy_request(t, 20, 1000, &r);
    q.ignore_eog = true;
    CHECK(lorc_scheduler_submit(s, &q, &r.id, &err) == LORC_OK);
    run_steps(s, 100);
    CHECK_MSG(r.done && r.done_ev.finish == LORC_FINISH_LENGTH && r.n_tok == 5, "finish %d after %d tokens",
              r.done_ev.finish, r.n_tok);
    /* max_tokens 0: done at once. */
    rec_init(&r, s);
    q.max_tokens = 0;
    CHECK(lorc_scheduler_submit(s, &q, &r.id, &err) == LORC_OK);
    run_steps(s, 3);
    CHECK(r.done && r.done_ev.finish == LORC_FINISH_LENGTH && r.n_tok == 0);
    /* Refused at submit, each with a message naming the problem. */
    q.max_tokens = 4;
    q.n_prompt = 25;
    CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_ERR_INVALID &&
          strstr(err.message, "prompt of 25 tokens is longer than the context (24)"));
    q.n_prompt = 0;
    CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "empty prompt"));
    q.n_prompt = 4;
    lorc_adapter_use use = {"moon", 1.0f};
    q.adapters = &use;
    q.n_adapters = 1;
    CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "'moon'"));
    q.n_adapters = 0;
    q.sampling.top_p = NAN;
    CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "top_p"));
    q.sampling.top_p = 1.0f;
    int32_t bad_tok[2] = {1, 1 << 30};
    q.prompt = bad_tok;
    q.n_prompt = 2;
    CHECK(lorc_scheduler_submit(s, &q, NULL, &err) == LORC_ERR_INVALID && strstr(err.message, "vocabulary"));
    CHECK(lorc_scheduler_pending(s) == 0);
    lorc_scheduler_free(s);
    lorc_context_free(small);
    free(t);
}

/* KV pages run out: three requests need 9 pages of a 6-page pool. The
 * scheduler preempts and recomputes instead of failing, and every text is
 * still the one decoded alone; a request needing more pages than the whole
 * pool fails with an error, the others complete. */
static void test_kv_exhaustion(lorc_model *m, const lorc_vocab *vocab, int nv) {
    lorc_error err = {0};
    lorc_context_params cp = lorc_context_default_params();
    cp.n_batch = 64;
    cp.kv_page_tokens = 16;
    cp.prefix_cache = false;
    lorc_context *probe = NULL;
    CHECK(lorc_context_new(m, &cp, &probe, &err) == LORC_OK);
    lorc_sequence *seq = NULL;
    CHECK(lorc_sequence_new(probe, &seq, &err) == LORC_OK);
    /* A paged cache holds nothing before the first token. */
    if (lorc_sequence_kv_bytes(seq) != 0) {
        printf("test_scheduler: KV exhaustion part skipped: this build's KV cache is not paged\n");
        lorc_sequence_free(seq);
        lorc_context_free(probe);
        return;
    }
    int32_t bos = lorc_vocab_bos(vocab) >= 0 ? lorc_vocab_bos(vocab) : 1;
    CHECK(lorc_decode(probe, seq, &bos, 1, false, NULL, &err) == LORC_OK);
    const size_t page = lorc_sequence_kv_bytes(seq);
    lorc_sequence_free(seq);
    lorc_context_free(probe);
    CHECK(page > 0);

    cp.kv_budget_bytes = 6 * page;
    lorc_context *ctx = NULL;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {4, 32, 0};
    CHECK(lorc_scheduler_new(ctx, NULL, &p, &s, &err) == LORC_OK);
    static const char *prompts[3] = {"Once upon a time", "The little dog", "Lily wanted to"};
    int32_t *t[3];
    int n[3];
    rec r[3], big;
    for (int i = 0; i < 3; i++) {
        t[i] = tokens_of(vocab, prompts[i], &n[i]);
        rec_init(&r[i], s);
        lorc_request q = greedy_request(t[i], n[i], 40, &r[i]);
        q.ignore_eog = true; /* all 40 tokens: 3 pages each */
        CHECK(lorc_scheduler_submit(s, &q, &r[i].id, &err) == LORC_OK);
    }
    int nbig = 0;
    int32_t *tbig = tokens_of(vocab, long_text, &nbig);
    CHECK(nbig > 6 * 16);
    rec_init(&big, s);
    lorc_request qb = greedy_request(tbig, nbig, 4, &big);
    CHECK(lorc_scheduler_submit(s, &qb, &big.id, &err) == LORC_OK);
    run_steps(s, 400);
    CHECK(lorc_scheduler_pending(s) == 0);
    CHECK_MSG(big.done && big.done_ev.finish == LORC_FINISH_ERROR && big.done_ev.status == LORC_ERR_KV_FULL,
              "the request larger than the pool: finish %d status %d '%s'", big.done_ev.finish, big.done_ev.status,
              big.message);
    for (int i = 0; i < 3; i++) {
        int32_t ref[MAX_TOK];
        lorc_sequence *alone = NULL;
        CHECK(lorc_sequence_new(ctx, &alone, &err) == LORC_OK);
        float *logits = malloc((size_t)nv * sizeof *logits);
        CHECK(lorc_decode(ctx, alone, t[i], n[i], false, logits, &err) == LORC_OK);
        int k = 0;
        for (; k < 40; k++) {
            int32_t best = 0;
            for (int j = 1; j < nv; j++)
                if (logits[j] > logits[best]) best = j;
            ref[k] = best;
            if (k + 1 < 40) CHECK(lorc_decode(ctx, alone, &best, 1, false, logits, &err) == LORC_OK);
        }
        free(logits);
        lorc_sequence_free(alone);
        CHECK_MSG(r[i].done && r[i].done_ev.finish == LORC_FINISH_LENGTH && r[i].n_tok == 40 &&
                      !memcmp(ref, r[i].toks, 40 * sizeof *ref),
                  "request %d after preemption: finish %d, %d tokens, '%s'", i, r[i].done_ev.finish, r[i].n_tok,
                  r[i].message);
        free(t[i]);
    }
    free(tbig);
    lorc_scheduler_free(s);
    lorc_context_free(ctx);

    /* The prefix cache through the scheduler: the same prompt again reuses
     * whole pages of the first run (cached_tokens) and gives the same text. */
    cp.kv_budget_bytes = 0;
    cp.prefix_cache = true;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK);
    CHECK(lorc_scheduler_new(ctx, NULL, &p, &s, &err) == LORC_OK);
    int nl = 0;
    int32_t *tl = tokens_of(vocab, long_text, &nl);
    rec first, again;
    rec_init(&first, s);
    rec_init(&again, s);
    lorc_request q1 = greedy_request(tl, nl, 8, &first), q2 = greedy_request(tl, nl, 8, &again);
    CHECK(lorc_scheduler_submit(s, &q1, &first.id, &err) == LORC_OK);
    run_steps(s, 100);
    CHECK(lorc_scheduler_submit(s, &q2, &again.id, &err) == LORC_OK);
    run_steps(s, 100);
    CHECK(first.done && again.done && first.done_ev.n_cached == 0);
    CHECK_MSG(again.done_ev.n_cached >= 16 && again.done_ev.n_cached % 16 == 0 && again.done_ev.n_cached < nl,
              "cached_tokens %d of a %d-token prompt seen before", again.done_ev.n_cached, nl);
    CHECK(again.n_tok == first.n_tok && !memcmp(again.toks, first.toks, (size_t)first.n_tok * sizeof(int32_t)));
    free(tl);
    lorc_scheduler_free(s);
    lorc_context_free(ctx);
}

/* submit and cancel from another thread while this one steps. */
typedef struct submitter {
    lorc_scheduler *s;
    const int32_t *prompt;
    int n;
    rec r[8];
    int refused;
} submitter;

static void *submit_thread(void *arg) {
    submitter *sub = arg;
    lorc_error err = {0};
    for (int i = 0; i < 8; i++) {
        lorc_request q = greedy_request(sub->prompt, sub->n, 12, &sub->r[i]);
        if (lorc_scheduler_submit(sub->s, &q, &sub->r[i].id, &err) != LORC_OK) sub->refused++;
        if (i % 3 == 2) lorc_scheduler_cancel(sub->s, sub->r[i].id);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_threads(lorc_context *ctx, const lorc_vocab *vocab, int nv) {
    lorc_error err = {0};
    lorc_scheduler *s = NULL;
    lorc_scheduler_params p = {3, 32, 0};
    CHECK(lorc_scheduler_new(ctx, NULL, &p, &s, &err) == LORC_OK);
    submitter sub = {.s = s};
    int32_t *t = tokens_of(vocab, "The little dog", &sub.n);
    sub.prompt = t;
    /* Initialized before the thread starts: this thread reads them while it steps. */
    for (int k = 0; k < 8; k++) rec_init(&sub.r[k], s);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, submit_thread, &sub) == 0);
    /* Step until the submitter is done and nothing is left. */
    for (int i = 0; i < 20000; i++) {
        CHECK(lorc_scheduler_step(s, &err) == LORC_OK);
        int done = 0;
        for (int k = 0; k < 8; k++) done += sub.r[k].done;
        if (done == 8) break;
        if (lorc_scheduler_pending(s) == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    pthread_join(th, NULL);
    CHECK(sub.refused == 0 && lorc_scheduler_pending(s) == 0);
    int32_t ref[MAX_TOK];
    int nref = greedy_alone(ctx, nv, vocab, t, sub.n, 12, ref);
    for (int k = 0; k < 8; k++) {
        rec *r = &sub.r[k];
        CHECK_MSG(r->done, "request %d submitted from a thread never finished", k);
        if (r->done_ev.finish == LORC_FINISH_CANCELLED) {
            CHECK(k % 3 == 2);
            continue;
        }
        /* A cancel can arrive after its request already finished. */
        CHECK_MSG(r->n_tok == nref && !memcmp(ref, r->toks, (size_t)nref * sizeof *ref), "threaded request %d", k);
    }
    free(t);
    lorc_scheduler_free(s);
}

/* A request's stop tokens end it like an end-of-generation token: greedy
 * output stops right before the first stop token the model produces. */
static void test_stop_tokens(lorc_context *ctx, const lorc_vocab *vocab, int nv) {
    lorc_error err = {0};
    lorc_scheduler *s = NULL;
    CHECK(lorc_scheduler_new(ctx, NULL, NULL, &s, &err) == LORC_OK);
    int na = 0;
    int32_t *a = tokens_of(vocab, "Once upon a time", &na);
    int32_t ref[MAX_TOK];
    const int nref = greedy_alone(ctx, nv, vocab, a, na, 30, ref);
    CHECK(nref > 10);
    /* stop on the 8th greedy token (and on one that never comes) */
    int32_t stops[2] = {nv - 1, ref[7]};
    int first = 0;
    while (ref[first] != ref[7]) first++; /* it may occur earlier */
    rec r;
    rec_init(&r, s);
    lorc_request q = greedy_request(a, na, 30, &r);
    q.stop_tokens = stops;
    q.n_stop_tokens = 2;
    CHECK(lorc_scheduler_submit(s, &q, &r.id, &err) == LORC_OK);
    run_steps(s, MAX_STEPS - 1);
    CHECK(r.done && r.done_ev.finish == LORC_FINISH_EOG);
    CHECK_MSG(r.n_tok == first && !memcmp(r.toks, ref, (size_t)first * sizeof *ref), "%d tokens, expected %d", r.n_tok,
              first);
    /* ignore_eog ignores them too */
    rec r2;
    rec_init(&r2, s);
    q = greedy_request(a, na, 12, &r2);
    q.stop_tokens = stops;
    q.n_stop_tokens = 2;
    q.ignore_eog = true;
    CHECK(lorc_scheduler_submit(s, &q, &r2.id, &err) == LORC_OK);
    run_steps(s, MAX_STEPS - 1);
    CHECK(r2.done && r2.done_ev.finish == LORC_FINISH_LENGTH && r2.n_tok == 12);
    q.n_stop_tokens = -1;
    CHECK(lorc_scheduler_submit(s, &q, &r2.id, &err) == LORC_ERR_INVALID);
    lorc_scheduler_free(s);
    free(a);
}

int main(void) {
    test_plan();
    lorc_model *m;
    lorc_context *ctx;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_batch = 64;
    if (!test_open_stories(&cp, &m, &ctx)) return 1;
    const lorc_vocab *vocab = lorc_model_vocab(m);
    const int nv = lorc_model_n_vocab(m);
    test_chunking_and_invariance(ctx, vocab, nv);
    test_max_seqs_and_cancel(ctx, vocab, nv);
    test_refusals_and_length(m, ctx, vocab);
    test_threads(ctx, vocab, nv);
    test_stop_tokens(ctx, vocab, nv);
    test_kv_exhaustion(m, vocab, nv);
    test_close_stories(m, ctx);
    return test_finish("scheduler");
}
