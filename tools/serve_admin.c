/* serve_admin.c — adapters loaded and unloaded while serving, with vLLM's
 * names: POST /v1/load_lora_adapter {lora_name, lora_path} (the path must
 * resolve inside an --adapter-dir), POST /v1/unload_lora_adapter
 * {lora_name} (409 while a running request uses it: memory is never freed
 * under a request), GET /v1/adapters (the registry's view of each entry). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

static json_t *load_object(const char *body, size_t len, serve_reply *r) {
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
    if (!o) serve_reply_error(r, 400, NULL, "malformed JSON body: %s (line %d)", jerr.text, jerr.line);
    else if (!json_is_object(o)) {
        json_decref(o);
        o = NULL;
        serve_reply_error(r, 400, NULL, "the body must be a JSON object");
    }
    return o;
}

/* realpath of `path` (relative: against each --adapter-dir in turn) when it
 * lies inside an --adapter-dir; NULL otherwise (r holds the 400). */
static char *resolve_inside(const serve_state *s, const char *path, serve_reply *r) {
    if (s->n_adapter_dirs == 0) {
        serve_reply_error(r, 400, "lora_path", "loading adapters is off: start lorc serve with --adapter-dir DIR");
        return NULL;
    }
    for (int i = 0; i < s->n_adapter_dirs; i++) {
        char joined[PATH_MAX];
        int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                               : snprintf(joined, sizeof joined, "%s/%s", s->adapter_dirs[i], path);
        if (n < 0 || (size_t)n >= sizeof joined) continue;
        char *real = realpath(joined, NULL);
        if (!real) continue;
        for (int d = 0; d < s->n_adapter_dirs; d++) {
            size_t k = strlen(s->adapter_dirs[d]);
            if (!strncmp(real, s->adapter_dirs[d], k) && real[k] == '/') return real;
        }
        free(real);
    }
    serve_reply_error(r, 400, "lora_path", "lora_path '%s' does not resolve to a file inside an --adapter-dir", path);
    return NULL;
}

/* Adds `name` to the served entries (or brings a removed one back). */
static bool add_entry(serve_state *s, const char *name) {
    for (int i = 0; i < s->n_entries; i++)
        if (!strcmp(s->entries[i].name, name)) {
            s->entries[i].removed = false;
            s->entries[i].overlay = false;
            s->lora_scale[i] = 0.0f;
            return true;
        }
    serve_entry *grown = realloc(s->entries, (size_t)(s->n_entries + 1) * sizeof *grown);
    if (!grown) return false;
    s->entries = grown;
    float *scales = realloc(s->lora_scale, (size_t)(s->n_entries + 2) * sizeof *scales);
    if (!scales) return false;
    s->lora_scale = scales;
    char *copy = strdup(name);
    if (!copy) return false;
    grown[s->n_entries] = (serve_entry){copy, false, false};
    scales[s->n_entries++] = 0.0f;
    return true;
}

static void load_adapter(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    json_t *name = json_object_get(o, "lora_name"), *path = json_object_get(o, "lora_path");
    if (!json_is_string(name) || !json_is_string(path) || !json_string_length(name)) {
        json_decref(o);
        return serve_reply_error(r, 400, NULL, "the body must be {lora_name: string, lora_path: string}");
    }
    const char *nm = json_string_value(name);
    if (!strcmp(nm, s->base_name)) {
        /* nm lives in o: answer before letting go of it. */
        serve_reply_error(r, 400, "lora_name", "'%s' is the base model's name", nm);
        return json_decref(o);
    }
    char *real = resolve_inside(s, json_string_value(path), r);
    if (!real) return json_decref(o);
    lorc_error err = {0};
    pthread_mutex_lock(&s->mu);
    lorc_status st = lorc_registry_add(s->reg, nm, real, LORC_ENTRY_AUTO, &err);
    if (st == LORC_OK && !add_entry(s, nm)) {
        lorc_registry_remove(s->reg, nm, &(lorc_error){0});
        st = LORC_ERR_NOMEM;
        snprintf(err.message, sizeof err.message, "out of memory");
    }
    pthread_mutex_unlock(&s->mu);
    free(real);
    if (st != LORC_OK) {
        json_decref(o);
        return serve_reply_error(r, st == LORC_ERR_NOMEM ? 500 : 400, "lora_name", "%s", err.message);
    }
    /* Load it now so that a bad file is refused here, not by a request. */
    lorc_entry_info info = {0};
    if (lorc_registry_prefetch(s->reg, nm, &err) == LORC_OK)
        for (int i = 0; i < 60000; i++) {
            if (lorc_registry_info(s->reg, nm, &info, &err) != LORC_OK || info.state == LORC_ENTRY_READY ||
                info.state == LORC_ENTRY_FAILED || info.loads > 0)
                break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    /* Loaded once proves the file good: under a tight --adapter-mem it may
     * be evicted again before this thread looks. */
    if (info.state != LORC_ENTRY_READY && info.loads == 0) {
        char why[256];
        snprintf(why, sizeof why, "%s",
                 info.state == LORC_ENTRY_FAILED ? info.error : err.message[0] ? err.message : "not loaded within 60 s");
        pthread_mutex_lock(&s->mu);
        lorc_registry_remove(s->reg, nm, &(lorc_error){0});
        for (int i = 0; i < s->n_entries; i++)
            if (!strcmp(s->entries[i].name, nm)) s->entries[i].removed = true;
        pthread_mutex_unlock(&s->mu);
        serve_reply_error(r, 400, "lora_path", "cannot load '%s': %s", nm, why);
        return json_decref(o);
    }
    if (info.kind == LORC_ENTRY_OVERLAY) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->n_entries; i++)
            if (!strcmp(s->entries[i].name, nm)) s->entries[i].overlay = true;
        pthread_mutex_unlock(&s->mu);
    }
    serve_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "loaded", "lora_name", nm));
    json_decref(o);
}

