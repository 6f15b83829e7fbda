/* kld_file.c — reading and writing llama.cpp's perplexity logits file (see
 * kld_file.h for the layout) and the per-row uint16 log-prob compression. */
#include "kld_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/checked.h"
#include "base/error.h"

static const char kld_magic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
enum { KLD_HEADER_BYTES = 8 + 3 * 4 };

size_t kld_row_words(int n_vocab) { return 2 * (((size_t)n_vocab + 1) / 2) + 4; }

int kld_rows_per_chunk(int n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* ---------------------------------------------------------------- rows */

double kld_row_pack(const float *logits, int n_vocab, int32_t tok, uint16_t *row) {
    float max_logit = logits[0], min_logit = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > max_logit) max_logit = logits[i];
        if (logits[i] < min_logit) min_logit = logits[i];
    }
    /* Probabilities below e^-16 of the best are not worth 16 bits of range. */
    if (min_logit < max_logit - 16) min_logit = max_logit - 16;
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);
    const float min_log_prob = min_logit - max_logit - log_sum_exp;
    const float scale = (max_logit - min_logit) / 65535.f;
    memcpy(row, &scale, sizeof scale);
    memcpy(row + 2, &min_log_prob, sizeof min_log_prob);
    uint16_t *v = row + 4;
    size_t words = kld_row_words(n_vocab) - 4;
    memset(v, 0, words * sizeof *v);
    if (scale != 0.0f) {
        const float inv_scale = 1 / scale;
        for (int i = 0; i < n_vocab; i++) {
            if (!(logits[i] > min_logit)) continue;
            long q = lrintf(inv_scale * (logits[i] - min_logit)); /* round half to even */
            v[i] = (uint16_t)(q < 0 ? 0 : q > 65535 ? 65535 : q);
        }
    }
    /* In double: max - logit of two finite floats can overflow a float. */
    return (double)max_logit + (double)log_sum_exp - (double)logits[tok];
}

void kld_row_unpack(const uint16_t *row, int n_vocab, float *log_probs) {
    float scale, min_log_prob;
    memcpy(&scale, row, sizeof scale);
    memcpy(&min_log_prob, row + 2, sizeof min_log_prob);
    const uint16_t *v = row + 4;
    for (int i = 0; i < n_vocab; i++) log_probs[i] = scale * v[i] + min_log_prob;
}

/* ---------------------------------------------------- little-endian I/O */

