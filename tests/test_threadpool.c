/* test_threadpool.c — the persistent pool runs each job once on every
 * thread (ith 0..nth-1, the caller taking 0), returns only when all are
 * done, survives many back-to-back jobs and jobs after idle sleeps. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/threadpool.h"
#include "testutil.h"

typedef struct job {
    atomic_int calls[8];
    atomic_int total;
    int nth_seen;
    long sums[8];
} job;

static void work(void *user, int ith, int nth) {
    job *j = user;
    atomic_fetch_add(&j->calls[ith], 1);
    atomic_fetch_add(&j->total, 1);
    if (ith == 0) j->nth_seen = nth;
    /* A little real work so threads overlap. */
    long s = 0;
    for (int i = 0; i < 1000 * (ith + 1); i++) s += i % 7;
    j->sums[ith] = s;
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    CHECK(lorc_threadpool_new(0) == NULL);
    for (int n = 1; n <= 4; n++) {
        lorc_threadpool *p = lorc_threadpool_new(n);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(lorc_threadpool_size(p) == n);
        job j;
        memset(&j, 0, sizeof j);
        const int runs = 500;
        for (int r = 0; r < runs; r++) {
            lorc_threadpool_run(p, work, &j);
            /* run() returned: every thread's call for this job is counted. */
            if (atomic_load(&j.total) != (r + 1) * n) {
                CHECK_MSG(false, "pool of %d: after run %d total is %d", n, r, atomic_load(&j.total));
                break;
            }
        }
        for (int i = 0; i < n; i++) CHECK_MSG(atomic_load(&j.calls[i]) == runs, "pool %d thread %d", n, i);
        CHECK(j.nth_seen == n);
        /* Jobs after the workers went to sleep on the condition variable. */
        for (int r = 0; r < 5; r++) {
            sleep_ms(20);
            lorc_threadpool_run(p, work, &j);
        }
        CHECK(atomic_load(&j.total) == (runs + 5) * n);
        lorc_threadpool_free(p);
    }
    lorc_threadpool_free(NULL);
    return test_finish("test_threadpool");
}
