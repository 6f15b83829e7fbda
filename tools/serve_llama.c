/* serve_llama.c — llama.cpp's server API over the same scheduler:
 * POST /completion (translated into an OpenAI completion request, answered
 * in llama.cpp's shape), GET/POST /lora-adapters (the default scales used
 * by a /completion that names no `lora`), POST /tokenize, /detokenize.
 * Adapter ids index the registered LoRA adapters (not overlays) in the
 * order GET /lora-adapters lists them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* Index into s->entries of LoRA adapter `id`, or -1. */
static int entry_of_id(const serve_state *s, json_int_t id) {
    json_int_t k = 0;
    for (int i = 0; i < s->n_entries; i++) {
        if (s->entries[i].overlay || s->entries[i].removed) continue;
        if (k++ == id) return i;
    }
    return -1;
}

static json_t *load_object(const char *body, size_t len, serve_reply *r) {
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
    if (!o) {
        serve_reply_error(r, 400, NULL, "malformed JSON body: %s (line %d)", jerr.text, jerr.line);
        return NULL;
    }
    return o;
}

/* Reads a [{id, scale}] list into scales[] (one per entry; unlisted
 * adapters get 0, as llama.cpp does). False: r holds the 400. */
static bool parse_lora_list(const serve_state *s, json_t *list, const char *param, float *scales, serve_reply *r) {
    if (!json_is_array(list)) return serve_reply_error(r, 400, param, "%s must be an array of {id, scale}", param), false;
    for (int i = 0; i < s->n_entries; i++) scales[i] = 0.0f;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) {
        json_t *id = json_object_get(a, "id"), *scale = json_object_get(a, "scale");
        if (!json_is_integer(id) || !json_is_number(scale))
            return serve_reply_error(r, 400, param, "%s[%zu] must be {id: integer, scale: number}", param, i), false;
        int e = entry_of_id(s, json_integer_value(id));
        if (e < 0)
            return serve_reply_error(r, 400, param, "%s[%zu].id %lld is not an adapter (see GET /lora-adapters)",
                                     param, i, (long long)json_integer_value(id)),
                   false;
        double sc = json_number_value(scale);
        if (!isfinite(sc) || fabs(sc) > 1e3)
            return serve_reply_error(r, 400, param, "%s[%zu].scale must be finite, |scale| <= 1000", param, i), false;
        scales[e] = (float)sc;
    }
    return true;
}

static void get_lora_adapters(serve_state *s, serve_reply *r) {
    json_t *list = json_array();
    json_int_t k = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_entries; i++) {
        if (s->entries[i].overlay || s->entries[i].removed) continue;
        json_array_append_new(list, json_pack("{s:I, s:s, s:f}", "id", k++, "path", s->entries[i].name, "scale",
                                              (double)s->lora_scale[i]));
    }
    pthread_mutex_unlock(&s->mu);
    serve_reply_json(r, 200, list);
}

static void set_lora_adapters(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    pthread_mutex_lock(&s->mu);
    float *scales = malloc(((size_t)s->n_entries + 1) * sizeof *scales);
    bool ok = scales && parse_lora_list(s, o, "body", scales, r);
    if (ok) memcpy(s->lora_scale, scales, (size_t)s->n_entries * sizeof *scales);
    pthread_mutex_unlock(&s->mu);
    if (ok) serve_reply_json(r, 200, json_pack("{s:b}", "success", 1));
    else if (!scales) serve_reply_error(r, 500, NULL, "out of memory");
    free(scales);
    json_decref(o);
}

/* Copies `key` from src into dst under `as` when present. */
static void copy_field(json_t *dst, json_t *src, const char *key, const char *as) {
    json_t *v = json_object_get(src, key);
    if (v) json_object_set(dst, as, v);
}

