/* serve_openai.c — POST /v1/completions and /v1/chat/completions: the
 * OpenAI request fields checked one by one into a scheduler request, and
 * the response (or its SSE stream, serve_stream.c) in OpenAI's shape. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_chat.h"
#include "serve_logprobs.h"
#include "serve_stream.h"

/* What one request asks for, before it is tokenized. */
typedef struct parsed {
    const char *model;
    lorc_adapter_use adapters[SERVE_MAX_ADAPTERS];
    int n_adapters;
    const char *overlay;
    lorc_sampler_params sampling;
    long max_tokens; /* -1: until end of generation or a full context */
    bool stream;
    int n_logprobs;  /* lorc_request.n_logprobs */
} parsed;

static const serve_entry *find_entry(const serve_state *s, const char *name) {
    for (int i = 0; i < s->n_entries; i++)
        if (!s->entries[i].removed && !strcmp(s->entries[i].name, name)) return &s->entries[i];
    return NULL;
}

/* A number field in [lo, hi]; absent/null leaves *out. False: r is the 400. */
static bool get_number(json_t *o, const char *key, double lo, double hi, double *out, serve_reply *r) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return serve_reply_error(r, 400, key, "%s must be a number", key), false;
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return serve_reply_error(r, 400, key, "%s must be in [%g, %g]", key, lo, hi), false;
    *out = d;
    return true;
}

static bool get_int(json_t *o, const char *key, long lo, long hi, long *out, serve_reply *r) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) return serve_reply_error(r, 400, key, "%s must be an integer", key), false;
    json_int_t d = json_integer_value(v);
    if (d < lo || d > hi) return serve_reply_error(r, 400, key, "%s must be in [%ld, %ld]", key, lo, hi), false;
    *out = (long)d;
    return true;
}

static bool parse_model(serve_state *s, json_t *o, parsed *p, serve_reply *r) {
    json_t *m = json_object_get(o, "model");
    if (!json_is_string(m)) return serve_reply_error(r, 400, "model", "model must be a string"), false;
    p->model = json_string_value(m);
    if (strcmp(p->model, s->base_name)) {
        const serve_entry *e = find_entry(s, p->model);
        if (!e) return serve_reply_error(r, 404, "model", "unknown model '%s' (see GET /v1/models)", p->model), false;
        if (e->overlay) {
            p->overlay = e->name;
        } else {
            p->adapters[0] = (lorc_adapter_use){e->name, 1.0f};
            p->n_adapters = 1;
        }
    }
    json_t *list = json_object_get(o, "adapters");
    if (!list || json_is_null(list)) return true;
    if (!json_is_array(list)) return serve_reply_error(r, 400, "adapters", "adapters must be an array"), false;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) {
        json_t *name = json_object_get(a, "name"), *scale = json_object_get(a, "scale");
        if (!json_is_string(name) || (scale && !json_is_null(scale) && !json_is_number(scale)))
            return serve_reply_error(r, 400, "adapters", "adapters[%zu] must be {name: string, scale: number}", i),
                   false;
        const serve_entry *e = find_entry(s, json_string_value(name));
        if (!e)
            return serve_reply_error(r, 404, "adapters", "unknown adapter '%s'", json_string_value(name)), false;
        if (e->overlay)
            return serve_reply_error(r, 400, "adapters", "'%s' is an overlay: name it as the model", e->name), false;
        if (p->n_adapters == SERVE_MAX_ADAPTERS)
            return serve_reply_error(r, 400, "adapters", "at most %d adapters", SERVE_MAX_ADAPTERS), false;
        double sc = scale && json_is_number(scale) ? json_number_value(scale) : 1.0;
        if (!isfinite(sc) || fabs(sc) > 1e3)
            return serve_reply_error(r, 400, "adapters", "adapters[%zu].scale must be finite", i), false;
        p->adapters[p->n_adapters++] = (lorc_adapter_use){e->name, (float)sc};
    }
    return true;
}

