/* test_sampler_ranges.c — issue 6 item 1: lorc_sampler_new refuses every
 * parameter outside its documented range (NaN included) with
 * LORC_ERR_INVALID and a one-line message naming it; the candidate filters
 * never leave an empty set (min_p > 1 used to read before the buffer); and
 * lorc_argmax of all-NaN says so (-1) instead of returning token 0. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "sample/candidates.h"
#include "testutil.h"

typedef struct bad_case {
    const char *name; /* must appear in the message */
    lorc_sampler_params p;
} bad_case;

static lorc_sampler_params base(void) {
    lorc_sampler_params p = lorc_sampler_default_params();
    p.seed = 7;
    return p;
}

static void expect_refused(const char *name, lorc_sampler_params p) {
    lorc_sampler *s = (lorc_sampler *)&p; /* must be reset to NULL on failure */
    lorc_error err = {0};
    lorc_status st = lorc_sampler_new(&p, &s, &err);
    CHECK_MSG(st == LORC_ERR_INVALID, "%s: status %d, want LORC_ERR_INVALID", name, (int)st);
    CHECK_MSG(s == NULL, "%s: *out not NULL after a refusal", name);
    CHECK_MSG(strstr(err.message, name) != NULL, "%s: message '%s' does not name it", name, err.message);
    CHECK_MSG(strchr(err.message, '\n') == NULL, "%s: message has a newline", name);
    if (st == LORC_OK) lorc_sampler_free(s);
}

static void expect_accepted(const char *what, lorc_sampler_params p) {
    lorc_sampler *s = NULL;
    lorc_error err = {0};
    CHECK_MSG(lorc_sampler_new(&p, &s, &err) == LORC_OK && s, "%s refused: %s", what, err.message);
    float l[] = {0.5f, 2.0f, -1.0f};
    int32_t t = lorc_sampler_sample(s, l, 3);
    CHECK_MSG(t >= 0 && t < 3, "%s: sampled %d", what, t);
    lorc_sampler_free(s);
}

static void test_ranges(void) {
    const float nan = NAN, inf = INFINITY;
    lorc_sampler_params p;
#define BAD(field, value)                                  \
    do {                                                   \
        p = base();                                        \
        p.field = value;                                   \
        expect_refused(#field, p);                         \
    } while (0)
    BAD(temp, nan);
    BAD(temp, inf);
    BAD(temp, -inf);
    BAD(top_k, -1);
    BAD(top_p, 0.0f);
    BAD(top_p, -0.5f);
    BAD(top_p, 1.0001f);
    BAD(top_p, nan);
    BAD(min_p, -0.01f);
    BAD(min_p, 1.5f);
    BAD(min_p, 2.0f);
    BAD(min_p, nan);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, nan);
    BAD(repeat_penalty, inf);
    BAD(repeat_last_n, -2);
    BAD(repeat_last_n, LORC_SAMPLER_MAX_LAST_N + 1);
    BAD(repeat_last_n, 2147483647); /* fuzz finding: a 24 GB window */
#undef BAD
    lorc_sampler *s = NULL;
    CHECK(lorc_sampler_new(NULL, NULL, NULL) == LORC_ERR_INVALID);

    /* The edges of every range are accepted. */
    p = base();
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    expect_accepted("top_p 1, min_p 1", p);
    p = base();
    p.top_p = FLT_MIN;
    p.min_p = 0.0f;
    p.temp = -3.0f;
    p.top_k = 0;
    p.repeat_last_n = -1;
    p.repeat_penalty = FLT_MIN;
    expect_accepted("smallest top_p, negative temp", p);
    CHECK(lorc_sampler_new(NULL, &s, NULL) == LORC_OK && s);
    lorc_sampler_free(s);
}

/* min_p 1 keeps exactly the best (and its ties); > 1 (reachable only past
 * the sampler's check) still keeps the best instead of nothing. */
