/* serve_metrics_internal.h — the counters' layout, shared by
 * serve_metrics.c (recording) and serve_metrics_text.c (the exposition). */
#ifndef LORC_TOOLS_SERVE_METRICS_INTERNAL_H
#define LORC_TOOLS_SERVE_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "serve_metrics.h"

/* The finish label of lorc_requests_total. */
enum { SERVE_FIN_STOP, SERVE_FIN_LENGTH, SERVE_FIN_CANCELLED, SERVE_FIN_ERROR, SERVE_N_FIN };
/* Completed requests the tokens/s gauges average over. */
enum { SERVE_RECENT = 32, SERVE_TTFT_BUCKETS = 10 };

extern const double serve_ttft_bounds[SERVE_TTFT_BUCKETS]; /* seconds, ascending */

typedef struct serve_model_row {
    char *name; /* owned */
    uint64_t requests[SERVE_N_FIN];
    uint64_t prompt_tokens, cached_tokens, generated_tokens;
    double prompt_seconds, generation_seconds; /* summed per request */
} serve_model_row;

typedef struct serve_recent {
    int prompt_tokens; /* computed (not taken from the prefix cache) */
    double prompt_seconds;
    int generated_tokens;
    double generation_seconds;
} serve_recent;

struct serve_metrics {
    pthread_mutex_t mu;
    serve_model_row *rows;
    int n_rows, cap_rows;
    uint64_t http[500]; /* status 100..599 */
    double busy_seconds;
    uint64_t steps;
    lorc_kv_usage kv; /* as of the last step */
    serve_recent recent[SERVE_RECENT];
    int n_recent, next_recent;
    uint64_t ttft_buckets[SERVE_TTFT_BUCKETS]; /* cumulative: ttft <= bound */
    uint64_t ttft_count;
    double ttft_sum;
};

#endif