static bool parse_stop(json_t *o, serve_job *job, serve_reply *r) {
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return true;
    json_t *one = json_is_string(v) ? v : NULL;
    size_t n = one ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if ((!one && !json_is_array(v)) || n > SERVE_MAX_STOPS)
        return serve_reply_error(r, 400, "stop", "stop must be a string or an array of at most %d strings",
                                 SERVE_MAX_STOPS),
               false;
    for (size_t i = 0; i < n; i++) {
        json_t *e = one ? one : json_array_get(v, i);
        if (!json_is_string(e) || json_string_length(e) == 0)
            return serve_reply_error(r, 400, "stop", "stop strings must be non-empty strings"), false;
        if (!(job->stops[job->n_stops] = strdup(json_string_value(e))))
            return serve_reply_error(r, 500, NULL, "out of memory"), false;
        job->n_stops++;
    }
    return true;
}

static bool parse_fields(serve_state *s, json_t *o, bool chat, bool llama, parsed *p, serve_job *job,
                         serve_reply *r) {
    /* Entries change at run time (serve_admin.c); names are never freed
     * while serving, so the pointers taken here stay valid. */
    pthread_mutex_lock(&s->mu);
    bool ok = parse_model(s, o, p, r);
    pthread_mutex_unlock(&s->mu);
    if (!ok) return false;
    /* Defaults: `lorc run`'s sampling. */
    p->sampling = lorc_sampler_default_params();
    p->max_tokens = -1;
    double temp = p->sampling.temp, top_p = p->sampling.top_p, min_p = p->sampling.min_p,
           rep = p->sampling.repeat_penalty;
    long top_k = p->sampling.top_k, n = 1, seed = -1;
    if (!get_number(o, "temperature", 0, 2, &temp, r) || !get_number(o, "top_p", 1e-9, 1, &top_p, r) ||
        !get_number(o, "min_p", 0, 1, &min_p, r) || !get_number(o, "repeat_penalty", 1e-6, 100, &rep, r) ||
        !get_int(o, "top_k", 0, 1L << 30, &top_k, r) || !get_int(o, "max_tokens", 0, 1L << 30, &p->max_tokens, r) ||
        !get_int(o, "n", 0, 1L << 30, &n, r) || !get_int(o, "seed", 0, LONG_MAX, &seed, r))
        return false;
    if (n != 1) return serve_reply_error(r, 400, "n", "n must be 1 (one choice per request)"), false;
    if ((p->n_logprobs = serve_logprobs_parse(o, chat, llama, job, r)) < 0) return false;
    json_t *st = json_object_get(o, "stream");
    if (st && !json_is_null(st) && !json_is_boolean(st))
        return serve_reply_error(r, 400, "stream", "stream must be a boolean"), false;
    p->stream = json_is_true(st);
    p->sampling.temp = (float)temp;
    p->sampling.top_p = (float)top_p;
    p->sampling.min_p = (float)min_p;
    p->sampling.repeat_penalty = (float)rep;
    p->sampling.top_k = (int)top_k;
    if (seed >= 0) p->sampling.seed = (uint64_t)seed;
    return parse_stop(o, job, r);
}

/* The prompt text: `prompt` (a string, or an array of one string) or the
 * rendered chat `messages`. NULL: r holds the error. Caller frees. */
static char *prompt_text(serve_state *s, json_t *o, bool chat, serve_reply *r) {
    if (chat) {
        lorc_error err = {0};
        char *text = serve_render_chat(s->chat_template, json_object_get(o, "messages"), &err);
        if (!text) serve_reply_error(r, err.status == LORC_ERR_NOMEM ? 500 : 400, "messages", "%s", err.message);
        return text;
    }
    json_t *pr = json_object_get(o, "prompt");
    if (json_is_array(pr) && json_array_size(pr) == 1) pr = json_array_get(pr, 0);
    if (!json_is_string(pr)) {
        serve_reply_error(r, 400, "prompt", "prompt must be a string (or an array of one string)");
        return NULL;
    }
    char *text = strdup(json_string_value(pr));
    if (!text) serve_reply_error(r, 500, NULL, "out of memory");
    return text;
}

