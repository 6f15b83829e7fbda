/* cmd_batch.c — `lorc batch`: offline inference over a JSONL file. Every
 * request goes through one scheduler (continuous batching, mixed adapters
 * in the same steps); results are written as JSONL in completion order
 * through the atomic writer, so a failed command leaves no output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/error.h"
#include "batch_registry.h"
#include "batch_requests.h"
#include "cli.h"
#include "kv_opts.h"
#include "commands.h"
#include "text_file.h"

static const char batch_usage[] =
    "usage: lorc batch -m BASE -i REQUESTS.jsonl -o RESULTS.jsonl [options]\n"
    "\n"
    "Runs every request of a JSONL file (one JSON object per line: id, prompt,\n"
    "adapter or adapters [{name, scale}], overlay, temperature, top_k, top_p,\n"
    "min_p, repeat_penalty, repeat_last_n, seed, max_tokens; see docs/batch.md)\n"
    "through one scheduler, requests on different adapters in the same forward\n"
    "passes. Writes one result per line in completion order: id, text,\n"
    "prompt_tokens, cached_tokens, completion_tokens, finish_reason, timings; a\n"
    "bad line gets {id, error}. Sampling defaults to greedy.\n"
    "\n"
    "  -m, --model FILE        base GGUF model\n"
    "  -i, --input FILE        requests, JSONL\n"
    "  -o, --output FILE       results, JSONL (written only when the command succeeds)\n"
    "  --lora NAME=PATH        register a LoRA adapter (GGUF file or PEFT directory); repeatable\n"
    "  --overlay NAME=PATH     register a tensor overlay (GGUF); repeatable\n"
    "  --adapter-dir DIR       register every DIR/*.gguf (name: file name without .gguf) and every\n"
    "                          subfolder with an adapter_config.json (name: the folder's); repeatable\n"
    "  --budget BYTES          memory for resident adapters and overlays (K/M/G suffixes; default: no limit)\n"
    "  --parallel N            requests generating at once (default 8)\n"
    "  -n, --n-predict N       max_tokens of requests that give none (default -1: until end of\n"
    "                          generation or a full context)\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "  -c, --ctx-size N        context length of each request (default: the model's)\n"
    "  -b, --batch-size N      tokens per forward pass, the scheduler's step budget (default 512)\n"
    "  --kv-budget BYTES       memory for the KV cache pages of all requests (K/M/G suffixes;\n"
    "                          default: no limit); when full, the newest request waits and is recomputed\n"
    "%s"
    "  --no-bos                do not prepend BOS even when the vocab asks for it\n"
    "  -h, --help              this help\n";

typedef struct batch_opts {
    const char *model, *input, *output;
    registry_opts reg;
    long parallel, n_predict, threads, ctx, batch;
    size_t budget, kv_budget;
    kv_opts kv;
    bool no_bos;
} batch_opts;

/* Returns 0 to go on, 1 on an error (printed), 2 after --help. */
static int parse_args(int argc, char **argv, batch_opts *o) {
    memset(o, 0, sizeof *o);
    o->parallel = 8;
    o->n_predict = -1;
    o->kv = kv_opts_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int reg = registry_opts_parse(&o->reg, "batch", argc, argv, &i);
        if (reg < 0) return 1;
        if (reg > 0) continue;
        int kv = kv_opts_parse(&o->kv, "batch", argc, argv, &i);
        if (kv < 0) return 1;
        if (kv > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(batch_usage, kv_opts_usage);
            return 2;
        } else if (!strcmp(a, "--no-bos")) {
            o->no_bos = true;
        } else if (cli_opt(argc, argv, &i, "-m", &v, &missing) || cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return 1;
            o->model = v;
        } else if (cli_opt(argc, argv, &i, "-i", &v, &missing) || cli_opt(argc, argv, &i, "--input", &v, &missing)) {
            if (missing) return 1;
            o->input = v;
        } else if (cli_opt(argc, argv, &i, "-o", &v, &missing) || cli_opt(argc, argv, &i, "--output", &v, &missing)) {
            if (missing) return 1;
            o->output = v;
        } else if (cli_opt(argc, argv, &i, "--budget", &v, &missing)) {
            if (missing || !cli_parse_bytes("batch", a, v, &o->budget)) return 1;
        } else if (cli_opt(argc, argv, &i, "--kv-budget", &v, &missing)) {
            if (missing || !cli_parse_bytes("batch", a, v, &o->kv_budget)) return 1;
        } else if (cli_opt(argc, argv, &i, "--parallel", &v, &missing)) {
            if (missing || !cli_parse_int("batch", a, v, 1, 4096, &o->parallel)) return 1;
        } else if (cli_opt(argc, argv, &i, "-n", &v, &missing) ||
                   cli_opt(argc, argv, &i, "--n-predict", &v, &missing)) {
            if (missing || !cli_parse_int("batch", a, v, -1, 1L << 30, &o->n_predict)) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing) || cli_opt(argc, argv, &i, "--threads", &v, &missing)) {
            if (missing || !cli_parse_int("batch", a, v, 1, 1024, &o->threads)) return 1;
        } else if (cli_opt(argc, argv, &i, "-c", &v, &missing) || cli_opt(argc, argv, &i, "--ctx-size", &v, &missing)) {
            if (missing || !cli_parse_int("batch", a, v, 0, 1L << 24, &o->ctx)) return 1;
        } else if (cli_opt(argc, argv, &i, "-b", &v, &missing) ||
                   cli_opt(argc, argv, &i, "--batch-size", &v, &missing)) {
            if (missing || !cli_parse_int("batch", a, v, 1, 1L << 24, &o->batch)) return 1;
        } else {
            return cli_usage_error("batch", "unknown option '%s'", a);
        }
    }
    if (!o->model) return cli_usage_error("batch", "-m BASE is required");
    if (!o->input) return cli_usage_error("batch", "-i REQUESTS.jsonl is required");
    if (!o->output) return cli_usage_error("batch", "-o RESULTS.jsonl is required");
    const char *inputs[] = {o->input, o->model};
    if (!cli_output_is_new("batch", o->output, inputs, 2)) return 1;
    return 0;
}

