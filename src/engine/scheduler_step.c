/* scheduler_step.c — lorc_scheduler_step: take in submitted requests and
 * cancellations, admit waiting requests whose registry entries are
 * resident, run one lorc_decode_batch over the running ones within the
 * token budget, sample, and send events.
 *
 * KV pages running out (LORC_ERR_KV_FULL) is handled by waiting, not by
 * failing: the most recently admitted request is preempted (its sequence
 * freed, its prompt and generated tokens kept with its sampler, to be
 * recomputed when it is admitted again), the step is retried without it, and
 * nothing new is admitted until some request finishes and frees pages. Only
 * a request that does not fit even when it runs alone ends with an error. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/error.h"
#include "../sample/logprobs.h"
#include "context.h"
#include "scheduler.h"

/* ------------------------------------------------------------ events */

static void fill_event(const sched_request *r, lorc_event *ev, double now) {
    memset(ev, 0, sizeof *ev);
    ev->id = r->id;
    ev->n_prompt = r->n_prompt;
    ev->n_cached = r->n_cached;
    ev->n_generated = r->n_generated;
    double first = r->t_first_step >= 0 ? r->t_first_step : now;
    ev->queue_ms = (first - r->t_submit) * 1e3;
    if (r->t_first_step >= 0) ev->prompt_ms = ((r->t_first_token >= 0 ? r->t_first_token : now) - first) * 1e3;
    if (r->t_first_token >= 0) ev->gen_ms = (now - r->t_first_token) * 1e3;
}

static void emit_token(lorc_scheduler *s, sched_request *r, int32_t tok) {
    if (!r->on_event) return;
    lorc_event ev;
    fill_event(r, &ev, lorc_sched_now());
    ev.kind = LORC_EVENT_TOKEN;
    ev.token = tok;
    lorc_token_logprob top[LORC_MAX_LOGPROBS];
    if (r->n_logprobs > 0 && r->raw_logits) {
        double lse = lorc_log_sum_exp(r->raw_logits, s->n_vocab);
        ev.logprob = (float)((double)r->raw_logits[tok] - lse);
        ev.n_top = lorc_top_logprobs(r->raw_logits, s->n_vocab, lse, r->n_logprobs, top);
        ev.top = top;
    }
    r->on_event(r->user, &ev);
}

/* ------------------------------------------------------------ sequences */

/* Gives the request's sequence back to the pool, emptied and on the plain
 * base so an idle sequence holds no registry entry (which could then never
 * be evicted). The KV is dropped first, while the sequence still carries
 * the adapter set its pages were computed under. */
static void release_seq(lorc_scheduler *s, sched_request *r) {
    free(r->logits);
    r->logits = NULL;
    free(r->raw_logits);
    r->raw_logits = NULL;
    lorc_sequence *seq = r->seq;
    if (!seq) return;
    r->seq = NULL;
    lorc_sequence_reset(seq);
    lorc_error e = {0};
    lorc_status st = s->reg ? lorc_sequence_use(seq, s->reg, NULL, 0, NULL, &e)
                            : lorc_sequence_set_adapters(seq, NULL, NULL, 0, &e);
    if (st != LORC_OK || s->n_free_seqs == s->max_seqs) {
        lorc_sequence_free(seq);
        s->n_seqs--;
        return;
    }
    s->free_seqs[s->n_free_seqs++] = seq;
}

static void finish(lorc_scheduler *s, sched_request *r, lorc_finish_reason why, lorc_status st, const char *msg) {
    bool was_running = r->phase == SCHED_RUNNING;
    release_seq(s, r);
    r->phase = SCHED_FINISHED;
    s->kv_wait = false; /* its pages (if any) are free now */
    s->finish_epoch++;  /* and its registry entries may be evictable */
    pthread_mutex_lock(&s->mu);
    s->n_pending--;
    s->n_running -= was_running;
    pthread_mutex_unlock(&s->mu);
    if (!r->on_event) return;
    lorc_event ev;
    fill_event(r, &ev, lorc_sched_now());
    ev.kind = LORC_EVENT_DONE;
    ev.finish = why;
    ev.status = st;
    ev.message = why == LORC_FINISH_ERROR ? msg : NULL;
    r->on_event(r->user, &ev);
}

/* ------------------------------------------------------------ intake */

/* Moves submitted requests into the step's queue (submit order is id
 * order, so appending keeps the queue sorted) and marks cancellations. */
