/* serve_metrics_text.c — GET /metrics: the counters in Prometheus' text
 * exposition format 0.0.4 (# HELP and # TYPE lines, then samples). The
 * state read from other owners (the scheduler's queue, the registry, the
 * in-flight count) is gathered before the metrics lock is taken, which
 * keeps that lock a leaf. Every metric is listed in docs/SERVER.md. */
#include <stdio.h>
#include <stdlib.h>

#include "serve.h"
#include "serve_metrics_internal.h"

static void head(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *f, const char *name, const char *help, double v) {
    head(f, name, "gauge", help);
    fprintf(f, "%s %.17g\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, double v) {
    head(f, name, "counter", help);
    fprintf(f, "%s %.17g\n", name, v);
}

/* A label value: backslash, double quote and newline escaped as the format
 * asks (model names come from clients and may hold any of them). */
static void label_value(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') fputs("\\\\", f);
        else if (*v == '"') fputs("\\\"", f);
        else if (*v == '\n') fputs("\\n", f);
        else fputc(*v, f);
    }
}

static const char *const finish_names[SERVE_N_FIN] = {"stop", "length", "cancelled", "error"};

enum { ROW_PROMPT, ROW_GENERATED, ROW_CACHED, ROW_PROMPT_S, ROW_GEN_S };

static double row_value(const serve_model_row *r, int field) {
    switch (field) {
    case ROW_PROMPT: return (double)r->prompt_tokens;
    case ROW_GENERATED: return (double)r->generated_tokens;
    case ROW_CACHED: return (double)r->cached_tokens;
    case ROW_PROMPT_S: return r->prompt_seconds;
    default: return r->generation_seconds;
    }
}

/* A counter with one sample per model row. */
static void per_model(FILE *f, const serve_metrics *m, const char *name, const char *help, int field) {
    head(f, name, "counter", help);
    for (int i = 0; i < m->n_rows; i++) {
        fprintf(f, "%s{model=\"", name);
        label_value(f, m->rows[i].name);
        fprintf(f, "\"} %.17g\n", row_value(&m->rows[i], field));
    }
}

static void requests(FILE *f, const serve_metrics *m) {
    head(f, "lorc_requests_total", "counter", "Completion requests run, by the model they named and how they ended.");
    for (int i = 0; i < m->n_rows; i++)
        for (int k = 0; k < SERVE_N_FIN; k++) {
            fputs("lorc_requests_total{model=\"", f);
            label_value(f, m->rows[i].name);
            fprintf(f, "\",finish=\"%s\"} %llu\n", finish_names[k], (unsigned long long)m->rows[i].requests[k]);
        }
    per_model(f, m, "lorc_prompt_tokens_total", "Prompt tokens of finished requests (as billed in usage).",
              ROW_PROMPT);
    per_model(f, m, "lorc_generation_tokens_total", "Generated tokens of finished requests (as billed in usage).",
              ROW_GENERATED);
    per_model(f, m, "lorc_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache.",
              ROW_CACHED);
    per_model(f, m, "lorc_request_prompt_seconds_total",
              "Per request, first step to first token, summed (overlapping requests each count).",
              ROW_PROMPT_S);
    per_model(f, m, "lorc_request_generation_seconds_total",
              "Per request, first token to done, summed (overlapping requests each count).",
              ROW_GEN_S);
    head(f, "lorc_http_responses_total", "counter", "HTTP responses by status code.");
    for (int c = 0; c < 500; c++)
        if (m->http[c]) fprintf(f, "lorc_http_responses_total{code=\"%d\"} %llu\n", c + 100,
                                (unsigned long long)m->http[c]);
}

