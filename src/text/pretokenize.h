/* pretokenize.h — byte-level BPE pre-tokenizers: the regex lists selected
 * by tokenizer.ggml.pre, compiled with PCRE2 once per vocab, and the split
 * of a text into words (each regex refines the pieces the previous one left:
 * matches and the gaps between them both become pieces, as in llama.cpp). */
#ifndef LORC_TEXT_PRETOKENIZE_H
#define LORC_TEXT_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorc.h"

typedef struct pretok_def {
    const char *const *names;   /* tokenizer.ggml.pre values, NULL-terminated */
    const char *const *regexes; /* applied in order, NULL-terminated */
    bool clean_spaces;          /* detokenize with the " ." / " 's" clean-up */
    bool ignore_merges;         /* a word that is a token is emitted whole */
    bool add_bos;               /* default of tokenizer.ggml.add_bos_token */
} pretok_def;

/* The definition for a tokenizer.ggml.pre name, or NULL when lorc does not
 * know it. pretok_default() is what llama.cpp uses when the key is absent. */
const pretok_def *pretok_find(const char *name);
const pretok_def *pretok_default(void);
/* Every definition (for tests): returns the count, *out the array. */
size_t pretok_all(const pretok_def **out);

/* Compiled regexes of one definition; immutable, so one vocab can be used
 * from many threads (each split allocates its own match data). */
typedef struct pretok pretok;

/* `what` names the file in error messages. */
lorc_status pretok_compile(const pretok_def *def, const char *what, pretok **out, lorc_error *err);
void pretok_free(pretok *p);

/* Splits n codepoints into words. On success *lens (malloc'd, caller frees)
 * holds *n_words word lengths in codepoints, summing to n. */
lorc_status pretok_split(const pretok *p, const uint32_t *cps, size_t n, size_t **lens, size_t *n_words,
                         lorc_error *err);

#endif
