/* detokenize.c — token ids back to text: SentencePiece U+2581 -> ' ' and
 * <0xXX> byte tokens -> raw bytes, byte-level BPE pieces mapped back through
 * the GPT-2 alphabet; control tokens give nothing. A SentencePiece vocab
 * that adds a space prefix has that space stripped again at the start of a
 * sequence and right after BOS, so detokenize(tokenize(s)) == s. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "vocab_internal.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Writes the piece of a token into tmp (piece_bound bytes) and returns its
 * length. */
static size_t piece(const lorc_vocab *v, int32_t token, char *tmp) {
    const vocab_token *t = &v->tokens[token];
    size_t n = 0;
    if (t->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) {
        n = 0;
    } else if (t->attr & TOK_ATTR_USER_DEFINED) {
        memcpy(tmp, t->text, t->len);
        n = t->len;
    } else if (t->attr & TOK_ATTR_NORMAL) {
        if (v->kind == VOCAB_SPM) {
            for (uint32_t i = 0; i < t->len; i++) {
                if (i + 2 < t->len && memcmp(t->text + i, "\xE2\x96\x81", 3) == 0) {
                    tmp[n++] = ' ';
                    i += 2;
                } else {
                    tmp[n++] = t->text[i];
                }
            }
        } else {
            /* each codepoint of the GPT-2 alphabet is one byte; anything
             * else is shown as llama.cpp does, "[UNK_BYTE_0x..]" */
            size_t pos = 0;
            while (pos < t->len) {
                size_t p0 = pos;
                uint32_t cp = uni_decode((const uint8_t *)t->text, t->len, &pos);
                if (cp < 324 && v->bytemap.cp_to_byte[cp] >= 0) {
                    tmp[n++] = (char)v->bytemap.cp_to_byte[cp];
                } else {
                    static const char hex[] = "0123456789abcdef";
                    memcpy(tmp + n, "[UNK_BYTE_0x", 12);
                    n += 12;
                    for (size_t k = p0; k < pos; k++) {
                        tmp[n++] = hex[(uint8_t)t->text[k] >> 4];
                        tmp[n++] = hex[(uint8_t)t->text[k] & 15];
                    }
                    tmp[n++] = ']';
                }
            }
        }
    } else if ((t->attr & TOK_ATTR_BYTE) && t->len == 6 && hexval(t->text[3]) >= 0 && hexval(t->text[4]) >= 0) {
        tmp[n++] = (char)(hexval(t->text[3]) * 16 + hexval(t->text[4]));
    }
    return n;
}

/* Upper bound of a piece's length: "[UNK_BYTE_0x" + 2 hex digits per byte +
 * "]" is at most 21 bytes per input byte. */
static size_t piece_bound(const vocab_token *t) { return (size_t)t->len * 24 + 16; }

static bool strips_space(const lorc_vocab *v, int32_t prev) {
    return v->add_space_prefix && (prev < 0 || prev == v->bos);
}

int lorc_token_to_piece(const lorc_vocab *v, int32_t prev, int32_t token, char *buf, size_t cap) {
    if (!v || token < 0 || token >= v->n_tokens || (!buf && cap)) return LORC_ERR_INVALID;
    char *tmp = malloc(piece_bound(&v->tokens[token]));
    if (!tmp) return LORC_ERR_NOMEM;
    size_t n = piece(v, token, tmp);
    size_t skip = strips_space(v, prev) && n > 0 && tmp[0] == ' ';
    n -= skip;
    if (n > (size_t)INT32_MAX) n = INT32_MAX;
    if (n <= cap && n) memcpy(buf, tmp + skip, n);
    free(tmp);
    return (int)n;
}

/* llama.cpp's clean_up_tokenization_spaces: " ." " ," " !" " ?" lose the
 * space, a lone " ' " loses both, and " 's" " 'm" " 're" " 've" theirs. */
static size_t clean_spaces(char *s, size_t n) {
    if (n == 0) return 0;
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) k--;
        s[k++] = x;
    }
    n = k;
    k = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            k--;
            s[++i] = 0; /* skip the following space (and hide it from the next test) */
        }
        s[k++] = x;
    }
    n = k;
    k = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm') k--;
            else if (i + 2 < n && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e'))) k--;
        }
        s[k++] = x;
    }
    return k;
}

lorc_status lorc_detokenize(const lorc_vocab *v, const int32_t *ids, size_t n, char **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_detokenize: NULL output argument");
    *out = NULL;
    if (!v || (!ids && n)) return lorc_fail(err, LORC_ERR_INVALID, "lorc_detokenize: NULL vocab or ids");
    size_t total = 0, tmp_cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n_tokens)
            return lorc_fail(err, LORC_ERR_INVALID, "detokenize: token %d at position %zu is out of range (0..%d)",
                             (int)ids[i], i, v->n_tokens - 1);
        size_t b = piece_bound(&v->tokens[ids[i]]);
        if (__builtin_add_overflow(total, b, &total) || total >= SIZE_MAX / 2)
            return lorc_fail(err, LORC_ERR_INVALID, "detokenize: %zu tokens are too many", n);
        if (b > tmp_cap) tmp_cap = b;
    }
    char *s = malloc(total + 1);
    char *tmp = malloc(tmp_cap ? tmp_cap : 1);
    if (!s || !tmp) {
        free(s);
        free(tmp);
        return lorc_fail(err, LORC_ERR_NOMEM, "detokenize: out of memory");
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = piece(v, ids[i], tmp);
        /* the prefix space sits on the first token, or the one after BOS */
        bool first_text = ids[0] == v->bos ? i == 1 : i == 0;
        size_t skip = v->add_space_prefix && first_text && pl > 0 && tmp[0] == ' ';
        memcpy(s + len, tmp + skip, pl - skip);
        len += pl - skip;
    }
    free(tmp);
    if (v->clean_spaces) len = clean_spaces(s, len);
    s[len] = 0;
    *out = s;
    return LORC_OK;
}
