/* chat_template.h — built-in chat formats (llama-2, llama-3, chatml, mistral,
 * zephyr, phi-3, gemma): recognising one from a GGUF's Jinja
 * tokenizer.chat_template by its markers, rendering a conversation in it and
 * its stop strings. The public functions are declared in lorc.h; this header
 * only names the family table shared by the implementation. */
#ifndef LORC_TEXT_CHAT_TEMPLATE_H
#define LORC_TEXT_CHAT_TEMPLATE_H

#include "lorc.h"

/* Canonical family name for `name` or one of its aliases ("qwen2" ->
 * "chatml", "llama-3" -> "llama3", ...); NULL when unknown. */
const char *chat_template_canonical(const char *name);

#endif
