/* scheduler.c — lorc_scheduler's life cycle and its thread-safe entry
 * points: new/free, submit (checks and copies a request), cancel, pending.
 * The step itself is in scheduler_step.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/error.h"
#include "context.h"
#include "scheduler.h"

double lorc_sched_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lorc_sched_request_free(sched_request *r) {
    if (!r) return;
    for (int i = 0; i < r->n_adapters; i++) free((char *)r->adapters[i].name);
    free(r->adapters);
    free(r->overlay);
    lorc_sampler_free(r->sampler);
    free(r->tokens);
    free(r->stop_tokens);
    free(r->logits);
    free(r->raw_logits);
    free(r);
}

static void free_arrays(lorc_scheduler *s) {
    free(s->free_seqs);
    free(s->items);
    free(s->item_req);
    free(s->chunk);
    free(s->pending);
    free(s->generating);
}

lorc_status lorc_scheduler_new(lorc_context *ctx, lorc_registry *reg, const lorc_scheduler_params *params,
                               lorc_scheduler **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "scheduler: no output pointer");
    *out = NULL;
    if (!ctx) return lorc_fail(err, LORC_ERR_INVALID, "scheduler: no context");
    lorc_scheduler_params p = params ? *params : (lorc_scheduler_params){0};
    const int n_batch = lorc_context_n_batch(ctx);
    if (p.max_seqs < 0 || p.step_tokens < 0 || p.prefill_chunk < 0)
        return lorc_fail(err, LORC_ERR_INVALID, "scheduler: max_seqs, step_tokens and prefill_chunk must be >= 0");
    if (p.max_seqs == 0) p.max_seqs = 8;
    if (p.step_tokens == 0) p.step_tokens = n_batch;
    if (p.step_tokens > n_batch)
        return lorc_fail(err, LORC_ERR_INVALID, "scheduler: step_tokens %d exceeds the context's n_batch %d",
                         p.step_tokens, n_batch);
    /* Every generating request takes one token of every step; more of them
     * than the budget would leave some without a token. */
    if (p.max_seqs > p.step_tokens)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "scheduler: max_seqs %d exceeds step_tokens %d (each running request needs a token per step)",
                         p.max_seqs, p.step_tokens);
    if (p.prefill_chunk == 0) p.prefill_chunk = p.step_tokens / 2 > 0 ? p.step_tokens / 2 : 1;
    if (p.prefill_chunk > p.step_tokens)
        return lorc_fail(err, LORC_ERR_INVALID, "scheduler: prefill_chunk %d exceeds step_tokens %d", p.prefill_chunk,
                         p.step_tokens);

    lorc_scheduler *s = calloc(1, sizeof *s);
    if (!s) return lorc_fail(err, LORC_ERR_NOMEM, "scheduler: out of memory");
    s->ctx = ctx;
    s->reg = reg;
    s->max_seqs = p.max_seqs;
    s->step_tokens = p.step_tokens;
    s->prefill_chunk = p.prefill_chunk;
    s->n_vocab = lorc_model_n_vocab(ctx->model);
    s->n_ctx = lorc_context_n_ctx(ctx);
    s->next_id = 1;
    s->free_seqs = calloc((size_t)p.max_seqs, sizeof *s->free_seqs);
    s->items = calloc((size_t)p.max_seqs, sizeof *s->items);
    s->item_req = calloc((size_t)p.max_seqs, sizeof *s->item_req);
    s->chunk = calloc((size_t)p.max_seqs, sizeof *s->chunk);
    s->pending = calloc((size_t)p.max_seqs, sizeof *s->pending);
    s->generating = calloc((size_t)p.max_seqs, sizeof *s->generating);
    if (!s->free_seqs || !s->items || !s->item_req || !s->chunk || !s->pending || !s->generating ||
        pthread_mutex_init(&s->mu, NULL) != 0) {
        free_arrays(s);
        free(s);
        return lorc_fail(err, LORC_ERR_NOMEM, "scheduler: out of memory");
    }
    *out = s;
    return LORC_OK;
}

