/* spm.c — SentencePiece-style tokenization (tokenizer.ggml.model "llama"):
 * spaces become U+2581, the text is split into UTF-8 characters, and the
 * adjacent pair whose concatenation is the best-scoring token is merged until
 * no pair forms a token; leftover characters that are not tokens fall back to
 * <0xXX> byte tokens. Same merge order as llama.cpp's llm_tokenizer_spm. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "bigram.h"
#include "vocab_internal.h"

static const char ESCAPED_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

/* Queues (left, right) when their joined text is a token. */
static bool try_pair(const lorc_vocab *v, const char *text, const sym *syms, int32_t left, int32_t right,
                     bigram_queue *q) {
    if (left < 0 || right < 0) return true;
    uint32_t size = syms[left].n + syms[right].n;
    int32_t id = vocab_lookup(v, text + syms[left].start, size);
    if (id < 0) return true;
    bigram b = {-(double)v->tokens[id].score, left, right, size};
    return bigram_push(q, b);
}

/* Emits the token for a final symbol, or its bytes as byte tokens. */
static bool emit_symbol(const lorc_vocab *v, const char *s, uint32_t n, tokvec *out) {
    int32_t id = vocab_lookup(v, s, n);
    if (id >= 0) return tokvec_push(out, id);
    for (uint32_t i = 0; i < n; i++) {
        int32_t b = v->byte_tokens[(uint8_t)s[i]];
        if (b < 0) b = v->unk;
        if (b >= 0 && !tokvec_push(out, b)) return false;
    }
    return true;
}

lorc_status spm_tokenize(const lorc_vocab *v, const char *text, size_t len, bool space_prefix, tokvec *out,
                         lorc_error *err) {
    /* escape: ' ' -> U+2581 (3 bytes), with the optional leading space */
    size_t cap = (len + 1) * 3;
    char *esc = calloc(1, cap); /* zeroed: keeps -O3 from flagging the empty-text path */
    if (!esc) return lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
    size_t n = 0;
    if (space_prefix) {
        memcpy(esc, ESCAPED_SPACE, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, ESCAPED_SPACE, 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }

    lorc_status st = LORC_OK;
    sym *syms = NULL;
    bigram_queue q = {0};
    size_t n_syms = sym_split(esc, n, &syms);
    if (n && !n_syms) goto oom;

    for (size_t i = 1; i < n_syms; i++)
        if (!try_pair(v, esc, syms, (int32_t)i - 1, (int32_t)i, &q)) goto oom;

    bigram b;
    while (bigram_pop(&q, &b)) {
        sym *l = &syms[b.left], *r = &syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        sym_merge(syms, b.left, b.right);
        if (!try_pair(v, esc, syms, syms[b.left].prev, b.left, &q) ||
            !try_pair(v, esc, syms, b.left, syms[b.left].next, &q))
            goto oom;
    }
    for (int32_t i = n_syms ? 0 : -1; i >= 0; i = syms[i].next)
        if (!emit_symbol(v, esc + syms[i].start, syms[i].n, out)) goto oom;
    goto done;
oom:
    st = lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
done:
    bigram_queue_free(&q);
    free(syms);
    free(esc);
    return st;
}
