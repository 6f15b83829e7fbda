/* text_buf.c — see text_buf.h. */
#include "text_buf.h"

#include <stdlib.h>
#include <string.h>

/* Room for `more` bytes and the NUL. */
static bool reserve(text_buf *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) return false;
    b->data = grown;
    b->cap = cap;
    return true;
}

bool text_buf_append(text_buf *b, const char *bytes, size_t n) {
    if (!reserve(b, n)) return false;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

long text_buf_append_token(text_buf *b, const lorc_vocab *vocab, int32_t prev, int32_t token) {
    /* Most pieces are short: write in place, and grow and write again only
     * when the room left was too small (the call then says how much). */
    if (!reserve(b, 32)) return -1;
    size_t room = b->cap - b->len - 1;
    int n = lorc_token_to_piece(vocab, prev, token, b->data + b->len, room);
    if (n <= 0) {
        b->data[b->len] = '\0';
        return 0;
    }
    if ((size_t)n > room) {
        if (!reserve(b, (size_t)n)) {
            b->data[b->len] = '\0';
            return -1;
        }
        n = lorc_token_to_piece(vocab, prev, token, b->data + b->len, (size_t)n);
        if (n <= 0) {
            b->data[b->len] = '\0';
            return 0;
        }
    }
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    return n;
}

void text_buf_cut(text_buf *b, size_t len) {
    if (len >= b->len) return;
    b->len = len;
    b->data[len] = '\0';
}

void text_buf_free(text_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
