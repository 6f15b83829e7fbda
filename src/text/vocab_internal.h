/* vocab_internal.h — the definition of struct lorc_vocab and the private
 * interfaces between the tokenizer files (vocab.c loads, tokenize.c splits
 * out special tokens, spm.c / bpe.c tokenize plain text, detokenize.c). */
#ifndef LORC_TEXT_VOCAB_INTERNAL_H
#define LORC_TEXT_VOCAB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorc.h"
#include "pretokenize.h"
#include "strmap.h"
#include "unicode.h"

/* Token attributes (bit flags, as llama.cpp derives them from token_type). */
enum {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_EOG = 1 << 6 /* lorc's own: ends generation */
};

typedef enum vocab_kind {
    VOCAB_SPM, /* tokenizer.ggml.model = "llama" */
    VOCAB_BPE  /* tokenizer.ggml.model = "gpt2" */
} vocab_kind;

typedef struct vocab_token {
    const char *text; /* borrowed from lorc_vocab.arena, NUL-terminated */
    uint32_t len;
    uint32_t attr;
    float score;
} vocab_token;

struct lorc_vocab {
    vocab_kind kind;
    char *model_name; /* owned: tokenizer.ggml.model */
    char *pre_name;   /* owned: tokenizer.ggml.pre as given ("" when absent) */
    char *chat_template; /* owned: tokenizer.chat_template (Jinja), NULL when absent */
    const pretok_def *pre; /* BPE only: the pre-tokenizer (static table entry) */
    pretok *pretok;        /* BPE only: owned compiled regexes */

    int32_t n_tokens;
    vocab_token *tokens; /* owned, n_tokens entries */
    char *arena;         /* owned: every token text and merge string */
    strmap token_ids;    /* text -> id */
    strmap merge_ranks;  /* BPE: "left right" -> rank */
    uint32_t n_merges;

    int32_t bos, eos, eot, eom, unk, pad; /* -1 when absent */
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: prepend ' ' to the text (and strip it when decoding) */
    bool ignore_merges;    /* BPE: a pre-token that is itself a token is emitted whole */
    bool clean_spaces;     /* detokenize: drop the space before . , ! ? and some 's etc. */

    int32_t *special;   /* owned: control/user-defined/unknown ids, longest text first */
    size_t n_special;
    int32_t byte_tokens[256]; /* SPM byte fallback: id of <0xXX> (or the 1-byte token), -1 if none */
    uni_byte_map bytemap;
};

/* ---------------------------------------------------------- id vector */

typedef struct tokvec {
    int32_t *ids;
    size_t n, cap;
} tokvec;

bool tokvec_push(tokvec *v, int32_t id);

/* Token id for a byte string, or -1. */
static inline int32_t vocab_lookup(const lorc_vocab *v, const char *s, size_t len) {
    return strmap_get(&v->token_ids, s, len);
}

/* Tokenizes one run of plain text (no special tokens in it) and appends the
 * ids. `text` is the raw fragment; SPM adds the space prefix when asked. */
lorc_status spm_tokenize(const lorc_vocab *v, const char *text, size_t len, bool space_prefix, tokvec *out,
                         lorc_error *err);
lorc_status bpe_tokenize(const lorc_vocab *v, const char *text, size_t len, tokvec *out, lorc_error *err);

#endif