static json_t *usage(const serve_job *job) {
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", job->n_prompt, "completion_tokens", job->n_generated,
                     "total_tokens", job->n_prompt + job->n_generated);
}

json_t *serve_llama_final(const serve_call *c, json_t *content) {
    const serve_job *job = &c->job;
    bool eos = !job->stopped && job->finish == LORC_FINISH_EOG;
    bool limit = !job->stopped && job->finish == LORC_FINISH_LENGTH;
    return json_pack("{s:o, s:s, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:s, s:b}", "content", content, "model",
                     c->model, "id_slot", 0, "tokens_predicted", job->n_generated, "tokens_evaluated", job->n_prompt,
                     "stop", 1, "stopped_eos", eos, "stopped_limit", limit, "stopped_word", job->stopped,
                     "stopping_word", job->stopped ? job->stops[job->stop_index] : "", "truncated", 0);
}

/* The non-streamed answer of a finished job. */
static void reply_done(serve_call *c, serve_reply *r) {
    serve_job *job = &c->job;
    const char *finish = serve_job_finish_text(job);
    if (!finish) return serve_reply_error(r, 500, NULL, "%s", job->message[0] ? job->message : "generation failed");
    if (job->failed_alloc) return serve_reply_error(r, 500, NULL, "out of memory for the generated text");
    json_t *text = serve_json_text(job->text.data ? job->text.data : "", job->text.len);
    json_t *lp = job->want_logprobs
                     ? serve_logprobs_json(c, 0, serve_logprobs_visible(job, job->text.len, !job->stopped))
                     : NULL;
    if (c->llama) {
        json_t *o = serve_llama_final(c, text);
        if (lp) json_object_set_new(o, "completion_probabilities", lp);
        return serve_reply_json(r, 200, o);
    }
    json_t *choice = c->chat ? json_pack("{s:i, s:{s:s, s:o}, s:s}", "index", 0, "message", "role", "assistant",
                                         "content", text, "finish_reason", finish)
                             : json_pack("{s:i, s:o, s:s}", "index", 0, "text", text, "finish_reason", finish);
    json_object_set_new(choice, "logprobs", lp ? lp : json_null());
    serve_reply_json(r, 200,
                     json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", c->id, "object",
                               c->chat ? "chat.completion" : "text_completion", "created", (json_int_t)c->created,
                               "model", c->model, "choices", choice, "usage", usage(job)));
}

/* The server's limits on a tokenized request (docs/SERVER.md, "Limits").
 * Like OpenAI and vLLM, an OpenAI request whose prompt plus max_tokens
 * does not fit the context is refused; llama.cpp's n_predict is cut at the
 * context instead, as llama.cpp does. False: r holds the 400. */
static bool check_limits(const serve_state *s, const parsed *p, size_t n, bool chat, bool llama, serve_reply *r) {
    const char *prompt_field = chat ? "messages" : "prompt", *max_field = llama ? "n_predict" : "max_tokens";
    if (n >= (size_t)s->n_ctx)
        return serve_reply_error(r, 400, prompt_field, "the prompt has %zu tokens; the context holds %d", n,
                                 s->n_ctx),
               false;
    if (n > (size_t)s->max_prompt_tokens)
        return serve_reply_error(r, 400, prompt_field,
                                 "the prompt has %zu tokens; this server accepts at most %d (--max-prompt-tokens)", n,
                                 s->max_prompt_tokens),
               false;
    if (p->max_tokens > s->max_tokens)
        return serve_reply_error(r, 400, max_field, "%s is %ld; this server allows at most %d (--max-tokens)",
                                 max_field, p->max_tokens, s->max_tokens),
               false;
    if (!llama && p->max_tokens >= 0 && (long)n + p->max_tokens > s->n_ctx)
        return serve_reply_error(r, 400, max_field,
                                 "the prompt has %zu tokens and max_tokens is %ld: %ld in all, over the context of "
                                 "%d tokens",
                                 n, p->max_tokens, (long)n + p->max_tokens, s->n_ctx),
               false;
    return true;
}

