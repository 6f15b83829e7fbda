/* serve_stream.c — streamed completions: `data: {chunk}\n\n` events as the
 * text grows, then `data: [DONE]\n\n` (llama.cpp's /completion: its
 * {content, stop: false} events, then the stop: true one). The reader runs on the connection's
 * own thread (thread-per-connection) and blocks on the job until there is
 * something to send; when the client disconnects libmicrohttpd frees the
 * response, which cancels the request. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_logprobs.h"
#include "serve_stream.h"

serve_call *serve_call_new(serve_state *s, bool chat) {
    serve_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    serve_job_init(&c->job, s);
    c->chat = chat;
    c->created = time(NULL);
    c->client_fd = -1;
    pthread_mutex_lock(&s->mu);
    uint64_t n = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    snprintf(c->id, sizeof c->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", (unsigned long long)n);
    return c;
}

void serve_call_free(serve_call *c) {
    if (!c) return;
    serve_job_free(&c->job);
    free(c->model);
    free(c->out);
    free(c);
}

json_t *serve_json_text(const char *text, size_t n) {
    json_t *j = json_stringn(text, n);
    if (j) return j;
    /* Not valid UTF-8: rebuild it byte by byte, replacing what is not. */
    char *fixed = malloc(n * 3 + 1);
    if (!fixed) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)text[i];
        size_t len = b < 0x80 ? 1 : b >= 0xF0 && b < 0xF5 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
        if (len && i + len <= n) {
            json_t *t = json_stringn(text + i, len);
            if (t) {
                json_decref(t);
                memcpy(fixed + o, text + i, len);
                o += len;
                i += len;
                continue;
            }
        }
        memcpy(fixed + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i++;
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

/* Queues one `data: ...\n\n` event. */
static bool emit(serve_call *c, json_t *chunk) {
    char *js = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
    json_decref(chunk);
    if (!js) return false;
    size_t n = strlen(js);
    char *buf = malloc(n + 9);
    if (!buf) {
        free(js);
        return false;
    }
    memcpy(buf, "data: ", 6);
    memcpy(buf + 6, js, n);
    memcpy(buf + 6 + n, "\n\n", 3);
    free(js);
    free(c->out);
    c->out = buf;
    c->out_len = n + 8;
    c->out_pos = 0;
    return true;
}

/* lp: the chunk's log-probabilities (taken), or NULL. */
static json_t *chunk(serve_call *c, json_t *text, const char *finish, bool role, json_t *lp) {
    json_t *choice;
    if (c->llama) {
        json_t *o = json_pack("{s:o, s:b}", "content", text ? text : json_string(""), "stop", 0);
        if (lp) json_object_set_new(o, "completion_probabilities", lp);
        return o;
    }
    if (c->chat) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", text);
        choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                           finish ? json_string(finish) : json_null());
    } else {
        choice = json_pack("{s:i, s:o, s:o}", "index", 0, "text", text ? text : json_string(""), "finish_reason",
                           finish ? json_string(finish) : json_null());
    }
    json_object_set_new(choice, "logprobs", lp ? lp : json_null());
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", c->id, "object",
                     c->chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)c->created,
                     "model", c->model, "choices", choice);
}

/* Fills c->out with the next event, waiting for the job when there is
 * nothing new. False: the stream is over (or failed). */
static bool next_event(serve_call *c) {
    serve_job *job = &c->job;
    if (c->done_sent) return false;
    if (c->final_sent) {
        c->done_sent = true;
        if (c->llama) return false; /* llama.cpp ends with its stop: true event */
        free(c->out);
        c->out = strdup("data: [DONE]\n\n");
        c->out_len = c->out ? strlen(c->out) : 0;
        c->out_pos = 0;
        return c->out != NULL;
    }
    if (c->chat && !c->role_sent) {
        c->role_sent = true;
        return emit(c, chunk(c, NULL, NULL, true, NULL));
    }
    pthread_mutex_lock(&job->mu);
    for (;;) {
        /* Held back: a possible start of a stop string, and a character
         * whose bytes have not all arrived. */
        size_t safe = job->text.len;
        if (!job->done) {
            safe = job->text.len > job->max_stop_len ? job->text.len - job->max_stop_len : 0;
            if (job->max_stop_len == 0) safe = job->text.len;
            safe = serve_utf8_complete(job->text.data, safe);
        }
        int lps = job->want_logprobs ? serve_logprobs_visible(job, safe, job->done && !job->stopped) : 0;
        if (safe > c->sent || lps > c->lps_sent) {
            json_t *text = serve_json_text(job->text.data + c->sent, safe - c->sent);
            json_t *lp = lps > c->lps_sent ? serve_logprobs_json(c, c->lps_sent, lps) : NULL;
            c->sent = safe;
            c->lps_sent = lps;
            pthread_mutex_unlock(&job->mu);
            return emit(c, chunk(c, text, NULL, false, lp));
        }
        if (job->done) break;
        /* libmicrohttpd notices a gone client only when a write fails, and
         * nothing is written while the request waits in the queue: look. */
        if (c->client_fd < 0) {
            pthread_cond_wait(&job->cv, &job->mu);
        } else {
            serve_job_wait_a_while(job);
            if (!job->done && serve_client_gone(c->client_fd)) {
                pthread_mutex_unlock(&job->mu);
                c->gone = true;
                return false;
            }
        }
    }
    pthread_mutex_unlock(&job->mu);
    c->final_sent = true;
    const char *finish = serve_job_finish_text(job);
    if (!finish) {
        json_t *e = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                              job->message[0] ? job->message : "generation failed", "type", "server_error", "param",
                              "code");
        return emit(c, e);
    }
    if (c->llama) return emit(c, serve_llama_final(c, json_string("")));
    json_t *final = chunk(c, NULL, finish, false, NULL);
    if (final) {
        json_object_set_new(final, "usage",
                            json_pack("{s:i, s:i, s:i}", "prompt_tokens", job->n_prompt, "completion_tokens",
                                      job->n_generated, "total_tokens", job->n_prompt + job->n_generated));
    }
    return emit(c, final);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    serve_call *c = cls;
    if (c->out_pos == c->out_len && !next_event(c))
        return c->gone ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = c->out_len - c->out_pos;
    if (n > max) n = max;
    memcpy(buf, c->out + c->out_pos, n);
    c->out_pos += n;
    return (ssize_t)n;
}

/* Called when the response is done with: after [DONE], or at once when the
 * client went away mid-stream. */
static void stream_free(void *cls) {
    serve_call *c = cls;
    serve_state *s = c->job.s;
    lorc_scheduler_cancel(s->sched, c->job.id);
    serve_job_wait_done(&c->job);
    serve_call_free(c);
    serve_bridge_release(s);
}

void serve_stream_reply(serve_call *c, serve_reply *r) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, c, stream_free);
    if (!resp) {
        stream_free(c);
        return serve_reply_error(r, 500, NULL, "cannot create the stream response");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    r->status = 200;
    r->stream = resp;
}
