/* serve_http.c — libmicrohttpd glue: one thread per connection (a
 * completion blocks its thread until the scheduler is done with it),
 * request bodies gathered up to SERVE_BODY_LIMIT, the API key checked,
 * replies queued; silent connections closed after --timeout and at most
 * --max-connections open (docs/SERVER.md, "Connections and disconnects"). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"
#include "serve_metrics.h"

/* Bodies past the limit are read and dropped up to this much more, so the
 * client gets its 413 instead of a reset connection; beyond it the
 * connection is closed. */
enum { DISCARD_LIMIT = 64 << 20 };

typedef struct conn {
    char *body;
    size_t len;
    size_t seen;         /* all body bytes, kept or not */
    bool too_large;
} conn;

/* Compares every byte whatever the first difference, so the time taken
 * does not tell how much of a guessed key was right. */
static bool key_equal(const char *given, const char *key) {
    size_t n = strlen(given), m = strlen(key);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++) diff |= (unsigned char)(key[i] ^ (i < n ? given[i] : 0));
    return diff == 0;
}

static bool authorized(serve_state *s, struct MHD_Connection *mc) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    /* The scheme is case-insensitive (RFC 7235), the key is not. */
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    return key_equal(h + 7, s->api_key);
}

static enum MHD_Result send_reply(struct MHD_Connection *mc, serve_reply *r) {
    struct MHD_Response *resp = r->stream;
    if (!resp) {
        const char *body = r->body ? r->body : "{}";
        resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        free(r->body);
        r->body = NULL;
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "application/json");
    }
    enum MHD_Result ret = MHD_queue_response(mc, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    serve_state *s = cls;
    conn *c = *con_cls;
    if (!c) {
        if (!(c = calloc(1, sizeof *c))) return MHD_NO;
        *con_cls = c;
        /* A declared length past what would be read and dropped: answer
         * now (libmicrohttpd then closes the connection) rather than read
         * it, or wait for --timeout when the body never comes. */
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)DISCARD_LIMIT) {
            serve_reply r = {.client_fd = -1};
            if (strcmp(url, "/health") && !authorized(s, mc))
                serve_reply_error(&r, 401, NULL, "missing or wrong API key (Authorization: Bearer KEY)");
            else
                serve_reply_error(&r, 413, NULL, "the request body is over %d bytes", SERVE_BODY_LIMIT);
            return send_reply(mc, &r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        c->seen += n;
        if (c->seen > (size_t)DISCARD_LIMIT) return MHD_NO;
        if (c->len + n > SERVE_BODY_LIMIT) c->too_large = true;
        if (!c->too_large) {
            char *grown = realloc(c->body, c->len + n + 1);
            if (!grown) return MHD_NO;
            c->body = grown;
            memcpy(c->body + c->len, upload, n);
            c->len += n;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    serve_reply r = {0};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    r.client_fd = ci ? ci->connect_fd : -1;
    if (strcmp(url, "/health") && !authorized(s, mc))
        serve_reply_error(&r, 401, NULL, "missing or wrong API key (Authorization: Bearer KEY)");
    else if (c->too_large)
        serve_reply_error(&r, 413, NULL, "the request body is over %d bytes", SERVE_BODY_LIMIT);
    else
        serve_route(s, method, url, c->body, c->len, &r);
    serve_metrics_http(s->metrics, r.status);
    return send_reply(mc, &r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)mc;
    (void)why;
    conn *c = *con_cls;
    if (c) free(c->body);
    free(c);
    *con_cls = NULL;
}

int serve_http_run(serve_state *s, const char *host, int port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "lorc serve: --host '%s' is not an IPv4 address\n", host);
        return 1;
    }
    /* Signals are waited for below, not delivered to a random thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, s->conn_timeout, MHD_OPTION_CONNECTION_LIMIT,
        s->max_conns, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "lorc serve: cannot listen on %s:%d\n", host, port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "lorc serve: listening on http://%s:%u\n", host, info ? (unsigned)info->port : (unsigned)port);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "lorc serve: stopping\n");
    /* Requests in flight finish first: the scheduler thread keeps running
     * until the daemon's connection threads are joined. */
    MHD_quiesce_daemon(d);
    MHD_stop_daemon(d);
    return 0;
}
