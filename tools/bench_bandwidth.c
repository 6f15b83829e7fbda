/* bench_bandwidth.c — a STREAM-like read benchmark: the memory bandwidth a
 * decode step could at best use with the same number of threads (the
 * roofline `lorc bench` measures decode against). */
#include <stdint.h>
#include <stdlib.h>

#include "base/threadpool.h"
#include "bench.h"

typedef struct read_job {
    const uint64_t *data;
    size_t n_words;
    uint64_t sums[64]; /* one per thread, so the reads cannot be optimized away */
} read_job;

static void read_slice(void *user, int ith, int nth) {
    read_job *job = user;
    size_t i0 = job->n_words * (size_t)ith / (size_t)nth, i1 = job->n_words * (size_t)(ith + 1) / (size_t)nth;
    /* four independent sums keep several loads in flight per core */
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = i0;
    for (; i + 4 <= i1; i += 4) {
        s0 += job->data[i];
        s1 += job->data[i + 1];
        s2 += job->data[i + 2];
        s3 += job->data[i + 3];
    }
    for (; i < i1; i++) s0 += job->data[i];
    if (ith < 64) job->sums[ith] = s0 + s1 + s2 + s3;
}

static void fill_slice(void *user, int ith, int nth) {
    read_job *job = user;
    uint64_t *data = (uint64_t *)job->data;
    size_t i0 = job->n_words * (size_t)ith / (size_t)nth, i1 = job->n_words * (size_t)(ith + 1) / (size_t)nth;
    for (size_t i = i0; i < i1; i++) data[i] = i; /* also faults the pages in on the thread that reads them */
}

double bench_read_bandwidth(int n_threads, size_t bytes, int reps) {
    read_job job = {0};
    job.n_words = bytes / sizeof(uint64_t);
    uint64_t *buf = malloc(job.n_words * sizeof *buf);
    lorc_threadpool *pool = lorc_threadpool_new(n_threads);
    double best = 0;
    if (!buf || !pool || job.n_words == 0) goto out;
    job.data = buf;
    lorc_threadpool_run(pool, fill_slice, &job);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ms();
        lorc_threadpool_run(pool, read_slice, &job);
        double ms = bench_now_ms() - t0;
        double bw = ms > 0 ? (double)(job.n_words * sizeof *buf) / (ms * 1e-3) : 0;
        if (bw > best) best = bw;
    }
    /* a sum of word indices is never 1: the branch keeps the sums live */
    if (job.sums[0] == 1) best = 0;
out:
    lorc_threadpool_free(pool);
    free(buf);
    return best;
}
