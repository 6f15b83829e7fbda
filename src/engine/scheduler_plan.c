/* scheduler_plan.c — how one step's token budget is shared out (the policy
 * is documented at lorc_sched_plan in scheduler.h). Kept apart from the
 * step so the policy can be tested on its own, without a model. */
#include "scheduler.h"

int lorc_sched_plan(const int *pending, const bool *generating, int n, int step_tokens, int prefill_chunk,
                    int *chunk) {
    int left = step_tokens;
    /* Generation first: one token each, so a long prompt never stalls a
     * request that is already producing text. */
    for (int i = 0; i < n; i++) {
        chunk[i] = 0;
        if (generating[i] && pending[i] > 0 && left > 0) {
            chunk[i] = 1;
            left--;
        }
    }
    /* Then prompt chunks, oldest first, each at most prefill_chunk tokens:
     * the oldest prompt finishes first and a younger one still moves
     * whenever the budget has room. */
    for (int i = 0; i < n && left > 0; i++) {
        if (generating[i] || pending[i] <= 0) continue;
        int c = pending[i] < prefill_chunk ? pending[i] : prefill_chunk;
        if (c > left) c = left;
        chunk[i] = c;
        left -= c;
    }
    return step_tokens - left;
}
