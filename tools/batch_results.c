/* batch_results.c — one result line of `lorc batch`: the finished request
 * (text, token counts, finish reason, timings) or a refused line's error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch_requests.h"

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

/* The text as a JSON string. Tokens may end in the middle of a character
 * (a byte-fallback token, a max_tokens cut), and JSON text must be UTF-8,
 * so each byte that does not start a valid sequence becomes U+FFFD. */
static json_t *text_json(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    char *clean = malloc(3 * len + 1);
    if (!clean) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_valid_len(s + i, len - i);
        if (k == 0) {
            memcpy(clean + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        } else {
            memcpy(clean + w, s + i, k);
            w += k;
            i += k;
        }
    }
    json_t *j = json_stringn(clean, w);
    free(clean);
    return j;
}

static const char *finish_name(lorc_finish_reason f) {
    switch (f) {
    case LORC_FINISH_EOG: return "stop";
    case LORC_FINISH_LENGTH: return "length";
    case LORC_FINISH_CANCELLED: return "cancelled";
    default: return "error";
    }
}

static json_t *str_json(const char *s) { return text_json(s, strlen(s)); }

static json_t *result_object(const batch_line *l, const lorc_event *ev) {
    json_t *o = json_object();
    if (!o) return NULL;
    bool ok = json_object_set(o, "id", l->id) == 0;
    if (!ev) {
        ok = ok && json_object_set_new(o, "error", str_json(l->error ? l->error : "refused")) == 0;
    } else {
        ok = ok && json_object_set_new(o, "text", text_json(l->text.data ? l->text.data : "", l->text.len)) == 0 &&
             json_object_set_new(o, "prompt_tokens", json_integer(ev->n_prompt)) == 0 &&
             json_object_set_new(o, "cached_tokens", json_integer(ev->n_cached)) == 0 &&
             json_object_set_new(o, "completion_tokens", json_integer(ev->n_generated)) == 0 &&
             json_object_set_new(o, "finish_reason", json_string(finish_name(ev->finish))) == 0 &&
             json_object_set_new(o, "timings",
                                 json_pack("{s:f, s:f, s:f}", "queue_ms", ev->queue_ms, "prompt_ms", ev->prompt_ms,
                                           "gen_ms", ev->gen_ms)) == 0;
        if (ok && ev->finish == LORC_FINISH_ERROR) {
            char msg[600];
            snprintf(msg, sizeof msg, "line %d: %s", l->line_no, ev->message ? ev->message : "failed");
            ok = json_object_set_new(o, "error", str_json(msg)) == 0;
        }
    }
    if (ok) return o;
    json_decref(o);
    return NULL;
}

bool batch_write_result(FILE *fp, const batch_line *l, const lorc_event *ev) {
    json_t *o = result_object(l, ev);
    if (!o) return false;
    /* id first, as it was built; timings to 6 significant digits (not 17). */
    size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6);
    bool ok = json_dumpf(o, fp, flags) == 0 && fputc('\n', fp) != EOF;
    json_decref(o);
    return ok;
}
