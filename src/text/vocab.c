/* vocab.c — builds a lorc_vocab from GGUF tokenizer.ggml.* metadata: token
 * texts/scores/types, BPE merges, special ids and the add_bos/eos rules, with
 * llama.cpp's defaults for each tokenizer model and pre-tokenizer. Special-id
 * and end-of-generation rules live in vocab_special.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../base/error.h"
#include "vocab.h"
#include "vocab_internal.h"
#include "vocab_special.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_CHAT_TEMPLATE "tokenizer.chat_template"

void lorc_vocab_free(lorc_vocab *v) {
    if (!v) return;
    free(v->model_name);
    free(v->pre_name);
    free(v->chat_template);
    pretok_free(v->pretok);
    free(v->tokens);
    free(v->arena);
    strmap_free(&v->token_ids);
    strmap_free(&v->merge_ranks);
    free(v->special);
    free(v);
}

/* The kv must be an array of `want` with at least `min_len` elements. */
static lorc_status want_array(const gguf_file *f, const gguf_kv *kv, const char *key, gguf_value_type want,
                              uint64_t min_len, lorc_error *err) {
    if (kv->type != GGUF_TYPE_ARRAY)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s has type %s (expected an array of %s)", f->path, key,
                         gguf_value_type_name(kv->type), gguf_value_type_name(want));
    if (kv->arr_type != want)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s is an array of %s (expected %s)", f->path, key,
                         gguf_value_type_name(kv->arr_type), gguf_value_type_name(want));
    if (kv->arr_len < min_len)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s has %llu entries (expected at least %llu, one per token)",
                         f->path, key, (unsigned long long)kv->arr_len, (unsigned long long)min_len);
    return LORC_OK;
}

static uint32_t attr_from_type(int64_t t) {
    switch (t) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER_DEFINED;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return TOK_ATTR_UNDEFINED;
    }
}

/* Byte size of the arena: every token text (or its "[EMPTY_i]" stand-in)
 * and every merge string, each NUL-terminated. */
static lorc_status arena_size(const gguf_file *f, const gguf_kv *toks, const gguf_kv *merges, uint64_t *out,
                              lorc_error *err) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < toks->arr_len; i++) {
        uint64_t len = toks->arr_strs[i].len ? toks->arr_strs[i].len : 32;
        if (len > UINT32_MAX - 1)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s: token %llu is %llu bytes long", f->path, KEY_TOKENS,
                             (unsigned long long)i, (unsigned long long)len);
        if (!lorc_add_u64(total, len + 1, &total)) goto overflow;
    }
    for (uint64_t i = 0; merges && i < merges->arr_len; i++)
        if (!lorc_add_u64(total, merges->arr_strs[i].len + 1, &total)) goto overflow;
    if (total > SIZE_MAX) goto overflow;
    *out = total;
    return LORC_OK;
overflow:
    return lorc_fail(err, LORC_ERR_FORMAT, "%s: tokenizer strings are too large", f->path);
}