static lorc_status take_incoming(lorc_scheduler *s, lorc_error *err) {
    pthread_mutex_lock(&s->mu);
    int n_in = 0;
    for (sched_request *r = s->incoming_head; r; r = r->next_incoming) n_in++;
    if (s->n_queue + n_in > s->cap_queue) {
        int cap = s->cap_queue ? s->cap_queue : 16;
        while (cap < s->n_queue + n_in) cap *= 2;
        sched_request **grown = realloc(s->queue, (size_t)cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->mu);
            return lorc_fail(err, LORC_ERR_NOMEM, "scheduler: out of memory for %d requests", s->n_queue + n_in);
        }
        s->queue = grown;
        s->cap_queue = cap;
    }
    for (sched_request *r = s->incoming_head, *next; r; r = next) {
        next = r->next_incoming;
        r->next_incoming = NULL;
        s->queue[s->n_queue++] = r;
    }
    s->incoming_head = s->incoming_tail = NULL;
    for (int c = 0; c < s->n_cancels; c++)
        for (int i = 0; i < s->n_queue; i++)
            if (s->queue[i]->id == s->cancels[c]) s->queue[i]->cancelled = true;
    s->n_cancels = 0;
    pthread_mutex_unlock(&s->mu);
    return LORC_OK;
}

/* ------------------------------------------------------------ admission */

/* The registry entry a request names at i: its adapters, then (i ==
 * n_adapters) its overlay, which may be NULL. */
static const char *entry_name(const sched_request *r, int i) {
    return i < r->n_adapters ? r->adapters[i].name : r->overlay;
}

/* 1: every entry the request names is resident; 0: not yet (loads were
 * started in the background); -1: one failed to load (message in err).
 * `running`: requests running now, whose entries count against the
 * registry's budget until they finish. */
static int entries_ready(lorc_scheduler *s, sched_request *r, int running, lorc_error *err) {
    if (!s->reg) return 1;
    bool ready = true;
    for (int i = 0; i <= r->n_adapters; i++) {
        const char *name = entry_name(r, i);
        if (!name) continue;
        lorc_entry_info info;
        if (lorc_registry_info(s->reg, name, &info, err) != LORC_OK) return -1;
        if (info.state == LORC_ENTRY_READY) continue;
        ready = false;
        if (info.state == LORC_ENTRY_LOADING) continue;
        if (info.state == LORC_ENTRY_FAILED && r->prefetched && r->retry_epoch == s->finish_epoch) {
            /* Failed after our own load, and nothing finished since. Under
             * a budget the cause may be the memory that running requests'
             * entries hold: wait for one to finish, then try again. With
             * nothing running (or no budget), waiting cannot help. */
            if (lorc_registry_budget(s->reg) == 0 || running == 0) {
                /* The registry's message names the entry (else add it). */
                if (strstr(info.error, name))
                    lorc_fail(err, LORC_ERR_IO, "%s", info.error);
                else
                    lorc_fail(err, LORC_ERR_IO, "%s '%s': %s", i < r->n_adapters ? "adapter" : "overlay", name,
                              info.error);
                return -1;
            }
            continue;
        }
        /* COLD (never loaded, or evicted), or FAILED before this request
         * asked (a failed entry is retried on its next use) or before
         * something finished. */
        if (lorc_registry_prefetch(s->reg, name, err) != LORC_OK) return -1;
    }
    if (!ready) {
        r->prefetched = true;
        r->retry_epoch = s->finish_epoch;
    }
    return ready ? 1 : 0;
}

static lorc_status admit(lorc_scheduler *s, sched_request *r, lorc_error *err) {
    lorc_sequence *seq = NULL;
    if (s->n_free_seqs > 0) {
        seq = s->free_seqs[--s->n_free_seqs];
    } else {
        lorc_status st = lorc_sequence_new(s->ctx, &seq, err);
        if (st != LORC_OK) return st;
        s->n_seqs++;
    }
    r->seq = seq;
    r->logits = malloc((size_t)s->n_vocab * sizeof *r->logits);
    if (r->n_logprobs > 0) r->raw_logits = malloc((size_t)s->n_vocab * sizeof *r->raw_logits);
    if (!r->logits || (r->n_logprobs > 0 && !r->raw_logits)) {
        release_seq(s, r);
        return lorc_fail(err, LORC_ERR_NOMEM, "scheduler: out of memory for logits");
    }
    if (s->reg) {
        lorc_status st = lorc_sequence_use(seq, s->reg, r->adapters, r->n_adapters, r->overlay, err);
        if (st != LORC_OK) {
            release_seq(s, r);
            return st;
        }
    }
    /* KV already computed for a prefix under this very adapter set. After a
     * preemption the generated tokens are part of what is recomputed. */
    int reused = lorc_sequence_reuse_prefix(seq, r->tokens, r->n_tokens);
    r->n_fed = reused > 0 ? reused : 0;
    if (r->admit_order == 0) r->n_cached = r->n_fed < r->n_prompt ? r->n_fed : r->n_prompt;
    r->admit_order = ++s->admit_clock;
    r->phase = SCHED_RUNNING;
    pthread_mutex_lock(&s->mu);
    s->n_running++;
    pthread_mutex_unlock(&s->mu);
    return LORC_OK;
}

