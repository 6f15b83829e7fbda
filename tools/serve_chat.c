/* serve_chat.c — the ChatML stand-in of serve_chat.h (see there). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "serve_chat.h"

char *serve_render_chat(const lorc_vocab *vocab, json_t *messages, lorc_error *err) {
    (void)vocab;
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        lorc_fail(err, LORC_ERR_INVALID, "messages must be a non-empty array");
        return NULL;
    }
    size_t total = 64, i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!json_is_object(m) || !role || !content) {
            lorc_fail(err, LORC_ERR_INVALID, "messages[%zu] needs string fields role and content", i);
            return NULL;
        }
        total += strlen(role) + strlen(content) + 32;
    }
    char *out = malloc(total), *p = out;
    if (!out) {
        lorc_fail(err, LORC_ERR_NOMEM, "out of memory rendering %zu messages", json_array_size(messages));
        return NULL;
    }
    json_array_foreach(messages, i, m) {
        p += sprintf(p, "<|im_start|>%s\n%s<|im_end|>\n", json_string_value(json_object_get(m, "role")),
                     json_string_value(json_object_get(m, "content")));
    }
    strcpy(p, "<|im_start|>assistant\n");
    return out;
}
