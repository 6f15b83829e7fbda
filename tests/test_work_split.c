/* test_work_split.c — lorc_work_split hands every item out exactly once,
 * gives each thread a contiguous range of about equal cost which it takes
 * in order, and lets a thread that is done take items from the back of a
 * slower thread's range. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/threadpool.h"
#include "base/work_split.h"
#include "testutil.h"

enum { MAX_ITEMS = 4096, MAX_THREADS = 8 };

static double cost_of(const void *user, int64_t i) { return ((const double *)user)[i]; }

/* The ranges as set by init: [front, back) of each thread. */
static void bounds(const lorc_work_split *s, int t, uint32_t *front, uint32_t *back) {
    const unsigned long long v = atomic_load(&s->ranges[t].bounds);
    *front = (uint32_t)v;
    *back = (uint32_t)(v >> 32);
}

static void check_partition(const double *cost, int64_t first, int64_t n, int nth) {
    lorc_work_range ranges[MAX_THREADS];
    lorc_work_split s;
    lorc_work_split_init(&s, ranges, nth, first, n, cost_of, cost);
    double total = 0, max_item = 0;
    for (int64_t i = first; i < first + n; i++) {
        total += cost[i];
        if (cost[i] > max_item) max_item = cost[i];
    }
    uint32_t expect_front = (uint32_t)first;
    for (int t = 0; t < nth; t++) {
        uint32_t f, b;
        bounds(&s, t, &f, &b);
        CHECK_MSG(f == expect_front && b >= f, "n %lld nth %d: range %d is [%u, %u), expected to start at %u",
                  (long long)n, nth, t, f, b, expect_front);
        double c = 0;
        for (uint32_t i = f; i < b; i++) c += cost[i];
        /* each range is within one item of its share */
        CHECK_MSG(c <= total / nth + max_item && c >= total / nth - max_item,
                  "n %lld nth %d: range %d costs %g of %g", (long long)n, nth, t, c, total);
        expect_front = b;
    }
    CHECK_MSG(expect_front == (uint32_t)(first + n), "n %lld nth %d: ranges end at %u", (long long)n, nth,
              expect_front);
}

typedef struct take_job {
    lorc_work_split split;
    lorc_work_range ranges[MAX_THREADS];
    atomic_int taken[MAX_ITEMS];   /* times each item was handed out */
    atomic_int taker[MAX_ITEMS];   /* the thread that took it */
    uint32_t own_front[MAX_THREADS], own_back[MAX_THREADS];
    atomic_int out_of_order;       /* a thread's own items not taken in order */
    int slow_thread;               /* sleeps on each item, so others take from its range */
} take_job;

static void take_worker(void *user, int ith, int nth) {
    (void)nth;
    take_job *j = user;
    int64_t last_own = -1;
    for (int64_t i; (i = lorc_work_split_next(&j->split, ith)) >= 0;) {
        atomic_fetch_add(&j->taken[i], 1);
        atomic_store(&j->taker[i], ith);
        if (i >= j->own_front[ith] && i < j->own_back[ith]) {
            if (i != (last_own < 0 ? (int64_t)j->own_front[ith] : last_own + 1)) atomic_fetch_add(&j->out_of_order, 1);
            last_own = i;
        }
        if (ith == j->slow_thread) {
            struct timespec ts = {0, 200000L};
            nanosleep(&ts, NULL);
        }
    }
}

static void check_taking(lorc_threadpool *pool, const double *cost, int64_t n, int slow_thread) {
    const int nth = lorc_threadpool_size(pool);
    static take_job j;
    memset(&j, 0, sizeof j);
    j.slow_thread = slow_thread;
    lorc_work_split_init(&j.split, j.ranges, nth, 0, n, cost_of, cost);
    for (int t = 0; t < nth; t++) bounds(&j.split, t, &j.own_front[t], &j.own_back[t]);
    lorc_threadpool_run(pool, take_worker, &j);
    int stolen_from_slow = 0;
    for (int64_t i = 0; i < n; i++) {
        CHECK_MSG(atomic_load(&j.taken[i]) == 1, "nth %d: item %lld handed out %d times", nth, (long long)i,
                  atomic_load(&j.taken[i]));
        const int t = atomic_load(&j.taker[i]);
        if (slow_thread >= 0 && i >= j.own_front[slow_thread] && i < j.own_back[slow_thread] && t != slow_thread)
            stolen_from_slow++;
    }
    CHECK_MSG(atomic_load(&j.out_of_order) == 0, "nth %d: %d own items out of order", nth,
              atomic_load(&j.out_of_order));
    /* the slow thread sleeps 0.2 ms an item: the others, done with their
     * ranges, must have taken part of its range from the back */
    if (slow_thread >= 0)
        CHECK_MSG(stolen_from_slow > 0, "nth %d: nothing taken from the slow thread %d's range", nth, slow_thread);
    /* after everything is handed out, every thread gets -1 */
    for (int t = 0; t < nth; t++) CHECK(lorc_work_split_next(&j.split, t) == -1);
}

int main(void) {
    static double cost[MAX_ITEMS];
    /* uneven costs: a few heavy items among light ones */
    for (int i = 0; i < MAX_ITEMS; i++) cost[i] = 1.0 + (double)((i * 7919) % 13) + (i % 97 == 0 ? 200.0 : 0.0);

    for (int nth = 1; nth <= MAX_THREADS; nth++) {
        check_partition(cost, 0, 1000, nth);
        check_partition(cost, 17, 333, nth);
        check_partition(cost, 5, 3, nth); /* fewer items than threads: some ranges empty */
        check_partition(cost, 0, 0, nth);
    }

    /* One thread: every item, in order. */
    {
        lorc_work_range r;
        lorc_work_split s;
        lorc_work_split_init(&s, &r, 1, 10, 50, cost_of, cost);
        bool in_order = true;
        for (int64_t want = 10; want < 60; want++) in_order &= lorc_work_split_next(&s, 0) == want;
        CHECK(in_order);
        CHECK(lorc_work_split_next(&s, 0) == -1);
    }

    for (int nth = 2; nth <= 4; nth++) {
        lorc_threadpool *pool = lorc_threadpool_new(nth);
        CHECK(pool != NULL);
        if (!pool) continue;
        for (int rep = 0; rep < 20; rep++) check_taking(pool, cost, MAX_ITEMS, -1);
        check_taking(pool, cost, 400, nth - 1);
        check_taking(pool, cost, 400, 0);
        lorc_threadpool_free(pool);
    }
    return test_finish("test_work_split");
}
