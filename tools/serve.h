/* serve.h — `lorc serve`'s shared state and the seams between its files:
 * serve_bridge.c (requests -> the scheduler thread -> per-request events),
 * serve_http.c (libmicrohttpd glue: bodies, limits, auth, replies),
 * serve_routes.c (URL dispatch, /health, /v1/models, OpenAI-shaped errors),
 * serve_openai.c (/v1/completions and /v1/chat/completions),
 * serve_llama.c (llama.cpp's /completion, /lora-adapters, /tokenize, /detokenize),
 * serve_admin.c (loading and unloading adapters at run time),
 * serve_metrics*.c (GET /metrics: the counters and their text). */
#ifndef LORC_TOOLS_SERVE_H
#define LORC_TOOLS_SERVE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lorc.h"
#include "text_buf.h"

enum { SERVE_MAX_STOPS = 4, SERVE_MAX_ADAPTERS = 16, SERVE_BODY_LIMIT = 1 << 20 };

typedef struct serve_entry {
    char *name;
    bool overlay;
    bool removed;            /* unloaded at run time: kept so names in flight stay valid */
} serve_entry;

typedef struct serve_state {
    lorc_model *model;
    lorc_registry *reg;
    lorc_context *ctx;
    lorc_scheduler *sched;
    const lorc_vocab *vocab;
    const char *chat_template;  /* format of /v1/chat/completions prompts (static string) */
    int32_t chat_stops[8];      /* its end-of-turn tokens */
    int n_chat_stops;
    char *base_name;         /* the GGUF file stem */
    serve_entry *entries;    /* registered names, for /v1/models and lookups; under mu */
    int n_entries;
    char **adapter_dirs;     /* realpaths of --adapter-dir: where /v1/load_lora_adapter may read */
    int n_adapter_dirs;
    float *lora_scale;       /* per entry: llama.cpp's default scale (/lora-adapters), under mu */
    const char *api_key;     /* NULL: no auth */
    int max_active;          /* running + queued requests accepted at once */
    int n_ctx;
    time_t started;
    /* The scheduler thread sleeps on `wake` while nothing is pending. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    int active;
    uint64_t next_id;        /* response ids */
    pthread_t thread;
    bool thread_started;
    struct serve_metrics *metrics; /* GET /metrics (serve_metrics.h) */
    int max_tokens;          /* largest max_tokens / n_predict accepted (--max-tokens) */
    int max_prompt_tokens;   /* longest prompt accepted, in tokens (--max-prompt-tokens) */
    /* libmicrohttpd limits (serve_http.c, docs/SERVER.md): seconds a
     * connection may stay silent, connections open at once. */
    unsigned conn_timeout;
    unsigned max_conns;
} serve_state;

/* One generated token's log-probabilities, kept when the request asked for
 * them (serve_logprobs.c). */
typedef struct serve_token_lp {
    int32_t token, prev;     /* prev: the token before it (its text depends on it) */
    size_t offset;           /* where its text starts in the job's text */
    float logprob;
    int n_top;
    lorc_token_logprob top[LORC_MAX_LOGPROBS];
} serve_token_lp;

/* One request in flight: the scheduler thread appends its text, the HTTP
 * thread reads it (non-streamed: once DONE; streamed: as it grows). */
typedef struct serve_job {
    serve_state *s;
    uint64_t id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    text_buf text;           /* the generated text, cut before a stop string */
    int32_t prev;
    char *stops[SERVE_MAX_STOPS];
    int n_stops;
    size_t max_stop_len;
    bool stopped;            /* a stop string was found: text is cut before it */
    int stop_index;          /* which one */
    bool failed_alloc;
    bool done;
    lorc_finish_reason finish;
    int n_prompt, n_generated;
    char message[256];
    /* Log-probabilities (OpenAI's logprobs / top_logprobs, llama.cpp's
     * n_probs): one entry per token, n_top_logprobs alternatives each. */
    bool want_logprobs;
    int n_top_logprobs;
    serve_token_lp *lps;
    int n_lps, cap_lps;
    const char *model;       /* the request's `model`, for the metrics (borrowed from its call) */
} serve_job;

/* Starts the thread that steps the scheduler while requests are pending. */
lorc_status serve_bridge_start(serve_state *s, lorc_error *err);
/* Stops it (pending requests are cancelled first). */
void serve_bridge_stop(serve_state *s);
/* Reserves a slot: false when max_active requests are in flight (429). */
bool serve_bridge_reserve(serve_state *s);
void serve_bridge_release(serve_state *s);
/* Submits a reserved request (q->on_event/user are set here) and wakes the
 * scheduler thread. The job must stay alive until serve_job_wait_done. */
lorc_status serve_bridge_submit(serve_state *s, serve_job *job, lorc_request *q, lorc_error *err);
void serve_job_init(serve_job *job, serve_state *s);
void serve_job_free(serve_job *job);
void serve_job_wait_done(serve_job *job);
/* serve_job_wait_done for a non-streamed reply: while waiting, watches the
 * client's socket (fd < 0: not known) and cancels the request when the
 * client has gone away, so its sequence is freed at once. */
void serve_job_wait_client(serve_job *job, int fd);
/* True when the peer of socket fd has closed or reset the connection. */
bool serve_client_gone(int fd);
/* Waits on job->cv (job->mu held) for at most 100 ms. */
void serve_job_wait_a_while(serve_job *job);
/* "stop" or "length" (OpenAI's finish_reason), NULL for errors. */
const char *serve_job_finish_text(const serve_job *job);
/* Appends the log-probabilities of a TOKEN event whose text will start at
 * `offset` (serve_logprobs.c). False: out of memory. */
bool serve_job_record_logprobs(serve_job *job, const lorc_event *ev, int32_t prev, size_t offset);
/* Length of text[0..n) without a trailing incomplete UTF-8 sequence. */
size_t serve_utf8_complete(const char *text, size_t n);

/* A reply: JSON body with a status, or a streamed response (stream set). */
typedef struct serve_reply {
    unsigned status;
    char *body;              /* owned */
    void *stream;            /* struct MHD_Response * when streaming */
    const char *content_type; /* static; NULL: application/json */
    int client_fd;           /* the connection's socket, -1 when not known */
} serve_reply;

/* OpenAI's error object {"error": {message, type, param, code}}. */
void serve_reply_error(serve_reply *r, unsigned status, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Takes the reference to `obj`. */
void serve_reply_json(serve_reply *r, unsigned status, json_t *obj);

/* Dispatch of one complete request (auth is checked before). */
void serve_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                 serve_reply *r);
void serve_completions(serve_state *s, const char *body, size_t len, bool chat, serve_reply *r);
/* One parsed OpenAI-shaped completion request; `llama` answers in
 * llama.cpp's /completion shape instead (serve_llama.c). */
void serve_completions_obj(serve_state *s, json_t *o, bool chat, bool llama, serve_reply *r);
/* llama.cpp's API (serve_llama.c): /completion, /lora-adapters, /tokenize,
 * /detokenize. False: not one of its routes. */
bool serve_llama_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                       serve_reply *r);

/* Runtime adapter management with vLLM's names (serve_admin.c):
 * /v1/load_lora_adapter, /v1/unload_lora_adapter, /v1/adapters. */
bool serve_admin_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                       serve_reply *r);

/* Runs the HTTP daemon until SIGINT/SIGTERM. */
int serve_http_run(serve_state *s, const char *host, int port);

#endif
