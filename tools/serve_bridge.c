/* serve_bridge.c — HTTP threads submit requests; one thread steps the
 * scheduler while any are pending and hands each request's text to its
 * waiting HTTP thread. Stop strings are matched here, on the scheduler
 * thread, so a request that hit one is cancelled at the next step instead
 * of generating up to max_tokens. Each request's DONE event and each
 * step's time feed the metrics (serve_metrics.c). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/error.h"
#include "cli.h"
#include "serve.h"
#include "serve_metrics.h"

void serve_job_init(serve_job *job, serve_state *s) {
    memset(job, 0, sizeof *job);
    job->s = s;
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cv, NULL);
}

void serve_job_free(serve_job *job) {
    for (int i = 0; i < job->n_stops; i++) free(job->stops[i]);
    text_buf_free(&job->text);
    free(job->lps);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cv);
}

void serve_job_wait_done(serve_job *job) {
    pthread_mutex_lock(&job->mu);
    while (!job->done) pthread_cond_wait(&job->cv, &job->mu);
    pthread_mutex_unlock(&job->mu);
}

/* True when the peer has closed or reset the connection. Bytes waiting to
 * be read (a pipelined request) leave it alive: only EOF or an error count. */
bool serve_client_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLNVAL)) return true;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* How often a waiting thread looks at its client's socket: a client that
 * went away costs at most this much more generation. */
enum { SERVE_WATCH_MS = 100 };

void serve_job_wait_a_while(serve_job *job) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += SERVE_WATCH_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&job->cv, &job->mu, &until);
}

void serve_job_wait_client(serve_job *job, int fd) {
    bool cancelled = false;
    pthread_mutex_lock(&job->mu);
    while (!job->done) {
        if (fd < 0 || cancelled) {
            pthread_cond_wait(&job->cv, &job->mu);
            continue;
        }
        serve_job_wait_a_while(job);
        if (job->done) break;
        pthread_mutex_unlock(&job->mu);
        if (serve_client_gone(fd)) {
            lorc_scheduler_cancel(job->s->sched, job->id);
            cancelled = true;
        }
        pthread_mutex_lock(&job->mu);
    }
    pthread_mutex_unlock(&job->mu);
}

const char *serve_job_finish_text(const serve_job *job) {
    if (job->stopped) return "stop";
    switch (job->finish) {
    case LORC_FINISH_EOG: return "stop";
    case LORC_FINISH_LENGTH: return "length";
    case LORC_FINISH_CANCELLED: return "stop";
    default: return NULL;
    }
}

size_t serve_utf8_complete(const char *text, size_t n) {
    /* Back up over at most 3 continuation bytes to the last lead byte and
     * keep it only when its whole sequence is there. */
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)text[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char lead = (unsigned char)text[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > back + 1 ? i - 1 : n;
}

/* Cuts the text at the earliest stop string; only the tail that the new
 * piece could have completed needs searching. */
static bool cut_at_stop(serve_job *job, size_t piece_len) {
    size_t from = job->text.len > piece_len + job->max_stop_len ? job->text.len - piece_len - job->max_stop_len : 0;
    char *best = NULL;
    for (int i = 0; i < job->n_stops; i++) {
        char *hit = strstr(job->text.data + from, job->stops[i]);
        if (hit && (!best || hit < best)) best = hit, job->stop_index = i;
    }
    if (!best) return false;
    text_buf_cut(&job->text, (size_t)(best - job->text.data));
    return true;
}

static void on_event(void *user, const lorc_event *ev) {
    serve_job *job = user;
    pthread_mutex_lock(&job->mu);
    if (ev->kind == LORC_EVENT_TOKEN) {
        if (!job->stopped) {
            if (job->want_logprobs && !serve_job_record_logprobs(job, ev, job->prev, job->text.len))
                job->failed_alloc = true;
            long n = text_buf_append_token(&job->text, job->s->vocab, job->prev, ev->token);
            if (n < 0) job->failed_alloc = true;
            job->prev = ev->token;
            job->n_generated++;
            if (n > 0 && job->n_stops > 0 && cut_at_stop(job, (size_t)n)) {
                job->stopped = true;
                lorc_scheduler_cancel(job->s->sched, job->id);
            }
        }
    } else {
        job->done = true;
        job->finish = ev->finish;
        job->n_prompt = ev->n_prompt;
        /* Tokens after a stop string were never shown: don't bill them. */
        if (!job->stopped) job->n_generated = ev->n_generated;
        serve_metrics_request_done(job->s->metrics, job->model, ev, job->stopped, job->n_generated);
        if (ev->finish == LORC_FINISH_ERROR)
            snprintf(job->message, sizeof job->message, "%s", ev->message ? ev->message : "generation failed");
    }
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
}

static void *scheduler_thread(void *arg) {
    serve_state *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && lorc_scheduler_pending(s->sched) == 0) pthread_cond_wait(&s->wake, &s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        lorc_error err = {0};
        double t0 = cli_now_seconds();
        /* A failed step already ended its requests with DONE events. */
        if (lorc_scheduler_step(s->sched, &err) != LORC_OK) fprintf(stderr, "lorc serve: %s\n", err.message);
        serve_metrics_step(s->metrics, cli_now_seconds() - t0);
        serve_metrics_kv(s->metrics, s->ctx);
    }
    return NULL;
}

lorc_status serve_bridge_start(serve_state *s, lorc_error *err) {
    serve_metrics_kv(s->metrics, s->ctx); /* before the thread that owns the context starts */
    if (pthread_create(&s->thread, NULL, scheduler_thread, s) != 0)
        return lorc_fail(err, LORC_ERR_NOMEM, "cannot start the scheduler thread");
    s->thread_started = true;
    return LORC_OK;
}

void serve_bridge_stop(serve_state *s) {
    if (!s->thread_started) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

bool serve_bridge_reserve(serve_state *s) {
    pthread_mutex_lock(&s->mu);
    bool ok = s->active < s->max_active;
    if (ok) s->active++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void serve_bridge_release(serve_state *s) {
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_mutex_unlock(&s->mu);
}

lorc_status serve_bridge_submit(serve_state *s, serve_job *job, lorc_request *q, lorc_error *err) {
    q->on_event = on_event;
    q->user = job;
    job->prev = q->prompt[q->n_prompt - 1];
    for (int i = 0; i < job->n_stops; i++) {
        size_t n = strlen(job->stops[i]);
        if (n > job->max_stop_len) job->max_stop_len = n;
    }
    /* The id is written before the scheduler thread can run the request:
     * it steps only after the wake below, under the same lock. */
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&job->mu);
    lorc_status st = lorc_scheduler_submit(s->sched, q, &job->id, err);
    pthread_mutex_unlock(&job->mu);
    if (st == LORC_OK) pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return st;
}
