/* work_split.c — contiguous ranges per thread, taken from the back once a
 * thread's own range is done (work_split.h). */
#include "work_split.h"

#include <stdbool.h>

static unsigned long long pack(uint32_t front, uint32_t back) { return (unsigned long long)back << 32 | front; }
static uint32_t front_of(unsigned long long v) { return (uint32_t)v; }
static uint32_t back_of(unsigned long long v) { return (uint32_t)(v >> 32); }

void lorc_work_split_init(lorc_work_split *s, lorc_work_range *ranges, int n_threads, int64_t first, int64_t n,
                          lorc_work_cost_fn cost, const void *user) {
    s->ranges = ranges;
    s->n_threads = n_threads;
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += cost(user, first + i);
    /* Contiguous ranges in item order, covering every item once; range t
     * ends near (t + 1)/nth of the total: an item goes to the range in
     * which the larger part of its cost lies, the last range takes the rest. */
    int64_t i = 0;
    double so_far = 0;
    uint32_t begin = (uint32_t)first;
    for (int t = 0; t < n_threads; t++) {
        const double until = total * (double)(t + 1) / (double)n_threads;
        for (; i < n; i++) {
            const double c = cost(user, first + i);
            if (t < n_threads - 1 && so_far + c / 2 > until) break;
            so_far += c;
        }
        const uint32_t end = (uint32_t)(first + i);
        atomic_store_explicit(&ranges[t].bounds, pack(begin, end), memory_order_relaxed);
        begin = end;
    }
}

/* Takes the front item (own range) or the back one (another's) of r; -1 when empty. */
static int64_t take(lorc_work_range *r, bool from_front) {
    unsigned long long v = atomic_load_explicit(&r->bounds, memory_order_relaxed);
    for (;;) {
        const uint32_t f = front_of(v), b = back_of(v);
        if (f >= b) return -1;
        const unsigned long long next = from_front ? pack(f + 1, b) : pack(f, b - 1);
        if (atomic_compare_exchange_weak_explicit(&r->bounds, &v, next, memory_order_relaxed, memory_order_relaxed))
            return from_front ? (int64_t)f : (int64_t)b - 1;
    }
}

int64_t lorc_work_split_next(lorc_work_split *s, int ith) {
    const int64_t own = take(&s->ranges[ith], true);
    if (own >= 0) return own;
    for (;;) {
        /* the fullest other range: its owner is the furthest from done */
        int victim = -1;
        uint32_t most = 0;
        for (int t = 0; t < s->n_threads; t++) {
            if (t == ith) continue;
            const unsigned long long v = atomic_load_explicit(&s->ranges[t].bounds, memory_order_relaxed);
            const uint32_t left = back_of(v) > front_of(v) ? back_of(v) - front_of(v) : 0;
            if (left > most) {
                most = left;
                victim = t;
            }
        }
        if (victim < 0) return -1;
        const int64_t item = take(&s->ranges[victim], false);
        if (item >= 0) return item;
    }
}
