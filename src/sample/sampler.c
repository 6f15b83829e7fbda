/* sampler.c — the public lorc_sampler: llama.cpp's default chain
 * (penalties -> top-k -> top-p -> min-p -> temperature -> draw) over a
 * private RNG, plus the ring of recent tokens the penalty looks back on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
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

/* Every parameter in the range lorc.h documents. The comparisons are written
 * so that NaN fails them. */
static lorc_status check_params(const lorc_sampler_params *p, lorc_error *err) {
    if (!isfinite(p->temp))
        return lorc_fail(err, LORC_ERR_INVALID, "sampler temp %g: must be a finite number (<= 0: greedy)",
                         (double)p->temp);
    if (p->top_k < 0)
        return lorc_fail(err, LORC_ERR_INVALID, "sampler top_k %d: must be >= 0 (0: off)", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return lorc_fail(err, LORC_ERR_INVALID, "sampler top_p %g: must be in (0, 1] (1: off)", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return lorc_fail(err, LORC_ERR_INVALID, "sampler min_p %g: must be in [0, 1] (0: off)", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return lorc_fail(err, LORC_ERR_INVALID, "sampler repeat_penalty %g: must be a finite number > 0 (1: off)",
                         (double)p->repeat_penalty);
    /* The window is allocated up front; no context is longer than the cap. */
    if (p->repeat_last_n < -1 || p->repeat_last_n > LORC_SAMPLER_MAX_LAST_N)
        return lorc_fail(err, LORC_ERR_INVALID,
                         "sampler repeat_last_n %d: must be in -1..%d (0: off, -1: all tokens)", p->repeat_last_n,
                         LORC_SAMPLER_MAX_LAST_N);
    return LORC_OK;
}

lorc_status lorc_sampler_new(const lorc_sampler_params *params, lorc_sampler **out, lorc_error *err) {
    if (!out) return lorc_fail(err, LORC_ERR_INVALID, "lorc_sampler_new: out is NULL");
    *out = NULL;
    lorc_sampler_params p = params ? *params : lorc_sampler_default_params();
    lorc_status st = check_params(&p, err);
    if (st != LORC_OK) return st;
    lorc_sampler *s = calloc(1, sizeof *s);
    if (!s) return lorc_fail(err, LORC_ERR_NOMEM, "sampler: out of memory");
    s->params = p;
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
            return lorc_fail(err, LORC_ERR_NOMEM, "sampler: out of memory for a repeat_last_n of %d",
                             p.repeat_last_n);
        }
    }
    *out = s;
    return LORC_OK;
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
        /* No history yet: nothing to penalize (and with repeat_last_n -1 the
         * window is still NULL, where even `window + 0` is undefined). */
        size_t n = gather_window(s);
        if (n > 0) lorc_penalize(logits, n_vocab, s->window, n, p->repeat_penalty, s->window + n);
    }
    /* All NaN: there is nothing to pick, and a made-up id would hide it. */
    const int32_t best = lorc_argmax(logits, n_vocab);
    if (best < 0 || !(p->temp > 0.0f)) return best;

    if (s->cand_cap < (size_t)n_vocab) {
        lorc_candidate *c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (!c) return best; /* degrade to greedy rather than fail */
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
