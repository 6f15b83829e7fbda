/* logprobs.h — log-probabilities of a logits row, for APIs that report them
 * (OpenAI's logprobs / top_logprobs, llama.cpp's n_probs). */
#ifndef LORC_SAMPLE_LOGPROBS_H
#define LORC_SAMPLE_LOGPROBS_H

#include "lorc.h"

/* log(sum(exp(logits))) over the logits that are numbers, computed in double
 * around the maximum so no term overflows; -INFINITY when none is. */
double lorc_log_sum_exp(const float *logits, int n_vocab);

/* The n most likely tokens (n <= LORC_MAX_LOGPROBS), most likely first, ties
 * by lower id, with their log-probabilities logits[i] - lse. NaN logits are
 * never chosen. Returns how many were written (< n only when the row has
 * fewer numbers). */
int lorc_top_logprobs(const float *logits, int n_vocab, double lse, int n, lorc_token_logprob *out);

#endif