/* Entries that requests passed over in one admission pass wait for. */
#define SCHED_WAITED_MAX 16
typedef struct waited_entries {
    const char *names[SCHED_WAITED_MAX];
    int n;
    bool overflow; /* more than SCHED_WAITED_MAX: any entry counts as waited for */
} waited_entries;

static void waited_add(waited_entries *w, const sched_request *r) {
    for (int i = 0; i <= r->n_adapters; i++) {
        const char *name = entry_name(r, i);
        if (!name) continue;
        if (w->n == SCHED_WAITED_MAX) {
            w->overflow = true;
            return;
        }
        w->names[w->n++] = name;
    }
}

/* Whether r names an entry an older request of this pass waits for. */
static bool waits_behind(const waited_entries *w, const sched_request *r) {
    for (int i = 0; i <= r->n_adapters; i++) {
        const char *name = entry_name(r, i);
        if (!name) continue;
        if (w->overflow) return true;
        for (int k = 0; k < w->n; k++)
            if (strcmp(w->names[k], name) == 0) return true;
    }
    return false;
}

/* Admits waiting requests, oldest first, while fewer than max_seqs run.
 * A request whose entries are still loading is passed over (younger ready
 * ones go ahead; it is admitted, before any younger one, once its loads are
 * done). A younger request on an entry an older one was passed over for
 * waits too, even if the load ends during the pass: else it would take the
 * older one's place (the second of two requests on one DoRA adapter, at
 * scales whose weights do not both fit the budget, ran first when the load
 * ended between the two checks). Returns whether some waiting request
 * waits for a load. */
static bool admit_waiting(lorc_scheduler *s) {
    int running = 0;
    bool loading = false;
    waited_entries waited = {.n = 0};
    for (int i = 0; i < s->n_queue; i++) running += s->queue[i]->phase == SCHED_RUNNING;
    for (int i = 0; i < s->n_queue; i++) {
        sched_request *r = s->queue[i];
        if (r->phase != SCHED_WAITING) continue;
        /* Full: the rest of a long queue is not looked at. */
        if (running >= s->max_seqs || s->kv_wait) break;
        if (r->max_tokens == 0) {
            finish(s, r, LORC_FINISH_LENGTH, LORC_OK, NULL);
            continue;
        }
        lorc_error e = {0};
        int ready = entries_ready(s, r, running, &e);
        if (ready > 0 && waits_behind(&waited, r)) ready = 0;
        if (ready == 0) {
            loading = true;
            waited_add(&waited, r);
        }
        if (ready < 0 || (ready > 0 && admit(s, r, &e) != LORC_OK)) {
            /* Refused for memory (e.g. a DoRA weight charged at use) while
             * others run under a budget: their entries may hold it, so wait
             * for them, as for a refused load; admit retries each step. */
            if (ready > 0 && e.status == LORC_ERR_NOMEM && running > 0 && s->reg && lorc_registry_budget(s->reg) > 0)
                continue;
            finish(s, r, LORC_FINISH_ERROR, e.status ? e.status : LORC_ERR_INVALID, e.message);
            continue;
        }
        if (ready > 0) running++;
    }
    return loading;
}

/* ------------------------------------------------------------ the batch */

/* Samples the request's next token from the logits of its last fed token. */
static void sample_next(lorc_scheduler *s, sched_request *r) {
    const lorc_vocab *vocab = lorc_model_vocab(s->ctx->model);
    if (r->raw_logits) memcpy(r->raw_logits, r->logits, (size_t)s->n_vocab * sizeof *r->logits);
    int32_t tok = lorc_sampler_sample(r->sampler, r->logits, s->n_vocab);
    if (r->t_first_token < 0) r->t_first_token = lorc_sched_now();
    if (tok < 0) {
        finish(s, r, LORC_FINISH_ERROR, LORC_ERR_NUMERIC, "the sampler found no token to pick (every logit NaN)");
        return;
    }
    /* The same order of checks as `lorc run`, so greedy texts match it. */
    bool stop = lorc_vocab_is_eog(vocab, tok);
    for (int i = 0; i < r->n_stop_tokens && !stop; i++) stop = r->stop_tokens[i] == tok;
    if (!r->ignore_eog && stop) {
        finish(s, r, LORC_FINISH_EOG, LORC_OK, NULL);
        return;
    }
    lorc_sampler_accept(r->sampler, tok);
    r->tokens[r->n_tokens++] = tok;
    r->n_generated++;
    emit_token(s, r, tok);
    if (r->n_generated >= r->max_tokens || r->n_fed >= s->n_ctx) finish(s, r, LORC_FINISH_LENGTH, LORC_OK, NULL);
}

