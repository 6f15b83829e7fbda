/* fuzz_cli_options.c — libFuzzer target for the CLI's option parsing
 * (tools/cli.c), run in-process: the input is split at NUL bytes into an
 * argv, and every argument goes through the option matcher and the strict
 * number parsers. A parse that succeeds must return a value that is in range
 * and that the text really denotes; the option matcher must never step past
 * argv. The parsers print their one-line errors to stderr, several hundred MB
 * in a 30 s run, so the fuzzer closes the target's stderr (libFuzzer keeps its
 * own reports on a copy of it). */
// fuzz-options: -max_len=256 -close_fd_mask=2
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 32 };

static void check_number_parsers(const char *s, long min, long max) {
    long l = 0;
    if (cli_parse_int("fuzz", "--int", s, min, max, &l)) {
        char *end;
        if (l < min || l > max || strtol(s, &end, 10) != l || *end) abort();
    }
    float f = 0;
    if (cli_parse_float("fuzz", "--float", s, &f) && !isfinite(f)) abort();
    uint64_t u = 0;
    if (cli_parse_u64("fuzz", "--u64", s, &u)) {
        char *end;
        if (s[0] == '-' || (uint64_t)strtoull(s, &end, 10) != u || *end) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    /* Byte 0 picks the integer range the parsers are asked for. */
    static const long ranges[][2] = {{0, 0}, {1, 1 << 20}, {-1, 1}, {0, 65535}, {-1000000, 1000000}, {1, 512}};
    const long *range = ranges[data[0] % (sizeof ranges / sizeof ranges[0])];

    char *buf = malloc(size);
    if (!buf) abort();
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (char *p = buf; p < buf + size - 1 && argc < MAX_ARGS; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;

    /* The option loop every command runs: flags with values, then numbers. */
    static const char *const opts[] = {"-m", "-o", "-n", "--temp", "--top-k", "--seed", "-c", "--eval-text"};
    for (int i = 0; i < argc; i++) {
        int start = i;
        const char *val = NULL;
        bool matched = false, missing = false;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !matched; k++)
            matched = cli_opt(argc, argv, &i, opts[k], &val, &missing);
        if (!matched) {
            if (i != start) abort();
            check_number_parsers(argv[i], range[0], range[1]);
            continue;
        }
        if (missing) {
            if (val || i != start || i != argc - 1) abort();
            break;
        }
        if (i != start + 1 || i >= argc || val != argv[i]) abort();
        check_number_parsers(val, range[0], range[1]);
    }
    free(buf);
    return 0;
}