void serve_completions_obj(serve_state *s, json_t *o, bool chat, bool llama, serve_reply *r) {
    serve_call *c = serve_call_new(s, chat);
    if (!c) return serve_reply_error(r, 500, NULL, "out of memory");
    c->llama = llama;
    parsed p = {0};
    char *text = NULL;
    int32_t *toks = NULL;
    size_t n = 0;
    bool reserved = false;
    if (!parse_fields(s, o, chat, llama, &p, &c->job, r) || !(text = prompt_text(s, o, chat, r))) goto fail;
    if (!(c->model = strdup(p.model))) {
        serve_reply_error(r, 500, NULL, "out of memory");
        goto fail;
    }
    c->job.model = c->model;
    lorc_error err = {0};
    int flags = LORC_TOKENIZE_PARSE_SPECIAL | LORC_TOKENIZE_ADD_BOS;
    if (lorc_tokenize(s->vocab, text, strlen(text), flags, &toks, &n, &err) != LORC_OK) {
        serve_reply_error(r, err.status == LORC_ERR_NOMEM ? 500 : 400, "prompt", "%s", err.message);
        goto fail;
    }
    if (n == 0) {
        serve_reply_error(r, 400, "prompt", "the prompt is empty and the vocab adds no BOS");
        goto fail;
    }
    if (!check_limits(s, &p, n, chat, llama, r)) goto fail;
    if (!(reserved = serve_bridge_reserve(s))) {
        serve_reply_error(r, 429, NULL, "too many requests in flight (%d); retry later", s->max_active);
        goto fail;
    }
    lorc_request q = {0};
    q.prompt = toks;
    q.n_prompt = (int)n;
    q.adapters = p.adapters;
    q.n_adapters = p.n_adapters;
    q.overlay = p.overlay;
    q.sampling = p.sampling;
    q.n_logprobs = p.n_logprobs;
    if (chat) {
        q.stop_tokens = s->chat_stops;
        q.n_stop_tokens = s->n_chat_stops;
    }
    /* Without max_tokens (and for llama.cpp's n_predict) generation is cut
     * where the context or --max-tokens ends it. */
    long room = s->n_ctx - (long)n, want = p.max_tokens >= 0 ? p.max_tokens : s->max_tokens;
    q.max_tokens = (int)(want < room ? want : room);
    if (serve_bridge_submit(s, &c->job, &q, &err) != LORC_OK) {
        serve_reply_error(r, err.status == LORC_ERR_INVALID ? 400 : 500, NULL, "%s", err.message);
        goto fail;
    }
    free(toks);
    free(text);
    c->client_fd = r->client_fd;
    if (p.stream) return serve_stream_reply(c, r); /* owns c and the reservation now */
    serve_job_wait_client(&c->job, r->client_fd);
    reply_done(c, r);
    serve_call_free(c);
    serve_bridge_release(s);
    return;
fail:
    if (reserved) serve_bridge_release(s);
    free(toks);
    free(text);
    serve_call_free(c);
}

void serve_completions(serve_state *s, const char *body, size_t len, bool chat, serve_reply *r) {
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
    if (!o) return serve_reply_error(r, 400, NULL, "malformed JSON body: %s (line %d)", jerr.text, jerr.line);
    if (!json_is_object(o)) {
        json_decref(o);
        return serve_reply_error(r, 400, NULL, "the body must be a JSON object");
    }
    serve_completions_obj(s, o, chat, false, r);
    json_decref(o);
}