static void put_u32(unsigned char *p, uint32_t x) {
    p[0] = (unsigned char)x;
    p[1] = (unsigned char)(x >> 8);
    p[2] = (unsigned char)(x >> 16);
    p[3] = (unsigned char)(x >> 24);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The two header floats travel as their IEEE bits; the rest as uint16. */
static void encode_row(const uint16_t *row, size_t words, unsigned char *out) {
    uint32_t bits;
    memcpy(&bits, row, 4);
    put_u32(out, bits);
    memcpy(&bits, row + 2, 4);
    put_u32(out + 4, bits);
    for (size_t i = 4; i < words; i++) {
        out[2 * i] = (unsigned char)row[i];
        out[2 * i + 1] = (unsigned char)(row[i] >> 8);
    }
}

static void decode_row(const unsigned char *in, size_t words, uint16_t *row) {
    uint32_t bits = get_u32(in);
    memcpy(row, &bits, 4);
    bits = get_u32(in + 4);
    memcpy(row + 2, &bits, 4);
    for (size_t i = 4; i < words; i++) row[i] = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
}

/* -------------------------------------------------------------- writer */

lorc_status kld_writer_open(kld_writer *w, const char *path, int n_ctx, int n_vocab, int n_chunk,
                            const int32_t *tokens, lorc_error *err) {
    memset(w, 0, sizeof *w);
    if (n_ctx < 4 || n_vocab < 1 || n_chunk < 1)
        return lorc_fail(err, LORC_ERR_INVALID, "%s: bad logits file shape n_ctx=%d n_vocab=%d n_chunk=%d", path,
                         n_ctx, n_vocab, n_chunk);
    w->row_words = kld_row_words(n_vocab);
    w->bytes = malloc(2 * w->row_words);
    if (!w->bytes) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    lorc_status st = lorc_atomic_file_open(&w->af, path, err);
    if (st != LORC_OK) {
        free(w->bytes);
        w->bytes = NULL;
        return st;
    }
    unsigned char head[KLD_HEADER_BYTES];
    memcpy(head, kld_magic, 8);
    put_u32(head + 8, (uint32_t)n_ctx);
    put_u32(head + 12, (uint32_t)n_vocab);
    put_u32(head + 16, (uint32_t)n_chunk);
    int bad = fwrite(head, 1, sizeof head, w->af.fp) != sizeof head;
    size_t n_tok = (size_t)n_chunk * (size_t)n_ctx;
    for (size_t i = 0; i < n_tok && !bad; i++) {
        unsigned char b[4];
        put_u32(b, (uint32_t)tokens[i]);
        bad = fwrite(b, 1, 4, w->af.fp) != 4;
    }
    if (bad) {
        int e = errno;
        kld_writer_abort(w);
        return lorc_fail(err, LORC_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return LORC_OK;
}

lorc_status kld_writer_rows(kld_writer *w, const uint16_t *rows, size_t n_rows, lorc_error *err) {
    for (size_t r = 0; r < n_rows; r++) {
        encode_row(rows + r * w->row_words, w->row_words, w->bytes);
        if (fwrite(w->bytes, 2, w->row_words, w->af.fp) != w->row_words)
            return lorc_fail(err, LORC_ERR_IO, "%s: write failed: %s", w->af.final_path, strerror(errno));
    }
    return LORC_OK;
}

lorc_status kld_writer_commit(kld_writer *w, lorc_error *err) {
    lorc_status st = lorc_atomic_file_commit(&w->af, err);
    free(w->bytes);
    w->bytes = NULL;
    return st;
}

void kld_writer_abort(kld_writer *w) {
    if (!w) return;
    if (w->af.fp || w->af.temp_path) lorc_atomic_file_abort(&w->af);
    free(w->bytes);
    w->bytes = NULL;
}

/* -------------------------------------------------------------- reader */

static lorc_status reader_fail(kld_reader *r, lorc_status st) {
    kld_reader_close(r);
    return st;
}

lorc_status kld_reader_open(kld_reader *r, const char *path, lorc_error *err) {
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    if (!r->path) return lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory", path);
    r->fp = fopen(path, "rb");
    if (!r->fp) return reader_fail(r, lorc_fail(err, LORC_ERR_IO, "%s: %s", path, strerror(errno)));
    struct stat sb;
    if (fstat(fileno(r->fp), &sb) != 0 || !S_ISREG(sb.st_mode))
        return reader_fail(r, lorc_fail(err, LORC_ERR_IO, "%s: not a regular file", path));
    uint64_t file_size = (uint64_t)sb.st_size;

    unsigned char head[KLD_HEADER_BYTES];
    if (file_size < sizeof head || fread(head, 1, sizeof head, r->fp) != sizeof head)
        return reader_fail(r,
                           lorc_fail(err, LORC_ERR_FORMAT, "%s: truncated logits file header (%llu bytes)", path,
                                     (unsigned long long)file_size));
    if (memcmp(head, kld_magic, 8) != 0)
        return reader_fail(r,
                           lorc_fail(err, LORC_ERR_FORMAT, "%s: not a logits file (magic is not \"_logits_\")", path));
    uint32_t n_ctx = get_u32(head + 8), n_vocab = get_u32(head + 12), n_chunk = get_u32(head + 16);
    if (n_ctx < 4 || n_ctx > (1u << 24))
        return reader_fail(r, lorc_fail(err, LORC_ERR_FORMAT, "%s: n_ctx %u out of range 4..16777216", path, n_ctx));
    if (n_vocab < 1 || n_vocab > (1u << 24))
        return reader_fail(r,
                           lorc_fail(err, LORC_ERR_FORMAT, "%s: n_vocab %u out of range 1..16777216", path, n_vocab));
    if (n_chunk < 1 || n_chunk > (1u << 30))
        return reader_fail(r, lorc_fail(err, LORC_ERR_FORMAT, "%s: n_chunk %u out of range", path, n_chunk));
    r->n_ctx = (int)n_ctx;
    r->n_vocab = (int)n_vocab;
    r->n_chunk = (int)n_chunk;
    r->row_words = kld_row_words(r->n_vocab);
    r->rows_per_chunk = kld_rows_per_chunk(r->n_ctx);

    /* Expected size: header + tokens + every chunk's rows, overflow-checked. */
    uint64_t n_tok = 0, tok_bytes = 0, chunk_bytes = 0, all_rows = 0, expect = 0;
    bool ok = lorc_mul_u64(n_chunk, n_ctx, &n_tok) && lorc_mul_u64(n_tok, 4, &tok_bytes) &&
              lorc_mul_u64((uint64_t)r->rows_per_chunk, 2 * (uint64_t)r->row_words, &chunk_bytes) &&
              lorc_mul_u64(chunk_bytes, n_chunk, &all_rows) && lorc_add_u64(KLD_HEADER_BYTES, tok_bytes, &expect) &&
              lorc_add_u64(expect, all_rows, &expect);
    if (!ok || expect != file_size)
        return reader_fail(r,
                           lorc_fail(err, LORC_ERR_FORMAT,
                                     "%s: file is %llu bytes but n_ctx=%u n_vocab=%u n_chunk=%u need %llu%s", path,
                                     (unsigned long long)file_size, n_ctx, n_vocab, n_chunk,
                                     (unsigned long long)expect, ok ? "" : " (overflow)"));

    r->tokens = malloc((size_t)n_tok * sizeof *r->tokens);
    r->bytes = malloc(2 * r->row_words);
    unsigned char *tb = malloc((size_t)tok_bytes);
    if (!r->tokens || !r->bytes || !tb) {
        free(tb);
        return reader_fail(r, lorc_fail(err, LORC_ERR_NOMEM, "%s: out of memory for %llu tokens", path,
                                             (unsigned long long)n_tok));
    }
    if (fread(tb, 1, (size_t)tok_bytes, r->fp) != (size_t)tok_bytes) {
        free(tb);
        return reader_fail(r, lorc_fail(err, LORC_ERR_IO, "%s: short read in the token list", path));
    }
    for (uint64_t i = 0; i < n_tok; i++) {
        uint32_t t = get_u32(tb + 4 * i);
        if (t >= n_vocab) {
            free(tb);
            return reader_fail(r,
                               lorc_fail(err, LORC_ERR_FORMAT, "%s: token %llu is %d, outside the vocab of %u", path,
                                         (unsigned long long)i, (int32_t)t, n_vocab));
        }
        r->tokens[i] = (int32_t)t;
    }
    free(tb);
    return LORC_OK;
}

/* A row's two floats must describe log-probabilities: a finite scale >= 0
 * (0: a flat row, which the writers produce when every logit is equal) and a
 * finite min_log_prob <= 0 whose top, min + 65535·scale, is finite and not
 * above 0 (a little slack for float rounding). Anything else would put
 * Inf/NaN, or probabilities above 1, into the KL statistics. */
static lorc_status check_row(const kld_reader *r, const uint16_t *row, int index, lorc_error *err) {
    float scale, min_log_prob;
    memcpy(&scale, row, sizeof scale);
    memcpy(&min_log_prob, row + 2, sizeof min_log_prob);
    const int chunk = r->next_chunk + 1;
    if (!isfinite(scale) || !(scale >= 0.0f))
        return lorc_fail(err, LORC_ERR_FORMAT, "%s: chunk %d, row %d: scale %g is not a finite number >= 0", r->path,
                         chunk, index, (double)scale);
    if (!isfinite(min_log_prob) || !(min_log_prob <= 0.0f))
        return lorc_fail(err, LORC_ERR_FORMAT,
                         "%s: chunk %d, row %d: minimum log-probability %g is not a finite number <= 0", r->path, chunk,
                         index, (double)min_log_prob);
    const double top = (double)min_log_prob + 65535.0 * (double)scale;
    if (!(top <= 1e-3))
        return lorc_fail(err, LORC_ERR_FORMAT,
                         "%s: chunk %d, row %d: scale %g and minimum %g give a log-probability of %g (above 0)",
                         r->path, chunk, index, (double)scale, (double)min_log_prob, top);
    return LORC_OK;
}

lorc_status kld_reader_chunk(kld_reader *r, uint16_t *rows, lorc_error *err) {
    if (r->next_chunk >= r->n_chunk)
        return lorc_fail(err, LORC_ERR_INVALID, "%s: all %d chunks already read", r->path, r->n_chunk);
    for (int i = 0; i < r->rows_per_chunk; i++) {
        if (fread(r->bytes, 2, r->row_words, r->fp) != r->row_words)
            return lorc_fail(err, LORC_ERR_IO, "%s: short read in chunk %d", r->path, r->next_chunk + 1);
        uint16_t *row = rows + (size_t)i * r->row_words;
        decode_row(r->bytes, r->row_words, row);
        lorc_status st = check_row(r, row, i + 1, err);
        if (st != LORC_OK) return st;
    }
    r->next_chunk++;
    return LORC_OK;
}

void kld_reader_close(kld_reader *r) {
    if (!r) return;
    if (r->fp) fclose(r->fp);
    free(r->path);
    free(r->tokens);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}
