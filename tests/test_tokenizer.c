/* test_tokenizer.c — tokenizer behaviour beyond the llama.cpp vectors: the
 * stories260K SentencePiece vocab against ids computed with llama2.c's
 * encoder (BOS, leading space, byte fallback), detokenize round trips and
 * pieces, special-token parsing on/off, BOS rules per vocab, EOG tokens,
 * refusal of unsupported tokenizers, and concurrent use of one vocab. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "lorc.h"
#include "testutil.h"

static lorc_vocab *load(const char *rel) {
    lorc_vocab *v = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_vocab_load(test_shared(rel), &v, &err);
    CHECK_MSG(st == LORC_OK && v, "%s: %s", rel, err.message);
    return v;
}

/* Tokenizes and compares with `want` (n_want ids). */
static void check_ids(const lorc_vocab *v, const char *text, int flags, const int32_t *want, size_t n_want) {
    int32_t *got = NULL;
    size_t n = 0;
    lorc_error err = {0};
    lorc_status st = lorc_tokenize(v, text, strlen(text), flags, &got, &n, &err);
    bool same = st == LORC_OK && n == n_want && (n == 0 || memcmp(got, want, n * sizeof *got) == 0);
    CHECK_MSG(same, "'%s' (flags %d): got %zu ids (status %d %s)", text, flags, n, (int)st, err.message);
    if (!same)
        for (size_t i = 0; i < n; i++) fprintf(stderr, "  got[%zu] = %d\n", i, (int)got[i]);
    free(got);
}

static bool contains(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void check_round_trip(const lorc_vocab *v, const char *text, int flags) {
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    lorc_error err = {0};
    CHECK(lorc_tokenize(v, text, strlen(text), flags, &ids, &n, &err) == LORC_OK);
    CHECK(lorc_detokenize(v, ids, n, &back, &err) == LORC_OK);
    CHECK_MSG(back && strcmp(back, text) == 0, "round trip of '%s' gave '%s'", text, back ? back : "(null)");
    free(ids);
    free(back);
}

static void test_stories(void) {
    lorc_vocab *v = load("models/stories260K.gguf");
    if (!v) return;
    CHECK(lorc_vocab_n_tokens(v) == 512);
    CHECK(lorc_vocab_bos(v) == 1);
    CHECK(lorc_vocab_eos(v) == 2);
    CHECK(lorc_vocab_add_bos(v));
    CHECK(lorc_vocab_is_eog(v, 2));
    CHECK(!lorc_vocab_is_eog(v, 1));
    CHECK(lorc_vocab_is_control(v, 1) && !lorc_vocab_is_control(v, 403));

    /* ids from llama2.c's encoder over tok512.bin (BOS, dummy prefix space) */
    const int32_t once[] = {1, 403, 407, 261, 378};
    check_ids(v, "Once upon a time", LORC_TOKENIZE_ADD_BOS, once, 5);
    check_ids(v, "Once upon a time", 0, once + 1, 4);
    const int32_t hello[] = {1, 346, 306, 414, 263, 304, 341};
    check_ids(v, "Hello world", LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL, hello, 7);
    /* byte fallback: ü, ï and ✓ are not in the 512-token vocab */
    const int32_t bytes[] = {1,   317, 439, 419, 280, 412, 431, 485, 432, 410, 198, 191,
                             416, 198, 178, 429, 414, 418, 411, 410, 229, 159, 150};
    check_ids(v, "Lily's caf\xC3\xA9, \xC3\xBCn\xC3\xAF" "code \xE2\x9C\x93", LORC_TOKENIZE_ADD_BOS, bytes, 23);

    /* empty text: just BOS when asked, nothing otherwise */
    const int32_t bos_only[] = {1};
    check_ids(v, "", LORC_TOKENIZE_ADD_BOS, bos_only, 1);
    check_ids(v, "", 0, NULL, 0);

    /* special tokens: "</s>" is EOS only when parsing specials; the text
     * after a special token gets the SentencePiece space prefix again */
    int32_t *ids = NULL;
    size_t n = 0;
    lorc_error err = {0};
    CHECK(lorc_tokenize(v, "Once</s>upon", 12, LORC_TOKENIZE_PARSE_SPECIAL, &ids, &n, &err) == LORC_OK);
    CHECK_MSG(n == 3 && ids[0] == 403 && ids[1] == 2 && ids[2] == 407, "parse special gave %zu ids", n);
    free(ids);
    CHECK(lorc_tokenize(v, "Once</s>upon", 12, 0, &ids, &n, &err) == LORC_OK);
    CHECK(n > 3 && ids[0] == 403 && !contains(ids, n, 2));
    free(ids);
    CHECK(lorc_tokenize(v, "<s>", 3, LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL, &ids, &n, &err) ==
          LORC_OK);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 1);
    free(ids);

    /* detokenize: the prefix space goes away at the start and after BOS */
    check_round_trip(v, "Once upon a time", LORC_TOKENIZE_ADD_BOS);
    check_round_trip(v, "Once upon a time", 0);
    check_round_trip(v, "  two leading spaces,\nnew line\tand tab", LORC_TOKENIZE_ADD_BOS);
    check_round_trip(v, "Lily's caf\xC3\xA9, \xC3\xBCn\xC3\xAF" "code \xE2\x9C\x93", LORC_TOKENIZE_ADD_BOS);
    char *s = NULL;
    const int32_t with_eos[] = {1, 403, 407, 2};
    CHECK(lorc_detokenize(v, with_eos, 4, &s, &err) == LORC_OK && strcmp(s, "Once upon") == 0);
    free(s);
    CHECK(lorc_detokenize(v, NULL, 0, &s, &err) == LORC_OK && s && s[0] == 0);
    free(s);
    const int32_t bad[] = {1, 512};
    CHECK(lorc_detokenize(v, bad, 2, &s, &err) == LORC_ERR_INVALID && s == NULL);
    CHECK(strstr(err.message, "512") != NULL);

    /* pieces */
    char buf[32];
    int k = lorc_token_to_piece(v, 1, 403, buf, sizeof buf);
    CHECK(k == 4 && memcmp(buf, "Once", 4) == 0);
    k = lorc_token_to_piece(v, -1, 403, buf, sizeof buf);
    CHECK(k == 4 && memcmp(buf, "Once", 4) == 0);
    k = lorc_token_to_piece(v, 403, 407, buf, sizeof buf);
    CHECK(k == 5 && memcmp(buf, " upon", 5) == 0);
    CHECK(lorc_token_to_piece(v, 403, 407, buf, 2) == 5); /* needs 5 bytes */
    CHECK(lorc_token_to_piece(v, 403, 1, buf, sizeof buf) == 0);   /* BOS: control, no text */
    CHECK(lorc_token_to_piece(v, 403, 198, buf, sizeof buf) == 1 && (unsigned char)buf[0] == 0xC3); /* <0xC3> */
    CHECK(lorc_token_to_piece(v, 403, 512, buf, sizeof buf) < 0);
    CHECK(strcmp(lorc_vocab_token_text(v, 1), "<s>") == 0);
    CHECK(lorc_vocab_token_text(v, -1) == NULL);
    lorc_vocab_free(v);
}

