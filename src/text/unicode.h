/* unicode.h — the little Unicode the tokenizers need: lenient UTF-8
 * decoding (llama.cpp's rules: each bad byte becomes U+FFFD), encoding,
 * the White_Space set, and GPT-2's byte <-> printable-codepoint mapping. */
#ifndef LORC_TEXT_UNICODE_H
#define LORC_TEXT_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNI_REPLACEMENT 0xFFFDu

/* Bytes in the UTF-8 sequence a lead byte announces (1..4), judged only by
 * its high nibble: stray continuation bytes count as 1, F8..FF as 4. The
 * SentencePiece and BPE symbol splitters use this, clamped to what is left. */
static inline size_t uni_seq_len(uint8_t lead) {
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[lead >> 4];
}

/* Decodes one codepoint at s[*pos] (< len) and advances *pos. A malformed or
 * truncated sequence yields U+FFFD and consumes exactly one byte. Overlong
 * forms and surrogates are not rejected (llama.cpp does not either). */
uint32_t uni_decode(const uint8_t *s, size_t len, size_t *pos);

/* Writes the UTF-8 encoding of cp (codepoints above U+10FFFF become U+FFFD)
 * into out[4] and returns its length. */
size_t uni_encode(uint32_t cp, uint8_t *out);

/* Unicode White_Space (the set llama.cpp's tables use). */
bool uni_is_whitespace(uint32_t cp);

/* GPT-2 byte-level alphabet: every byte maps to a printable codepoint
 * (0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF map to themselves; the other 68 bytes
 * to 0x100.. in byte order). */
typedef struct uni_byte_map {
    uint16_t byte_to_cp[256];
    int16_t cp_to_byte[324]; /* -1 where the codepoint is not in the alphabet */
} uni_byte_map;

void uni_byte_map_init(uni_byte_map *m);

#endif
