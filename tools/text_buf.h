/* text_buf.h — a growable NUL-terminated string: the text a request
 * generates, token by token (lorc batch, lorc serve). */
#ifndef LORC_TOOLS_TEXT_BUF_H
#define LORC_TOOLS_TEXT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorc.h"

typedef struct text_buf {
    char *data; /* NULL until something is appended; then NUL-terminated */
    size_t len, cap;
} text_buf;

/* False: out of memory (the text is unchanged). */
bool text_buf_append(text_buf *b, const char *bytes, size_t n);
/* Appends the text of `token` after `prev` (lorc_token_to_piece). Returns
 * the bytes added (0 for a token with no text), -1 when out of memory. */
long text_buf_append_token(text_buf *b, const lorc_vocab *vocab, int32_t prev, int32_t token);
/* Keeps the first len bytes (len <= b->len). */
void text_buf_cut(text_buf *b, size_t len);
void text_buf_free(text_buf *b);

#endif
