/* cmd_serve.c — `lorc serve`: an OpenAI-compatible HTTP server over one
 * base model and a registry of named adapters and overlays. Requests from
 * every connection go through one continuous-batching scheduler, so
 * requests on different adapters share forward passes (docs/SERVER.md). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "batch_registry.h"
#include "cli.h"
#include "commands.h"
#include "kv_opts.h"
#include "serve.h"
#include "serve_metrics.h"

static const char serve_usage[] =
    "usage: lorc serve -m BASE [options]\n"
    "\n"
    "Serves the OpenAI API (POST /v1/completions, POST /v1/chat/completions,\n"
    "streamed or not; GET /v1/models; GET /health; GET /metrics) over HTTP.\n"
    "The request's `model` is the base (the GGUF file name without .gguf) or\n"
    "a registered adapter or overlay; `adapters: [{name, scale}]` stacks more.\n"
    "See docs/SERVER.md.\n"
    "\n"
    "  -m, --model FILE        base GGUF model\n"
    "  --lora NAME=PATH        register a LoRA adapter (GGUF file or PEFT directory); repeatable\n"
    "  --overlay NAME=PATH     register a tensor overlay (GGUF); repeatable\n"
    "  --adapter-dir DIR       register every DIR/*.gguf (name: file name without .gguf) and every\n"
    "                          subfolder with an adapter_config.json (name: the folder's); repeatable;\n"
    "                          POST /v1/load_lora_adapter may load only from these folders\n"
    "  --adapter-mem BYTES     memory for resident adapters and overlays (K/M/G suffixes; default: no limit)\n"
    "  --host ADDR             IPv4 address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N                TCP port (default 8080; 0: any free port, printed on stderr)\n"
    "  --api-key KEY           require 'Authorization: Bearer KEY' (all but /health)\n"
    "  --parallel N            requests generating at once (default 8)\n"
    "  --queue N               requests waiting beyond those; more get 429 (default 64)\n"
    "  --timeout SECONDS       close a connection silent this long (default 60; 0: never)\n"
    "  --max-connections N     connections open at once; more wait to be accepted (default 256)\n"
    "  -c, --ctx-size N        context length of each request (default: the model's)\n"
    "  --max-tokens N          largest max_tokens (n_predict) a request may ask for; more gets 400\n"
    "                          (default: the context)\n"
    "  --max-prompt-tokens N   longest prompt, in tokens; longer gets 400 (default: the context - 1)\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "%s"
    "  --chat-template NAME    chat format of /v1/chat/completions: chatml, llama2, llama3, mistral,\n"
    "                          zephyr, phi3, gemma (default: detected from the GGUF's template, else chatml)\n"
    "  -h, --help              this help\n";

typedef struct serve_opts {
    const char *model, *host, *api_key, *chat_template;
    registry_opts reg;
    long port, parallel, queue, ctx, threads, max_tokens, max_prompt; /* limits: 0 = from the context */
    long timeout, max_conns;
    size_t budget;
    kv_opts kv;
} serve_opts;

/* Returns 0 to go on, 1 on an error (printed), 2 after --help. */
static int parse_args(int argc, char **argv, serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->parallel = 8;
    o->queue = 64;
    o->timeout = 60;
    o->max_conns = 256;
    o->kv = kv_opts_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int reg = registry_opts_parse(&o->reg, "serve", argc, argv, &i);
        if (reg < 0) return 1;
        if (reg > 0) continue;
        int kv = kv_opts_parse(&o->kv, "serve", argc, argv, &i);
        if (kv < 0) return 1;
        if (kv > 0) {
            continue;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(serve_usage, kv_opts_usage);
            return 2;
        } else if (cli_opt(argc, argv, &i, "-m", &v, &missing) || cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return 1;
            o->model = v;
        } else if (cli_opt(argc, argv, &i, "--adapter-mem", &v, &missing)) {
            if (missing || !cli_parse_bytes("serve", a, v, &o->budget)) return 1;
        } else if (cli_opt(argc, argv, &i, "--host", &v, &missing)) {
            if (missing) return 1;
            o->host = v;
        } else if (cli_opt(argc, argv, &i, "--port", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 0, 65535, &o->port)) return 1;
        } else if (cli_opt(argc, argv, &i, "--chat-template", &v, &missing)) {
            if (missing) return 1;
            o->chat_template = v;
        } else if (cli_opt(argc, argv, &i, "--api-key", &v, &missing)) {
            if (missing) return 1;
            if (!*v) return cli_usage_error("serve", "--api-key must not be empty");
            o->api_key = v;
        } else if (cli_opt(argc, argv, &i, "--parallel", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 1, 4096, &o->parallel)) return 1;
        } else if (cli_opt(argc, argv, &i, "--queue", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 0, 1L << 20, &o->queue)) return 1;
        } else if (cli_opt(argc, argv, &i, "--timeout", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 0, 86400, &o->timeout)) return 1;
        } else if (cli_opt(argc, argv, &i, "--max-connections", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 1, 65536, &o->max_conns)) return 1;
        } else if (cli_opt(argc, argv, &i, "-c", &v, &missing) || cli_opt(argc, argv, &i, "--ctx-size", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 0, 1L << 24, &o->ctx)) return 1;
        } else if (cli_opt(argc, argv, &i, "--max-tokens", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 1, 1L << 24, &o->max_tokens)) return 1;
        } else if (cli_opt(argc, argv, &i, "--max-prompt-tokens", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 1, 1L << 24, &o->max_prompt)) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing) || cli_opt(argc, argv, &i, "--threads", &v, &missing)) {
            if (missing || !cli_parse_int("serve", a, v, 1, 1024, &o->threads)) return 1;
        } else {
            return cli_usage_error("serve", "unknown option '%s'", a);
        }
    }
    if (!o->model) return cli_usage_error("serve", "-m BASE is required");
    return 0;
}

