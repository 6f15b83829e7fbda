/* scheduler.h — continuous batching (lorc_scheduler): the request record,
 * the scheduler's state, and the step's token-budget policy as a pure
 * function so it can be tested without a model.
 *
 * Threads: lorc_scheduler_submit / cancel / pending / counts take `mu` and
 * touch only the `incoming` list, the `cancels` ids and the `n_pending` and
 * `n_running` counts. Every
 * other field is owned by the one thread running lorc_scheduler_step, which
 * moves incoming requests into its own queue at the start of a step, so the
 * step never holds the lock while it computes or calls back. */
#ifndef LORC_ENGINE_SCHEDULER_H
#define LORC_ENGINE_SCHEDULER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lorc.h"

typedef enum sched_phase {
    SCHED_WAITING = 0, /* queued (never admitted, or preempted) */
    SCHED_RUNNING = 1, /* holds a sequence */
    SCHED_FINISHED = 2 /* DONE sent; freed at the end of the step */
} sched_phase;

typedef struct sched_request {
    uint64_t id;       /* submit order: smaller is older */
    struct sched_request *next_incoming;
    /* What was asked (copied at submit). */
    lorc_adapter_use *adapters; /* names owned */
    int n_adapters;
    char *overlay;              /* owned; NULL: base */
    int n_prompt;
    int max_tokens;
    bool ignore_eog;
    int32_t *stop_tokens;       /* owned [n_stop_tokens] */
    int n_stop_tokens;
    int n_logprobs;
    lorc_event_fn on_event;
    void *user;
    lorc_sampler *sampler;      /* owned; has seen the prompt (and every generated token) */
    /* Progress. tokens[0..n_tokens) is the prompt followed by the generated
     * tokens; the sequence holds KV for tokens[0..n_fed). A request
     * preempted for KV pages keeps tokens and sampler and recomputes. */
    int32_t *tokens;            /* owned, capacity n_prompt + max_tokens */
    int n_tokens;
    int n_fed;
    int n_generated;
    int n_cached;
    sched_phase phase;
    bool prefetched;            /* asked the registry to load its entries */
    uint64_t retry_epoch;       /* the scheduler's finish_epoch at that request */
    bool cancelled;
    uint64_t admit_order;       /* larger: admitted more recently (preemption picks the largest) */
    lorc_sequence *seq;         /* while RUNNING */
    float *logits;              /* while RUNNING: n_vocab floats (taken at admission) */
    float *raw_logits;          /* n_logprobs > 0: the row before sampling (the sampler scribbles on logits) */
    double t_submit, t_first_step, t_first_token; /* seconds, monotonic; < 0: not yet */
} sched_request;

struct lorc_scheduler {
    lorc_context *ctx;   /* borrowed */
    lorc_registry *reg;  /* borrowed; NULL: base only */
    int max_seqs, step_tokens, prefill_chunk;
    int n_vocab, n_ctx;

    pthread_mutex_t mu;
    sched_request *incoming_head, *incoming_tail; /* submitted, not yet seen by a step */
    uint64_t *cancels;   /* ids asked to stop, not yet seen by a step */
    int n_cancels, cap_cancels;
    uint64_t next_id;
    int n_pending;       /* queued or running, for lorc_scheduler_pending */
    int n_running;       /* of which holding a sequence, for lorc_scheduler_counts */

    /* Owned by the stepping thread. */
    sched_request **queue; /* every request not finished, in submit order */
    int n_queue, cap_queue;
    lorc_sequence **free_seqs; /* sequences of finished requests, reused */
    int n_free_seqs;
    int n_seqs;            /* sequences created (<= max_seqs) */
    uint64_t admit_clock;
    bool kv_wait;          /* a step ran out of KV pages: admit nothing until a request finishes */
    uint64_t finish_epoch; /* requests finished so far (a load refused for the budget is retried after one) */
    lorc_decode_item *items; /* max_seqs */
    sched_request **item_req;
    int *chunk;            /* max_seqs: the plan's tokens per running request */
    int *pending;          /* max_seqs: the plan's input */
    bool *generating;      /* max_seqs */
};

/* The budget policy of one step, over the running requests in submit order
 * (oldest first): pending[i] tokens are waiting to be fed for request i and
 * generating[i] says it is producing tokens (exactly one pending). Every
 * generating request gets its one token first; then prefilling requests,
 * oldest first, get min(pending, prefill_chunk, what is left of the budget).
 * Writes chunk[i] (0: not in this step) and returns the step's total, which
 * never exceeds step_tokens. With n <= step_tokens (lorc_scheduler_new
 * enforces max_seqs <= step_tokens) every generating request is in every
 * step, and a prefilling request waits only for older ones to finish their
 * prompts, so none starves. */
int lorc_sched_plan(const int *pending, const bool *generating, int n, int step_tokens, int prefill_chunk,
                    int *chunk);

/* Internal to scheduler*.c. */
double lorc_sched_now(void);
void lorc_sched_request_free(sched_request *r);

#endif