/* llama.cpp's fields -> an OpenAI completion request; NULL: r is the error. */
static json_t *translate(serve_state *s, json_t *o, serve_reply *r) {
    json_t *pr = json_object_get(o, "prompt");
    if (!json_is_string(pr)) {
        serve_reply_error(r, 400, "prompt", "prompt must be a string");
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    float *scales = malloc(((size_t)s->n_entries + 1) * sizeof *scales);
    json_t *q = json_object(), *adapters = json_array();
    if (!scales || !q || !adapters) {
        pthread_mutex_unlock(&s->mu);
        free(scales);
        json_decref(q);
        json_decref(adapters);
        serve_reply_error(r, 500, NULL, "out of memory");
        return NULL;
    }
    json_t *lora = json_object_get(o, "lora");
    bool ok = true;
    if (lora && !json_is_null(lora))
        ok = parse_lora_list(s, lora, "lora", scales, r);
    else
        memcpy(scales, s->lora_scale, (size_t)s->n_entries * sizeof *scales);
    for (int i = 0; ok && i < s->n_entries; i++)
        if (!s->entries[i].overlay && !s->entries[i].removed && scales[i] != 0.0f)
            json_array_append_new(adapters,
                                  json_pack("{s:s, s:f}", "name", s->entries[i].name, "scale", (double)scales[i]));
    pthread_mutex_unlock(&s->mu);
    free(scales);
    if (!ok) {
        json_decref(q);
        json_decref(adapters);
        return NULL;
    }
    json_object_set_new(q, "model", json_string(s->base_name));
    json_object_set_new(q, "adapters", adapters);
    json_object_set(q, "prompt", pr);
    json_t *np = json_object_get(o, "n_predict");
    if (np && !(json_is_integer(np) && json_integer_value(np) < 0)) json_object_set(q, "max_tokens", np);
    static const char *const same[] = {"temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed", "stop",
                                       "stream", "n_probs"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) copy_field(q, o, same[i], same[i]);
    /* llama.cpp's seed -1 means "random": the OpenAI parser's default. */
    json_t *seed = json_object_get(q, "seed");
    if (json_is_integer(seed) && json_integer_value(seed) < 0) json_object_del(q, "seed");
    return q;
}

static void completion(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    if (!json_is_object(o)) {
        json_decref(o);
        return serve_reply_error(r, 400, NULL, "the body must be a JSON object");
    }
    json_t *q = translate(s, o, r);
    if (q) serve_completions_obj(s, q, false, true, r);
    json_decref(q);
    json_decref(o);
}

/* A piece as a string, or its bytes when it is not valid UTF-8 alone. */
static json_t *piece_json(const char *buf, size_t n) {
    json_t *str = json_stringn(buf, n);
    if (str) return str;
    json_t *bytes = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(bytes, json_integer((unsigned char)buf[i]));
    return bytes;
}

static void tokenize(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    json_t *content = json_object_get(o, "content"), *add = json_object_get(o, "add_special"),
           *pieces = json_object_get(o, "with_pieces");
    if (!json_is_string(content) || (add && !json_is_boolean(add)) || (pieces && !json_is_boolean(pieces))) {
        json_decref(o);
        return serve_reply_error(r, 400, "content",
                                 "the body must be {content: string, add_special?: bool, with_pieces?: bool}");
    }
    lorc_error err = {0};
    int32_t *toks = NULL;
    size_t n = 0;
    int flags = LORC_TOKENIZE_PARSE_SPECIAL | (json_is_true(add) ? LORC_TOKENIZE_ADD_BOS : 0);
    if (lorc_tokenize(s->vocab, json_string_value(content), json_string_length(content), flags, &toks, &n, &err) !=
        LORC_OK) {
        json_decref(o);
        return serve_reply_error(r, err.status == LORC_ERR_NOMEM ? 500 : 400, "content", "%s", err.message);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!json_is_true(pieces)) {
            json_array_append_new(list, json_integer(toks[i]));
            continue;
        }
        char small[256];
        int32_t prev = i ? toks[i - 1] : -1;
        int k = lorc_token_to_piece(s->vocab, prev, toks[i], small, sizeof small);
        json_t *piece = k > 0 && (size_t)k <= sizeof small ? piece_json(small, (size_t)k) : json_string("");
        json_array_append_new(list, json_pack("{s:i, s:o}", "id", toks[i], "piece", piece));
    }
    free(toks);
    json_decref(o);
    serve_reply_json(r, 200, json_pack("{s:o}", "tokens", list));
}

static void detokenize(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    json_t *list = json_object_get(o, "tokens");
    if (!json_is_array(list)) {
        json_decref(o);
        return serve_reply_error(r, 400, "tokens", "tokens must be an array of token ids");
    }
    size_t n = json_array_size(list), i;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) {
        json_decref(o);
        return serve_reply_error(r, 500, NULL, "out of memory");
    }
    json_t *v;
    int n_vocab = lorc_vocab_n_tokens(s->vocab);
    json_array_foreach(list, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= n_vocab) {
            free(ids);
            json_decref(o);
            return serve_reply_error(r, 400, "tokens", "tokens[%zu] must be a token id in [0, %d)", i, n_vocab);
        }
        ids[i] = (int32_t)json_integer_value(v);
    }
    json_decref(o);
    lorc_error err = {0};
    char *text = NULL;
    if (lorc_detokenize(s->vocab, ids, n, &text, &err) != LORC_OK) {
        free(ids);
        return serve_reply_error(r, err.status == LORC_ERR_NOMEM ? 500 : 400, "tokens", "%s", err.message);
    }
    free(ids);
    json_t *content = json_string(text);
    free(text);
    if (!content) return serve_reply_error(r, 400, "tokens", "the tokens do not decode to valid UTF-8");
    serve_reply_json(r, 200, json_pack("{s:o}", "content", content));
}

bool serve_llama_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                       serve_reply *r) {
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/lora-adapters")) {
        if (get) return get_lora_adapters(s, r), true;
        if (post) return set_lora_adapters(s, body, len, r), true;
        return serve_reply_error(r, 405, NULL, "%s /lora-adapters: use GET or POST", method), true;
    }
    static const struct {
        const char *url;
        void (*fn)(serve_state *, const char *, size_t, serve_reply *);
    } posts[] = {{"/completion", completion}, {"/tokenize", tokenize}, {"/detokenize", detokenize}};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        if (strcmp(url, posts[i].url)) continue;
        if (!post) return serve_reply_error(r, 405, NULL, "%s %s: use POST", method, url), true;
        return posts[i].fn(s, body, len, r), true;
    }
    return false;
}