static void test_min_p_never_empty(void) {
    lorc_candidate buf[4];
    lorc_candidates c = {buf, 0, 0};
    const float l[] = {1.0f, 3.0f, 3.0f, -2.0f};
    const float ps[] = {1.0f, 2.0f, 1e30f, FLT_MAX};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        lorc_cand_fill(&c, l, 4);
        lorc_cand_min_p(&c, ps[i]);
        CHECK_MSG(c.size == 2, "min_p %g kept %zu, want the 2 best", (double)ps[i], c.size);
        lorc_rng rng;
        lorc_rng_seed(&rng, 3);
        int32_t t = lorc_cand_draw(&c, &rng);
        CHECK_MSG(t == 1 || t == 2, "min_p %g drew %d", (double)ps[i], t);
    }
    /* Every logit -inf: min_p keeps them all (all equally unlikely). */
    const float ninf[] = {-INFINITY, -INFINITY};
    lorc_cand_fill(&c, ninf, 2);
    lorc_cand_min_p(&c, 1.0f);
    CHECK(c.size == 2);
    /* An empty set draws nothing rather than reading data[-1]. */
    c.size = 0;
    lorc_rng rng;
    lorc_rng_seed(&rng, 3);
    CHECK(lorc_cand_draw(&c, &rng) == -1);
    /* top_p at its smallest still keeps one. */
    lorc_cand_fill(&c, l, 4);
    lorc_cand_top_p(&c, FLT_MIN);
    CHECK(c.size == 1 && c.data[0].id == 1);
}

static void test_argmax_all_nan(void) {
    const float nan4[] = {NAN, NAN, NAN, NAN};
    CHECK(lorc_argmax(nan4, 4) == -1);
    CHECK(lorc_argmax(nan4, 0) == -1);
    const float one[] = {NAN, NAN, -INFINITY, NAN};
    CHECK(lorc_argmax(one, 4) == 2);
    /* The sampler passes that on, greedy or not. */
    for (int greedy = 0; greedy < 2; greedy++) {
        lorc_sampler_params p = base();
        p.temp = greedy ? 0.0f : 0.8f;
        lorc_sampler *s = NULL;
        CHECK(lorc_sampler_new(&p, &s, NULL) == LORC_OK);
        float l[] = {NAN, NAN, NAN};
        CHECK_MSG(lorc_sampler_sample(s, l, 3) == -1, "temp %g: all-NaN must give -1", (double)p.temp);
        lorc_sampler_free(s);
    }
}

/* Fuzz finding (fuzz_sampler): repeat_last_n -1 with a penalty and no
 * accepted token yet computed NULL + 0 (undefined; UBSan aborts). */
static void test_penalty_empty_unbounded_history(void) {
    lorc_sampler_params p = base();
    p.temp = 0.0f;
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = -1;
    lorc_sampler *s = NULL;
    CHECK(lorc_sampler_new(&p, &s, NULL) == LORC_OK);
    float l[] = {1.0f, 2.0f, 0.5f};
    CHECK(lorc_sampler_sample(s, l, 3) == 1);
    CHECK(l[1] == 2.0f); /* nothing penalized */
    lorc_sampler_accept(s, 1);
    float m[] = {1.0f, 2.0f, 0.5f};
    CHECK(lorc_sampler_sample(s, m, 3) == 1 && fabsf(m[1] - 2.0f / 1.1f) < 1e-6f);
    lorc_sampler_free(s);
}

/* Fuzz finding (fuzz_sampler): NaN logits became -inf candidates, so when
 * the penalty pushed the only real logit to -inf (-2^127 x 2) the uniform
 * draw over "all -inf" picked a NaN token. */
static void test_nan_never_picked_after_penalty_overflow(void) {
    lorc_sampler_params p = base();
    p.temp = 0.8f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    for (uint64_t seed = 0; seed < 32; seed++) {
        p.seed = seed;
        lorc_sampler *s = NULL;
        CHECK(lorc_sampler_new(&p, &s, NULL) == LORC_OK);
        lorc_sampler_accept(s, 6);
        float l[] = {NAN, NAN, NAN, NAN, NAN, NAN, -0x1p127f};
        int32_t t = lorc_sampler_sample(s, l, 7);
        CHECK_MSG(t == 6, "seed %llu: picked %d (a NaN logit)", (unsigned long long)seed, t);
        lorc_sampler_free(s);
    }
}

int main(void) {
    test_nan_never_picked_after_penalty_overflow();
    test_penalty_empty_unbounded_history();
    test_ranges();
    test_min_p_never_empty();
    test_argmax_all_nan();
    return test_finish("test_sampler_ranges");
}
