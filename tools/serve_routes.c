/* serve_routes.c — URL dispatch, /health, /v1/models, /metrics, and the
 * OpenAI error shape every failure is answered in. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_metrics.h"

void serve_reply_json(serve_reply *r, unsigned status, json_t *obj) {
    r->status = status;
    r->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                         "\"code\":null}}");
    }
}

static const char *error_type(unsigned status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 405: return "invalid_request_error";
    case 409: return "invalid_request_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default: return "server_error";
    }
}

void serve_reply_error(serve_reply *r, unsigned status, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", msg, "type", error_type(status), "param",
                          param ? json_string(param) : json_null(), "code", json_null());
    serve_reply_json(r, status, e);
}

static void list_models(serve_state *s, serve_reply *r) {
    json_t *data = json_array();
    pthread_mutex_lock(&s->mu);
    json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", s->base_name, "object", "model", "created",
                                          (json_int_t)s->started, "owned_by", "lorc"));
    for (int i = 0; i < s->n_entries; i++)
        if (!s->entries[i].removed)
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "id", s->entries[i].name, "object",
                                              "model", "created", (json_int_t)s->started, "owned_by", "lorc",
                                              "parent", s->base_name, "kind",
                                              s->entries[i].overlay ? "overlay" : "lora"));
    pthread_mutex_unlock(&s->mu);
    serve_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void serve_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                 serve_reply *r) {
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) {
        if (!get) return serve_reply_error(r, 405, NULL, "%s /health: use GET", method);
        return serve_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) return serve_reply_error(r, 405, NULL, "%s /metrics: use GET", method);
        char *text = serve_metrics_render(s);
        if (!text) return serve_reply_error(r, 500, NULL, "out of memory for the metrics");
        r->status = 200;
        r->body = text;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    if (!strcmp(url, "/v1/models")) {
        if (!get) return serve_reply_error(r, 405, NULL, "%s /v1/models: use GET", method);
        return list_models(s, r);
    }
    bool chat = !strcmp(url, "/v1/chat/completions");
    if (chat || !strcmp(url, "/v1/completions")) {
        if (!post) return serve_reply_error(r, 405, NULL, "%s %s: use POST", method, url);
        return serve_completions(s, body, len, chat, r);
    }
    if (serve_llama_route(s, method, url, body, len, r)) return;
    if (serve_admin_route(s, method, url, body, len, r)) return;
    serve_reply_error(r, 404, NULL, "no route %s %s", method, url);
}
