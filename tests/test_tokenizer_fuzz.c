/* test_tokenizer_fuzz.c — random inputs (fixed seed) through every vocab:
 * arbitrary bytes (invalid UTF-8, NULs, special-token fragments) must
 * tokenize and detokenize without error or memory fault (run it under
 * ASan), and random valid UTF-8 must round-trip through the vocabs whose
 * detokenizer does no space clean-up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static size_t put_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Codepoints from scripts and classes the pre-tokenizers treat differently. */
static uint32_t random_cp(void) {
    static const char ascii[] = " \t\n\r.,!?'\"-_()[]{}<>|/\\#$%&*+=:;@^`~0123456789abcXYZ";
    switch (rnd(10)) {
    case 0: case 1: case 2: return (uint32_t)ascii[rnd(sizeof ascii - 1)];
    case 3: return 'a' + rnd(26);
    case 4: return 0xC0 + rnd(0x17F - 0xC0);  /* Latin-1 / Extended-A */
    case 5: return 0x430 + rnd(0x20);         /* Cyrillic */
    case 6: return 0x4E00 + rnd(0x200);       /* CJK */
    case 7: return 0x1F600 + rnd(0x50);       /* emoji */
    case 8: return 0x300 + rnd(0x30);         /* combining marks */
    default: {
        static const uint32_t odd[] = {0xA0, 0x3000, 0x2003, 0x200B, 0x200D, 0xFE0F, 0x85, 0xBD, 0x660, 0xFF01, 0x1780};
        return odd[rnd(sizeof odd / sizeof odd[0])];
    }
    }
}

static void fuzz_vocab(const char *rel, bool round_trips) {
    lorc_vocab *v = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_vocab_load(test_shared(rel), &v, &err) == LORC_OK, "%s: %s", rel, err.message);
    if (!v) return;
    char text[512];
    int bad_round = 0;
    for (int it = 0; it < 300; it++) {
        size_t len = 0;
        bool valid = it % 2 == 0;
        size_t want = 1 + rnd(80);
        while (len + 4 < sizeof text && len < want) {
            if (valid) {
                len += put_utf8(random_cp(), text + len);
            } else if (rnd(8) == 0) {
                const char *bits[] = {"<s>", "</s>", "<|", "|>", "<0x0A>", "\xE2\x96\x81", "\xF0\x9F", "\xC3"};
                const char *b = bits[rnd(8)];
                size_t bl = strlen(b);
                if (len + bl < sizeof text) {
                    memcpy(text + len, b, bl);
                    len += bl;
                }
            } else {
                text[len++] = (char)rnd(256);
            }
        }
        int flags = (int)rnd(4);
        int32_t *ids = NULL;
        size_t n = 0;
        lorc_status st = lorc_tokenize(v, text, len, flags, &ids, &n, &err);
        CHECK_MSG(st == LORC_OK, "%s: tokenize failed: %s", rel, err.message);
        for (size_t i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < lorc_vocab_n_tokens(v));
        char *back = NULL;
        st = lorc_detokenize(v, ids, n, &back, &err);
        CHECK_MSG(st == LORC_OK, "%s: detokenize failed: %s", rel, err.message);
        if (valid && round_trips && !(flags & LORC_TOKENIZE_PARSE_SPECIAL) && back &&
            (strlen(back) != len || memcmp(back, text, len) != 0)) {
            if (bad_round++ < 3) fprintf(stderr, "%s: round trip differs for iteration %d\n", rel, it);
            test_failures++;
        }
        test_checks++;
        char piece[8];
        for (size_t i = 0; i < n; i++) CHECK(lorc_token_to_piece(v, i ? ids[i - 1] : -1, ids[i], piece, 8) >= 0);
        free(back);
        free(ids);
    }
    lorc_vocab_free(v);
}

int main(void) {
    fuzz_vocab("models/stories260K.gguf", true);
    fuzz_vocab("tokenizer/ggml-vocab-llama-spm.gguf", true);
    fuzz_vocab("tokenizer/ggml-vocab-deepseek-llm.gguf", true);
    fuzz_vocab("tokenizer/ggml-vocab-gpt-2.gguf", false);
    fuzz_vocab("tokenizer/ggml-vocab-llama-bpe.gguf", false);
    return test_finish("test_tokenizer_fuzz");
}
