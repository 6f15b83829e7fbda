/* fingerprint.c — xxhash64 of a GGUF tensor table and of tensor bytes.
 * Hashing is streamed so no copy of the table is built. */
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack: no allocation, no failure path */
#include "fingerprint.h"

#include <string.h>
#include <xxhash.h>

static void put_le(XXH64_state_t *st, uint64_t v, int nbytes) {
    uint8_t b[8];
    for (int i = 0; i < nbytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    XXH64_update(st, b, (size_t)nbytes);
}

uint64_t lorc_fingerprint_table(const gguf_file *f) {
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        XXH64_update(&st, t->name, strlen(t->name) + 1);
        put_le(&st, t->type, 4);
        put_le(&st, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&st, (uint64_t)t->ne[d], 8);
    }
    return XXH64_digest(&st);
}

uint64_t lorc_fingerprint_bytes(const void *data, size_t n) { return XXH64(n ? data : "", n, 0); }

void lorc_fingerprint_to_hex(uint64_t fp, char buf[LORC_FINGERPRINT_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < LORC_FINGERPRINT_HEX_LEN; i++) buf[i] = digits[(fp >> (60 - 4 * i)) & 0xf];
    buf[LORC_FINGERPRINT_HEX_LEN] = '\0';
}

bool lorc_fingerprint_from_hex(const char *s, size_t len, uint64_t *out) {
    if (len != LORC_FINGERPRINT_HEX_LEN) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}
