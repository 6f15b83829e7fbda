/* fuzz_tokenizer.c — libFuzzer target for the tokenizer: the first byte picks
 * one of the shared vocabs and the tokenize flags, the rest is the text.
 * Any bytes must tokenize to in-range ids, and every id list must detokenize
 * (whole and piece by piece) without error. The round trip text -> ids -> text
 * must give the text back when it must hold: valid UTF-8 without NUL (the
 * detokenized text is a C string), special tokens not parsed (their text
 * maps to control tokens that print as ""), and a vocab that does not clean
 * up spaces (clean_up_tokenization_spaces rewrites " ." to "."), and for
 * SentencePiece vocabs no U+2581 in the text (SentencePiece writes a space as
 * U+2581, so a literal one reads back as a space). The vocabs
 * come from $LORC_SHARED/ (scripts/fuzz.sh sets it). */
// fuzz-options: -max_len=512 -timeout=20
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "text/vocab_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vocab_files[] = {
    "models/stories260K.gguf",            "tokenizer/ggml-vocab-llama-spm.gguf",
    "tokenizer/ggml-vocab-deepseek-llm.gguf", "tokenizer/ggml-vocab-gpt-2.gguf",
    "tokenizer/ggml-vocab-llama-bpe.gguf",
};
enum { N_VOCABS = sizeof vocab_files / sizeof vocab_files[0] };

/* Loaded once per fuzzer process; freed at exit by the OS. */
static lorc_vocab *vocab_at(size_t i) {
    static lorc_vocab *loaded[N_VOCABS];
    if (!loaded[i]) {
        const char *shared = getenv("LORC_SHARED");
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", shared ? shared : "../shared", vocab_files[i]);
        lorc_error err = {0};
        if (lorc_vocab_load(path, &loaded[i], &err) != LORC_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err.message);
            abort();
        }
    }
    return loaded[i];
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const lorc_vocab *v = vocab_at(data[0] % N_VOCABS);
    int flags = (data[0] / N_VOCABS) & (LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    int32_t *ids = NULL;
    size_t n = 0;
    lorc_error err = {0};
    if (lorc_tokenize(v, text, len, flags, &ids, &n, &err) != LORC_OK) {
        fprintf(stderr, "tokenize failed: %s\n", err.message);
        abort(); /* every byte string has a tokenization (byte fallback / byte-level BPE) */
    }
    int n_vocab = lorc_vocab_n_tokens(v);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) abort();

    char *back = NULL;
    if (lorc_detokenize(v, ids, n, &back, &err) != LORC_OK || !back) {
        fprintf(stderr, "detokenize failed: %s\n", err.message);
        abort();
    }
    int must_round_trip = !(flags & LORC_TOKENIZE_PARSE_SPECIAL) && !v->clean_spaces && !memchr(text, 0, len) &&
                          valid_utf8((const uint8_t *)text, len) &&
                          !(v->kind == VOCAB_SPM && memmem(text, len, "\xE2\x96\x81", 3));
    if (must_round_trip && (strlen(back) != len || memcmp(back, text, len) != 0)) {
        fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", len, strlen(back));
        abort();
    }

    char piece[16];
    for (size_t i = 0; i < n; i++) {
        int got = lorc_token_to_piece(v, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
        if (got < 0) abort();
        if ((size_t)got > sizeof piece) { /* needs more room: the retry must fit exactly */
            char *big = malloc((size_t)got);
            if (!big || lorc_token_to_piece(v, i ? ids[i - 1] : -1, ids[i], big, (size_t)got) != got) abort();
            free(big);
        }
    }
    /* Random ids (from the input bytes) must detokenize too. */
    size_t n_rand = len / 4;
    int32_t *rand_ids = malloc((n_rand ? n_rand : 1) * sizeof *rand_ids);
    if (!rand_ids) abort();
    for (size_t i = 0; i < n_rand; i++) {
        uint32_t x;
        memcpy(&x, text + 4 * i, 4);
        rand_ids[i] = (int32_t)(x % (uint32_t)n_vocab);
    }
    char *rand_text = NULL;
    if (lorc_detokenize(v, rand_ids, n_rand, &rand_text, &err) != LORC_OK) abort();
    free(rand_text);
    free(rand_ids);
    free(back);
    free(ids);
    return 0;
}
