/* test_sampler.c — the sampling chain: greedy and its tie rule, per-seed
 * determinism, and what top-k / top-p / min-p / the repetition penalty keep
 * or change on hand-made distributions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "sample/candidates.h"
#include "testutil.h"

static lorc_sampler_params plain(float temp) {
    lorc_sampler_params p = lorc_sampler_default_params();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 1234;
    return p;
}

/* A sampler that must be accepted: the params are all in range. */
static lorc_sampler *new_ok(const lorc_sampler_params *p) {
    lorc_sampler *s = NULL;
    lorc_error err = {0};
    lorc_status st = lorc_sampler_new(p, &s, &err);
    CHECK_MSG(st == LORC_OK && s, "lorc_sampler_new: %s", err.message);
    return s;
}

/* Draws `n` tokens from a fixed distribution (logits copied each time, since
 * the sampler uses them as scratch) and counts them. */
static void histogram(const lorc_sampler_params *p, const float *logits, int n_vocab, int n, int *counts) {
    lorc_sampler *s = new_ok(p);
    float *tmp = malloc(sizeof(float) * (size_t)n_vocab);
    memset(counts, 0, sizeof(int) * (size_t)n_vocab);
    for (int i = 0; i < n; i++) {
        memcpy(tmp, logits, sizeof(float) * (size_t)n_vocab);
        int32_t t = lorc_sampler_sample(s, tmp, n_vocab);
        if (t >= 0 && t < n_vocab) counts[t]++;
    }
    free(tmp);
    lorc_sampler_free(s);
}

static void fill_random(float *v, int n, unsigned *state) {
    for (int i = 0; i < n; i++) {
        *state = *state * 1103515245u + 12345u;
        v[i] = (float)((*state >> 8) % 2000) / 100.0f - 10.0f;
    }
}

static void test_greedy(void) {
    lorc_sampler_params p = plain(0.0f);
    lorc_sampler *s = new_ok(&p);
    float a[] = {0.1f, 3.0f, -1.0f, 2.9f};
    CHECK(lorc_sampler_sample(s, a, 4) == 1);
    float ties[] = {1.0f, 5.0f, 2.0f, 5.0f, 5.0f};
    CHECK_MSG(lorc_sampler_sample(s, ties, 5) == 1, "ties go to the lowest id");
    float neg[] = {-INFINITY, -3.0f, NAN, -2.0f};
    CHECK(lorc_sampler_sample(s, neg, 4) == 3);
    lorc_sampler_free(s);
    p.temp = -1.0f;
    s = new_ok(&p);
    float b[] = {0.0f, 0.0f, 7.0f};
    CHECK(lorc_sampler_sample(s, b, 3) == 2);
    lorc_sampler_free(s);
}

static void test_top_k1_is_greedy(void) {
    enum { V = 300 };
    float logits[V], tmp[V];
    unsigned st = 7;
    lorc_sampler_params p = lorc_sampler_default_params();
    p.top_k = 1;
    p.seed = 99;
    lorc_sampler *s = new_ok(&p);
    int same = 0;
    for (int r = 0; r < 50; r++) {
        fill_random(logits, V, &st);
        logits[r] = logits[r + 100] = 11.0f; /* a tie: the lower id must win */
        memcpy(tmp, logits, sizeof logits);
        int32_t t = lorc_sampler_sample(s, tmp, V);
        same += t == lorc_argmax(logits, V) && t == r;
    }
    CHECK_MSG(same == 50, "top-k 1 matched greedy %d/50 times", same);
    lorc_sampler_free(s);
}

static void run_seq(uint64_t seed, int32_t *out, int n) {
    enum { V = 64 };
    float logits[V];
    unsigned st = 3;
    lorc_sampler_params p = lorc_sampler_default_params();
    p.seed = seed;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.temp = 1.5f;
    lorc_sampler *s = new_ok(&p);
    for (int i = 0; i < n; i++) {
        fill_random(logits, V, &st);
        for (int j = 0; j < V; j++) logits[j] *= 0.2f; /* flat: many candidates */
        out[i] = lorc_sampler_sample(s, logits, V);
        lorc_sampler_accept(s, out[i]);
    }
    lorc_sampler_free(s);
}

