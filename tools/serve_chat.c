/* serve_chat.c — see serve_chat.h. */
#include <stdlib.h>

#include "base/error.h"
#include "serve_chat.h"

char *serve_render_chat(const char *template_name, json_t *messages, lorc_error *err) {
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        lorc_fail(err, LORC_ERR_INVALID, "messages must be a non-empty array");
        return NULL;
    }
    const size_t n = json_array_size(messages);
    if (n > 4096) {
        lorc_fail(err, LORC_ERR_INVALID, "messages: %zu messages, at most 4096", n);
        return NULL;
    }
    lorc_chat_message *msgs = calloc(n, sizeof *msgs);
    if (!msgs) {
        lorc_fail(err, LORC_ERR_NOMEM, "out of memory rendering %zu messages", n);
        return NULL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        msgs[i].role = json_string_value(json_object_get(m, "role"));
        msgs[i].content = json_string_value(json_object_get(m, "content"));
        if (!json_is_object(m) || !msgs[i].role || !msgs[i].content) {
            lorc_fail(err, LORC_ERR_INVALID, "messages[%zu] needs string fields role and content", i);
            free(msgs);
            return NULL;
        }
    }
    char *out = NULL;
    if (lorc_chat_apply(template_name, msgs, (int)n, true, &out, err) != LORC_OK) out = NULL;
    free(msgs);
    return out;
}
