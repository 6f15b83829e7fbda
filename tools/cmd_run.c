/* cmd_run.c — `lorc run`: tokenize a prompt, run it as one batched decode,
 * then sample and stream the continuation; speeds go to stderr. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter_opts.h"
#include "base/error.h"
#include "cli.h"
#include "kv_opts.h"
#include "commands.h"
#include "text_file.h"

static const char run_usage[] =
    "usage: lorc run -m MODEL (-p PROMPT | -f FILE) [options]\n"
    "\n"
    "Prints the prompt, then streams its continuation. Speeds go to stderr.\n"
    "\n"
    "  -m, --model FILE      GGUF model\n"
    "  -p, --prompt TEXT     prompt (special tokens such as <s> are parsed; default: empty)\n"
    "  -f, --file FILE       read the prompt from FILE\n"
    "  -n, --n-predict N     tokens to generate (default -1: until end of generation or a full context)\n"
    "  --temp T              temperature, <= 0 is greedy (default 0.8)\n"
    "  --top-k K             keep the K most likely tokens, 0 = off (default 40)\n"
    "  --top-p P             keep the smallest set with probability >= P, 1 = off (default 0.95)\n"
    "  --min-p P             drop tokens below P x the best one's probability, 0 = off (default 0.05)\n"
    "  --repeat-penalty R    penalize the last N tokens, 1 = off (default 1.0)\n"
    "  --repeat-last-n N     tokens the penalty looks back on, 0 = off, -1 = context (default 64)\n"
    "  --seed S              random seed (default: random, printed on stderr)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "  -c, --ctx-size N      context length (default: the model's)\n"
    "  -b, --batch-size N    tokens per forward pass (default 512)\n"
    "  --no-bos              do not prepend BOS even when the vocab asks for it\n"
    "%s"
    "%s"
    "  -h, --help            this help\n";

typedef struct run_opts {
    const char *model, *prompt, *prompt_file;
    long n_predict, threads, ctx, batch;
    bool no_bos;
    bool seed_given;
    lorc_sampler_params sp;
    adapter_opts adapters;
    kv_opts kv;
} run_opts;

/* Returns 0 to go on, 1 on an error (printed), 2 after --help. */
static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->sp = lorc_sampler_default_params();
    o->kv = kv_opts_default();
    long repeat_last_n = o->sp.repeat_last_n;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int r = adapter_opts_parse(&o->adapters, "run", argc, argv, &i);
        if (r == 0) r = kv_opts_parse(&o->kv, "run", argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(run_usage, kv_opts_usage, adapter_opts_usage);
            return 2;
        } else if (!strcmp(a, "--no-bos")) {
            o->no_bos = true;
        } else if (cli_opt(argc, argv, &i, "-m", &v, &missing) || cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return 1;
            o->model = v;
        } else if (cli_opt(argc, argv, &i, "-p", &v, &missing) || cli_opt(argc, argv, &i, "--prompt", &v, &missing)) {
            if (missing) return 1;
            o->prompt = v;
        } else if (cli_opt(argc, argv, &i, "-f", &v, &missing) || cli_opt(argc, argv, &i, "--file", &v, &missing)) {
            if (missing) return 1;
            o->prompt_file = v;
        } else if (cli_opt(argc, argv, &i, "-n", &v, &missing) ||
                   cli_opt(argc, argv, &i, "--n-predict", &v, &missing)) {
            if (missing || !cli_parse_int("run", a, v, -1, 1L << 30, &o->n_predict)) return 1;
        } else if (cli_opt(argc, argv, &i, "--temp", &v, &missing)) {
            if (missing || !cli_parse_float("run", a, v, &o->sp.temp)) return 1;
        } else if (cli_opt(argc, argv, &i, "--top-k", &v, &missing)) {
            long k;
            if (missing || !cli_parse_int("run", a, v, 0, 1L << 30, &k)) return 1;
            o->sp.top_k = (int)k;
        } else if (cli_opt(argc, argv, &i, "--top-p", &v, &missing)) {
            if (missing || !cli_parse_float_in("run", a, v, 0.0f, 1.0f, true, &o->sp.top_p)) return 1;
        } else if (cli_opt(argc, argv, &i, "--min-p", &v, &missing)) {
            if (missing || !cli_parse_float_in("run", a, v, 0.0f, 1.0f, false, &o->sp.min_p)) return 1;
        } else if (cli_opt(argc, argv, &i, "--repeat-penalty", &v, &missing)) {
            if (missing || !cli_parse_float_in("run", a, v, 0.0f, FLT_MAX, true, &o->sp.repeat_penalty)) return 1;
        } else if (cli_opt(argc, argv, &i, "--repeat-last-n", &v, &missing)) {
            if (missing || !cli_parse_int("run", a, v, -1, LORC_SAMPLER_MAX_LAST_N, &repeat_last_n)) return 1;
        } else if (cli_opt(argc, argv, &i, "--seed", &v, &missing)) {
            if (missing || !cli_parse_u64("run", a, v, &o->sp.seed)) return 1;
            o->seed_given = true;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing) || cli_opt(argc, argv, &i, "--threads", &v, &missing)) {
            if (missing || !cli_parse_int("run", a, v, 1, 1024, &o->threads)) return 1;
        } else if (cli_opt(argc, argv, &i, "-c", &v, &missing) || cli_opt(argc, argv, &i, "--ctx-size", &v, &missing)) {
            if (missing || !cli_parse_int("run", a, v, 0, 1L << 24, &o->ctx)) return 1;
        } else if (cli_opt(argc, argv, &i, "-b", &v, &missing) ||
                   cli_opt(argc, argv, &i, "--batch-size", &v, &missing)) {
            if (missing || !cli_parse_int("run", a, v, 1, 1L << 24, &o->batch)) return 1;
        } else {
            return cli_usage_error("run", "unknown option '%s'", a);
        }
    }
    o->sp.repeat_last_n = (int)repeat_last_n;
    /* The library is the judge of the sampler's ranges; asking it here
     * refuses a bad combination before the model is loaded. */
    lorc_sampler *probe = NULL;
    lorc_error err = {0};
    lorc_sampler_params sp = o->sp;
    sp.seed = 0; /* do not draw an OS seed just to check */
    if (lorc_sampler_new(&sp, &probe, &err) != LORC_OK) return cli_fail("run", &err);
    lorc_sampler_free(probe);
    if (!o->model) {
        return cli_usage_error("run", "-m MODEL is required");
    }
    if (o->prompt && o->prompt_file) {
        return cli_usage_error("run", "give -p or -f, not both");
    }
    return 0;
}