static void unload_adapter(serve_state *s, const char *body, size_t len, serve_reply *r) {
    json_t *o = load_object(body, len, r);
    if (!o) return;
    json_t *name = json_object_get(o, "lora_name");
    if (!json_is_string(name)) {
        json_decref(o);
        return serve_reply_error(r, 400, "lora_name", "the body must be {lora_name: string}");
    }
    const char *nm = json_string_value(name);
    pthread_mutex_lock(&s->mu);
    int at = -1;
    for (int i = 0; i < s->n_entries; i++)
        if (!s->entries[i].removed && !strcmp(s->entries[i].name, nm)) at = i;
    lorc_error err = {0};
    lorc_status st = at < 0 ? LORC_ERR_INVALID : lorc_registry_remove(s->reg, nm, &err);
    if (st == LORC_OK) s->entries[at].removed = true;
    pthread_mutex_unlock(&s->mu);
    if (st == LORC_OK) serve_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "unloaded", "lora_name", nm));
    else if (at < 0) serve_reply_error(r, 404, "lora_name", "no adapter '%s' is loaded", nm);
    else if (st == LORC_ERR_BUSY) serve_reply_error(r, 409, "lora_name", "'%s' is in use by running requests: %s", nm, err.message);
    else serve_reply_error(r, 500, "lora_name", "%s", err.message);
    json_decref(o);
}

static const char *kind_text(lorc_entry_kind k) {
    return k == LORC_ENTRY_LORA ? "lora" : k == LORC_ENTRY_OVERLAY ? "overlay" : "unknown";
}

static const char *state_text(lorc_entry_state st) {
    switch (st) {
    case LORC_ENTRY_COLD: return "cold";
    case LORC_ENTRY_LOADING: return "loading";
    case LORC_ENTRY_READY: return "ready";
    default: return "failed";
    }
}

static void list_adapters(serve_state *s, serve_reply *r) {
    json_t *list = json_array();
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_entries; i++) {
        if (s->entries[i].removed) continue;
        lorc_entry_info info;
        lorc_error err = {0};
        if (lorc_registry_info(s->reg, s->entries[i].name, &info, &err) != LORC_OK) continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:b, s:i, s:i}", "name", s->entries[i].name,
                                              "kind", kind_text(info.kind), "state", state_text(info.state), "bytes",
                                              (json_int_t)info.bytes, "pinned", info.pinned, "refs", info.refs,
                                              "loads", info.loads));
    }
    pthread_mutex_unlock(&s->mu);
    serve_reply_json(r, 200, list);
}

bool serve_admin_route(serve_state *s, const char *method, const char *url, const char *body, size_t len,
                       serve_reply *r) {
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/v1/adapters")) {
        if (!get) return serve_reply_error(r, 405, NULL, "%s /v1/adapters: use GET", method), true;
        return list_adapters(s, r), true;
    }
    bool load = !strcmp(url, "/v1/load_lora_adapter");
    if (load || !strcmp(url, "/v1/unload_lora_adapter")) {
        if (!post) return serve_reply_error(r, 405, NULL, "%s %s: use POST", method, url), true;
        if (load) load_adapter(s, body, len, r);
        else unload_adapter(s, body, len, r);
        return true;
    }
    return false;
}