static void test_bpe_rules(void) {
    /* Llama 3: adds BOS by default; <|eot_id|> ends generation */
    lorc_vocab *v = load("tokenizer/ggml-vocab-llama-bpe.gguf");
    if (v) {
        CHECK(lorc_vocab_add_bos(v) && lorc_vocab_bos(v) == 128000 && lorc_vocab_eos(v) == 128001);
        CHECK(lorc_vocab_is_eog(v, 128001) && lorc_vocab_is_eog(v, 128009) && !lorc_vocab_is_eog(v, 128000));
        const int32_t hw[] = {128000, 9906, 1917};
        check_ids(v, "Hello world", LORC_TOKENIZE_ADD_BOS, hw, 3);
        const int32_t eot[] = {9906, 128009, 1917};
        check_ids(v, "Hello<|eot_id|> world", LORC_TOKENIZE_PARSE_SPECIAL, eot, 3);
        int32_t *ids = NULL;
        size_t n = 0;
        lorc_error err = {0};
        CHECK(lorc_tokenize(v, "Hello<|eot_id|> world", 21, 0, &ids, &n, &err) == LORC_OK);
        CHECK(n > 3 && !contains(ids, n, 128009));
        free(ids);
        char buf[16];
        CHECK(lorc_token_to_piece(v, -1, 1917, buf, sizeof buf) == 6 && memcmp(buf, " world", 6) == 0);
        check_round_trip(v, "Hello world", LORC_TOKENIZE_ADD_BOS);
        lorc_vocab_free(v);
    }
    /* GPT-2: no BOS unless the file asks for it */
    v = load("tokenizer/ggml-vocab-gpt-2.gguf");
    if (v) {
        CHECK(!lorc_vocab_add_bos(v));
        const int32_t hw[] = {15496, 995};
        check_ids(v, "Hello world", LORC_TOKENIZE_ADD_BOS | LORC_TOKENIZE_PARSE_SPECIAL, hw, 2);
        const int32_t eot[] = {15496, 50256};
        check_ids(v, "Hello<|endoftext|>", LORC_TOKENIZE_PARSE_SPECIAL, eot, 2);
        CHECK(lorc_vocab_is_eog(v, 50256));
        lorc_vocab_free(v);
    }
    /* DeepSeek: user-defined tokens ("ü" is one) are matched even without
     * special parsing; its control BOS only with it */
    v = load("tokenizer/ggml-vocab-deepseek-llm.gguf");
    if (v) {
        CHECK(lorc_vocab_add_bos(v) && lorc_vocab_bos(v) == 100000);
        const int32_t fuhrer[] = {100000, 37, 100014, 71, 6245};
        check_ids(v, "F\xC3\xBChrer", LORC_TOKENIZE_ADD_BOS, fuhrer, 5);
        const char *bos_text = lorc_vocab_token_text(v, 100000);
        int32_t *ids = NULL;
        size_t n = 0;
        lorc_error err = {0};
        CHECK(lorc_tokenize(v, bos_text, strlen(bos_text), LORC_TOKENIZE_PARSE_SPECIAL, &ids, &n, &err) == LORC_OK);
        CHECK(n == 1 && ids[0] == 100000);
        free(ids);
        CHECK(lorc_tokenize(v, bos_text, strlen(bos_text), 0, &ids, &n, &err) == LORC_OK);
        CHECK(n > 1 && !contains(ids, n, 100000));
        free(ids);
        lorc_vocab_free(v);
    }
}