static void speed(FILE *f, const serve_metrics *m) {
    counter(f, "lorc_busy_seconds_total", "Wall seconds the scheduler spent in steps (forward passes and sampling).",
            m->busy_seconds);
    counter(f, "lorc_scheduler_steps_total", "Scheduler steps run.", (double)m->steps);
    double pt = 0, ps = 0, gt = 0, gs = 0;
    for (int i = 0; i < m->n_recent; i++) {
        pt += m->recent[i].prompt_tokens;
        ps += m->recent[i].prompt_seconds;
        gt += m->recent[i].generated_tokens;
        gs += m->recent[i].generation_seconds;
    }
    gauge(f, "lorc_prompt_tokens_per_second",
          "Prompt tokens computed per second of prompt time, over the last 32 requests that generated a token.",
          ps > 0 ? pt / ps : 0);
    gauge(f, "lorc_generation_tokens_per_second",
          "Tokens generated per second of generation time, over the last 32 requests that generated a token.",
          gs > 0 ? gt / gs : 0);
    const char *ttft = "lorc_time_to_first_token_seconds";
    head(f, ttft, "histogram", "Submit to first generated token, queueing included.");
    for (int b = 0; b < SERVE_TTFT_BUCKETS; b++)
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", ttft, serve_ttft_bounds[b], (unsigned long long)m->ttft_buckets[b]);
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", ttft, (unsigned long long)m->ttft_count,
            ttft, m->ttft_sum, ttft, (unsigned long long)m->ttft_count);
}

static void kv(FILE *f, const lorc_kv_usage *u) {
    gauge(f, "lorc_kv_pages_used", "KV pages allocated: held by sequences or kept by the prefix cache.",
          (double)u->pages);
    gauge(f, "lorc_kv_pages_cached_idle", "Of those, pages only the prefix cache keeps (reclaimed when needed).",
          (double)u->idle_pages);
    gauge(f, "lorc_kv_pages_free", "Pages the KV budget still allows (-1: no budget).",
          u->budget_pages < 0 ? -1.0 : (double)(u->budget_pages - u->pages));
    gauge(f, "lorc_kv_page_bytes", "Bytes of one KV page.", (double)u->page_bytes);
    gauge(f, "lorc_kv_bytes_used", "Bytes of the KV pages allocated.", (double)u->pages * (double)u->page_bytes);
    gauge(f, "lorc_kv_budget_bytes", "KV cache budget in bytes (0: none).",
          u->budget_pages < 0 ? 0.0 : (double)u->budget_pages * (double)u->page_bytes);
}

static void adapters(FILE *f, const lorc_registry_stats *r) {
    gauge(f, "lorc_adapters_registered", "Adapters and overlays registered.", r->registered);
    gauge(f, "lorc_adapters_resident", "Of those, loaded in memory.", r->resident);
    gauge(f, "lorc_adapters_loading", "Of those, being loaded or queued for loading.", r->loading);
    counter(f, "lorc_adapter_loads_total", "Adapter and overlay loads that succeeded (reloads included).",
            (double)r->loads);
    counter(f, "lorc_adapter_load_failures_total", "Loads that failed (bad file, mismatch, no room in the budget).",
            (double)r->load_failures);
    counter(f, "lorc_adapter_evictions_total", "Resident entries dropped to make room under --adapter-mem.",
            (double)r->evictions);
    gauge(f, "lorc_adapter_resident_bytes", "Bytes held by resident adapters and overlays.", (double)r->resident_bytes);
    gauge(f, "lorc_adapter_budget_bytes", "--adapter-mem (0: no limit).", (double)r->budget_bytes);
}

char *serve_metrics_render(serve_state *s) {
    int waiting = 0, running = 0;
    lorc_scheduler_counts(s->sched, &waiting, &running);
    lorc_registry_stats rs;
    lorc_registry_get_stats(s->reg, &rs);
    pthread_mutex_lock(&s->mu);
    int active = s->active;
    pthread_mutex_unlock(&s->mu);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    gauge(f, "lorc_requests_waiting", "Requests queued in the scheduler (not holding a sequence).", waiting);
    gauge(f, "lorc_requests_running", "Requests holding a sequence (active sequences).", running);
    gauge(f, "lorc_requests_in_flight", "Completion requests accepted and not yet answered (--parallel + --queue max).",
          active);
    gauge(f, "lorc_requests_in_flight_max", "Completion requests accepted at once; more get 429.", s->max_active);
    serve_metrics *m = s->metrics;
    pthread_mutex_lock(&m->mu);
    requests(f, m);
    speed(f, m);
    lorc_kv_usage u = m->kv;
    pthread_mutex_unlock(&m->mu);
    kv(f, &u);
    adapters(f, &rs);
    gauge(f, "lorc_start_time_seconds", "When the server started (Unix time).", (double)s->started);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
