/* utf8_check.c — UTF-8 checks a server needs around detokenized pieces: a
 * token can end in the middle of a character (byte-fallback and byte-level
 * BPE tokens), so streamed text must hold back an incomplete tail, and
 * llama.cpp's /tokenize "with_pieces" returns a piece as a string only when
 * it is valid UTF-8 (as a byte list otherwise). */
#include <stdint.h>

#include "lorc.h"

/* Length of the sequence announced by a lead byte, 0 when `c` cannot start
 * one (a continuation byte or F8..FF). */
static size_t lead_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 0;
}

size_t lorc_utf8_complete_len(const char *s, size_t n) {
    if (!s) return 0;
    const uint8_t *u = (const uint8_t *)s;
    /* look back at most 3 bytes for the lead of a sequence cut short */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = u[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking */
        size_t want = lead_len(c);
        return want > back ? n - back : n;
    }
    return n;
}

bool lorc_utf8_valid(const char *s, size_t n) {
    if (!s) return n == 0;
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t len = lead_len(u[i]);
        if (len == 0 || len > n - i) return false;
        uint32_t cp = len == 1 ? u[i] : (uint32_t)(u[i] & (0x7F >> len));
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
        i += len;
    }
    return true;
}
