/* bpe.c — byte-level BPE (tokenizer.ggml.model "gpt2"): the pre-tokenizer
 * splits the text into words, each word's UTF-8 bytes are mapped to GPT-2's
 * printable alphabet, and adjacent symbols are merged by merge rank (lowest
 * first, leftmost on ties) as in llama.cpp's llm_tokenizer_bpe. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "bigram.h"
#include "vocab_internal.h"

typedef struct bpe_scratch {
    sym *syms;
    bigram_queue q;
    char *key; /* "left right" lookup key */
    size_t key_cap;
} bpe_scratch;

/* Queues (left, right) when "left right" is a merge. */
static bool try_pair(const lorc_vocab *v, const char *word, const sym *syms, int32_t left, int32_t right,
                     bpe_scratch *s) {
    if (left < 0 || right < 0) return true;
    uint32_t ln = syms[left].n, rn = syms[right].n;
    memcpy(s->key, word + syms[left].start, ln);
    s->key[ln] = ' ';
    memcpy(s->key + ln + 1, word + syms[right].start, rn);
    int32_t rank = strmap_get(&v->merge_ranks, s->key, (size_t)ln + 1 + rn);
    if (rank < 0) return true;
    bigram b = {(double)rank, left, right, ln + rn};
    return bigram_push(&s->q, b);
}

/* A symbol that is not a token is emitted byte by byte, keeping only the
 * bytes that are one-byte tokens themselves (llama.cpp does the same). */
static bool emit_symbol(const lorc_vocab *v, const char *s, uint32_t n, tokvec *out) {
    int32_t id = vocab_lookup(v, s, n);
    if (id >= 0) return tokvec_push(out, id);
    for (uint32_t i = 0; i < n; i++) {
        id = vocab_lookup(v, s + i, 1);
        if (id >= 0 && !tokvec_push(out, id)) return false;
    }
    return true;
}

/* Merges one byte-encoded word and appends its tokens. */
static bool bpe_word(const lorc_vocab *v, const char *word, size_t len, bpe_scratch *s, tokvec *out) {
    if (v->ignore_merges) {
        int32_t id = vocab_lookup(v, word, len);
        if (id >= 0) return tokvec_push(out, id);
    }
    if (len + 1 > s->key_cap) {
        char *nk = realloc(s->key, len + 1);
        if (!nk) return false;
        s->key = nk;
        s->key_cap = len + 1;
    }
    free(s->syms);
    size_t n = sym_split(word, len, &s->syms);
    if (!n) return false;
    s->q.n = 0;
    for (size_t i = 1; i < n; i++)
        if (!try_pair(v, word, s->syms, (int32_t)i - 1, (int32_t)i, s)) return false;
    bigram b;
    sym *syms = s->syms;
    while (bigram_pop(&s->q, &b)) {
        if (syms[b.left].n == 0 || syms[b.right].n == 0 || syms[b.left].n + syms[b.right].n != b.size) continue;
        sym_merge(syms, b.left, b.right);
        if (!try_pair(v, word, syms, syms[b.left].prev, b.left, s) ||
            !try_pair(v, word, syms, b.left, syms[b.left].next, s))
            return false;
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next)
        if (!emit_symbol(v, word + syms[i].start, syms[i].n, out)) return false;
    return true;
}

lorc_status bpe_tokenize(const lorc_vocab *v, const char *text, size_t len, tokvec *out, lorc_error *err) {
    if (len == 0) return LORC_OK;
    lorc_status st = LORC_OK;
    uint32_t *cps = malloc(len * sizeof *cps);
    size_t *lens = NULL, n_words = 0;
    char *word = NULL;
    bpe_scratch s = {0};
    if (!cps) goto oom;
    size_t n_cps = 0;
    for (size_t pos = 0; pos < len;) cps[n_cps++] = uni_decode((const uint8_t *)text, len, &pos);

    if ((st = pretok_split(v->pretok, cps, n_cps, &lens, &n_words, err))) goto done;

    /* Each input byte becomes at most 2 bytes of the GPT-2 alphabet, and each
     * codepoint at most 4 input bytes. */
    word = malloc(n_cps * 8 + 1);
    if (!word) goto oom;
    size_t at = 0;
    for (size_t w = 0; w < n_words; w++) {
        size_t wl = 0;
        for (size_t k = 0; k < lens[w]; k++) {
            uint8_t u8[4];
            size_t nb = uni_encode(cps[at + k], u8);
            for (size_t j = 0; j < nb; j++) wl += uni_encode(v->bytemap.byte_to_cp[u8[j]], (uint8_t *)word + wl);
        }
        at += lens[w];
        if (wl && !bpe_word(v, word, wl, &s, out)) goto oom;
    }
    goto done;
oom:
    st = lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
done:
    free(s.syms);
    bigram_queue_free(&s.q);
    free(s.key);
    free(word);
    free(lens);
    free(cps);
    return st;
}
