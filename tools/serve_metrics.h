/* serve_metrics.h — `lorc serve`'s counters for GET /metrics (Prometheus
 * text format 0.0.4): what requests asked for and got, per model and per
 * outcome; HTTP status codes; the scheduler's busy time and a KV snapshot
 * taken on the scheduler thread; and, at scrape time, the queue, the
 * registry's stats and the KV snapshot. One mutex guards it all; it is a
 * leaf lock (taken last, never held while calling out). */
#ifndef LORC_TOOLS_SERVE_METRICS_H
#define LORC_TOOLS_SERVE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "lorc.h"

typedef struct serve_metrics serve_metrics;
struct serve_state;

serve_metrics *serve_metrics_new(void);
void serve_metrics_free(serve_metrics *m);

/* One request's DONE event. model: the request's `model` (any bytes);
 * stopped: it ended on a stop string (its finish is then CANCELLED);
 * n_generated: the tokens billed in `usage`. */
void serve_metrics_request_done(serve_metrics *m, const char *model, const lorc_event *ev, bool stopped,
                                int n_generated);
/* One HTTP response, by status code. */
void serve_metrics_http(serve_metrics *m, unsigned status);
/* A scheduler step's wall time. */
void serve_metrics_step(serve_metrics *m, double seconds);
/* A snapshot of the context's KV pages; only on the thread that steps the
 * scheduler (the context is not safe to read while it decodes). */
void serve_metrics_kv(serve_metrics *m, const lorc_context *ctx);

/* The exposition text (malloc'd; NULL when out of memory). */
char *serve_metrics_render(struct serve_state *s);

#endif
