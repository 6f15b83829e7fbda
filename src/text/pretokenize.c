/* pretokenize.c — compiles a pre-tokenizer's regexes with PCRE2 (UTF + UCP)
 * and splits codepoint sequences into words the way llama.cpp does: every
 * regex runs over each piece left by the previous one, and both its matches
 * and the unmatched gaps between them become pieces. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pretokenize.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "unicode.h"

struct pretok {
    size_t n;
    pcre2_code **codes; /* owned */
};

void pretok_free(pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) pcre2_code_free(p->codes[i]);
    free(p->codes);
    free(p);
}

lorc_status pretok_compile(const pretok_def *def, const char *what, pretok **out, lorc_error *err) {
    *out = NULL;
    size_t n = 0;
    while (def->regexes[n]) n++;
    pretok *p = calloc(1, sizeof *p);
    if (!p || !(p->codes = calloc(n ? n : 1, sizeof *p->codes))) {
        free(p);
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory compiling the pre-tokenizer", what);
    }
    for (size_t i = 0; i < n; i++) {
        int code_err;
        PCRE2_SIZE at;
        /* DOLLAR_ENDONLY: '$' means the end of the piece only, as in ECMAScript. */
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)def->regexes[i], PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code_err, &at, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code_err, msg, sizeof msg);
            lorc_status st = lorc_fail(err, LORC_ERR_UNSUPPORTED,
                                       "%s: pre-tokenizer '%s': regex %zu does not compile at offset %zu: %s", what,
                                       def->names[0], i, (size_t)at, (const char *)msg);
            pretok_free(p);
            return st;
        }
        /* JIT is only a speed-up: when unavailable the interpreter runs. */
        (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
        p->codes[p->n++] = c;
    }
    *out = p;
    return LORC_OK;
}

/* ------------------------------------------------------------- splitting */

typedef struct lenvec {
    size_t *v;
    size_t n, cap;
} lenvec;

static bool lenvec_push(lenvec *l, size_t x) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        size_t *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = x;
    return true;
}

/* Codepoints in a stretch of valid UTF-8: the bytes that start a character. */
static size_t count_cps(const uint8_t *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += (s[i] & 0xC0) != 0x80;
    return n;
}

/* The text the regexes see. Non-ASCII White_Space becomes U+000B, so that
 * `\s` means exactly the White_Space set (as in llama.cpp, whose regex
 * engines see the same substitution); codepoints that are not valid scalar
 * values (surrogates, > U+10FFFF) become U+FFFD so PCRE2 gets valid UTF-8.
 * off[i] is the byte offset of codepoint i (off[n] = total length). */
static uint8_t *match_text(const uint32_t *cps, size_t n, size_t *off) {
    uint8_t *t = malloc(n * 4 + 1);
    if (!t) return NULL;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (c >= 0x80 && uni_is_whitespace(c)) c = 0x0B;
        else if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = UNI_REPLACEMENT;
        off[i] = b;
        b += uni_encode(c, t + b);
    }
    off[n] = b;
    t[b] = 0;
    return t;
}

/* Runs one regex over one piece (bytes subj[0..len)), appending the lengths
 * (in codepoints) of matches and gaps to `next`. */
static int split_piece(const pcre2_code *code, pcre2_match_data *md, const uint8_t *subj, size_t len, lenvec *next) {
    size_t pos = 0, last = 0;
    while (pos <= len) {
        int rc = pcre2_match(code, subj, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(code, subj, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return rc;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) {
            /* an empty match adds nothing: resume one character later */
            if (ms >= len) break;
            pos = ms + 1;
            while (pos < len && (subj[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > last && !lenvec_push(next, count_cps(subj + last, ms - last))) return PCRE2_ERROR_NOMEMORY;
        if (!lenvec_push(next, count_cps(subj + ms, me - ms))) return PCRE2_ERROR_NOMEMORY;
        last = pos = me;
    }
    if (last < len && !lenvec_push(next, count_cps(subj + last, len - last))) return PCRE2_ERROR_NOMEMORY;
    return 0;
}

lorc_status pretok_split(const pretok *p, const uint32_t *cps, size_t n, size_t **lens, size_t *n_words,
                         lorc_error *err) {
    *lens = NULL;
    *n_words = 0;
    if (n == 0) return LORC_OK;
    lorc_status st = LORC_OK;
    size_t *off = malloc((n + 1) * sizeof *off);
    uint8_t *text = off ? match_text(cps, n, off) : NULL;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    lenvec cur = {0}, next = {0};
    if (!text || !md || !lenvec_push(&cur, n)) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
        goto out;
    }
    for (size_t r = 0; r < p->n; r++) {
        next.n = 0;
        size_t start = 0;
        for (size_t k = 0; k < cur.n; k++) {
            size_t b0 = off[start], b1 = off[start + cur.v[k]];
            int rc = split_piece(p->codes[r], md, text + b0, b1 - b0, &next);
            if (rc == PCRE2_ERROR_NOMEMORY) {
                st = lorc_fail(err, LORC_ERR_NOMEM, "tokenize: out of memory");
                goto out;
            }
            if (rc < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(rc, msg, sizeof msg);
                st = lorc_fail(err, LORC_ERR_INVALID, "tokenize: pre-tokenizer regex %zu failed: %s", r,
                               (const char *)msg);
                goto out;
            }
            start += cur.v[k];
        }
        lenvec tmp = cur;
        cur = next;
        next = tmp;
    }
    *lens = cur.v;
    *n_words = cur.n;
    cur.v = NULL;
out:
    free(cur.v);
    free(next.v);
    pcre2_match_data_free(md);
    free(text);
    free(off);
    return st;
}
