/* test_kv_pages.c — the paged KV cache: F16 and Q8_0 within a stated
 * tolerance of F32 (stories260K, and a synthetic model whose head_dim fits
 * Q8_0's 32-value blocks), Q8_0 refused in one line where it does not fit,
 * KV bytes that grow with the tokens and not with n_ctx, the budget
 * (LORC_ERR_KV_FULL with nothing advanced or lost, then success once a
 * sequence is freed), and chunk invariance of logits over pages (chunks of
 * 1, 3 and 16 give the same bits as the whole prompt; so do pages of 1, 5,
 * 16 or 64 positions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "synth.h"
#include "tensor/kernels.h"
#include "testutil.h"

static const char *PROMPT =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her dog. "
    "One day, she saw a big red ball in the park and ran to get it.";

static lorc_context *new_ctx(lorc_model *m, lorc_kv_type tk, lorc_kv_type tv, int n_ctx, size_t budget,
                             bool prefix) {
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = 2;
    cp.n_ctx = n_ctx;
    cp.type_k = tk;
    cp.type_v = tv;
    cp.kv_budget_bytes = budget;
    cp.prefix_cache = prefix;
    lorc_context *ctx = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK, "%s", err.message);
    return ctx;
}

/* Logits of every token fed in chunks of `chunk` tokens (0: all at once). */
static float *logits_of(lorc_model *m, lorc_context *ctx, const int32_t *t, int n, int chunk) {
    const size_t nv = (size_t)lorc_model_n_vocab(m);
    float *l = malloc((size_t)n * nv * sizeof *l);
    lorc_error err = {0};
    lorc_sequence *s = NULL;
    CHECK(lorc_sequence_new(ctx, &s, &err) == LORC_OK);
    if (chunk <= 0) chunk = n;
    for (int done = 0; done < n; done += chunk) {
        const int c = n - done < chunk ? n - done : chunk;
        CHECK_MSG(lorc_decode(ctx, s, t + done, c, true, l + (size_t)done * nv, &err) == LORC_OK, "%s", err.message);
    }
    lorc_sequence_free(s);
    return l;
}

