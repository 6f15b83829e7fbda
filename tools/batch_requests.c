/* batch_requests.c — one JSONL line of `lorc batch` into a request: every
 * field checked for its type and range, a bad one named in the line's
 * error. Unknown fields are ignored, so evaluation sets may carry their own
 * (expected answers, metadata). */
#include "batch_requests.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

lorc_sampler_params batch_default_sampling(void) {
    lorc_sampler_params p = lorc_sampler_default_params();
    p.temp = 0.0f; /* evaluations want the same text on every run */
    return p;
}

bool batch_line_fail(batch_line *l, const char *message) {
    free(l->error);
    size_t n = strlen(message) + 32;
    l->error = malloc(n);
    if (!l->error) return false;
    snprintf(l->error, n, "line %d: %s", l->line_no, message);
    return true;
}

void batch_line_free(batch_line *l) {
    json_decref(l->id);
    free(l->error);
    free(l->prompt);
    for (int i = 0; i < l->n_adapters; i++) free((char *)l->adapters[i].name);
    free(l->overlay);
    text_buf_free(&l->text);
    memset(l, 0, sizeof *l);
}

/* A field's problem as the line's error; returns false so callers can
 * `return fail_field(...)`. Out of memory leaves error NULL, which the
 * caller checks. */
static bool fail_fmt(batch_line *l, const char *fmt, const char *field) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, field);
    batch_line_fail(l, msg);
    return false;
}

static bool get_number(batch_line *l, json_t *obj, const char *key, double *out, bool *given) {
    json_t *v = json_object_get(obj, key);
    *given = v != NULL;
    if (!v) return true;
    if (!json_is_number(v)) return fail_fmt(l, "field '%s' must be a number", key);
    *out = json_number_value(v);
    return true;
}

/* An integer field within [lo, hi]. */
static bool get_int(batch_line *l, json_t *obj, const char *key, long long lo, long long hi, long long *out,
                    bool *given) {
    json_t *v = json_object_get(obj, key);
    *given = v != NULL;
    if (!v) return true;
    if (!json_is_integer(v)) return fail_fmt(l, "field '%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        char msg[256];
        snprintf(msg, sizeof msg, "field '%s' is %lld, outside %lld..%lld", key, x, lo, hi);
        batch_line_fail(l, msg);
        return false;
    }
    *out = x;
    return true;
}

/* Float sampling fields; their ranges are the sampler's to judge (its
 * message names the parameter), this only checks the type. */
static bool get_float(batch_line *l, json_t *obj, const char *key, float *out) {
    double d = 0;
    bool given = false;
    if (!get_number(l, obj, key, &d, &given)) return false;
    if (given) {
        if (!isfinite(d) || fabs(d) > 3.0e38) return fail_fmt(l, "field '%s' is out of range", key);
        *out = (float)d;
    }
    return true;
}

static bool parse_sampling(batch_line *l, json_t *obj) {
    lorc_sampler_params *p = &l->sampling;
    if (!get_float(l, obj, "temperature", &p->temp) || !get_float(l, obj, "top_p", &p->top_p) ||
        !get_float(l, obj, "min_p", &p->min_p) || !get_float(l, obj, "repeat_penalty", &p->repeat_penalty))
        return false;
    long long x = 0;
    bool given = false;
    if (!get_int(l, obj, "top_k", 0, INT32_MAX, &x, &given)) return false;
    if (given) p->top_k = (int)x;
    if (!get_int(l, obj, "repeat_last_n", -1, LORC_SAMPLER_MAX_LAST_N, &x, &given)) return false;
    if (given) p->repeat_last_n = (int)x;
    if (!get_int(l, obj, "seed", 0, INT64_MAX, &x, &given)) return false;
    if (given) p->seed = (uint64_t)x;
    if (!get_int(l, obj, "max_tokens", 0, INT32_MAX, &x, &given)) return false;
    if (given) l->max_tokens = (long)x;
    return true;
}