void lorc_scheduler_free(lorc_scheduler *s) {
    if (!s) return;
    /* Requests still queued or running are dropped without events: the
     * caller chose to stop. Their sequences go, releasing registry entries. */
    for (int i = 0; i < s->n_queue; i++) {
        lorc_sequence_free(s->queue[i]->seq);
        lorc_sched_request_free(s->queue[i]);
    }
    for (sched_request *r = s->incoming_head, *next; r; r = next) {
        next = r->next_incoming;
        lorc_sched_request_free(r);
    }
    for (int i = 0; i < s->n_free_seqs; i++) lorc_sequence_free(s->free_seqs[i]);
    pthread_mutex_destroy(&s->mu);
    free(s->queue);
    free(s->cancels);
    free_arrays(s);
    free(s);
}

/* A registry name the request uses must exist now (it may be cold). */
static lorc_status check_name(lorc_scheduler *s, const char *what, const char *name, lorc_error *err) {
    if (!name || !*name) return lorc_fail(err, LORC_ERR_INVALID, "request: %s with an empty name", what);
    if (!s->reg)
        return lorc_fail(err, LORC_ERR_INVALID, "request: %s '%s' named, but the scheduler has no registry", what,
                         name);
    lorc_entry_info info;
    lorc_error e2 = {0};
    if (lorc_registry_info(s->reg, name, &info, &e2) != LORC_OK)
        return lorc_fail(err, LORC_ERR_INVALID, "request: unknown %s '%s'", what, name);
    return LORC_OK;
}

static lorc_status check_request(lorc_scheduler *s, const lorc_request *q, lorc_error *err) {
    if (q->n_prompt < 1 || !q->prompt) return lorc_fail(err, LORC_ERR_INVALID, "request: empty prompt");
    if (q->n_prompt > s->n_ctx)
        return lorc_fail(err, LORC_ERR_INVALID, "request: prompt of %d tokens is longer than the context (%d)",
                         q->n_prompt, s->n_ctx);
    for (int i = 0; i < q->n_prompt; i++)
        if (q->prompt[i] < 0 || q->prompt[i] >= s->n_vocab)
            return lorc_fail(err, LORC_ERR_INVALID, "request: prompt token %d at index %d is outside the vocabulary",
                             q->prompt[i], i);
    if (q->max_tokens < 0) return lorc_fail(err, LORC_ERR_INVALID, "request: max_tokens %d < 0", q->max_tokens);
    if (q->n_stop_tokens < 0 || (q->n_stop_tokens > 0 && !q->stop_tokens))
        return lorc_fail(err, LORC_ERR_INVALID, "request: bad stop token array (n = %d)", q->n_stop_tokens);
    if (q->n_logprobs < 0 || q->n_logprobs > LORC_MAX_LOGPROBS)
        return lorc_fail(err, LORC_ERR_INVALID, "request: n_logprobs %d outside [0, %d]", q->n_logprobs,
                         LORC_MAX_LOGPROBS);
    if (q->n_adapters < 0 || (q->n_adapters > 0 && !q->adapters))
        return lorc_fail(err, LORC_ERR_INVALID, "request: bad adapter array (n = %d)", q->n_adapters);
    for (int i = 0; i < q->n_adapters; i++) {
        lorc_status st = check_name(s, "adapter", q->adapters[i].name, err);
        if (st != LORC_OK) return st;
    }
    if (q->overlay) return check_name(s, "overlay", q->overlay, err);
    return LORC_OK;
}