static lorc_status load_tokens(lorc_vocab *v, const gguf_file *f, const gguf_kv *toks, const gguf_kv *merges,
                               lorc_error *err) {
    const gguf_kv *scores = gguf_find_kv(f, KEY_SCORES);
    const gguf_kv *types = gguf_find_kv(f, KEY_TYPES);
    lorc_status st;
    uint64_t n = toks->arr_len;
    if (scores) {
        gguf_value_type t = scores->type == GGUF_TYPE_ARRAY && scores->arr_type == GGUF_TYPE_INT32
                                ? GGUF_TYPE_INT32
                                : GGUF_TYPE_FLOAT32;
        if ((st = want_array(f, scores, KEY_SCORES, t, n, err))) return st;
    }
    if (types && (st = want_array(f, types, KEY_TYPES, GGUF_TYPE_INT32, n, err))) return st;

    uint64_t asize = 0;
    if ((st = arena_size(f, toks, merges, &asize, err))) return st;
    v->arena = malloc(asize ? (size_t)asize : 1);
    v->tokens = calloc((size_t)n, sizeof *v->tokens);
    if (!v->arena || !v->tokens || !strmap_init(&v->token_ids, (size_t)n))
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory loading %llu tokens", f->path,
                         (unsigned long long)n);
    char *a = v->arena;
    for (uint64_t i = 0; i < n; i++) {
        vocab_token *t = &v->tokens[i];
        const gguf_string *s = &toks->arr_strs[i];
        size_t len;
        if (s->len == 0) {
            /* llama.cpp renames empty tokens so they stay unique */
            len = (size_t)snprintf(a, 32, "[EMPTY_%llu]", (unsigned long long)i);
        } else {
            len = (size_t)s->len;
            memcpy(a, s->ptr, len);
            a[len] = 0;
        }
        t->text = a;
        t->len = (uint32_t)len;
        a += len + 1;
        t->score = scores ? (float)gguf_arr_get_f64(scores, i) : 0.0f;
        t->attr = types ? attr_from_type(gguf_arr_get_i64(types, i)) : TOK_ATTR_NORMAL;
        int r = strmap_insert(&v->token_ids, t->text, len, (int32_t)i);
        if (r < 0) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory indexing tokens", f->path);
        if (r == 0)
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s: token %llu '%.*s' duplicates token %d", f->path,
                             KEY_TOKENS, (unsigned long long)i, (int)(len > 64 ? 64 : len), t->text,
                             (int)vocab_lookup(v, t->text, len));
    }
    if (!merges) return LORC_OK;

    /* Merges "left right" (split at the first space after the first byte)
     * are keyed by the whole string: a lookup builds the same string from
     * the two symbols, whose texts never contain a raw space. The first
     * occurrence of a duplicate keeps its rank. */
    if (merges->arr_len > INT32_MAX)
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s has too many entries", f->path, KEY_MERGES);
    if (!strmap_init(&v->merge_ranks, (size_t)merges->arr_len))
        return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory loading merges", f->path);
    for (uint64_t i = 0; i < merges->arr_len; i++) {
        const gguf_string *s = &merges->arr_strs[i];
        size_t len = (size_t)s->len;
        if (len) memcpy(a, s->ptr, len);
        a[len] = 0;
        const char *sp = len > 1 ? memchr(a + 1, ' ', len - 1) : NULL;
        if (sp && strmap_insert(&v->merge_ranks, a, len, (int32_t)i) < 0)
            return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory loading merges", f->path);
        a += len + 1;
    }
    v->n_merges = (uint32_t)merges->arr_len;
    return LORC_OK;
}

/* Picks SPM or BPE, the pre-tokenizer and the per-kind defaults. */
static lorc_status load_kind(lorc_vocab *v, const gguf_file *f, lorc_error *err) {
    v->model_name = gguf_get_str_dup(f, KEY_MODEL);
    if (!v->model_name) {
        if (gguf_find_kv(f, KEY_MODEL))
            return lorc_fail(err, LORC_ERR_FORMAT, "%s: %s is not a string", f->path, KEY_MODEL);
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s' (no tokenizer in this file)", f->path,
                         KEY_MODEL);
    }
    char *pre = gguf_get_str_dup(f, KEY_PRE);
    v->pre_name = pre ? pre : strdup("");
    if (!v->pre_name) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);

    if (strcmp(v->model_name, "llama") == 0) {
        /* SentencePiece: the pre-tokenizer name is irrelevant */
        v->kind = VOCAB_SPM;
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_bos = true;
        v->add_space_prefix = true;
        v->clean_spaces = false;
    } else if (strcmp(v->model_name, "gpt2") == 0) {
        v->kind = VOCAB_BPE;
        /* llama.cpp's (odd) defaults for BPE files without special ids */
        v->bos = 11;
        v->eos = 11;
        v->unk = -1;
        if (!pre) {
            /* llama.cpp warns and uses "default" when the key is absent */
            v->pre = pretok_default();
        } else if (!(v->pre = pretok_find(pre))) {
            return lorc_fail(err, LORC_ERR_UNSUPPORTED, "%s: %s '%s' is not supported by lorc", f->path, KEY_PRE,
                             pre);
        }
        v->add_bos = v->pre->add_bos;
        v->add_space_prefix = false;
        v->clean_spaces = v->pre->clean_spaces;
        v->ignore_merges = v->pre->ignore_merges;
    } else {
        return lorc_fail(err, LORC_ERR_UNSUPPORTED,
                         "%s: %s '%s' is not supported (lorc handles 'llama' (SentencePiece) and 'gpt2' (byte-level "
                         "BPE))",
                         f->path, KEY_MODEL, v->model_name);
    }
    v->add_space_prefix = gguf_get_bool_or(f, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    return LORC_OK;
}

