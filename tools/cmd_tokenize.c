/* cmd_tokenize.c — `lorc tokenize`: the token ids of a text (from -p or a
 * file) under a GGUF file's tokenizer. Only the vocab is loaded, so it works
 * on vocab-only files of any architecture. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos] [--no-parse-special]\n"
            "\n"
            "Tokenizes TEXT (or the whole of FILE, byte for byte) with the tokenizer of\n"
            "MODEL, any GGUF file with tokenizer.ggml.* metadata (tensors are not loaded).\n"
            "Prints one line per token, \"ID -> 'PIECE'\" (control tokens show their text).\n"
            "\n"
            "  -m MODEL             GGUF file whose tokenizer to use\n"
            "  -p TEXT              text to tokenize\n"
            "  -f FILE              read the text from FILE\n"
            "  --ids                print only the ids, on one line separated by spaces\n"
            "  --no-bos             do not add BOS (by default it is added when the vocab asks)\n"
            "  --no-parse-special   tokenize special-token texts like \"<s>\" as plain text\n"
            "                       (by default they become the special tokens)\n");
}

/* Reads a whole file; NULL (with a message printed) on failure. */
static char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "lorc tokenize: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (!buf || bad) {
        fprintf(stderr, "lorc tokenize: cannot read '%s'%s\n", path, buf ? "" : ": out of memory");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Prints "ID -> 'PIECE'": the token's text as it appears in output, without
 * the start-of-text space stripping (prev = the token itself never strips,
 * unless the token is BOS, which is a control token and shown by name). */
static void print_token(const lorc_vocab *v, int32_t id) {
    char small[256];
    printf("%6d -> '", (int)id);
    if (lorc_vocab_is_control(v, id)) {
        fputs(lorc_vocab_token_text(v, id), stdout);
    } else {
        int n = lorc_token_to_piece(v, id, id, small, sizeof small);
        if (n > (int)sizeof small) {
            char *big = malloc((size_t)n);
            if (big && lorc_token_to_piece(v, id, id, big, (size_t)n) == n) fwrite(big, 1, (size_t)n, stdout);
            free(big);
        } else if (n > 0) {
            fwrite(small, 1, (size_t)n, stdout);
        }
    }
    fputs("'\n", stdout);
}

int lorc_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool ids_only = false, add_bos = true, parse_special = true, missing = false;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "-m", &val, &missing)) {
            model = val;
        } else if (cli_opt(argc, argv, &i, "-p", &val, &missing)) {
            prompt = val;
        } else if (cli_opt(argc, argv, &i, "-f", &val, &missing)) {
            file = val;
        } else if (!strcmp(argv[i], "--ids")) {
            ids_only = true;
        } else if (!strcmp(argv[i], "--no-bos")) {
            add_bos = false;
        } else if (!strcmp(argv[i], "--no-parse-special")) {
            parse_special = false;
        } else {
            return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        }
        if (missing) return 1;
    }
    if (!model || (!prompt == !file)) {
        return cli_usage_error("tokenize", "need -m MODEL and exactly one of -p TEXT / -f FILE");
    }

    size_t len = 0;
    char *text = NULL;
    if (file) {
        if (!(text = read_all(file, &len))) return 1;
    } else {
        len = strlen(prompt);
    }

    lorc_error err = {0};
    lorc_vocab *v = NULL;
    if (lorc_vocab_load(model, &v, &err) != LORC_OK) {
        free(text);
        return cli_fail("tokenize", &err);
    }
    int flags = (add_bos ? LORC_TOKENIZE_ADD_BOS : 0) | (parse_special ? LORC_TOKENIZE_PARSE_SPECIAL : 0);
    int32_t *ids = NULL;
    size_t n = 0;
    lorc_status st = lorc_tokenize(v, text ? text : prompt, len, flags, &ids, &n, &err);
    free(text);
    if (st != LORC_OK) {
        lorc_vocab_free(v);
        return cli_fail("tokenize", &err);
    }
    if (ids_only) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) print_token(v, ids[i]);
    }
    free(ids);
    lorc_vocab_free(v);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "lorc tokenize: cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
