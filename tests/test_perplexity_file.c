/* test_perplexity_file.c — the llama.cpp logits file (write -> read gives
 * the same rows; unpacked log-probs within the format's quantization step;
 * corrupt files refused with one line) and the KL statistics on known cases.
 * The CLI's helpers are compiled in directly: they are not part of liblorc. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kld_file.h"
#include "kld_stats.h"
#include "testutil.h"

enum { NV = 37, NCTX = 8, NCHUNK = 2 };

static unsigned rng_state = 12345;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f;
}

static void random_logits(float *l, int n, float spread) {
    for (int i = 0; i < n; i++) l[i] = (frand() - 0.5f) * spread;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, n, fp);
    fclose(fp);
}

static void test_round_trip(void) {
    const int rows = kld_rows_per_chunk(NCTX);
    const size_t words = kld_row_words(NV);
    CHECK(rows == 3 && words == 4 + 38);
    int32_t tokens[NCHUNK * NCTX];
    for (int i = 0; i < NCHUNK * NCTX; i++) tokens[i] = (i * 7) % NV;
    uint16_t packed[NCHUNK][3][4 + 38];
    float logits[NCHUNK][3][NV];
    double nll[NCHUNK][3];
    for (int c = 0; c < NCHUNK; c++)
        for (int r = 0; r < rows; r++) {
            /* Wide spread: some entries fall below the 16-nat floor. */
            random_logits(logits[c][r], NV, 40.0f);
            nll[c][r] = kld_row_pack(logits[c][r], NV, tokens[c * NCTX + NCTX / 2 + r + 1], packed[c][r]);
        }

    const char *path = test_tmp("roundtrip.logits");
    kld_writer w;
    lorc_error err = {0};
    CHECK(kld_writer_open(&w, path, NCTX, NV, NCHUNK, tokens, &err) == LORC_OK);
    for (int c = 0; c < NCHUNK; c++) CHECK(kld_writer_rows(&w, &packed[c][0][0], (size_t)rows, &err) == LORC_OK);
    CHECK(kld_writer_commit(&w, &err) == LORC_OK);

    size_t len = 0;
    char *raw = test_read_file(path, &len);
    CHECK(raw && len == 20 + sizeof tokens + sizeof packed && memcmp(raw, "_logits_", 8) == 0);

    kld_reader r;
    CHECK_MSG(kld_reader_open(&r, path, &err) == LORC_OK, "%s", err.message);
    CHECK(r.n_ctx == NCTX && r.n_vocab == NV && r.n_chunk == NCHUNK && r.rows_per_chunk == rows);
    CHECK(memcmp(r.tokens, tokens, sizeof tokens) == 0);
    uint16_t back[3][4 + 38];
    int worst_ok = 1;
    for (int c = 0; c < NCHUNK; c++) {
        CHECK(kld_reader_chunk(&r, &back[0][0], &err) == LORC_OK);
        CHECK(memcmp(back, packed[c], sizeof back) == 0);
        for (int k = 0; k < rows; k++) {
            float lp[NV], exact[NV];
            kld_row_unpack(back[k], NV, lp);
            kld_log_softmax(logits[c][k], NV, exact);
            float max = exact[0];
            for (int i = 1; i < NV; i++) max = exact[i] > max ? exact[i] : max;
            float scale;
            memcpy(&scale, back[k], 4);
            for (int i = 0; i < NV; i++) {
                if (exact[i] >= max - 16.0f)
                    worst_ok &= fabsf(lp[i] - exact[i]) <= 0.5f * scale + 1e-4f;
                else
                    worst_ok &= lp[i] <= max - 16.0f + 1e-4f; /* clamped to the floor */
            }
            int32_t tok = tokens[c * NCTX + NCTX / 2 + k + 1];
            worst_ok &= fabs(nll[c][k] + exact[tok]) < 1e-4;
        }
    }
    CHECK_MSG(worst_ok, "unpacked log-probs within half a quantization step");
    CHECK(kld_reader_chunk(&r, &back[0][0], &err) == LORC_ERR_INVALID);
    kld_reader_close(&r);

    /* Corruptions: each is refused with a message naming the file. */
    const char *bad = test_tmp("bad.logits");
    struct {
        const char *what;
        size_t len;
        int patch_at;
        unsigned char patch;
    } cases[] = {
        {"truncated", len - 1, -1, 0},
        {"empty", 0, -1, 0},
        {"magic", len, 0, 'X'},
        {"n_ctx", len, 8, 9},
        {"n_vocab", len, 12, 0},
        {"n_chunk", len, 16, 5},
        {"token", len, 20, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = malloc(len + 1);
        memcpy(copy, raw, len);
        if (cases[i].patch_at >= 0) copy[cases[i].patch_at] = (char)cases[i].patch;
        write_bytes(bad, copy, cases[i].len);
        free(copy);
        lorc_error e = {0};
        lorc_status st = kld_reader_open(&r, bad, &e);
        CHECK_MSG(st == LORC_ERR_FORMAT && strstr(e.message, "bad.logits") && !strchr(e.message, '\n'),
                  "%s: status %d, '%s'", cases[i].what, st, e.message);
        kld_reader_close(&r);
    }
    /* Padding after the last chunk is refused too. */
    char *longer = malloc(len + 2);
    memcpy(longer, raw, len);
    longer[len] = longer[len + 1] = 0;
    write_bytes(bad, longer, len + 2);
    free(longer);
    lorc_error e = {0};
    CHECK(kld_reader_open(&r, bad, &e) == LORC_ERR_FORMAT);
    kld_reader_close(&r);
    CHECK(kld_reader_open(&r, test_tmp("does-not-exist.logits"), &e) == LORC_ERR_IO);
    kld_reader_close(&r);
    free(raw);
}

