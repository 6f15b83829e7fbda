/* test_review_ft_sampler.c — review checks of the sampler's edges: n_vocab 1,
 * top_k > n_vocab, NaN / ±inf logits, extreme temperatures and penalties:
 * always a valid id, never a NaN-driven pick; no id at all (-1) when every
 * logit is NaN. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorc.h"
#include "testutil.h"

static int32_t sample(lorc_sampler_params p, const float *in, int n) {
    lorc_sampler *s = NULL;
    CHECK(lorc_sampler_new(&p, &s, NULL) == LORC_OK && s != NULL);
    if (!s) return -1;
    float *l = malloc((size_t)n * sizeof *l);
    memcpy(l, in, (size_t)n * sizeof *l);
    lorc_sampler_accept(s, 0);
    lorc_sampler_accept(s, n - 1);
    int32_t t = lorc_sampler_sample(s, l, n);
    free(l);
    lorc_sampler_free(s);
    return t;
}

enum { NONE = -2 };

int main(void) {
    const float inf = INFINITY, nan = NAN;
    float temps[] = {0.0f, 1e-30f, 0.8f, 1e30f, FLT_MAX}; /* inf is refused by lorc_sampler_new */
    float penalties[] = {1.0f, 1.3f, 0.5f};
    int top_ks[] = {0, 1, 40, 1000000};
    struct {
        float v[4];
        int n;
        int want; /* -1: any valid id; NONE: must return -1 */
    } cases[] = {
        {{0.5f}, 1, 0},
        {{nan}, 1, NONE},
        {{nan, nan, nan, nan}, 4, NONE},
        {{-inf, -inf, 3.0f, -inf}, 4, 2},
        {{nan, 1.0f, nan, nan}, 4, 1},
        {{inf, 0.0f, 0.0f, 0.0f}, 4, 0},
        {{-inf, -inf, -inf, -inf}, 4, -1},
        {{1e38f, 3e38f, -3e38f, 0.0f}, 4, -1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++)
            for (size_t pi = 0; pi < sizeof penalties / sizeof penalties[0]; pi++)
                for (size_t ki = 0; ki < sizeof top_ks / sizeof top_ks[0]; ki++) {
                    lorc_sampler_params p = lorc_sampler_default_params();
                    p.seed = 42 + c;
                    p.temp = temps[ti];
                    p.repeat_penalty = penalties[pi];
                    p.top_k = top_ks[ki];
                    int32_t t = sample(p, cases[c].v, cases[c].n);
                    if (cases[c].want == NONE) {
                        CHECK_MSG(t == -1, "case %zu temp %g: all-NaN logits gave id %d, want -1", c, (double)p.temp, t);
                        continue;
                    }
                    CHECK_MSG(t >= 0 && t < cases[c].n, "case %zu temp %g: id %d out of range", c, (double)p.temp, t);
                    /* A single finite or +inf logit among NaN/-inf must win at a sane temperature. */
                    if (cases[c].want >= 0 && p.temp < FLT_MAX && penalties[pi] == 1.0f)
                        CHECK_MSG(t == cases[c].want, "case %zu temp %g top_k %d: picked %d, want %d", c, (double)p.temp,
                                  p.top_k, t, cases[c].want);
                }
    return test_finish("test_review_ft_sampler");
}