static lorc_status add_name(serve_state *s, const char *name, size_t len, bool overlay, lorc_error *err) {
    serve_entry *grown = realloc(s->entries, (size_t)(s->n_entries + 1) * sizeof *grown);
    if (!grown) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    s->entries = grown;
    char *copy = strndup(name, len);
    if (!copy) return lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    grown[s->n_entries++] = (serve_entry){.name = copy, .overlay = overlay, .removed = false};
    return LORC_OK;
}

/* The names batch_registry_add_dir registered from `dir`, found again by
 * asking the registry about each candidate (so the two cannot disagree).
 * Their kind is unknown until loaded: they are served as LoRA adapters. */
static lorc_status add_dir_names(serve_state *s, const char *dir, lorc_error *err) {
    DIR *d = opendir(dir);
    if (!d) return lorc_fail(err, LORC_ERR_IO, "%s: cannot list the folder", dir);
    struct dirent *e;
    lorc_status st = LORC_OK;
    while (st == LORC_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        if (n > 5 && !strcmp(e->d_name + n - 5, ".gguf")) n -= 5;
        char *name = strndup(e->d_name, n);
        if (!name) {
            st = lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
            break;
        }
        lorc_entry_info info;
        lorc_error ignored = {0};
        bool known = false;
        for (int i = 0; i < s->n_entries && !known; i++) known = !strcmp(s->entries[i].name, name);
        if (!known && lorc_registry_info(s->reg, name, &info, &ignored) == LORC_OK)
            st = add_name(s, name, n, info.kind == LORC_ENTRY_OVERLAY, err);
        free(name);
    }
    closedir(d);
    return st;
}

static lorc_status setup_registry(const serve_opts *o, serve_state *s, lorc_error *err) {
    lorc_status st = lorc_registry_new(s->model, o->budget, &s->reg, err);
    if (st == LORC_OK && !(s->adapter_dirs = calloc((size_t)o->reg.n_dirs + 1, sizeof *s->adapter_dirs)))
        st = lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < o->reg.n_lora && st == LORC_OK; i++) {
        st = batch_registry_add_pair(s->reg, "--lora", o->reg.lora[i], LORC_ENTRY_LORA, err);
        if (st == LORC_OK) st = add_name(s, o->reg.lora[i], strcspn(o->reg.lora[i], "="), false, err);
    }
    for (int i = 0; i < o->reg.n_overlay && st == LORC_OK; i++) {
        st = batch_registry_add_pair(s->reg, "--overlay", o->reg.overlay[i], LORC_ENTRY_OVERLAY, err);
        if (st == LORC_OK) st = add_name(s, o->reg.overlay[i], strcspn(o->reg.overlay[i], "="), true, err);
    }
    for (int i = 0; i < o->reg.n_dirs && st == LORC_OK; i++) {
        int added = 0;
        st = batch_registry_add_dir(s->reg, o->reg.dirs[i], &added, err);
        if (st == LORC_OK) st = add_dir_names(s, o->reg.dirs[i], err);
        /* Where POST /v1/load_lora_adapter may read (serve_admin.c). */
        char *real = st == LORC_OK ? realpath(o->reg.dirs[i], NULL) : NULL;
        if (st == LORC_OK && !real) st = lorc_fail(err, LORC_ERR_IO, "--adapter-dir %s: cannot resolve", o->reg.dirs[i]);
        if (real) s->adapter_dirs[s->n_adapter_dirs++] = real;
    }
    return st;
}