static void test_flat_row(void) {
    /* All logits equal: scale 0, every log-prob = -log(n). */
    float l[5] = {2, 2, 2, 2, 2}, lp[5];
    uint16_t row[4 + 6];
    double nll = kld_row_pack(l, 5, 3, row);
    kld_row_unpack(row, 5, lp);
    CHECK(fabs(nll - log(5.0)) < 1e-6);
    for (int i = 0; i < 5; i++) CHECK(fabsf(lp[i] + logf(5.0f)) < 1e-6f);
}

static void test_kld_stats(void) {
    /* Against itself (through the file's quantization, steps of ~2e-4 nats): KL ~ 0, same top. */
    kld_stats k = {0};
    for (int n = 0; n < 200; n++) {
        float l[NV], lp[NV];
        uint16_t row[4 + 38];
        random_logits(l, NV, 12.0f);
        kld_row_pack(l, NV, n % NV, row);
        kld_row_unpack(row, NV, lp);
        kld_stats_add(&k, NV, l, lp, n % NV, NULL, NULL);
    }
    kld_summary s;
    kld_summarize(&k, &s);
    CHECK_MSG(s.count == 200 && s.same_top == 1.0 && fabs(s.kld) < 2e-5, "count %zu same %g kld %g", s.count, s.same_top, s.kld);
    CHECK(fabs(s.ratio - 1.0) < 1e-4 && fabs(s.ppl - s.ppl_base) < 1e-3 * s.ppl);

    /* Two tokens, base (0.75, 0.25), test (0.5, 0.5): KL = 0.75 ln 1.5 + 0.25 ln 0.5. */
    kld_stats t = {0};
    float test_logits[2] = {0.0f, 0.0f};
    float base_lp[2] = {logf(0.75f), logf(0.25f)};
    float kl = 0, pd = 0;
    kld_stats_add(&t, 2, test_logits, base_lp, 0, &kl, &pd);
    double want = 0.75 * log(1.5) + 0.25 * log(0.5);
    CHECK(fabs(kl - want) < 1e-6);
    CHECK(fabs(pd - (0.5 - 0.75)) < 1e-6);
    CHECK(t.n_same_top == 1); /* a tie in the test model goes to the lowest id, like the base's 0 */
    kld_summarize(&t, &s);
    CHECK(fabs(s.ppl - 2.0) < 1e-5 && fabs(s.ppl_base - 1.0 / 0.75) < 1e-5);

    float sorted[] = {1, 2, 3, 4, 5};
    CHECK(kld_percentile(sorted, 5, 0.5f) == 3.0f && kld_percentile(sorted, 5, 0.0f) == 1.0f);
    CHECK(fabsf(kld_percentile(sorted, 5, 0.125f) - 1.5f) < 1e-6f);
}

int main(void) {
    test_round_trip();
    test_flat_row();
    test_kld_stats();
    return test_finish("test_perplexity_file");
}
