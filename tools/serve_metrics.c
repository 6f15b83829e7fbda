/* serve_metrics.c — the counters behind GET /metrics and how they are
 * recorded: per-model request outcomes and tokens at each request's DONE
 * event (scheduler thread), HTTP status codes as replies are queued (HTTP
 * threads), busy time and a KV snapshot after each step (scheduler thread:
 * the only one that may read the context). serve_metrics_text.c writes
 * them out. */
#include <stdlib.h>
#include <string.h>

#include "serve_metrics_internal.h"

const double serve_ttft_bounds[SERVE_TTFT_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

serve_metrics *serve_metrics_new(void) {
    serve_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void serve_metrics_free(serve_metrics *m) {
    if (!m) return;
    for (int i = 0; i < m->n_rows; i++) free(m->rows[i].name);
    free(m->rows);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The row of `model`, added on first use; NULL when out of memory (the
 * request then goes uncounted rather than failing). Under m->mu. Rows are
 * never removed: a model's counters must not go back to zero. */
static serve_model_row *row_of(serve_metrics *m, const char *model) {
    for (int i = 0; i < m->n_rows; i++)
        if (!strcmp(m->rows[i].name, model)) return &m->rows[i];
    if (m->n_rows == m->cap_rows) {
        int cap = m->cap_rows ? 2 * m->cap_rows : 8;
        serve_model_row *grown = realloc(m->rows, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        m->rows = grown;
        m->cap_rows = cap;
    }
    serve_model_row *r = &m->rows[m->n_rows];
    memset(r, 0, sizeof *r);
    if (!(r->name = strdup(model))) return NULL;
    m->n_rows++;
    return r;
}

static int outcome(const lorc_event *ev, bool stopped) {
    if (stopped) return SERVE_FIN_STOP;
    switch (ev->finish) {
    case LORC_FINISH_EOG: return SERVE_FIN_STOP;
    case LORC_FINISH_LENGTH: return SERVE_FIN_LENGTH;
    case LORC_FINISH_CANCELLED: return SERVE_FIN_CANCELLED;
    default: return SERVE_FIN_ERROR;
    }
}

void serve_metrics_request_done(serve_metrics *m, const char *model, const lorc_event *ev, bool stopped,
                                int n_generated) {
    if (!m) return;
    int computed = ev->n_prompt - ev->n_cached;
    double prompt_s = ev->prompt_ms / 1e3, gen_s = ev->gen_ms / 1e3;
    pthread_mutex_lock(&m->mu);
    serve_model_row *r = row_of(m, model ? model : "");
    if (r) {
        r->requests[outcome(ev, stopped)]++;
        r->prompt_tokens += (uint64_t)ev->n_prompt;
        r->cached_tokens += (uint64_t)ev->n_cached;
        r->generated_tokens += (uint64_t)n_generated;
        r->prompt_seconds += prompt_s;
        r->generation_seconds += gen_s;
    }
    /* Only requests that reached their first token have a prompt time and
     * a time to first token. */
    if (ev->n_generated > 0) {
        serve_recent *rc = &m->recent[m->next_recent];
        m->next_recent = (m->next_recent + 1) % SERVE_RECENT;
        if (m->n_recent < SERVE_RECENT) m->n_recent++;
        *rc = (serve_recent){computed, prompt_s, ev->n_generated, gen_s};
        double ttft = (ev->queue_ms + ev->prompt_ms) / 1e3;
        for (int b = 0; b < SERVE_TTFT_BUCKETS; b++)
            if (ttft <= serve_ttft_bounds[b]) m->ttft_buckets[b]++;
        m->ttft_count++;
        m->ttft_sum += ttft;
    }
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_http(serve_metrics *m, unsigned status) {
    if (!m || status < 100 || status >= 600) return;
    pthread_mutex_lock(&m->mu);
    m->http[status - 100]++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_step(serve_metrics *m, double seconds) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->busy_seconds += seconds;
    m->steps++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_kv(serve_metrics *m, const lorc_context *ctx) {
    if (!m) return;
    lorc_kv_usage kv = lorc_context_kv_usage(ctx);
    pthread_mutex_lock(&m->mu);
    m->kv = kv;
    pthread_mutex_unlock(&m->mu);
}