/* The prompt text: -p, the contents of -f, or empty. Caller frees. */
static char *read_prompt(const run_opts *o, size_t *len, lorc_error *err) {
    if (o->prompt_file) return text_file_read(o->prompt_file, len, err);
    const char *p = o->prompt ? o->prompt : "";
    *len = strlen(p);
    char *copy = strdup(p);
    if (!copy) lorc_fail(err, LORC_ERR_NOMEM, "out of memory");
    return copy;
}

/* Writes one token's text to stdout; `prev` decides the leading space. */
static void print_piece(const lorc_vocab *vocab, int32_t prev, int32_t tok) {
    char small[256];
    int n = lorc_token_to_piece(vocab, prev, tok, small, sizeof small);
    if (n <= 0) return;
    if ((size_t)n <= sizeof small) {
        fwrite(small, 1, (size_t)n, stdout);
        return;
    }
    char *big = malloc((size_t)n);
    if (big && lorc_token_to_piece(vocab, prev, tok, big, (size_t)n) == n) fwrite(big, 1, (size_t)n, stdout);
    free(big);
}

typedef struct run_state {
    lorc_model *model;
    adapter_state adapters;
    bool adapters_loaded;
    lorc_context *ctx;
    lorc_sequence *seq;
    lorc_sampler *sampler;
    int32_t *prompt;
    float *logits;
    char *text;
} run_state;

static void run_state_free(run_state *s) {
    lorc_sampler_free(s->sampler);
    lorc_sequence_free(s->seq);
    lorc_context_free(s->ctx);
    if (s->adapters_loaded) adapter_state_free(&s->adapters, s->model);
    lorc_model_free(s->model);
    free(s->prompt);
    free(s->logits);
    free(s->text);
}