/* One input line and what its request produced. */
typedef struct batch_run batch_run;
typedef struct batch_job {
    batch_line line;
    batch_run *run;
} batch_job;

struct batch_run {
    const lorc_vocab *vocab;
    FILE *out;           /* the atomic output's stream */
    bool failed;         /* a write or an allocation failed: the command fails */
    int total, done, n_errors;
    long prompt_tokens, gen_tokens;
    bool progress;       /* stderr is a terminal */
};

static void draw_progress(batch_run *r) {
    if (!r->progress || r->total == 0) return;
    const int width = 40;
    int filled = (int)((double)r->done / (double)r->total * width);
    fprintf(stderr, "\rlorc batch [");
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %d/%d", r->done, r->total);
    if (r->done == r->total) fputc('\n', stderr);
    fflush(stderr);
}

/* Ends an unfinished bar's line, so an error message starts on its own. */
static void progress_break(const batch_run *r) {
    if (r->progress && r->done > 0 && r->done < r->total) fputc('\n', stderr);
}

/* A refused line: its {id, error} result right away. */
static void write_refused(batch_run *r, batch_line *l) {
    if (!batch_write_result(r->out, l, NULL)) r->failed = true;
    r->done++;
    r->n_errors++;
    draw_progress(r);
}

static void on_event(void *user, const lorc_event *ev) {
    batch_job *job = user;
    batch_run *r = job->run;
    batch_line *l = &job->line;
    if (ev->kind == LORC_EVENT_TOKEN) {
        if (text_buf_append_token(&l->text, r->vocab, l->prev, ev->token) < 0) r->failed = true;
        l->prev = ev->token;
        return;
    }
    if (!batch_write_result(r->out, l, ev)) r->failed = true;
    r->done++;
    r->prompt_tokens += ev->n_prompt;
    r->gen_tokens += ev->n_generated;
    if (ev->finish == LORC_FINISH_ERROR) r->n_errors++;
    /* The text is written: free it now, not at the end of a long file. */
    text_buf_free(&l->text);
    draw_progress(r);
}