/* max |a - b| / max |b|. */
static double rel(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

/* Argmax agreement of two logits tables (n rows). */
static int same_argmax(const float *a, const float *b, int n, int nv) {
    int same = 0;
    for (int r = 0; r < n; r++) {
        int ia = 0, ib = 0;
        for (int v = 1; v < nv; v++) {
            if (a[(size_t)r * nv + v] > a[(size_t)r * nv + ia]) ia = v;
            if (b[(size_t)r * nv + v] > b[(size_t)r * nv + ib]) ib = v;
        }
        same += ia == ib;
    }
    return same;
}

/* F16 / Q8_0 against F32, and chunk invariance, on one model. */
static void types_and_chunks(lorc_model *m, const int32_t *t, int n, bool q8, const char *what) {
    const int nv = lorc_model_n_vocab(m);
    const size_t all = (size_t)n * (size_t)nv;
    lorc_context *c32 = new_ctx(m, LORC_KV_F32, LORC_KV_F32, 256, 0, false);
    lorc_context *c16 = new_ctx(m, LORC_KV_F16, LORC_KV_F16, 256, 0, false);
    float *l32 = logits_of(m, c32, t, n, 0), *l16 = logits_of(m, c16, t, n, 0);
    /* F16 keeps 11 significant bits of every K and V value: logits move by
     * about 6e-4 of their range on stories260K, bound 2e-3. */
    const double r16 = rel(l16, l32, all);
    printf("%s: F16 vs F32 max rel diff %.3g, argmax agreement %d/%d\n", what, r16, same_argmax(l16, l32, n, nv), n);
    CHECK_MSG(r16 > 0 && r16 < 2e-3, "%s: F16 KV vs F32 rel diff %g", what, r16);
    CHECK(same_argmax(l16, l32, n, nv) >= n - 1);
    for (int k = 0; k < 3; k++) {
        static const int chunks[3] = {1, 3, 16};
        float *lc = logits_of(m, c16, t, n, chunks[k]);
        CHECK_MSG(!memcmp(lc, l16, all * sizeof *lc), "%s: F16, chunks of %d differ from one batch", what, chunks[k]);
        free(lc);
        lc = logits_of(m, c32, t, n, chunks[k]);
        CHECK_MSG(!memcmp(lc, l32, all * sizeof *lc), "%s: F32, chunks of %d differ from one batch", what, chunks[k]);
        free(lc);
    }
    if (q8) {
        lorc_context *c8 = new_ctx(m, LORC_KV_Q8_0, LORC_KV_Q8_0, 256, 0, false);
        lorc_context *c8k = new_ctx(m, LORC_KV_Q8_0, LORC_KV_F16, 256, 0, false);
        float *l8 = logits_of(m, c8, t, n, 0), *l8k = logits_of(m, c8k, t, n, 0);
        /* Q8_0 keeps ~8 bits per value (and the queries are quantized for
         * the Q8_0 dot): about 2.5e-3 of the range here, bound 1e-2. */
        const double r8 = rel(l8, l32, all), r8k = rel(l8k, l32, all);
        printf("%s: Q8_0 vs F32 max rel diff %.3g (K only: %.3g), argmax agreement %d/%d\n", what, r8, r8k,
               same_argmax(l8, l32, n, nv), n);
        CHECK_MSG(r8 > 0 && r8 < 1e-2, "%s: Q8_0 KV vs F32 rel diff %g", what, r8);
        CHECK_MSG(r8k > 0 && r8k < 1e-2, "%s: Q8_0 K vs F32 rel diff %g", what, r8k);
        CHECK(same_argmax(l8, l32, n, nv) >= n * 3 / 4);
        for (int k = 0; k < 3; k++) {
            static const int chunks[3] = {1, 3, 16};
            float *lc = logits_of(m, c8, t, n, chunks[k]);
            CHECK_MSG(!memcmp(lc, l8, all * sizeof *lc), "%s: Q8_0, chunks of %d differ", what, chunks[k]);
            free(lc);
        }
        free(l8);
        free(l8k);
        lorc_context_free(c8);
        lorc_context_free(c8k);
    }
    free(l32);
    free(l16);
    lorc_context_free(c32);
    lorc_context_free(c16);
}

/* The page size changes where pages break, never a bit of the logits. */
static void page_sizes(lorc_model *m, const int32_t *t, int n) {
    const size_t all = (size_t)n * (size_t)lorc_model_n_vocab(m);
    float *ref = NULL;
    static const int sizes[4] = {16, 1, 5, 64};
    for (int k = 0; k < 4; k++) {
        lorc_context_params cp = lorc_context_default_params();
        cp.n_threads = 2;
        cp.n_ctx = 256;
        cp.kv_page_tokens = sizes[k];
        lorc_context *ctx = NULL;
        lorc_error err = {0};
        CHECK_MSG(lorc_context_new(m, &cp, &ctx, &err) == LORC_OK, "%s", err.message);
        if (!ctx) continue;
        float *l = logits_of(m, ctx, t, n, 7);
        if (!ref)
            ref = l;
        else {
            CHECK_MSG(!memcmp(l, ref, all * sizeof *l), "pages of %d positions change the logits", sizes[k]);
            free(l);
        }
        lorc_context_free(ctx);
    }
    free(ref);
}

/* KV bytes follow the tokens; budget exhaustion changes nothing. */
static void bytes_and_budget(lorc_model *m, const int32_t *t, int n) {
    lorc_error err = {0};
    const int nv = lorc_model_n_vocab(m);
    float *lg = malloc((size_t)nv * sizeof *lg);
    /* n_ctx 4096: a 5-token sequence still holds one page. */
    lorc_context *ctx = new_ctx(m, LORC_KV_F16, LORC_KV_F16, 4096, 0, false);
    lorc_sequence *s = NULL;
    CHECK(lorc_sequence_new(ctx, &s, &err) == LORC_OK);
    CHECK(lorc_sequence_kv_bytes(s) == 0 && lorc_context_kv_bytes(ctx) == 0);
    CHECK(lorc_decode(ctx, s, t, 5, false, lg, &err) == LORC_OK);
    const size_t page = lorc_sequence_kv_bytes(s);
    /* 16 positions x 5 layers x (K + V) x 4 KV heads x 8 values x 2 bytes */
    CHECK_MSG(page == 16u * 5 * 2 * 4 * 8 * 2, "one page is %zu bytes", page);
    CHECK(lorc_context_kv_bytes(ctx) == page);
    CHECK(lorc_decode(ctx, s, t + 5, 12, false, lg, &err) == LORC_OK); /* 17 positions: 2 pages */
    CHECK(lorc_sequence_kv_bytes(s) == 2 * page);
    lorc_sequence_reset(s);
    CHECK(lorc_sequence_kv_bytes(s) == 0 && lorc_context_kv_bytes(ctx) == 0);
    lorc_sequence_free(s);
    lorc_context_free(ctx);

    /* Budget of 4 pages: A takes 3 (40 positions), B one; then A needs a
     * fourth at position 48 and B a second at 16. */
    ctx = new_ctx(m, LORC_KV_F16, LORC_KV_F16, 256, 4 * page + page / 2, false);
    CHECK(lorc_context_kv_budget(ctx) == 4 * page + page / 2);
    lorc_sequence *a = NULL, *b = NULL, *c = NULL;
    CHECK(lorc_sequence_new(ctx, &a, &err) == LORC_OK && lorc_sequence_new(ctx, &b, &err) == LORC_OK &&
          lorc_sequence_new(ctx, &c, &err) == LORC_OK);
    CHECK(lorc_decode(ctx, a, t, 40, false, lg, &err) == LORC_OK);
    CHECK(lorc_decode(ctx, b, t, 10, false, lg, &err) == LORC_OK);
    CHECK(lorc_context_kv_bytes(ctx) == 4 * page);
    /* c needs a page: none left. */
    lorc_status st = lorc_decode(ctx, c, t, 3, false, lg, &err);
    CHECK_MSG(st == LORC_ERR_KV_FULL && strstr(err.message, "KV page pool exhausted") && strstr(err.message, "budget"),
              "%d %s", st, err.message);
    CHECK(!strchr(err.message, '\n'));
    CHECK(lorc_sequence_n_past(c) == 0 && lorc_sequence_kv_bytes(c) == 0);
    /* A batch step where one item fits (a: position 40, inside its third
     * page) and one does not (b: 10 tokens crossing into a second page):
     * the whole step fails, neither advances. */
    float *la = malloc((size_t)nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb);
    lorc_decode_item items[2] = {{a, t + 40, 1, false, la}, {b, t + 10, 10, false, lb}};
    st = lorc_decode_batch(ctx, items, 2, &err);
    CHECK_MSG(st == LORC_ERR_KV_FULL, "%d %s", st, err.message);
    CHECK(lorc_sequence_n_past(a) == 40 && lorc_sequence_n_past(b) == 10);
    CHECK(lorc_context_kv_bytes(ctx) == 4 * page);
    /* A one-call decode that would cross into a fourth page for a fails
     * up front, and a is still intact: its next token's logits equal a
     * run without any budget. */
    st = lorc_decode(ctx, a, t + 40, 9, false, lg, &err);
    CHECK(st == LORC_ERR_KV_FULL && lorc_sequence_n_past(a) == 40);
    CHECK(lorc_decode(ctx, a, t + 40, 1, false, la, &err) == LORC_OK);
    lorc_context *free_ctx = new_ctx(m, LORC_KV_F16, LORC_KV_F16, 256, 0, false);
    float *ref = logits_of(m, free_ctx, t, 41, 0);
    CHECK_MSG(!memcmp(la, ref + (size_t)40 * nv, (size_t)nv * sizeof *la), "a lost data after the failed steps");
    /* Freeing b makes room: c's step now succeeds and equals the reference. */
    lorc_sequence_free(b);
    CHECK(lorc_context_kv_bytes(ctx) == 3 * page);
    CHECK_MSG(lorc_decode(ctx, c, t, 3, false, lg, &err) == LORC_OK, "%s", err.message);
    CHECK(!memcmp(lg, ref + (size_t)2 * nv, (size_t)nv * sizeof *lg));
    lorc_sequence_free(a);
    lorc_sequence_free(c);
    CHECK(lorc_context_kv_bytes(ctx) == 0);
    free(ref);
    free(la);
    free(lb);
    free(lg);
    lorc_context_free(free_ctx);
    lorc_context_free(ctx);
    (void)n;
}

/* The vec kernels' F16 conversions (F16C on x86) give the scalar bits:
 * every half to float, and floats of every magnitude (F16 subnormals,
 * rounding ties, overflow) to half, on odd lengths (tails). */
static void f16_conversions(void) {
    lorc_kernels fast, ref;
    lorc_cpu_features cpu;
    lorc_cpu_detect(&cpu);
    lorc_kernels_init(&fast, &cpu, lorc_isa_best(&cpu));
    lorc_kernels_init_scalar(&ref);
    enum { N = 65536 };
    uint16_t *h = malloc(N * sizeof *h), *h2 = malloc(N * sizeof *h2);
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    for (int i = 0; i < N; i++) h[i] = (uint16_t)i;
    fast.vec.f16_to_f32(h, a, N - 3);
    ref.vec.f16_to_f32(h, b, N - 3);
    int bad = 0;
    for (int i = 0; i < N - 3; i++) bad += isnan(a[i]) ? !isnan(b[i]) : memcmp(&a[i], &b[i], sizeof a[i]) != 0;
    CHECK_MSG(bad == 0, "%d halves convert differently", bad);
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        const double mag = ldexp(1.0, (int)(r >> 59) - 27 + (int)((r >> 40) & 15)); /* 2^-27 .. 2^19 */
        a[i] = (float)(((double)(r >> 11) / 9007199254740992.0 - 0.5) * mag);
        if (i % 7 == 0) a[i] = (float)((int)(r >> 44) % 4096) / 1024.0f + 1.0f / 2048.0f; /* ties */
    }
    a[0] = 65504.0f;
    a[1] = 65520.0f; /* rounds to inf */
    a[2] = -1e9f;
    fast.vec.f32_to_f16(a, h, N - 5);
    ref.vec.f32_to_f16(a, h2, N - 5);
    bad = 0;
    for (int i = 0; i < N - 5; i++) bad += h[i] != h2[i];
    CHECK_MSG(bad == 0, "%d floats convert to half differently", bad);
    free(h);
    free(h2);
    free(a);
    free(b);
}

