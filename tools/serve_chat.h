/* serve_chat.h — chat messages -> one prompt string for
 * /v1/chat/completions, in the model's chat format (src/text/chat_template:
 * detected from the GGUF's tokenizer.chat_template, or --chat-template). */
#ifndef LORC_TOOLS_SERVE_CHAT_H
#define LORC_TOOLS_SERVE_CHAT_H

#include <jansson.h>

#include "lorc.h"

/* messages: a JSON array of {role, content} with string fields, rendered in
 * format `template_name` with the assistant's turn header at the end.
 * Returns a malloc'd string, or NULL with err set (LORC_ERR_INVALID naming
 * the bad message or role). */
char *serve_render_chat(const char *template_name, json_t *messages, lorc_error *err);

#endif
