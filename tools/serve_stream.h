/* serve_stream.h — one completion call (its job plus what the response
 * repeats) and its server-sent-events stream. */
#ifndef LORC_TOOLS_SERVE_STREAM_H
#define LORC_TOOLS_SERVE_STREAM_H

#include "serve.h"

typedef struct serve_call {
    serve_job job;
    bool chat;
    bool llama;      /* answer in llama.cpp's /completion shape */
    char id[48];     /* "cmpl-N" / "chatcmpl-N" */
    char *model;     /* as the client named it */
    time_t created;
    /* Streaming state. */
    size_t sent;     /* text bytes already sent */
    int lps_sent;    /* log-probability entries already sent */
    bool role_sent, final_sent, done_sent;
    char *out;       /* SSE bytes not yet handed to the socket */
    size_t out_len, out_pos;
    int client_fd;   /* watched while waiting for text; -1: not known */
    bool gone;       /* the client went away: the stream ends with an error */
} serve_call;

serve_call *serve_call_new(serve_state *s, bool chat);
void serve_call_free(serve_call *c);
/* A JSON string of n bytes of generated text; invalid UTF-8 bytes (a
 * token split mid-character at the end of generation) become U+FFFD. */
json_t *serve_json_text(const char *text, size_t n);
/* llama.cpp's /completion answer (or last streamed event) of a finished
 * job; takes `content`. */
json_t *serve_llama_final(const serve_call *c, json_t *content);
/* Turns r into an SSE stream of c's submitted job. Takes c and the
 * request's bridge reservation: both are released when the stream ends,
 * and a client that goes away cancels the request at once. */
void serve_stream_reply(serve_call *c, serve_reply *r);

#endif