/* The running requests (submit order) and their shares of the budget;
 * fills s->items. Returns the number of items. */
static int plan_step(lorc_scheduler *s, int *n_running) {
    int *pending = s->pending;
    bool *generating = s->generating;
    int n = 0;
    for (int i = 0; i < s->n_queue && n < s->max_seqs; i++) {
        sched_request *r = s->queue[i];
        if (r->phase != SCHED_RUNNING) continue;
        s->item_req[n] = r;
        pending[n] = r->n_tokens - r->n_fed;
        generating[n] = r->n_generated > 0 && pending[n] == 1;
        n++;
    }
    *n_running = n;
    lorc_sched_plan(pending, generating, n, s->step_tokens, s->prefill_chunk, s->chunk);
    int ni = 0;
    for (int k = 0; k < n; k++) {
        if (s->chunk[k] == 0) continue;
        sched_request *r = s->item_req[k];
        bool last = r->n_fed + s->chunk[k] == r->n_tokens;
        s->item_req[ni] = r;
        s->chunk[ni] = s->chunk[k];
        s->items[ni] = (lorc_decode_item){r->seq, r->tokens + r->n_fed, s->chunk[k], false, last ? r->logits : NULL};
        ni++;
    }
    return ni;
}

/* After a successful decode of item k: advance, and sample when the
 * request's pending tokens are all in. */
static void advance(lorc_scheduler *s, int k, double t_step) {
    sched_request *r = s->item_req[k];
    r->n_fed += s->chunk[k];
    if (r->t_first_step < 0) r->t_first_step = t_step;
    if (r->n_fed == r->n_tokens) sample_next(s, r);
}

static sched_request *most_recent_running(lorc_scheduler *s) {
    sched_request *best = NULL;
    for (int i = 0; i < s->n_queue; i++) {
        sched_request *r = s->queue[i];
        if (r->phase == SCHED_RUNNING && (!best || r->admit_order > best->admit_order)) best = r;
    }
    return best;
}

/* Runs the step's batch. Returns false when nothing could run. */
static bool run_batch(lorc_scheduler *s) {
    const double t_step = lorc_sched_now();
    for (;;) {
        int n_running = 0;
        int ni = plan_step(s, &n_running);
        if (ni == 0) return false;
        lorc_error e = {0};
        lorc_status st = lorc_decode_batch(s->ctx, s->items, ni, &e);
        if (st == LORC_OK) {
            for (int k = 0; k < ni; k++) advance(s, k, t_step);
            return true;
        }
        if (st == LORC_ERR_KV_FULL) {
            sched_request *victim = most_recent_running(s);
            if (n_running == 1) {
                finish(s, victim, LORC_FINISH_ERROR, st, e.message);
                continue;
            }
            release_seq(s, victim);
            victim->phase = SCHED_WAITING;
            pthread_mutex_lock(&s->mu);
            s->n_running--;
            pthread_mutex_unlock(&s->mu);
            victim->n_fed = 0;
            s->kv_wait = true;
            continue;
        }
        /* Any other failure belongs to one request (a non-finite logits row,
         * say): run the items one by one so only the guilty one fails. */
        if (ni == 1) {
            finish(s, s->item_req[0], LORC_FINISH_ERROR, st, e.message);
            continue;
        }
        for (int k = 0; k < ni; k++) {
            lorc_error e1 = {0};
            lorc_status st1 = lorc_decode_batch(s->ctx, &s->items[k], 1, &e1);
            if (st1 == LORC_OK)
                advance(s, k, t_step);
            else
                finish(s, s->item_req[k], LORC_FINISH_ERROR, st1, e1.message);
        }
        return true;
    }
}

/* Frees finished requests, keeping the queue in submit order. */
static void compact(lorc_scheduler *s) {
    int w = 0;
    for (int i = 0; i < s->n_queue; i++) {
        if (s->queue[i]->phase == SCHED_FINISHED)
            lorc_sched_request_free(s->queue[i]);
        else
            s->queue[w++] = s->queue[i];
    }
    s->n_queue = w;
}

lorc_status lorc_scheduler_step(lorc_scheduler *s, lorc_error *err) {
    if (!s) return lorc_fail(err, LORC_ERR_INVALID, "scheduler: none given");
    lorc_status st = take_incoming(s, err);
    if (st != LORC_OK) return st;
    for (int i = 0; i < s->n_queue; i++)
        if (s->queue[i]->cancelled) finish(s, s->queue[i], LORC_FINISH_CANCELLED, LORC_OK, NULL);
    compact(s);
    bool loading = admit_waiting(s);
    bool ran = run_batch(s);
    compact(s);
    if (!ran && loading) {
        /* Nothing to compute while entries load: a caller looping on the
         * step would only spin, so give the loader a moment. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return LORC_OK;
}
