/* test_tokenizer_pretok.c — the BPE pre-tokenizer table: every definition's
 * regexes compile with PCRE2, and known texts split into the expected words
 * (digit grouping of llama3 vs qwen2, gaps kept as words, DeepSeek's regex
 * sequence, non-ASCII white space). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/pretokenize.h"
#include "text/unicode.h"

/* Splits UTF-8 `text` with pre-tokenizer `name` and compares the word
 * lengths (in codepoints) with want[0..n_want). */
static void check_split(const char *name, const char *text, const size_t *want, size_t n_want) {
    const pretok_def *def = pretok_find(name);
    CHECK_MSG(def != NULL, "no pre-tokenizer '%s'", name);
    if (!def) return;
    pretok *p = NULL;
    lorc_error err = {0};
    CHECK(pretok_compile(def, "test", &p, &err) == LORC_OK);
    size_t len = strlen(text), n = 0;
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    for (size_t pos = 0; pos < len;) cps[n++] = uni_decode((const uint8_t *)text, len, &pos);
    size_t *lens = NULL, n_words = 0;
    CHECK(pretok_split(p, cps, n, &lens, &n_words, &err) == LORC_OK);
    bool same = n_words == n_want && (n_want == 0 || memcmp(lens, want, n_want * sizeof *lens) == 0);
    CHECK_MSG(same, "%s: split of '%s' gave %zu words", name, text, n_words);
    if (!same)
        for (size_t i = 0; i < n_words; i++) fprintf(stderr, "  word %zu: %zu codepoints\n", i, lens[i]);
    free(lens);
    free(cps);
    pretok_free(p);
}

int main(void) {
    const pretok_def *defs;
    size_t n = pretok_all(&defs);
    CHECK(n >= 10);
    for (size_t i = 0; i < n; i++) {
        pretok *p = NULL;
        lorc_error err = {0};
        lorc_status st = pretok_compile(&defs[i], "test", &p, &err);
        CHECK_MSG(st == LORC_OK, "%s: %s", defs[i].names[0], err.message);
        for (const char *const *nm = defs[i].names; *nm; nm++) CHECK(pretok_find(*nm) == &defs[i]);
        pretok_free(p);
    }
    CHECK(pretok_find("no-such-pre") == NULL);
    CHECK(pretok_find("default") == pretok_default());

    const size_t hw[] = {5, 6};
    check_split("gpt-2", "Hello world", hw, 2);
    const size_t l3[] = {3, 2, 4};
    check_split("llama-bpe", "12345 abc", l3, 3);
    const size_t q2[] = {1, 1, 1, 1, 1, 1, 4};
    check_split("qwen2", "123456 abc", q2, 7);
    /* "\s+(?!\S)": the last space of a run goes with the next word */
    const size_t ws[] = {1, 2, 3};
    check_split("gpt-2", "a   bc", ws, 3);
    /* non-ASCII white space (U+3000) is white space for every regex */
    const size_t ideo[] = {1, 1, 2};
    check_split("llama-bpe", "a\xE3\x80\x80\xE3\x80\x80" "b", ideo, 3);
    /* DeepSeek: letters, then the gap " 123" split by \p{N}+ */
    const size_t ds[] = {5, 1, 3};
    check_split("deepseek-llm", "Hello 123", ds, 3);
    /* DeepSeek: punctuation, then CJK out of the gaps */
    const size_t ds_cjk[] = {5, 1, 1, 2, 1};
    check_split("deepseek-llm", "Hello, \xE4\xB8\x96\xE7\x95\x8C!", ds_cjk, 5);
    /* "default": punctuation runs first, then GPT-2 words, then 3-digit groups */
    const size_t def[] = {1, 3, 1, 3, 1};
    check_split("default", "a!!! 1234", def, 5);
    check_split("gpt-2", "", NULL, 0);
    return test_finish("test_tokenizer_pretok");
}