/* The request's own copy of everything it refers to. */
static lorc_status copy_request(lorc_scheduler *s, const lorc_request *q, sched_request *r, lorc_error *err) {
    r->n_prompt = q->n_prompt;
    r->max_tokens = q->max_tokens;
    r->n_logprobs = q->n_logprobs;
    r->ignore_eog = q->ignore_eog;
    if (q->n_stop_tokens > 0) {
        r->stop_tokens = malloc((size_t)q->n_stop_tokens * sizeof *r->stop_tokens);
        if (!r->stop_tokens) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory");
        memcpy(r->stop_tokens, q->stop_tokens, (size_t)q->n_stop_tokens * sizeof *r->stop_tokens);
        r->n_stop_tokens = q->n_stop_tokens;
    }
    r->on_event = q->on_event;
    r->user = q->user;
    r->t_first_step = r->t_first_token = -1.0;
    /* At most n_ctx - n_prompt + 1 tokens are ever generated (the last one
     * is sampled from the logits of a full context), so a huge max_tokens
     * costs nothing. */
    long cap = (long)q->n_prompt + (long)q->max_tokens;
    if (cap > (long)s->n_ctx + 1) cap = (long)s->n_ctx + 1;
    r->tokens = malloc((size_t)cap * sizeof *r->tokens);
    if (!r->tokens) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory for %ld tokens", cap);
    memcpy(r->tokens, q->prompt, (size_t)q->n_prompt * sizeof *r->tokens);
    r->n_tokens = q->n_prompt;
    if (q->n_adapters > 0) {
        r->adapters = calloc((size_t)q->n_adapters, sizeof *r->adapters);
        if (!r->adapters) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory");
        for (int i = 0; i < q->n_adapters; i++) {
            r->adapters[i].scale = q->adapters[i].scale;
            r->adapters[i].name = strdup(q->adapters[i].name);
            if (!r->adapters[i].name) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory");
            r->n_adapters++;
        }
    }
    if (q->overlay && !(r->overlay = strdup(q->overlay))) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory");
    lorc_status st = lorc_sampler_new(&q->sampling, &r->sampler, err);
    if (st != LORC_OK) {
        lorc_error_prefix(err, "request");
        return st;
    }
    /* The prompt counts for the repetition penalty, as in `lorc run`. */
    for (int i = 0; i < q->n_prompt; i++) lorc_sampler_accept(r->sampler, q->prompt[i]);
    return LORC_OK;
}

lorc_status lorc_scheduler_submit(lorc_scheduler *s, const lorc_request *q, uint64_t *id, lorc_error *err) {
    if (!s || !q) return lorc_fail(err, LORC_ERR_INVALID, "request: no scheduler or request");
    lorc_status st = check_request(s, q, err);
    if (st != LORC_OK) return st;
    sched_request *r = calloc(1, sizeof *r);
    if (!r) return lorc_fail(err, LORC_ERR_NOMEM, "request: out of memory");
    st = copy_request(s, q, r, err);
    if (st != LORC_OK) {
        lorc_sched_request_free(r);
        return st;
    }
    r->t_submit = lorc_sched_now();
    pthread_mutex_lock(&s->mu);
    r->id = s->next_id++;
    if (s->incoming_tail)
        s->incoming_tail->next_incoming = r;
    else
        s->incoming_head = r;
    s->incoming_tail = r;
    s->n_pending++;
    pthread_mutex_unlock(&s->mu);
    if (id) *id = r->id;
    return LORC_OK;
}

void lorc_scheduler_cancel(lorc_scheduler *s, uint64_t id) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    /* The step applies it (an unknown or finished id is ignored there). */
    if (s->n_cancels == s->cap_cancels) {
        int cap = s->cap_cancels ? 2 * s->cap_cancels : 16;
        uint64_t *grown = realloc(s->cancels, (size_t)cap * sizeof *grown);
        if (grown) {
            s->cancels = grown;
            s->cap_cancels = cap;
        }
    }
    if (s->n_cancels < s->cap_cancels) s->cancels[s->n_cancels++] = id;
    pthread_mutex_unlock(&s->mu);
}

int lorc_scheduler_pending(lorc_scheduler *s) {
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    int n = s->n_pending;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void lorc_scheduler_counts(lorc_scheduler *s, int *waiting, int *running) {
    int w = 0, r = 0;
    if (s) {
        pthread_mutex_lock(&s->mu);
        r = s->n_running;
        w = s->n_pending - r;
        pthread_mutex_unlock(&s->mu);
    }
    if (waiting) *waiting = w;
    if (running) *running = r;
}