/* Splits the input into lines and parses each (blank lines are skipped). */
static batch_job *parse_input(const char *data, size_t len, batch_run *run, int *n_jobs, lorc_error *err) {
    int n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    batch_job *jobs = calloc((size_t)n_lines + 1, sizeof *jobs);
    if (!jobs) {
        lorc_fail(err, LORC_ERR_NOMEM, "out of memory for %d lines", n_lines + 1);
        return NULL;
    }
    int n = 0, line_no = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        line_no++;
        bool blank = true;
        for (size_t i = start; i < end && blank; i++) blank = strchr(" \t\r", data[i]) != NULL;
        if (!blank) {
            jobs[n].run = run;
            if (!batch_line_parse(data + start, end - start, line_no, &jobs[n].line)) {
                for (int k = 0; k <= n; k++) batch_line_free(&jobs[k].line);
                free(jobs);
                lorc_fail(err, LORC_ERR_NOMEM, "out of memory parsing line %d", line_no);
                return NULL;
            }
            n++;
        }
        start = end + 1;
    }
    *n_jobs = n;
    return jobs;
}

typedef struct batch_state {
    lorc_model *model;
    lorc_registry *reg;
    lorc_context *ctx;
    lorc_scheduler *sched;
    batch_job *jobs;
    int n_jobs;
    char *input;
    lorc_atomic_file out;
} batch_state;

static void batch_state_free(batch_state *s) {
    /* The scheduler's sequences hold registry references: free it first. */
    lorc_scheduler_free(s->sched);
    lorc_registry_free(s->reg);
    lorc_context_free(s->ctx);
    lorc_model_free(s->model);
    for (int i = 0; i < s->n_jobs; i++) batch_line_free(&s->jobs[i].line);
    free(s->jobs);
    free(s->input);
    lorc_atomic_file_abort(&s->out);
}

static lorc_status setup_registry(const batch_opts *o, batch_state *s, lorc_error *err) {
    lorc_status st = lorc_registry_new(s->model, o->budget, &s->reg, err);
    for (int i = 0; i < o->reg.n_lora && st == LORC_OK; i++)
        st = batch_registry_add_pair(s->reg, "--lora", o->reg.lora[i], LORC_ENTRY_LORA, err);
    for (int i = 0; i < o->reg.n_overlay && st == LORC_OK; i++)
        st = batch_registry_add_pair(s->reg, "--overlay", o->reg.overlay[i], LORC_ENTRY_OVERLAY, err);
    for (int i = 0; i < o->reg.n_dirs && st == LORC_OK; i++) {
        int added = 0;
        st = batch_registry_add_dir(s->reg, o->reg.dirs[i], &added, err);
    }
    return st;
}