static void test_determinism(void) {
    enum { N = 200 };
    int32_t a[N], b[N], c[N];
    run_seq(42, a, N);
    run_seq(42, b, N);
    run_seq(43, c, N);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "same seed, same tokens");
    CHECK_MSG(memcmp(a, c, sizeof a) != 0, "different seeds differ");

    lorc_sampler_params p = plain(1.0f);
    p.seed = LORC_SEED_RANDOM;
    lorc_sampler *s = new_ok(&p);
    CHECK(lorc_sampler_seed(s) != LORC_SEED_RANDOM);
    p.seed = lorc_sampler_seed(s);
    lorc_sampler *t = new_ok(&p);
    int agree = 0;
    for (int i = 0; i < 100; i++) {
        float x[16], y[16];
        for (int j = 0; j < 16; j++) x[j] = y[j] = 0.0f;
        agree += lorc_sampler_sample(s, x, 16) == lorc_sampler_sample(t, y, 16);
    }
    CHECK_MSG(agree == 100, "a drawn seed reproduces when passed back");
    lorc_sampler_free(s);
    lorc_sampler_free(t);
}

static void test_frequencies(void) {
    float logits[] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    int counts[3];
    lorc_sampler_params p = plain(1.0f);
    histogram(&p, logits, 3, 20000, counts);
    CHECK_MSG(fabs(counts[0] / 20000.0 - 0.5) < 0.02 && fabs(counts[1] / 20000.0 - 0.3) < 0.02 &&
                  fabs(counts[2] / 20000.0 - 0.2) < 0.02,
              "frequencies %d %d %d", counts[0], counts[1], counts[2]);
    /* A low temperature sharpens towards the best token. */
    p.temp = 0.05f;
    histogram(&p, logits, 3, 2000, counts);
    CHECK(counts[0] == 2000);
    /* Even one that overflows the scaled logits. */
    p.temp = 1e-38f;
    float big[] = {1.0f, 3.0f, 2.0f};
    histogram(&p, big, 3, 200, counts);
    CHECK(counts[1] == 200);
}

static void test_top_k(void) {
    float logits[] = {1.0f, 4.0f, 3.0f, 2.0f, 0.0f};
    int counts[5];
    lorc_sampler_params p = plain(1.0f);
    p.top_k = 2;
    histogram(&p, logits, 5, 3000, counts);
    CHECK(counts[1] > 0 && counts[2] > 0);
    CHECK(counts[0] == 0 && counts[3] == 0 && counts[4] == 0);

    /* The heap selection keeps exactly what a full sort keeps, ties included. */
    enum { V = 500 };
    lorc_candidate a[V], b[V];
    float l[V];
    unsigned st = 11;
    int ok = 1;
    for (int r = 0; r < 20; r++) {
        fill_random(l, V, &st);
        for (int i = 0; i < V; i += 7) l[i] = 1.0f; /* many ties */
        lorc_candidates ca = {a, 0, 0}, cb = {b, 0, 0};
        lorc_cand_fill(&ca, l, V);
        lorc_cand_fill(&cb, l, V);
        lorc_cand_top_k(&ca, 17 + r);
        lorc_cand_sort(&cb);
        ok &= ca.size == (size_t)(17 + r) && ca.sorted;
        for (int i = 0; i < 17 + r; i++) ok &= a[i].id == b[i].id && a[i].logit == b[i].logit;
    }
    CHECK_MSG(ok, "heap top-k equals sorted prefix");
}

static void test_top_p(void) {
    /* p = 0.5, 0.3, 0.15, 0.05 (shuffled ids): cumulative 0.5, 0.8, 0.95, 1. */
    float logits[] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    lorc_candidate buf[4];
    lorc_candidates c = {buf, 0, 0};

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_top_p(&c, 0.7f);
    CHECK(c.size == 2 && buf[0].id == 1 && buf[1].id == 3);

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_top_p(&c, 0.4f);
    CHECK(c.size == 1 && buf[0].id == 1);

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_top_p(&c, 0.9f);
    CHECK(c.size == 3 && buf[2].id == 0);

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_top_p(&c, 1.0f);
    CHECK(c.size == 4);

    int counts[4];
    lorc_sampler_params p = plain(1.0f);
    p.top_p = 0.7f;
    histogram(&p, logits, 4, 4000, counts);
    CHECK_MSG(counts[0] == 0 && counts[2] == 0 && counts[1] > 0 && counts[3] > 0, "top-p 0.7 kept %d %d %d %d",
              counts[0], counts[1], counts[2], counts[3]);
    /* Renormalised over the kept two: 0.5/0.8 and 0.3/0.8. */
    CHECK(fabs(counts[1] / 4000.0 - 0.625) < 0.03);
}

