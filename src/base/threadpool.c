/* threadpool.c — persistent worker threads for lorc_threadpool_run.
 * Workers spin briefly after a job (the next matrix product usually follows
 * within microseconds), then sleep on a condition variable so an idle
 * context burns no CPU. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* Polls before sleeping: long enough to bridge the short gaps between the
 * products of one forward pass, short enough not to steal a shared core. */
#define LORC_SPIN_ITERS 20000

typedef struct lorc_worker {
    struct lorc_threadpool *pool;
    int ith;
    pthread_t thread;
} lorc_worker;

struct lorc_threadpool {
    int n_threads;
    int n_started;       /* workers actually created */
    lorc_worker *workers; /* owned [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* signalled when gen changes or on stop */
    pthread_cond_t cv_done; /* signalled when pending reaches 0 */
    atomic_uint gen;        /* job generation: workers run when it moves */
    atomic_int pending;     /* workers still running the current job */
    atomic_bool stop;
    lorc_parallel_fn fn;    /* current job (published before gen moves) */
    void *user;
};

void lorc_spin_step(int i) {
    if ((i & 511) == 511) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg) {
    lorc_worker *wk = arg;
    struct lorc_threadpool *p = wk->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < LORC_SPIN_ITERS; i++) {
            if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return NULL;
            lorc_spin_step(i);
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = g;
        p->fn(p->user, wk->ith, p->n_threads);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            /* Signal under the lock so the waiter cannot miss it between its
             * check of `pending` and its wait. */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

lorc_threadpool *lorc_threadpool_new(int n_threads) {
    if (n_threads < 1) return NULL;
    struct lorc_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv_work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv_done, NULL) != 0) {
        pthread_cond_destroy(&p->cv_work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            lorc_threadpool_free(p);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].ith = i + 1;
            if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
                lorc_threadpool_free(p);
                return NULL;
            }
            p->n_started++;
        }
    }
    return p;
}

void lorc_threadpool_free(lorc_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int lorc_threadpool_size(const lorc_threadpool *p) { return p ? p->n_threads : 1; }

unsigned lorc_threadpool_jobs(const lorc_threadpool *p) {
    /* gen moves once per job handed to the workers. */
    return p ? atomic_load_explicit(&((lorc_threadpool *)p)->gen, memory_order_acquire) : 0;
}

void lorc_threadpool_run(lorc_threadpool *p, lorc_parallel_fn fn, void *user) {
    if (!p || p->n_threads == 1) {
        fn(user, 0, 1);
        return;
    }
    p->fn = fn;
    p->user = user;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    fn(user, 0, p->n_threads);

    for (int i = 0; i < LORC_SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        lorc_spin_step(i);
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
