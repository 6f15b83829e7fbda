/* work_split.h — items [0, n) of a parallel job shared out to the threads
 * so that each one reads memory in one long run: thread t owns a
 * contiguous range of about 1/nth of the total cost and takes its items
 * from the front, in order; a thread whose range is empty takes single
 * items from the back of the fullest other range. A decode product reads
 * each weight once, and short runs taken in turn by the threads read
 * DRAM more slowly than one run per thread; the taking from the back
 * keeps the threads finishing together on a busy machine. */
#ifndef LORC_BASE_WORK_SPLIT_H
#define LORC_BASE_WORK_SPLIT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

/* One thread's range: items [front, back), packed as back << 32 | front so
 * that the owner and a taker agree with one compare-and-swap. A cache line
 * each, as the owner moves `front` at every item. */
typedef struct lorc_work_range {
    alignas(64) atomic_ullong bounds;
} lorc_work_range;

typedef struct lorc_work_split {
    lorc_work_range *ranges; /* borrowed, n_threads of them */
    int n_threads;
} lorc_work_split;

/* Cost of item i (any unit: its weight bytes, its multiply-adds). */
typedef double (*lorc_work_cost_fn)(const void *user, int64_t i);

/* Splits items [first, first + n) into n_threads ranges of about equal
 * cost, in item order (thread 0 the first). n < 2^31. */
void lorc_work_split_init(lorc_work_split *s, lorc_work_range *ranges, int n_threads, int64_t first, int64_t n,
                          lorc_work_cost_fn cost, const void *user);
/* The next item for thread ith: from its own range, else from the back of
 * another; -1 when no range has any left. Every item is handed out once. */
int64_t lorc_work_split_next(lorc_work_split *s, int ith);

#endif
