/* unicode.c — UTF-8 decoding/encoding with llama.cpp's error handling, the
 * White_Space set, and the GPT-2 byte alphabet. */
#include "unicode.h"

static bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

uint32_t uni_decode(const uint8_t *s, size_t len, size_t *pos) {
    size_t i = *pos;
    uint8_t b0 = s[i];
    size_t need;
    uint32_t cp;
    if (b0 < 0x80) {
        *pos = i + 1;
        return b0;
    } else if ((b0 & 0x40) == 0) {
        need = 0; /* stray continuation byte */
        cp = 0;
    } else if ((b0 & 0x20) == 0) {
        need = 2;
        cp = b0 & 0x1Fu;
    } else if ((b0 & 0x10) == 0) {
        need = 3;
        cp = b0 & 0x0Fu;
    } else if ((b0 & 0x08) == 0) {
        need = 4;
        cp = b0 & 0x07u;
    } else {
        need = 0;
        cp = 0;
    }
    if (need == 0 || len - i < need) {
        *pos = i + 1;
        return UNI_REPLACEMENT;
    }
    for (size_t k = 1; k < need; k++) {
        if (!is_cont(s[i + k])) {
            *pos = i + 1;
            return UNI_REPLACEMENT;
        }
        cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    *pos = i + need;
    return cp;
}

size_t uni_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF) cp = UNI_REPLACEMENT;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

bool uni_is_whitespace(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

static bool byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

void uni_byte_map_init(uni_byte_map *m) {
    for (int i = 0; i < 324; i++) m->cp_to_byte[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int cp = byte_is_printable(b) ? b : 256 + extra++;
        m->byte_to_cp[b] = (uint16_t)cp;
        m->cp_to_byte[cp] = (int16_t)b;
    }
}
