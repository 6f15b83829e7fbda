/* tokenize.c — lorc_tokenize: cuts special-token texts out of the input
 * (longest special token first, each occurrence left to right, as llama.cpp's
 * tokenizer_st_partition), tokenizes the plain runs between them with the
 * vocab's algorithm, and prepends BOS when asked and the vocab wants it. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "vocab_internal.h"

bool tokvec_push(tokvec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 64;
        int32_t *ni = realloc(v->ids, ncap * sizeof *ni);
        if (!ni) return false;
        v->ids = ni;
        v->cap = ncap;
    }
    v->ids[v->n++] = id;
    return true;
}

/* A piece of the input: a special token, or a run of plain text. */
typedef struct fragment {
    int32_t token; /* -1 for text */
    size_t off, len;
} fragment;

typedef struct fragvec {
    fragment *f;
    size_t n, cap;
} fragvec;

static bool frag_push(fragvec *v, int32_t token, size_t off, size_t len) {
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        fragment *nf = realloc(v->f, ncap * sizeof *nf);
        if (!nf) return false;
        v->f = nf;
        v->cap = ncap;
    }
    v->f[v->n++] = (fragment){token, off, len};
    return true;
}

/* Which byte pairs occur in the text: lets the partition skip the special
 * tokens that cannot occur (DeepSeek has ~2400 user-defined ones). */
typedef struct pairset {
    uint64_t bits[65536 / 64];
    bool byte[256];
} pairset;

static void pairset_build(pairset *ps, const uint8_t *t, size_t len) {
    memset(ps, 0, sizeof *ps);
    for (size_t i = 0; i < len; i++) {
        ps->byte[t[i]] = true;
        if (i + 1 < len) {
            unsigned p = (unsigned)t[i] << 8 | t[i + 1];
            ps->bits[p >> 6] |= 1ull << (p & 63);
        }
    }
}

static bool pairset_may_contain(const pairset *ps, const uint8_t *s, size_t len) {
    if (len == 1) return ps->byte[s[0]];
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned p = (unsigned)s[i] << 8 | s[i + 1];
        if (!(ps->bits[p >> 6] & (1ull << (p & 63)))) return false;
    }
    return true;
}

/* Splits the text fragments of `cur` around every occurrence of token `id`. */
static bool split_on(const lorc_vocab *v, const char *text, int32_t id, const fragvec *cur, fragvec *next) {
    const vocab_token *t = &v->tokens[id];
    next->n = 0;
    for (size_t i = 0; i < cur->n; i++) {
        fragment f = cur->f[i];
        if (f.token >= 0) {
            if (!frag_push(next, f.token, 0, 0)) return false;
            continue;
        }
        size_t off = f.off, end = f.off + f.len;
        while (off < end) {
            const char *m = memmem(text + off, end - off, t->text, t->len);
            if (!m) break;
            size_t at = (size_t)(m - text);
            if (at > off && !frag_push(next, -1, off, at - off)) return false;
            if (!frag_push(next, id, 0, 0)) return false;
            off = at + t->len;
        }
        if (off < end && !frag_push(next, -1, off, end - off)) return false;
    }
    return true;
}

static lorc_status partition(const lorc_vocab *v, const char *text, size_t len, bool parse_special, fragvec *out,
                             lorc_error *err) {
    fragvec cur = {0}, next = {0};
    pairset *ps = NULL;
    if (!frag_push(&cur, -1, 0, len)) goto oom;
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        const vocab_token *t = &v->tokens[id];
        /* user-defined tokens are always cut out (as HF tokenizers and
         * llama.cpp do); control and unknown ones only when asked */
        if (!parse_special && !(t->attr & TOK_ATTR_USER_DEFINED)) continue;
        if (t->len == 0 || t->len > len) continue;
        if (!ps) {
            if (!(ps = malloc(sizeof *ps))) goto oom;
            pairset_build(ps, (const uint8_t *)text, len);
        }
        if (!pairset_may_contain(ps, (const uint8_t *)t->text, t->len)) continue;
        if (!split_on(v, text, id, &cur, &next)) goto oom;
        fragvec tmp = cur;
        cur = next;
        next = tmp;
    }
    free(ps);
    free(next.f);
    *out = cur;
    return LORC_OK;
oom:
    free(ps);
    free(cur.f);
    free(next.f);
    return lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
}

lorc_status lorc_tokenize(const lorc_vocab *v, const char *text, size_t len, int flags, int32_t **out_ids,
                          size_t *out_n, lorc_error *err) {
    if (!out_ids || !out_n) return lorc_fail(err, LORC_ERR_INVALID, "lorc_tokenize: NULL output argument");
    *out_ids = NULL;
    *out_n = 0;
    if (!v || (!text && len)) return lorc_fail(err, LORC_ERR_INVALID, "lorc_tokenize: NULL vocab or text");
    /* the tokenizers size buffers as small multiples of len */
    if (len > SIZE_MAX / 64) return lorc_fail(err, LORC_ERR_INVALID, "tokenize: text of %zu bytes is too long", len);

    tokvec out = {0};
    fragvec frags = {0};
    lorc_status st = LORC_OK;
    if ((flags & LORC_TOKENIZE_ADD_BOS) && v->add_bos && v->bos >= 0 && !tokvec_push(&out, v->bos)) goto oom;
    if (len && (st = partition(v, text, len, (flags & LORC_TOKENIZE_PARSE_SPECIAL) != 0, &frags, err))) goto fail;

    /* SentencePiece puts the space prefix on the first text run and on every
     * run that follows a special token. */
    bool prev_special = true;
    for (size_t i = 0; i < frags.n; i++) {
        const fragment *f = &frags.f[i];
        if (f->token >= 0) {
            if (!tokvec_push(&out, f->token)) goto oom;
            prev_special = true;
            continue;
        }
        if (v->kind == VOCAB_SPM)
            st = spm_tokenize(v, text + f->off, f->len, v->add_space_prefix && prev_special, &out, err);
        else
            st = bpe_tokenize(v, text + f->off, f->len, &out, err);
        if (st) goto fail;
        prev_special = false;
    }
    free(frags.f);
    if (!out.ids && !(out.ids = malloc(sizeof *out.ids))) goto oom; /* never hand back NULL on success */
    *out_ids = out.ids;
    *out_n = out.n;
    return LORC_OK;
oom:
    st = lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
fail:
    free(frags.f);
    free(out.ids);
    return st;
}