static int generate(const run_opts *o, run_state *s, size_t n_prompt) {
    lorc_error err = {0};
    const lorc_vocab *vocab = lorc_model_vocab(s->model);
    const int n_vocab = lorc_model_n_vocab(s->model);
    const int n_ctx = lorc_context_n_ctx(s->ctx);
    if (n_prompt > (size_t)n_ctx) {
        fprintf(stderr, "lorc run: the prompt is %zu tokens but the context holds %d (raise -c)\n", n_prompt, n_ctx);
        return 1;
    }
    /* Echo the prompt the way it will be read back (special tokens print as nothing). */
    for (size_t i = 0; i < n_prompt; i++) print_piece(vocab, i ? s->prompt[i - 1] : -1, s->prompt[i]);
    fflush(stdout);

    double t0 = cli_now_seconds();
    if (lorc_decode(s->ctx, s->seq, s->prompt, (int)n_prompt, false, s->logits, &err) != LORC_OK)
        return cli_fail("run", &err);
    double t_prompt = cli_now_seconds() - t0;
    for (size_t i = 0; i < n_prompt; i++) lorc_sampler_accept(s->sampler, s->prompt[i]);

    t0 = cli_now_seconds();
    long n_gen = 0;
    int32_t prev = s->prompt[n_prompt - 1];
    const char *stop = NULL;
    while (o->n_predict < 0 || n_gen < o->n_predict) {
        int32_t tok = lorc_sampler_sample(s->sampler, s->logits, n_vocab);
        if (tok < 0) {
            /* lorc_decode refuses non-finite logits, so this is a bug, not an end. */
            putchar('\n');
            fprintf(stderr, "lorc run: the sampler found no token to pick (every logit NaN)\n");
            return 1;
        }
        if (lorc_vocab_is_eog(vocab, tok)) {
            stop = "end of generation";
            break;
        }
        lorc_sampler_accept(s->sampler, tok);
        print_piece(vocab, prev, tok);
        fflush(stdout);
        n_gen++;
        prev = tok;
        if (o->n_predict >= 0 && n_gen == o->n_predict) break;
        if (lorc_sequence_n_past(s->seq) >= n_ctx) {
            stop = "context full";
            break;
        }
        if (lorc_decode(s->ctx, s->seq, &tok, 1, false, s->logits, &err) != LORC_OK) {
            putchar('\n');
            return cli_fail("run", &err);
        }
    }
    double t_gen = cli_now_seconds() - t0;
    putchar('\n');
    fflush(stdout);

    fprintf(stderr, "\nlorc run: seed %llu%s%s\n", (unsigned long long)lorc_sampler_seed(s->sampler),
            stop ? ", stopped: " : "", stop ? stop : "");
    fprintf(stderr, "lorc run: prompt     %6zu tokens in %8.2f ms (%9.2f tokens/s)\n", n_prompt, t_prompt * 1e3,
            t_prompt > 0 ? (double)n_prompt / t_prompt : 0.0);
    fprintf(stderr, "lorc run: generation %6ld tokens in %8.2f ms (%9.2f tokens/s)\n", n_gen, t_gen * 1e3,
            t_gen > 0 ? (double)n_gen / t_gen : 0.0);
    return 0;
}

int lorc_cmd_run(int argc, char **argv) {
    run_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr) return pr == 2 ? 0 : 1;

    run_state s = {0};
    lorc_error err = {0};
    int rc = 1;
    size_t text_len = 0, n_prompt = 0;
    s.text = read_prompt(&o, &text_len, &err);
    if (!s.text) {
        rc = cli_fail("run", &err);
        goto out;
    }
    if (lorc_model_load(o.model, &s.model, &err) != LORC_OK) {
        rc = cli_fail("run", &err);
        goto out;
    }
    if (adapter_state_load(&s.adapters, s.model, &o.adapters, &err) != LORC_OK) {
        rc = cli_fail("run", &err);
        goto out;
    }
    s.adapters_loaded = true;

    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = (int)o.threads;
    cp.n_ctx = (int)o.ctx;
    if (o.batch) cp.n_batch = (int)o.batch;
    kv_opts_apply(&o.kv, &cp);
    if (lorc_context_new(s.model, &cp, &s.ctx, &err) != LORC_OK || lorc_sequence_new(s.ctx, &s.seq, &err) != LORC_OK ||
        adapter_state_attach(&s.adapters, s.seq, &err) != LORC_OK) {
        rc = cli_fail("run", &err);
        goto out;
    }

    const lorc_vocab *vocab = lorc_model_vocab(s.model);
    int flags = LORC_TOKENIZE_PARSE_SPECIAL | (o.no_bos ? 0 : LORC_TOKENIZE_ADD_BOS);
    if (lorc_tokenize(vocab, s.text, text_len, flags, &s.prompt, &n_prompt, &err) != LORC_OK) {
        rc = cli_fail("run", &err);
        goto out;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "lorc run: the prompt is empty and the vocab adds no BOS: nothing to continue from\n");
        goto out;
    }

    if (o.sp.repeat_last_n < 0) o.sp.repeat_last_n = lorc_context_n_ctx(s.ctx);
    if (lorc_sampler_new(&o.sp, &s.sampler, &err) != LORC_OK) {
        rc = cli_fail("run", &err);
        goto out;
    }
    s.logits = malloc((size_t)lorc_model_n_vocab(s.model) * sizeof *s.logits);
    if (!s.logits) {
        fprintf(stderr, "lorc run: out of memory\n");
        goto out;
    }
    rc = generate(&o, &s, n_prompt);
out:
    run_state_free(&s);
    return rc;
}