int main(void) {
    f16_conversions();
    lorc_error err = {0};
    lorc_model *m = NULL;
    if (lorc_model_load(test_shared("models/stories260K.gguf"), &m, &err) != LORC_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int32_t *t = NULL;
    size_t n = 0;
    CHECK(lorc_tokenize(lorc_model_vocab(m), PROMPT, strlen(PROMPT), LORC_TOKENIZE_ADD_BOS, &t, &n, &err) == LORC_OK);
    CHECK(n >= 50);
    types_and_chunks(m, t, (int)n, false, "stories260K");
    bytes_and_budget(m, t, (int)n);
    page_sizes(m, t, (int)n);

    /* head_dim 8: Q8_0 does not fit, refused at context creation. */
    lorc_context_params cp = lorc_context_default_params();
    cp.type_v = LORC_KV_Q8_0;
    lorc_context *ctx = NULL;
    lorc_status st = lorc_context_new(m, &cp, &ctx, &err);
    CHECK_MSG(st == LORC_ERR_UNSUPPORTED && strstr(err.message, "type_v Q8_0") && strstr(err.message, "head_dim") &&
                  !strchr(err.message, '\n'),
              "%d %s", st, err.message);
    cp = lorc_context_default_params();
    cp.type_k = (lorc_kv_type)7;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_ERR_INVALID && strstr(err.message, "type_k"));
    cp = lorc_context_default_params();
    cp.kv_page_tokens = -1;
    CHECK(lorc_context_new(m, &cp, &ctx, &err) == LORC_ERR_INVALID && strstr(err.message, "kv_page_tokens"));
    lorc_model_free(m);

    /* A synthetic model with head_dim 32 and GQA for Q8_0. */
    synth_params p = synth_default_params();
    p.n_embd = 128;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ff = 160;
    p.n_ctx = 256;
    p.seed = 21;
    const char *path = test_tmp("kv_pages_hd32.gguf");
    CHECK_MSG(synth_write_model(path, &p, &err) == LORC_OK, "%s", err.message);
    CHECK_MSG(lorc_model_load(path, &m, &err) == LORC_OK, "%s", err.message);
    int32_t syn[60];
    for (int i = 0; i < 60; i++) syn[i] = 3 + (i * 37 + i / 7) % (p.n_vocab - 3);
    if (m) types_and_chunks(m, syn, 60, true, "synthetic hd32");
    lorc_model_free(m);
    free(t);
    return test_finish("test_kv_pages");
}
