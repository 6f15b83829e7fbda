/* serve_logprobs.c — per-token log-probabilities through the server: asked
 * for in each API's own field, recorded by the bridge as tokens arrive, and
 * answered in each API's own shape. The figures are the model's (the
 * scheduler's log-softmax of the raw logits), as vLLM reports them by
 * default, not the sampler's truncated distribution. */
#include <stdlib.h>
#include <string.h>

#include "serve_logprobs.h"

static int fail400(serve_reply *r, const char *param, const char *msg) {
    serve_reply_error(r, 400, param, "%s", msg);
    return -1;
}

int serve_logprobs_parse(json_t *o, bool chat, bool llama, serve_job *job, serve_reply *r) {
    json_int_t top = 0;
    if (llama) {
        json_t *np = json_object_get(o, "n_probs");
        if (!np || json_is_null(np)) return 0;
        if (!json_is_integer(np) || json_integer_value(np) < 0 || json_integer_value(np) > LORC_MAX_LOGPROBS)
            return fail400(r, "n_probs", "n_probs must be an integer in [0, 20]");
        top = json_integer_value(np);
        if (top == 0) return 0; /* llama.cpp: 0 means no probabilities */
    } else if (chat) {
        json_t *lp = json_object_get(o, "logprobs"), *tl = json_object_get(o, "top_logprobs");
        if (lp && !json_is_null(lp) && !json_is_boolean(lp))
            return fail400(r, "logprobs", "logprobs must be a boolean");
        if (tl && !json_is_null(tl)) {
            if (!json_is_integer(tl) || json_integer_value(tl) < 0 || json_integer_value(tl) > LORC_MAX_LOGPROBS)
                return fail400(r, "top_logprobs", "top_logprobs must be an integer in [0, 20]");
            if (!json_is_true(lp)) return fail400(r, "top_logprobs", "top_logprobs needs logprobs: true");
            top = json_integer_value(tl);
        }
        if (!json_is_true(lp)) return 0;
    } else {
        json_t *lp = json_object_get(o, "logprobs");
        if (!lp || json_is_null(lp)) return 0;
        if (!json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > LORC_MAX_LOGPROBS)
            return fail400(r, "logprobs", "logprobs must be an integer in [0, 20] (alternatives per token)");
        top = json_integer_value(lp);
    }
    job->want_logprobs = true;
    job->n_top_logprobs = (int)top;
    /* The token's own log-probability comes with the list: ask for one even
     * when no alternatives are wanted. */
    return top > 0 ? (int)top : 1;
}

bool serve_job_record_logprobs(serve_job *job, const lorc_event *ev, int32_t prev, size_t offset) {
    if (job->n_lps == job->cap_lps) {
        int cap = job->cap_lps ? job->cap_lps * 2 : 32;
        serve_token_lp *grown = realloc(job->lps, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        job->lps = grown;
        job->cap_lps = cap;
    }
    serve_token_lp *e = &job->lps[job->n_lps++];
    e->token = ev->token;
    e->prev = prev;
    e->offset = offset;
    e->logprob = ev->logprob;
    e->n_top = ev->n_top < job->n_top_logprobs ? ev->n_top : job->n_top_logprobs;
    memcpy(e->top, ev->top, (size_t)e->n_top * sizeof *e->top);
    return true;
}

int serve_logprobs_visible(const serve_job *job, size_t text_end, bool at_end) {
    int n = 0;
    while (n < job->n_lps && (job->lps[n].offset < text_end || (at_end && job->lps[n].offset == text_end))) n++;
    return n;
}

/* A token's text after `prev`, as a JSON string and as its bytes. */
static json_t *piece(const lorc_vocab *vocab, int32_t prev, int32_t tok, json_t **bytes) {
    char buf[256];
    int n = lorc_token_to_piece(vocab, prev, tok, buf, sizeof buf);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof buf) n = (int)sizeof buf; /* no token's text is this long: keep what fits */
    if (bytes) {
        *bytes = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(*bytes, json_integer((unsigned char)buf[i]));
    }
    return serve_json_text(buf, (size_t)n);
}

/* {token, logprob, bytes} (+ id for llama.cpp). */
static json_t *token_object(const lorc_vocab *vocab, int32_t prev, int32_t tok, float lp, bool ids) {
    json_t *bytes = NULL, *text = piece(vocab, prev, tok, &bytes);
    json_t *o = json_pack("{s:o, s:f, s:o}", "token", text ? text : json_string(""), "logprob", (double)lp, "bytes",
                          bytes ? bytes : json_array());
    if (o && ids) json_object_set_new(o, "id", json_integer(tok));
    return o;
}

static json_t *per_token_list(const serve_call *c, int from, int to) {
    const lorc_vocab *vocab = c->job.s->vocab;
    json_t *list = json_array();
    for (int i = from; i < to; i++) {
        const serve_token_lp *e = &c->job.lps[i];
        json_t *o = token_object(vocab, e->prev, e->token, e->logprob, c->llama);
        json_t *tops = json_array();
        for (int k = 0; k < e->n_top; k++)
            json_array_append_new(tops, token_object(vocab, e->prev, e->top[k].token, e->top[k].logprob, c->llama));
        json_object_set_new(o, "top_logprobs", tops);
        json_array_append_new(list, o);
    }
    return list;
}

/* The legacy completions shape: parallel arrays; alternatives as
 * {text: logprob} objects (two alternatives with the same text keep the
 * more likely one, as that shape cannot hold both). */
static json_t *completions_shape(const serve_call *c, int from, int to) {
    const lorc_vocab *vocab = c->job.s->vocab;
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    for (int i = from; i < to; i++) {
        const serve_token_lp *e = &c->job.lps[i];
        json_array_append_new(tokens, piece(vocab, e->prev, e->token, NULL));
        json_array_append_new(lps, json_real(e->logprob));
        json_array_append_new(offsets, json_integer((json_int_t)e->offset));
        json_t *alt = json_object();
        for (int k = 0; k < e->n_top; k++) { /* most likely first; a later same text is dropped */
            json_t *t = piece(vocab, e->prev, e->top[k].token, NULL);
            if (t && !json_object_get(alt, json_string_value(t)))
                json_object_set_new(alt, json_string_value(t), json_real(e->top[k].logprob));
            json_decref(t);
        }
        json_array_append_new(tops, alt);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offsets);
}

json_t *serve_logprobs_json(const serve_call *c, int from, int to) {
    if (c->llama) return per_token_list(c, from, to);
    if (c->chat) return json_pack("{s:o}", "content", per_token_list(c, from, to));
    return completions_shape(c, from, to);
}
