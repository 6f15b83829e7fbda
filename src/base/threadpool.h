/* threadpool.h — a persistent pool of worker threads (created once per
 * context, reused by every matrix product; no thread per call). */
#ifndef LORC_BASE_THREADPOOL_H
#define LORC_BASE_THREADPOOL_H

typedef struct lorc_threadpool lorc_threadpool;

/* Work split across threads: called once on each of the nth threads with
 * ith = 0..nth-1 (the calling thread takes ith 0). */
typedef void (*lorc_parallel_fn)(void *user, int ith, int nth);

/* n_threads >= 1 (1: no workers, everything runs on the caller). NULL on failure. */
lorc_threadpool *lorc_threadpool_new(int n_threads);
void lorc_threadpool_free(lorc_threadpool *pool);
int lorc_threadpool_size(const lorc_threadpool *pool);
/* Runs fn on all threads and returns when every one has finished. */
void lorc_threadpool_run(lorc_threadpool *pool, lorc_parallel_fn fn, void *user);
/* How many jobs have been handed to the workers so far (a 1-thread pool
 * never hands any): lets a test prove a product really ran in parallel. */
unsigned lorc_threadpool_jobs(const lorc_threadpool *pool);

/* Step i of a wait that polls memory: a pause, and on every 512th step a
 * yield of the core, so that a pool larger than the machine (or a busy
 * machine) does not starve the threads doing the work. Not more often: in
 * a VM each yield is a system call of some microseconds, and a worker in
 * one misses the start of the next product (a yield every 64th step cost
 * 2-thread decode 6%: Q4_K_M 63.6 against 67.3 tokens/s, Zen 5 VM). */
void lorc_spin_step(int i);

/* Physical cores of the online CPUs (SMT siblings counted once), read from
 * /sys/devices/system/cpu; the online CPU count when that is unreadable;
 * at least 1. */
int lorc_physical_cores(void);

#endif
