/* test_utf8_helpers.c — lorc_utf8_complete_len holds back exactly an
 * incomplete trailing character (of 2, 3 and 4 bytes) and nothing else;
 * lorc_utf8_valid accepts UTF-8 and refuses truncation, stray continuation
 * bytes, overlongs, surrogates and values past U+10FFFF; both on real
 * pieces of the stories260K vocab (byte-fallback tokens for characters it lacks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static void test_complete_len(void) {
    const char *euro = "\xE2\x82\xAC"; /* U+20AC, 3 bytes */
    const char *emoji = "\xF0\x9F\x98\x80"; /* U+1F600, 4 bytes */
    char buf[16];
    CHECK(lorc_utf8_complete_len("", 0) == 0);
    CHECK(lorc_utf8_complete_len("abc", 3) == 3);
    for (size_t k = 0; k <= 3; k++) {
        memcpy(buf, "ab", 2);
        memcpy(buf + 2, euro, k);
        CHECK_MSG(lorc_utf8_complete_len(buf, 2 + k) == (k == 3 ? 5 : 2), "euro cut at %zu", k);
    }
    for (size_t k = 0; k <= 4; k++) {
        memcpy(buf, "x", 1);
        memcpy(buf + 1, emoji, k);
        CHECK_MSG(lorc_utf8_complete_len(buf, 1 + k) == (k == 4 ? 5 : 1), "emoji cut at %zu", k);
    }
    CHECK(lorc_utf8_complete_len("\xC3", 1) == 0);
    CHECK(lorc_utf8_complete_len("\xC3\xA9", 2) == 2);
    /* invalid bytes are passed on, not held forever */
    CHECK(lorc_utf8_complete_len("a\x80", 2) == 2);
    CHECK(lorc_utf8_complete_len("a\xFF", 2) == 2);
    CHECK(lorc_utf8_complete_len("\x80\x80\x80\x80", 4) == 4);
}

static void test_valid(void) {
    CHECK(lorc_utf8_valid("", 0));
    CHECK(lorc_utf8_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15));
    CHECK(!lorc_utf8_valid("\xE2\x82", 2));         /* truncated */
    CHECK(!lorc_utf8_valid("\x80", 1));             /* stray continuation */
    CHECK(!lorc_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    CHECK(!lorc_utf8_valid("\xED\xA0\x80", 3));     /* surrogate D800 */
    CHECK(!lorc_utf8_valid("\xF4\x90\x80\x80", 4)); /* U+110000 */
    CHECK(!lorc_utf8_valid("\xC3(", 2));            /* lead without continuation */
    CHECK(!lorc_utf8_valid("\xFE", 1));
}

/* stories260K splits non-ASCII text into byte-fallback tokens: pieces alone
 * are not valid, their concatenation is, and the stream helper releases the
 * character once its last byte arrives. */
static void test_real_pieces(void) {
    lorc_vocab *v = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_vocab_load(test_shared("models/stories260K.gguf"), &v, &err) == LORC_OK, "%s", err.message);
    if (!v) return;
    const char *text = "ok \xF0\x9F\x98\x80\xE6\x97\xA5"; /* U+1F600 U+65E5: not in this vocab */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(lorc_tokenize(v, text, strlen(text), 0, &ids, &n, &err) == LORC_OK);
    char stream[64] = {0};
    size_t len = 0, sent = 0, invalid_pieces = 0, held = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[32];
        int m = lorc_token_to_piece(v, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        CHECK(m >= 0 && (size_t)m < sizeof piece);
        if (m < 0) break;
        if (!lorc_utf8_valid(piece, (size_t)m)) invalid_pieces++;
        CHECK(len + (size_t)m < sizeof stream);
        memcpy(stream + len, piece, (size_t)m);
        len += (size_t)m;
        size_t ok = lorc_utf8_complete_len(stream, len);
        CHECK(ok >= sent && lorc_utf8_valid(stream, ok));
        held += ok < len;
        sent = ok;
    }
    CHECK_MSG(invalid_pieces == 7, "%zu byte pieces", invalid_pieces); /* 4 + 3 byte-fallback tokens */
    CHECK_MSG(held == 5, "held back %zu times", held); /* after 3 bytes of U+1F600, 2 of U+65E5 */
    CHECK(sent == len && lorc_utf8_valid(stream, len));
    free(ids);
    lorc_vocab_free(v);
}

int main(void) {
    test_complete_len();
    test_valid();
    test_real_pieces();
    return test_finish("test_utf8_helpers");
}