/* Tokenizes and submits one parsed line; a refused one gets its error. */
static void submit_job(const batch_opts *o, batch_state *s, batch_job *job) {
    batch_line *l = &job->line;
    batch_run *run = job->run;
    if (l->error) {
        write_refused(run, l);
        return;
    }
    lorc_error err = {0};
    int32_t *toks = NULL;
    size_t n = 0;
    int flags = LORC_TOKENIZE_PARSE_SPECIAL | (o->no_bos ? 0 : LORC_TOKENIZE_ADD_BOS);
    lorc_status st = lorc_tokenize(run->vocab, l->prompt, strlen(l->prompt), flags, &toks, &n, &err);
    if (st == LORC_OK && n == 0) st = lorc_fail(&err, LORC_ERR_INVALID, "the prompt is empty and the vocab adds no BOS");
    if (st == LORC_OK) {
        lorc_request q = {0};
        q.prompt = toks;
        q.n_prompt = n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
        q.adapters = l->adapters;
        q.n_adapters = l->n_adapters;
        q.overlay = l->overlay;
        q.sampling = l->sampling;
        /* -1 ("all"), as `lorc run` reads it: the whole context. */
        if (q.sampling.repeat_last_n < 0) q.sampling.repeat_last_n = lorc_context_n_ctx(s->ctx);
        long max = l->max_tokens >= 0 ? l->max_tokens : o->n_predict;
        q.max_tokens = max >= 0 ? (int)max : lorc_context_n_ctx(s->ctx);
        q.on_event = on_event;
        q.user = job;
        l->prev = toks[n - 1];
        uint64_t id = 0;
        st = lorc_scheduler_submit(s->sched, &q, &id, &err);
    }
    free(toks);
    if (st != LORC_OK) {
        if (!batch_line_fail(l, err.message)) run->failed = true;
        write_refused(run, l);
    }
}

static int run_batch(const batch_opts *o, batch_state *s, batch_run *run) {
    lorc_error err = {0};
    size_t len = 0;
    if (!(s->input = text_file_read(o->input, &len, &err))) return cli_fail("batch", &err);
    if (lorc_model_load(o->model, &s->model, &err) != LORC_OK) return cli_fail("batch", &err);
    if (setup_registry(o, s, &err) != LORC_OK) return cli_fail("batch", &err);
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = (int)o->threads;
    cp.n_ctx = (int)o->ctx;
    if (o->batch) cp.n_batch = (int)o->batch;
    kv_opts_apply(&o->kv, &cp);
    cp.kv_budget_bytes = o->kv_budget;
    lorc_scheduler_params sp = {(int)o->parallel, 0, 0};
    if (lorc_context_new(s->model, &cp, &s->ctx, &err) != LORC_OK ||
        lorc_scheduler_new(s->ctx, s->reg, &sp, &s->sched, &err) != LORC_OK)
        return cli_fail("batch", &err);
    run->vocab = lorc_model_vocab(s->model);
    if (!(s->jobs = parse_input(s->input, len, run, &s->n_jobs, &err))) return cli_fail("batch", &err);
    run->total = s->n_jobs;
    if (lorc_atomic_file_open(&s->out, o->output, &err) != LORC_OK) return cli_fail("batch", &err);
    run->out = s->out.fp;

    double t0 = cli_now_seconds();
    for (int i = 0; i < s->n_jobs; i++) submit_job(o, s, &s->jobs[i]);
    lorc_status st = LORC_OK;
    while (st == LORC_OK && !run->failed && lorc_scheduler_pending(s->sched) > 0)
        st = lorc_scheduler_step(s->sched, &err);
    double dt = cli_now_seconds() - t0;
    if (st == LORC_OK && !run->failed) st = lorc_atomic_file_commit(&s->out, &err);
    if (st != LORC_OK || run->failed) {
        progress_break(run);
        if (st != LORC_OK) return cli_fail("batch", &err);
        fprintf(stderr, "lorc batch: %s: cannot write the results (out of memory or disk)\n", o->output);
        return 1;
    }
    fprintf(stderr,
            "lorc batch: %d requests (%d errors), %ld prompt + %ld generated tokens in %.2f s "
            "(%.2f generated tokens/s)\n",
            run->total, run->n_errors, run->prompt_tokens, run->gen_tokens, dt,
            dt > 0 ? (double)run->gen_tokens / dt : 0.0);
    return 0;
}

int lorc_cmd_batch(int argc, char **argv) {
    batch_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr) return pr == 2 ? 0 : 1;
    batch_state s = {0};
    batch_run run = {0};
    run.progress = isatty(STDERR_FILENO);
    int rc = run_batch(&o, &s, &run);
    batch_state_free(&s);
    return rc;
}
