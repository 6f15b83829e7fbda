/* serve_logprobs.h — the logprobs fields of a completion request and their
 * answer in each API's shape: OpenAI completions (tokens, token_logprobs,
 * top_logprobs, text_offset), OpenAI chat (content: [{token, logprob,
 * bytes, top_logprobs}]) and llama.cpp's completion_probabilities. */
#ifndef LORC_TOOLS_SERVE_LOGPROBS_H
#define LORC_TOOLS_SERVE_LOGPROBS_H

#include "serve_stream.h"

/* Reads `logprobs` (completions: an integer, the alternatives per token),
 * `logprobs` + `top_logprobs` (chat: a boolean and an integer) or `n_probs`
 * (llama.cpp) into the job. Returns the lorc_request.n_logprobs to ask the
 * scheduler for (0: none), or -1 with r holding the 400. */
int serve_logprobs_parse(json_t *o, bool chat, bool llama, serve_job *job, serve_reply *r);

/* How many of the job's entries belong to text[0..text_end): those whose
 * text starts before it, and at the end of an uncut text also those with
 * no text of their own. Call with job->mu held. */
int serve_logprobs_visible(const serve_job *job, size_t text_end, bool at_end);

/* Entries [from, to) in the call's API shape (an object for OpenAI, an
 * array for llama.cpp); text offsets count from the start of the generated
 * text. Call with job->mu held. */
json_t *serve_logprobs_json(const serve_call *c, int from, int to);

#endif
