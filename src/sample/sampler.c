/* sampler.c — the public lorc_sampler: llama.cpp's default chain
 * (penalties -> top-k -> top-p -> min-p -> temperature -> draw) over a
 * private RNG, plus the ring of recent tokens the penalty looks back on. */
#include <stdlib.h>
#include <string.h>

#include "candidates.h"
#include "lorc.h"
#include "rng.h"

struct lorc_sampler {
    lorc_sampler_params params;
    uint64_t seed; /* resolved (never LORC_SEED_RANDOM) */
    lorc_rng rng;
    /* Recent accepted tokens: a ring of repeat_last_n slots, or (when
     * repeat_last_n < 0) a growing list of every accepted token. */
    int32_t *recent;
    size_t recent_cap, recent_len, recent_head;
    int32_t *window;  /* scratch: the window in order, then sorted copies */
    size_t window_cap;
    lorc_candidate *cand; /* scratch: one per vocab entry */
    size_t cand_cap;
};

lorc_sampler_params lorc_sampler_default_params(void) {
    lorc_sampler_params p;
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = LORC_SEED_RANDOM;
    return p;
}

lorc_sampler *lorc_sampler_new(const lorc_sampler_params *params) {
    lorc_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->params = params ? *params : lorc_sampler_default_params();
    s->seed = s->params.seed;
    if (s->seed == LORC_SEED_RANDOM) {
        s->seed = lorc_rng_os_seed();
        if (s->seed == LORC_SEED_RANDOM) s->seed--; /* keep it reproducible when passed back */
    }
    lorc_rng_seed(&s->rng, s->seed);
    if (s->params.repeat_last_n > 0) {
        s->recent_cap = (size_t)s->params.repeat_last_n;
        s->recent = malloc(s->recent_cap * sizeof *s->recent);
        s->window = malloc(2 * s->recent_cap * sizeof *s->window);
        s->window_cap = s->recent_cap;
        if (!s->recent || !s->window) {
            lorc_sampler_free(s);
            return NULL;
        }
    }
    return s;
}

void lorc_sampler_free(lorc_sampler *s) {
    if (!s) return;
    free(s->recent);
    free(s->window);
    free(s->cand);
    free(s);
}

uint64_t lorc_sampler_seed(const lorc_sampler *s) { return s ? s->seed : 0; }

void lorc_sampler_accept(lorc_sampler *s, int32_t token) {
    if (!s || s->params.repeat_last_n == 0) return;
    if (s->params.repeat_last_n > 0) {
        s->recent[s->recent_head] = token;
        s->recent_head = (s->recent_head + 1) % s->recent_cap;
        if (s->recent_len < s->recent_cap) s->recent_len++;
        return;
    }
    /* Unbounded history. On allocation failure the token is dropped: the
     * penalty then sees a shorter history, which is the only safe degradation
     * for a void function. */
    if (s->recent_len == s->recent_cap) {
        size_t cap = s->recent_cap ? 2 * s->recent_cap : 256;
        int32_t *r = realloc(s->recent, cap * sizeof *r);
        if (!r) return;
        s->recent = r;
        s->recent_cap = cap;
    }
    s->recent[s->recent_len++] = token;
}

/* Copies the penalty window into s->window[0..n) (order does not matter)
 * and returns n; the scratch for sorting is s->window[n..2n). */
static size_t gather_window(lorc_sampler *s) {
    if (s->recent_len == 0) return 0;
    if (s->window_cap < s->recent_len) {
        int32_t *w = realloc(s->window, 2 * s->recent_len * sizeof *w);
        if (!w) return 0;
        s->window = w;
        s->window_cap = s->recent_len;
    }
    memcpy(s->window, s->recent, s->recent_len * sizeof *s->window);
    return s->recent_len;
}

int32_t lorc_sampler_sample(lorc_sampler *s, float *logits, int n_vocab) {
    if (!s || !logits || n_vocab <= 0) return -1;
    const lorc_sampler_params *p = &s->params;

    if (p->repeat_penalty != 1.0f && p->repeat_last_n != 0) {
        size_t n = gather_window(s);
        lorc_penalize(logits, n_vocab, s->window, n, p->repeat_penalty, s->window + n);
    }
    if (!(p->temp > 0.0f)) return lorc_argmax(logits, n_vocab);

    if (s->cand_cap < (size_t)n_vocab) {
        lorc_candidate *c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (!c) return lorc_argmax(logits, n_vocab); /* degrade to greedy rather than fail */
        s->cand = c;
        s->cand_cap = (size_t)n_vocab;
    }
    lorc_candidates c = {s->cand, 0, 0};
    lorc_cand_fill(&c, logits, n_vocab);
    lorc_cand_top_k(&c, p->top_k);
    lorc_cand_top_p(&c, p->top_p);
    lorc_cand_min_p(&c, p->min_p);
    lorc_cand_temp(&c, p->temp);
    return lorc_cand_draw(&c, &s->rng);
}
