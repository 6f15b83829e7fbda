/* test_tokenizer_vectors.c — llama.cpp's vocab test vectors in
 * shared/tokenizer: every input of X.gguf.inp, tokenized without BOS and
 * without parsing special tokens, must give the ids on the same line of
 * X.gguf.out; and detokenizing gives the input back where no clean-up rule
 * applies. Mismatches are reported with the input and both id lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Prints at most `max` bytes of s with non-printables escaped. */
static void print_escaped(const char *s, size_t len, size_t max) {
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    if (len > max) fputs("...", stderr);
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fputc('\n', stderr);
}

/* Parses one line of ids; returns the count (ids has room for cap). */
static size_t parse_ids(const char *line, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && line[i] == ' ') i++;
        if (i >= len) break;
        long v = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (line[i++] - '0');
        if (n < cap) ids[n] = (int32_t)v;
        n++;
        while (i < len && line[i] != ' ') i++;
    }
    return n;
}

/* True when llama.cpp's clean-up of spaces (" ." " 's" ...) would change s. */
static bool cleanup_applies(const char *s, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != ' ') continue;
        char x = s[i + 1];
        if (x == '.' || x == ',' || x == '!' || x == '?' || x == '\'') return true;
    }
    return false;
}

static void run_file(const char *name, bool clean_spaces) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s", name);
    const char *gguf_path = test_shared(rel);
    snprintf(rel, sizeof rel, "tokenizer/%s.inp", name);
    size_t inp_len = 0, out_len = 0;
    char *inp = test_read_file(test_shared(rel), &inp_len);
    snprintf(rel, sizeof rel, "tokenizer/%s.out", name);
    char *outp = test_read_file(test_shared(rel), &out_len);
    CHECK_MSG(inp && outp, "%s: cannot read the .inp/.out files", name);

    lorc_vocab *v = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_vocab_load(gguf_path, &v, &err);
    CHECK_MSG(st == LORC_OK, "%s: %s", name, err.message);
    if (!inp || !outp || st) {
        free(inp);
        free(outp);
        return;
    }

    size_t pos = 0, opos = 0, n_cases = 0, n_fail = 0, n_round = 0;
    const size_t seplen = strlen(SEP);
    while (pos < inp_len) {
        /* llama.cpp's reader: items end at each separator; text after the
         * last separator (none in these files) would be one more item */
        const char *next = memmem(inp + pos, inp_len - pos, SEP, seplen);
        size_t item_len = next ? (size_t)(next - (inp + pos)) : inp_len - pos;
        const char *item = inp + pos;
        pos = next ? (size_t)(next - inp) + seplen : inp_len;

        const char *eol = memchr(outp + opos, '\n', out_len - opos);
        size_t line_len = eol ? (size_t)(eol - (outp + opos)) : out_len - opos;
        CHECK_MSG(opos < out_len || line_len == 0, "%s: .out has fewer lines than inputs", name);
        int32_t want[1024];
        size_t n_want = parse_ids(outp + opos, line_len, want, 1024);
        opos += line_len + (eol ? 1 : 0);
        n_cases++;

        int32_t *got = NULL;
        size_t n_got = 0;
        st = lorc_tokenize(v, item, item_len, 0, &got, &n_got, &err);
        bool ok = st == LORC_OK && n_got == n_want && n_want <= 1024 &&
                  (n_got == 0 || memcmp(got, want, n_got * sizeof *got) == 0);
        test_checks++;
        if (!ok) {
            test_failures++;
            if (n_fail++ < 5) {
                fprintf(stderr, "%s: case %zu mismatch: input '", name, n_cases);
                print_escaped(item, item_len, 200);
                fprintf(stderr, "'\n");
                if (st) fprintf(stderr, "    error: %s\n", err.message);
                print_ids("expected", want, n_want < 1024 ? n_want : 1024);
                print_ids("got     ", got, n_got);
                for (size_t i = 0; i < n_got && i < n_want; i++) {
                    if (got[i] != want[i]) {
                        fprintf(stderr, "    first difference at index %zu: expected %d '%s', got %d '%s'\n", i,
                                (int)want[i], lorc_vocab_token_text(v, want[i]), (int)got[i],
                                lorc_vocab_token_text(v, got[i]));
                        break;
                    }
                }
            }
        }

        /* round trip, where llama.cpp's own detokenizer gives the input back */
        if (ok && !(clean_spaces && cleanup_applies(item, item_len))) {
            char *back = NULL;
            st = lorc_detokenize(v, got, n_got, &back, &err);
            bool same = st == LORC_OK && strlen(back) == item_len && memcmp(back, item, item_len) == 0;
            CHECK_MSG(same, "%s: case %zu does not round-trip: '%s'", name, n_cases, back ? back : err.message);
            n_round++;
            free(back);
        }
        free(got);
    }
    CHECK_MSG(opos >= out_len, "%s: .out has more lines than .inp has inputs", name);
    printf("%s: %zu cases, %zu mismatches, %zu round trips checked\n", name, n_cases, n_fail, n_round);
    CHECK(n_cases > 40);
    lorc_vocab_free(v);
    free(inp);
    free(outp);
}

int main(void) {
    run_file("ggml-vocab-llama-spm.gguf", false);
    run_file("ggml-vocab-gpt-2.gguf", true);
    run_file("ggml-vocab-llama-bpe.gguf", true);
    run_file("ggml-vocab-deepseek-llm.gguf", false);
    return test_finish("test_tokenizer_vectors");
}
