/* fuzz_kld_file.c — libFuzzer target for the KL-divergence logits-file reader
 * (tools/kld_file.c): arbitrary bytes, written to a scratch file (the reader
 * takes a path), must either be refused with a one-line message naming the
 * file, or open with a layout that matches the file, every token inside the
 * vocab, and every chunk readable and unpackable. */
// fuzz-options: -max_len=8192
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kld_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one_line_naming(const lorc_error *err, const char *path) {
    return strncmp(err->message, path, strlen(path)) == 0 && !strchr(err->message, '\n');
}

/* The scratch file, removed when the fuzzer exits so runs leave nothing behind. */
static char path[64];

static void remove_scratch(void) { remove(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz-kld-%ld.bin", (long)getpid());
        atexit(remove_scratch);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();

    kld_reader r;
    lorc_error err = {0};
    if (kld_reader_open(&r, path, &err) != LORC_OK) {
        if (!one_line_naming(&err, path)) abort();
        return 0;
    }
    /* The reader checked the size: header + tokens + rows is the whole file. */
    uint64_t expect = 20 + 4 * (uint64_t)r.n_chunk * (uint64_t)r.n_ctx +
                      2 * (uint64_t)r.row_words * (uint64_t)r.rows_per_chunk * (uint64_t)r.n_chunk;
    if (expect != size || r.rows_per_chunk < 1) abort();
    for (int i = 0; i < r.n_chunk * r.n_ctx; i++)
        if (r.tokens[i] < 0 || r.tokens[i] >= r.n_vocab) abort();

    uint16_t *rows = malloc((size_t)r.rows_per_chunk * r.row_words * sizeof *rows);
    float *log_probs = malloc((size_t)r.n_vocab * sizeof *log_probs);
    if (!rows || !log_probs) abort();
    volatile float sink = 0;
    for (int c = 0; c < r.n_chunk; c++) {
        if (kld_reader_chunk(&r, rows, &err) != LORC_OK) {
            if (!one_line_naming(&err, path)) abort();
            break;
        }
        for (int i = 0; i < r.rows_per_chunk; i++) {
            kld_row_unpack(rows + (size_t)i * r.row_words, r.n_vocab, log_probs);
            sink += log_probs[r.n_vocab - 1];
        }
    }
    (void)sink;
    /* One chunk more than the file holds is an error, not a read past it. */
    if (r.next_chunk == r.n_chunk && kld_reader_chunk(&r, rows, &err) == LORC_OK) abort();
    free(rows);
    free(log_probs);
    kld_reader_close(&r);
    return 0;
}