static bool add_adapter(batch_line *l, const char *name, double scale) {
    if (l->n_adapters == BATCH_MAX_ADAPTERS) {
        char msg[128];
        snprintf(msg, sizeof msg, "more than %d adapters", BATCH_MAX_ADAPTERS);
        batch_line_fail(l, msg);
        return false;
    }
    if (!*name) return fail_fmt(l, "an adapter name is empty%s", "");
    char *copy = strdup(name);
    if (!copy) return false;
    l->adapters[l->n_adapters].name = copy;
    l->adapters[l->n_adapters].scale = (float)scale;
    l->n_adapters++;
    return true;
}

/* "adapter": "name"  or  "adapters": [{"name": "a", "scale": 0.5}, ...]. */
static bool parse_adapters(batch_line *l, json_t *obj) {
    json_t *one = json_object_get(obj, "adapter"), *many = json_object_get(obj, "adapters");
    if (one && many) return fail_fmt(l, "give 'adapter' or 'adapters', not both%s", "");
    if (one && !json_is_null(one)) {
        if (!json_is_string(one)) return fail_fmt(l, "field '%s' must be a string (an adapter name)", "adapter");
        return add_adapter(l, json_string_value(one), 1.0);
    }
    if (!many || json_is_null(many)) return true;
    if (!json_is_array(many)) return fail_fmt(l, "field '%s' must be an array of {name, scale}", "adapters");
    size_t i;
    json_t *a;
    json_array_foreach(many, i, a) {
        char msg[160];
        json_t *name = json_is_object(a) ? json_object_get(a, "name") : NULL;
        json_t *scale = json_is_object(a) ? json_object_get(a, "scale") : NULL;
        if (!json_is_string(name) || (scale && !json_is_number(scale))) {
            snprintf(msg, sizeof msg, "adapters[%zu] must be {\"name\": string, \"scale\": number}", i);
            batch_line_fail(l, msg);
            return false;
        }
        double s = scale ? json_number_value(scale) : 1.0;
        if (!isfinite(s) || fabs(s) > 3.0e38) {
            snprintf(msg, sizeof msg, "adapters[%zu].scale is out of range", i);
            batch_line_fail(l, msg);
            return false;
        }
        if (!add_adapter(l, json_string_value(name), s)) return false;
    }
    return true;
}

static bool parse_object(batch_line *l, json_t *obj) {
    json_t *id = json_object_get(obj, "id");
    if (id) {
        if (!json_is_string(id) && !json_is_number(id))
            return fail_fmt(l, "field '%s' must be a string or a number", "id");
        json_decref(l->id);
        l->id = json_incref(id);
    }
    json_t *prompt = json_object_get(obj, "prompt");
    if (!prompt) return fail_fmt(l, "missing field '%s'", "prompt");
    if (!json_is_string(prompt)) return fail_fmt(l, "field '%s' must be a string", "prompt");
    if (!(l->prompt = strdup(json_string_value(prompt)))) return false;
    if (!parse_adapters(l, obj)) return false;
    json_t *overlay = json_object_get(obj, "overlay");
    if (overlay && !json_is_null(overlay)) {
        if (!json_is_string(overlay) || !*json_string_value(overlay))
            return fail_fmt(l, "field '%s' must be a non-empty string (an overlay name)", "overlay");
        if (!(l->overlay = strdup(json_string_value(overlay)))) return false;
    }
    return parse_sampling(l, obj);
}

bool batch_line_parse(const char *text, size_t len, int line_no, batch_line *out) {
    memset(out, 0, sizeof *out);
    out->line_no = line_no;
    out->max_tokens = -1;
    out->sampling = batch_default_sampling();
    out->prev = -1;
    if (!(out->id = json_null())) return false;
    json_error_t je;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!obj) {
        char msg[300];
        snprintf(msg, sizeof msg, "malformed JSON at column %d: %s", je.column, je.text);
        return batch_line_fail(out, msg);
    }
    bool ok = true;
    if (!json_is_object(obj))
        fail_fmt(out, "a request must be a JSON object%s", "");
    else if (!parse_object(out, obj))
        ok = out->error != NULL; /* a refused line has its message; none means out of memory */
    json_decref(obj);
    return ok;
}
