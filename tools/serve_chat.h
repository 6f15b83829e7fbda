/* serve_chat.h — chat messages -> one prompt string for
 * /v1/chat/completions. A stand-in: a fixed ChatML rendering
 * ("<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, then
 * "<|im_start|>assistant\n"), to be replaced by the chat template module
 * (src/text/chat_template) that renders the model's own template. */
#ifndef LORC_TOOLS_SERVE_CHAT_H
#define LORC_TOOLS_SERVE_CHAT_H

#include <jansson.h>

#include "lorc.h"

/* messages: a JSON array of {role, content} with string fields. Returns a
 * malloc'd string, or NULL with err set (LORC_ERR_INVALID naming the bad
 * message). vocab is unused by the ChatML stand-in. */
char *serve_render_chat(const lorc_vocab *vocab, json_t *messages, lorc_error *err);

#endif