/* Writes a vocab-only GGUF with the given model/pre names. */
static lorc_status write_vocab(const char *path, const char *model, const char *pre, lorc_error *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return LORC_ERR_NOMEM;
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xC4\xA0"};
    const char *merges[] = {"a b"};
    const int32_t types[] = {2, 3, 3, 1, 1, 1, 1};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 7);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    lorc_status st = gguf_writer_write(w, path, NULL, NULL, err);
    gguf_writer_free(w);
    return st;
}

static void test_refusals(void) {
    lorc_error err = {0};
    lorc_vocab *v = NULL;
    const char *path = test_tmp("tok_bert.gguf");
    CHECK(write_vocab(path, "bert", NULL, &err) == LORC_OK);
    CHECK(lorc_vocab_load(path, &v, &err) == LORC_ERR_UNSUPPORTED && v == NULL);
    CHECK_MSG(strstr(err.message, "'bert'") && strstr(err.message, "tokenizer.ggml.model"), "%s", err.message);

    path = test_tmp("tok_pre.gguf");
    CHECK(write_vocab(path, "gpt2", "no-such-pre", &err) == LORC_OK);
    CHECK(lorc_vocab_load(path, &v, &err) == LORC_ERR_UNSUPPORTED && v == NULL);
    CHECK_MSG(strstr(err.message, "'no-such-pre'") && strstr(err.message, "tokenizer.ggml.pre"), "%s", err.message);

    /* a gpt2 vocab without a pre name uses llama.cpp's "default" pre-tokenizer */
    path = test_tmp("tok_nopre.gguf");
    CHECK(write_vocab(path, "gpt2", NULL, &err) == LORC_OK);
    CHECK(lorc_vocab_load(path, &v, &err) == LORC_OK);
    if (v) {
        const int32_t ab[] = {5, 6, 5};
        check_ids(v, "ab ab", 0, ab, 3);
        lorc_vocab_free(v);
    }
    CHECK(lorc_vocab_load(test_shared("models/README.md"), &v, &err) != LORC_OK && v == NULL);
}

/* One vocab, several threads: results must not depend on interleaving. */
typedef struct job {
    const lorc_vocab *v;
    const char *text;
    size_t n_ids;
    int32_t first;
    bool ok;
} job;

static void *worker(void *arg) {
    job *j = arg;
    j->ok = true;
    for (int it = 0; it < 20; it++) {
        int32_t *ids = NULL;
        size_t n = 0;
        lorc_error err = {0};
        if (lorc_tokenize(j->v, j->text, strlen(j->text), LORC_TOKENIZE_ADD_BOS, &ids, &n, &err) != LORC_OK ||
            (it > 0 && (n != j->n_ids || ids[0] != j->first)))
            j->ok = false;
        j->n_ids = n;
        j->first = n ? ids[0] : -1;
        free(ids);
    }
    return NULL;
}

static void test_threads(void) {
    lorc_vocab *v = load("tokenizer/ggml-vocab-llama-bpe.gguf");
    if (!v) return;
    job jobs[3] = {{v, "Hello, y'all! How are you \xF0\x9F\x98\x81 ?", 0, 0, false},
                   {v, "3333333 is a number\n\n\tand more   text", 0, 0, false},
                   {v, "\xD0\xBD\xD0\xB5\xD1\x89\xD0\xBE \xD0\xBD\xD0\xB0", 0, 0, false}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, worker, &jobs[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECK(jobs[i].ok && jobs[i].first == 128000);
    lorc_vocab_free(v);
}

int main(void) {
    test_stories();
    test_bpe_rules();
    test_refusals();
    test_threads();
    return test_finish("test_tokenizer");
}