static void test_min_p(void) {
    float logits[] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    lorc_candidate buf[4];
    lorc_candidates c = {buf, 0, 0};

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_min_p(&c, 0.2f); /* keeps p >= 0.1 */
    int has[4] = {0};
    for (size_t i = 0; i < c.size; i++) has[buf[i].id] = 1;
    CHECK(c.size == 3 && has[0] && has[1] && has[3] && !has[2]);

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_min_p(&c, 0.5f); /* keeps p >= 0.25 */
    CHECK(c.size == 2 && buf[0].id == 1 && buf[1].id == 3);

    lorc_cand_fill(&c, logits, 4);
    lorc_cand_min_p(&c, 0.0f);
    CHECK(c.size == 4);

    int counts[4];
    lorc_sampler_params p = plain(1.0f);
    p.min_p = 0.5f;
    histogram(&p, logits, 4, 4000, counts);
    CHECK(counts[0] == 0 && counts[2] == 0 && counts[1] > 0 && counts[3] > 0);
}

static void test_penalty(void) {
    lorc_sampler_params p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    lorc_sampler *s = new_ok(&p);
    lorc_sampler_accept(s, 0);
    lorc_sampler_accept(s, 1);
    lorc_sampler_accept(s, 0); /* a repeat is still penalized once */
    lorc_sampler_accept(s, 99); /* out of the vocab: ignored */
    float l[] = {2.0f, -2.0f, 1.5f, 0.5f, 0.0f};
    CHECK(lorc_sampler_sample(s, l, 5) == 2);
    CHECK(l[0] == 1.0f);  /* positive: divided */
    CHECK(l[1] == -4.0f); /* negative: multiplied */
    CHECK(l[2] == 1.5f && l[3] == 0.5f && l[4] == 0.0f);
    lorc_sampler_free(s);

    /* Only the last repeat_last_n accepted tokens count. */
    p.repeat_last_n = 2;
    s = new_ok(&p);
    lorc_sampler_accept(s, 0);
    lorc_sampler_accept(s, 1);
    lorc_sampler_accept(s, 3);
    float m[] = {2.0f, -2.0f, 1.5f, 0.5f, 0.0f};
    CHECK(lorc_sampler_sample(s, m, 5) == 0);
    CHECK(m[0] == 2.0f && m[1] == -4.0f && m[3] == 0.25f);
    lorc_sampler_free(s);

    /* repeat_last_n < 0: the whole history. */
    p.repeat_last_n = -1;
    s = new_ok(&p);
    lorc_sampler_accept(s, 0);
    for (int i = 0; i < 1000; i++) lorc_sampler_accept(s, 4);
    float n[] = {2.0f, -2.0f, 1.5f, 0.5f, 3.0f};
    CHECK(lorc_sampler_sample(s, n, 5) == 2);
    CHECK(n[0] == 1.0f && n[4] == 1.5f);
    lorc_sampler_free(s);

    /* Penalty 1 or window 0: untouched. */
    p.repeat_last_n = 0;
    s = new_ok(&p);
    lorc_sampler_accept(s, 0);
    float o[] = {2.0f, 1.0f};
    CHECK(lorc_sampler_sample(s, o, 2) == 0 && o[0] == 2.0f);
    lorc_sampler_free(s);
}

static void test_defaults(void) {
    lorc_sampler_params p = lorc_sampler_default_params();
    CHECK(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.seed == LORC_SEED_RANDOM);
    lorc_sampler_free(NULL);
    lorc_sampler *s = new_ok(NULL);
    float l[] = {1.0f};
    CHECK(s && lorc_sampler_sample(s, l, 1) == 0);
    CHECK(lorc_sampler_sample(s, l, 0) == -1);
    lorc_sampler_free(s);
}

int main(void) {
    test_defaults();
    test_greedy();
    test_top_k1_is_greedy();
    test_determinism();
    test_frequencies();
    test_top_k();
    test_top_p();
    test_min_p();
    test_penalty();
    return test_finish("test_sampler");
}