/* SentencePiece byte fallback: "<0xXX>", else the one-byte token itself. */
static void init_byte_tokens(lorc_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = vocab_lookup(v, name, 6);
        if (id < 0) {
            char one = (char)b;
            id = vocab_lookup(v, &one, 1);
        }
        v->byte_tokens[b] = id;
    }
}

lorc_status lorc_vocab_from_gguf(const gguf_file *f, lorc_vocab **out, lorc_error *err) {
    *out = NULL;
    lorc_vocab *v = calloc(1, sizeof *v);
    if (!v) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", f->path);
    v->eot = v->eom = v->pad = -1;
    lorc_status st = load_kind(v, f, err);
    if (st) goto fail;

    const gguf_kv *toks = gguf_find_kv(f, KEY_TOKENS);
    if (!toks) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s'", f->path, KEY_TOKENS);
        goto fail;
    }
    if ((st = want_array(f, toks, KEY_TOKENS, GGUF_TYPE_STRING, 1, err))) goto fail;
    if (toks->arr_len > INT32_MAX) {
        st = lorc_fail(err, LORC_ERR_FORMAT, "%s: %s has %llu tokens (too many)", f->path, KEY_TOKENS,
                       (unsigned long long)toks->arr_len);
        goto fail;
    }
    v->n_tokens = (int32_t)toks->arr_len;

    const gguf_kv *merges = NULL;
    if (v->kind == VOCAB_BPE) {
        merges = gguf_find_kv(f, KEY_MERGES);
        if (!merges) {
            st = lorc_fail(err, LORC_ERR_FORMAT, "%s: missing key '%s' (a gpt2 tokenizer needs its merges)",
                           f->path, KEY_MERGES);
            goto fail;
        }
        if ((st = want_array(f, merges, KEY_MERGES, GGUF_TYPE_STRING, 0, err))) goto fail;
    }
    if ((st = load_tokens(v, f, toks, merges, err))) goto fail;
    if ((st = vocab_load_special(v, f, err))) goto fail;
    /* kept as text: lorc_chat_template_detect recognises its family later */
    v->chat_template = gguf_get_str_dup(f, KEY_CHAT_TEMPLATE);
    const gguf_kv *tmpl = gguf_find_kv(f, KEY_CHAT_TEMPLATE);
    if (!v->chat_template && tmpl && tmpl->type == GGUF_TYPE_STRING) {
        st = lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory reading %s", f->path, KEY_CHAT_TEMPLATE);
        goto fail;
    }

    if (v->kind == VOCAB_SPM) init_byte_tokens(v);
    else {
        for (int b = 0; b < 256; b++) v->byte_tokens[b] = -1;
        if ((st = pretok_compile(v->pre, f->path, &v->pretok, err))) goto fail;
    }
    uni_byte_map_init(&v->bytemap);
    *out = v;
    return LORC_OK;
fail:
    lorc_vocab_free(v);
    return st;
}

lorc_status lorc_vocab_load(const char *path, lorc_vocab **out, lorc_error *err) {
    if (!out || !path) return lorc_fail(err, LORC_ERR_INVALID, "lorc_vocab_load: NULL argument");
    *out = NULL;
    gguf_file *f = NULL;
    lorc_status st = gguf_open(path, &f, err);
    if (st) return st;
    st = lorc_vocab_from_gguf(f, out, err);
    gguf_close(f);
    return st;
}

/* ------------------------------------------------------------ getters */

int lorc_vocab_n_tokens(const lorc_vocab *v) { return v ? v->n_tokens : 0; }
int32_t lorc_vocab_bos(const lorc_vocab *v) { return v ? v->bos : -1; }
int32_t lorc_vocab_eos(const lorc_vocab *v) { return v ? v->eos : -1; }

bool lorc_vocab_is_eog(const lorc_vocab *v, int32_t token) {
    return v && token >= 0 && token < v->n_tokens && (v->tokens[token].attr & TOK_ATTR_EOG);
}

const char *lorc_vocab_token_text(const lorc_vocab *v, int32_t token) {
    return v && token >= 0 && token < v->n_tokens ? v->tokens[token].text : NULL;
}

bool lorc_vocab_is_control(const lorc_vocab *v, int32_t token) {
    return v && token >= 0 && token < v->n_tokens &&
           (v->tokens[token].attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}

bool lorc_vocab_add_bos(const lorc_vocab *v) { return v && v->add_bos; }
const char *lorc_vocab_chat_template(const lorc_vocab *v) { return v ? v->chat_template : NULL; }
