/* candidates.c — the filtering steps of the sampling chain (penalty, top-k,
 * top-p, min-p, temperature) and the final weighted draw. */
#include "candidates.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void lorc_penalize(float *logits, int n_vocab, const int32_t *recent, size_t n, float penalty, int32_t *scratch) {
    if (n == 0 || penalty == 1.0f) return;
    for (size_t i = 0; i < n; i++) scratch[i] = recent[i];
    qsort(scratch, n, sizeof *scratch, cmp_i32);
    /* Each distinct token is penalized once, however often it repeats. */
    for (size_t i = 0; i < n; i++) {
        int32_t t = scratch[i];
        if (i > 0 && t == scratch[i - 1]) continue;
        if (t < 0 || t >= n_vocab) continue;
        if (logits[t] <= 0.0f)
            logits[t] *= penalty;
        else
            logits[t] /= penalty;
    }
}

int32_t lorc_argmax(const float *logits, int n_vocab) {
    int32_t best = -1;
    float best_v = -INFINITY;
    int found = 0;
    for (int i = 0; i < n_vocab; i++) {
        float v = logits[i];
        if (isnan(v)) continue;
        if (!found || v > best_v) {
            best = i;
            best_v = v;
            found = 1;
        }
    }
    return best;
}

/* The chain's total order: higher logit first, then lower id. */
static int before(const lorc_candidate *a, const lorc_candidate *b) {
    if (a->logit != b->logit) return a->logit > b->logit;
    return a->id < b->id;
}

static int cmp_cand(const void *pa, const void *pb) {
    const lorc_candidate *a = pa, *b = pb;
    if (before(a, b)) return -1;
    if (before(b, a)) return 1;
    return 0;
}

void lorc_cand_fill(lorc_candidates *c, const float *logits, int n_vocab) {
    size_t n = 0;
    for (int i = 0; i < n_vocab; i++) {
        /* NaN would break the ordering and can never be a sensible pick. It is
         * left out rather than made -inf: when every other logit is -inf too
         * (a penalty can push one there) the draw is uniform over the set. */
        float v = logits[i];
        if (isnan(v)) continue;
        c->data[n].id = i;
        c->data[n].logit = v > FLT_MAX ? FLT_MAX : v;
        c->data[n].p = 0.0f;
        n++;
    }
    c->size = n;
    c->sorted = 0;
}

void lorc_cand_sort(lorc_candidates *c) {
    if (c->sorted) return;
    qsort(c->data, c->size, sizeof *c->data, cmp_cand);
    c->sorted = 1;
}

/* Min-heap on `before` (the root is the worst of the kept k). */
static void sift_down(lorc_candidate *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(&h[m], &h[l])) m = l;
        if (r < n && before(&h[m], &h[r])) m = r;
        if (m == i) return;
        lorc_candidate t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void lorc_cand_top_k(lorc_candidates *c, int k) {
    if (k <= 0 || (size_t)k >= c->size) {
        return;
    }
    size_t kk = (size_t)k;
    if (!c->sorted) {
        /* O(n log k) selection: the first k slots become a heap of the best
         * seen so far; a better candidate replaces the heap's worst. */
        lorc_candidate *h = c->data;
        for (size_t i = kk / 2; i-- > 0;) sift_down(h, kk, i);
        for (size_t i = kk; i < c->size; i++) {
            if (before(&c->data[i], &h[0])) {
                h[0] = c->data[i];
                sift_down(h, kk, 0);
            }
        }
    }
    c->size = kk;
    c->sorted = 0;
    lorc_cand_sort(c);
}

void lorc_cand_softmax(lorc_candidates *c) {
    if (c->size == 0) return;
    float max = c->data[0].logit;
    for (size_t i = 1; i < c->size; i++)
        if (c->data[i].logit > max) max = c->data[i].logit;
    if (isinf(max) && max < 0) {
        /* Every candidate is -inf: treat them as equally (un)likely. */
        for (size_t i = 0; i < c->size; i++) c->data[i].p = 1.0f / (float)c->size;
        return;
    }
    double sum = 0.0;
    for (size_t i = 0; i < c->size; i++) {
        float e = expf(c->data[i].logit - max);
        c->data[i].p = e;
        sum += e;
    }
    for (size_t i = 0; i < c->size; i++) c->data[i].p = (float)(c->data[i].p / sum);
}

void lorc_cand_top_p(lorc_candidates *c, float p) {
    if (!(p < 1.0f) || c->size == 0) return;
    lorc_cand_sort(c);
    lorc_cand_softmax(c);
    double cum = 0.0;
    for (size_t i = 0; i < c->size; i++) {
        cum += c->data[i].p;
        if (cum >= p) {
            c->size = i + 1;
            return;
        }
    }
}

void lorc_cand_min_p(lorc_candidates *c, float p) {
    if (!(p > 0.0f) || c->size == 0) return;
    float max = c->data[0].logit;
    for (size_t i = 1; i < c->size; i++)
        if (c->data[i].logit > max) max = c->data[i].logit;
    /* p_i >= p * p_max  <=>  logit_i >= max + log(p); the best always stays. */
    const float min_logit = max + logf(p);
    size_t kept = 0;
    for (size_t i = 0; i < c->size; i++)
        if (c->data[i].logit >= min_logit || c->data[i].logit == max) c->data[kept++] = c->data[i];
    c->size = kept; /* compaction keeps the order, so `sorted` still holds */
}

void lorc_cand_temp(lorc_candidates *c, float temp) {
    for (size_t i = 0; i < c->size; i++) {
        float v = c->data[i].logit / temp;
        /* A tiny temperature must not turn the best logits into +inf (inf - inf
         * is NaN in the softmax); -inf stays, it means "never". */
        c->data[i].logit = v > FLT_MAX ? FLT_MAX : v;
    }
}

int32_t lorc_cand_draw(lorc_candidates *c, lorc_rng *rng) {
    if (c->size == 0) return -1; /* the filters never get here; a caller that skips them might */
    lorc_cand_softmax(c);
    double r = lorc_rng_uniform(rng), cum = 0.0;
    for (size_t i = 0; i < c->size; i++) {
        cum += c->data[i].p;
        if (r < cum) return c->data[i].id;
    }
    /* Rounding left the total a hair under r: take the last with mass. */
    for (size_t i = c->size; i-- > 0;)
        if (c->data[i].p > 0.0f) return c->data[i].id;
    return c->data[c->size - 1].id;
}