/* The base's name: its file name without folders and .gguf. */
static char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    return strndup(b, n);
}

/* The limits need the context's length: a limit past it could never be
 * met, so it is refused rather than silently lowered. */
static bool set_limits(const serve_opts *o, serve_state *s) {
    if (o->max_tokens > s->n_ctx) {
        cli_usage_error("serve", "--max-tokens %ld is over the context (%d tokens)", o->max_tokens, s->n_ctx);
        return false;
    }
    if (o->max_prompt >= s->n_ctx) {
        cli_usage_error("serve", "--max-prompt-tokens %ld leaves no room to generate in the context (%d tokens)",
                        o->max_prompt, s->n_ctx);
        return false;
    }
    s->max_tokens = o->max_tokens ? (int)o->max_tokens : s->n_ctx;
    s->max_prompt_tokens = o->max_prompt ? (int)o->max_prompt : s->n_ctx - 1;
    return true;
}

static int run_serve(const serve_opts *o, serve_state *s) {
    lorc_error err = {0};
    if (lorc_model_load(o->model, &s->model, &err) != LORC_OK) return cli_fail("serve", &err);
    if (!(s->base_name = base_name(o->model))) return cli_fail("serve", &err);
    if (setup_registry(o, s, &err) != LORC_OK) return cli_fail("serve", &err);
    /* llama.cpp's global adapter scales start at 0 (its --lora-init-without-apply):
     * a /completion without `lora` runs the base model. */
    if (!(s->lora_scale = calloc((size_t)s->n_entries + 1, sizeof *s->lora_scale))) {
        fprintf(stderr, "lorc serve: out of memory\n");
        return 1;
    }
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = (int)o->threads;
    cp.n_ctx = (int)o->ctx;
    kv_opts_apply(&o->kv, &cp);
    lorc_scheduler_params sp = {(int)o->parallel, 0, 0};
    if (lorc_context_new(s->model, &cp, &s->ctx, &err) != LORC_OK ||
        lorc_scheduler_new(s->ctx, s->reg, &sp, &s->sched, &err) != LORC_OK)
        return cli_fail("serve", &err);
    s->vocab = lorc_model_vocab(s->model);
    if (lorc_chat_template_resolve(o->chat_template, s->vocab, &s->chat_template, &err) != LORC_OK)
        return cli_fail("serve", &err);
    int n_stops = lorc_chat_stop_tokens(s->vocab, s->chat_template, s->chat_stops, 8);
    s->n_chat_stops = n_stops < 0 ? 0 : n_stops > 8 ? 8 : n_stops;
    fprintf(stderr, "lorc serve: chat format %s (%d end-of-turn tokens)\n", s->chat_template, s->n_chat_stops);
    s->n_ctx = lorc_context_n_ctx(s->ctx);
    if (!set_limits(o, s)) return 1;
    if (!(s->metrics = serve_metrics_new())) {
        fprintf(stderr, "lorc serve: out of memory\n");
        return 1;
    }
    s->api_key = o->api_key;
    s->max_active = (int)(o->parallel + o->queue);
    s->conn_timeout = (unsigned)o->timeout;
    s->max_conns = (unsigned)o->max_conns;
    s->started = time(NULL);
    if (serve_bridge_start(s, &err) != LORC_OK) return cli_fail("serve", &err);
    int rc = serve_http_run(s, o->host, (int)o->port);
    serve_bridge_stop(s);
    return rc;
}

int lorc_cmd_serve(int argc, char **argv) {
    serve_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr) return pr == 2 ? 0 : 1;
    serve_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.wake, NULL);
    int rc = run_serve(&o, &s);
    /* The scheduler's sequences hold registry references: free it first. */
    lorc_scheduler_free(s.sched);
    lorc_registry_free(s.reg);
    lorc_context_free(s.ctx);
    lorc_model_free(s.model);
    for (int i = 0; i < s.n_entries; i++) free(s.entries[i].name);
    free(s.entries);
    free(s.lora_scale);
    for (int i = 0; i < s.n_adapter_dirs; i++) free(s.adapter_dirs[i]);
    free(s.adapter_dirs);
    free(s.base_name);
    serve_metrics_free(s.metrics);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.wake);
    return rc;
}
