/* logprobs.c — log-softmax of one logits row and its best entries. The
 * distribution is the model's own (the raw logits), not the sampler's after
 * temperature and truncation: a truncated distribution would give -inf to
 * most alternatives, which is useless for scoring. */
#include "logprobs.h"

#include <math.h>

double lorc_log_sum_exp(const float *logits, int n_vocab) {
    double max = -INFINITY;
    for (int i = 0; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    if (!isfinite(max)) return max == INFINITY ? INFINITY : -INFINITY;
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++)
        if (!isnan(logits[i])) sum += exp((double)logits[i] - max);
    return max + log(sum);
}

int lorc_top_logprobs(const float *logits, int n_vocab, double lse, int n, lorc_token_logprob *out) {
    if (n > LORC_MAX_LOGPROBS) n = LORC_MAX_LOGPROBS;
    int have = 0;
    /* Insertion into a short sorted list: n is at most 20, so one pass over
     * the row with a rare shift beats sorting 32000+ candidates. */
    float best[LORC_MAX_LOGPROBS];
    for (int i = 0; i < n_vocab && n > 0; i++) {
        float v = logits[i];
        if (isnan(v) || (have == n && !(v > best[n - 1]))) continue;
        int at = have < n ? have++ : n - 1;
        while (at > 0 && v > best[at - 1]) {
            best[at] = best[at - 1];
            out[at] = out[at - 1];
            at--;
        }
        best[at] = v;
        out[at].token = i;
    }
    for (int k = 0; k < have; k++) out[k].logprob = (float)((double)best[k] - lse);
    return have;
}
