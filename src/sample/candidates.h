/* candidates.h — the steps of the sampling chain, each working on an array of
 * (token, logit) candidates. Kept apart from the sampler so each step can be
 * tested on hand-made distributions. */
#ifndef LORC_SAMPLE_CANDIDATES_H
#define LORC_SAMPLE_CANDIDATES_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

typedef struct lorc_candidate {
    int32_t id;
    float logit;
    float p; /* filled by lorc_cand_softmax */
} lorc_candidate;

typedef struct lorc_candidates {
    lorc_candidate *data;
    size_t size;
    int sorted; /* by logit descending, ties by id ascending */
} lorc_candidates;

/* Repetition penalty (CTRL style, as llama.cpp): for every distinct token of
 * recent[0..n) within [0, n_vocab), a positive logit is divided by `penalty`,
 * a non-positive one multiplied. `scratch` holds n ids. */
void lorc_penalize(float *logits, int n_vocab, const int32_t *recent, size_t n, float penalty, int32_t *scratch);

/* Index of the largest logit; ties go to the lowest index. NaN never wins;
 * -1 when there is no number at all (n_vocab <= 0 or every logit NaN). */
int32_t lorc_argmax(const float *logits, int n_vocab);

/* Fills the candidates from the logits that are numbers (NaN is left out;
 * unsorted). */
void lorc_cand_fill(lorc_candidates *c, const float *logits, int n_vocab);
/* Sorts (logit descending, id ascending) unless already sorted. */
void lorc_cand_sort(lorc_candidates *c);
/* Keeps the k best (k <= 0 or k >= size: no-op); leaves them sorted. */
void lorc_cand_top_k(lorc_candidates *c, int k);
/* Softmax over the current candidates into .p (the logits are untouched). */
void lorc_cand_softmax(lorc_candidates *c);
/* Keeps the smallest best-first prefix whose probability mass reaches p
 * (p >= 1: no-op); at least one candidate stays. */
void lorc_cand_top_p(lorc_candidates *c, float p);
/* Keeps candidates with probability >= p * (the best one's) (p <= 0: no-op);
 * the best always stays, even for p > 1 or a rounding edge. */
void lorc_cand_min_p(lorc_candidates *c, float p);
/* Divides every logit by temp (> 0). */
void lorc_cand_temp(lorc_candidates *c, float temp);
/* Draws one candidate from the softmax of the current logits; -1 when empty. */
int32_t lorc_cand_draw(lorc_candidates *c, lorc_rng *rng);

#endif
