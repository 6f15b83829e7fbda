/* kld_file.h — llama.cpp's perplexity logits file (--kl-divergence-base), so
 * files saved by either engine can be compared by the other. Layout, all
 * little-endian: "_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk,
 * int32 tokens[n_chunk * n_ctx] (as tokenized; not BOS-replaced), then per
 * chunk the n_ctx - 1 - n_ctx/2 scored rows. A row is `row_words` uint16:
 * two floats (scale, min_log_prob) in the first four, then one uint16 per
 * vocab entry (padded to even) with log p = scale * v + min_log_prob; rows
 * keep only the top 16 nats below the best logit (everything lower is v=0). */
#ifndef LORC_TOOLS_KLD_FILE_H
#define LORC_TOOLS_KLD_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/atomic_file.h"
#include "lorc.h"

/* uint16 words per row: 4 header words + n_vocab rounded up to even. */
size_t kld_row_words(int n_vocab);
/* Scored rows per chunk: positions n_ctx/2 .. n_ctx-2 predict the next token. */
int kld_rows_per_chunk(int n_ctx);

/* Compresses one row of logits; returns the negative log-likelihood of `tok`
 * computed from the exact logits (as llama.cpp does while saving). */
double kld_row_pack(const float *logits, int n_vocab, int32_t tok, uint16_t *row);
/* Expands a row into n_vocab log-probabilities. */
void kld_row_unpack(const uint16_t *row, int n_vocab, float *log_probs);

typedef struct kld_writer {
    lorc_atomic_file af;
    size_t row_words;
    unsigned char *bytes; /* one encoded row */
} kld_writer;

/* Creates the file (under a temporary name until commit) and writes the header
 * and the n_chunk * n_ctx tokens. */
lorc_status kld_writer_open(kld_writer *w, const char *path, int n_ctx, int n_vocab, int n_chunk,
                            const int32_t *tokens, lorc_error *err);
lorc_status kld_writer_rows(kld_writer *w, const uint16_t *rows, size_t n_rows, lorc_error *err);
lorc_status kld_writer_commit(kld_writer *w, lorc_error *err);
void kld_writer_abort(kld_writer *w); /* safe on a zeroed writer */

typedef struct kld_reader {
    FILE *fp;
    char *path;
    int n_ctx, n_vocab, n_chunk;
    int32_t *tokens; /* owned [n_chunk * n_ctx] */
    size_t row_words;
    int rows_per_chunk;
    int next_chunk;
    unsigned char *bytes; /* one encoded row */
} kld_reader;

/* Opens and validates the whole layout against the file size (a truncated or
 * padded file, bad counts or out-of-vocab tokens are refused). */
lorc_status kld_reader_open(kld_reader *r, const char *path, lorc_error *err);
/* Reads the next chunk's rows_per_chunk * row_words words into rows; refuses
 * (LORC_ERR_FORMAT, naming chunk and row, both from 1) a row whose scale is
 * not finite and >= 0, or whose minimum log-probability is not finite and
 * <= 0 or puts the row's top above log-probability 0. */
lorc_status kld_reader_chunk(kld_reader *r, uint16_t *rows, lorc_error *err);
void kld_reader_close(kld_reader *r); /* safe on a zeroed reader */

#endif
