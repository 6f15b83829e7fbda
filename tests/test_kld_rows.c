/* test_kld_rows.c — issue 6 item 5: the KL-divergence logits file reader
 * refuses a row whose scale or minimum log-probability would put Inf/NaN (or
 * probabilities above 1) into the statistics, naming chunk and row; flat rows
 * (scale 0, as the writer makes them for equal logits) still read. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kld_file.h"
#include "testutil.h"

enum { NCTX = 8, NV = 5, NCHUNK = 2 };

/* Writes a good file: chunk 1 from varied logits, chunk 2 from equal ones. */
static void write_good(const char *path) {
    int32_t tokens[NCHUNK * NCTX];
    for (int i = 0; i < NCHUNK * NCTX; i++) tokens[i] = i % NV;
    const int rows = kld_rows_per_chunk(NCTX);
    const size_t words = kld_row_words(NV);
    uint16_t *packed = calloc((size_t)rows * words, sizeof *packed);
    lorc_error err = {0};
    kld_writer w;
    CHECK_MSG(kld_writer_open(&w, path, NCTX, NV, NCHUNK, tokens, &err) == LORC_OK, "%s", err.message);
    for (int c = 0; c < NCHUNK; c++) {
        for (int r = 0; r < rows; r++) {
            float logits[NV];
            for (int i = 0; i < NV; i++) logits[i] = c == 0 ? (float)(i * (r + 1)) * 0.7f - 2.0f : 1.5f;
            kld_row_pack(logits, NV, tokens[r], packed + (size_t)r * words);
        }
        CHECK(kld_writer_rows(&w, packed, (size_t)rows, &err) == LORC_OK);
    }
    CHECK_MSG(kld_writer_commit(&w, &err) == LORC_OK, "%s", err.message);
    free(packed);
}

/* Reads every chunk; returns the first failure (LORC_OK when all read). */
static lorc_status read_all(const char *path, lorc_error *err) {
    kld_reader r;
    lorc_status st = kld_reader_open(&r, path, err);
    if (st != LORC_OK) return st;
    uint16_t *rows = calloc((size_t)r.rows_per_chunk * r.row_words, sizeof *rows);
    for (int c = 0; c < r.n_chunk && st == LORC_OK; c++) st = kld_reader_chunk(&r, rows, err);
    free(rows);
    kld_reader_close(&r);
    return st;
}

/* Copies `src` to `dst` with float `field` (0: scale, 1: min_log_prob) of
 * row `row` (0-based over the whole file) set to v. */
static void poke_row(const char *src, const char *dst, int row, int field, float v) {
    size_t len = 0;
    char *buf = test_read_file(src, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    size_t off = 20 + 4 * (size_t)NCHUNK * NCTX + (size_t)row * 2 * kld_row_words(NV) + 4 * (size_t)field;
    CHECK(off + 4 <= len);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; i++) buf[off + (size_t)i] = (char)(bits >> (8 * i)); /* little-endian */
    FILE *fp = fopen(dst, "wb");
    CHECK(fp && fwrite(buf, 1, len, fp) == len);
    if (fp) fclose(fp);
    free(buf);
}

int main(void) {
    char good[1024], bad[1024];
    snprintf(good, sizeof good, "%s", test_tmp("kld_rows_good.bin"));
    snprintf(bad, sizeof bad, "%s", test_tmp("kld_rows_bad.bin"));
    write_good(good);
    lorc_error err = {0};
    CHECK_MSG(read_all(good, &err) == LORC_OK, "the good file: %s", err.message);

    const int rows = kld_rows_per_chunk(NCTX); /* 3 */
    struct {
        int row, field;
        float v;
        const char *want; /* in the message */
    } cases[] = {
        {0, 0, NAN, "chunk 1, row 1: scale nan"},
        {2, 0, INFINITY, "chunk 1, row 3: scale inf"},
        {4, 0, -1e-3f, "chunk 2, row 2: scale -0.001"},
        {1, 1, NAN, "chunk 1, row 2: minimum log-probability nan"},
        {3, 1, -INFINITY, "chunk 2, row 1: minimum log-probability -inf"},
        {5, 1, 0.5f, "chunk 2, row 3: minimum log-probability 0.5"},
        {0, 0, FLT_MAX, "chunk 1, row 1: scale"}, /* top = min + 65535 x FLT_MAX */
        {1, 0, 1.0f, "above 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(cases[i].row < NCHUNK * rows);
        poke_row(good, bad, cases[i].row, cases[i].field, cases[i].v);
        lorc_status st = read_all(bad, &err);
        CHECK_MSG(st == LORC_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        CHECK_MSG(strstr(err.message, cases[i].want) && strstr(err.message, "kld_rows_bad.bin"),
                  "case %zu: message '%s' lacks '%s'", i, err.message, cases[i].want);
    }
    /* Scale 0 (flat) with an ordinary minimum is fine. */
    poke_row(good, bad, 1, 0, 0.0f);
    CHECK_MSG(read_all(bad, &err) == LORC_OK, "scale 0: %s", err.message);
    return test_finish("test_kld_rows");
}
