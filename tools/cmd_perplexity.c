/* cmd_perplexity.c — `lorc perplexity`: options, model and adapters; the
 * work is in perplexity_run.c (PPL, saving logits) and kld_run.c (KL). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "perplexity_run.h"

static const char ppl_usage[] =
    "usage: lorc perplexity -m MODEL -f TEXT [options]\n"
    "       lorc perplexity -m MODEL -f TEXT --kl-divergence-base FILE       (also save the logits)\n"
    "       lorc perplexity -m MODEL --kl-divergence-base FILE --kl-divergence (compare with saved logits)\n"
    "\n"
    "llama.cpp's scheme: the text is split into chunks of CTX tokens, each chunk\n"
    "starts with BOS (when the vocab uses it) and only its second half is scored.\n"
    "Prints the running perplexity per chunk and the final estimate.\n"
    "\n"
    "  -m, --model FILE      GGUF model\n"
    "  -f, --file FILE       text to evaluate (needs at least 2 x CTX tokens)\n"
    "  -c, --ctx-size N      chunk length (default 512; with --kl-divergence: the file's)\n"
    "  -b, --batch-size N    tokens per forward pass (default: CTX)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "%s"
    "  --kl-divergence-base FILE\n"
    "                        logits file in llama.cpp's format: written, or read with --kl-divergence\n"
    "  --kl-divergence       compare with the saved logits: KL divergence, same top token, PPL ratio\n"
    "%s"
    "  -h, --help            this help\n";

/* Returns 0 to go on, 1 on an error (printed), 2 after --help. */
static int parse_args(int argc, char **argv, ppl_opts *o) {
    memset(o, 0, sizeof *o);
    o->kv = kv_opts_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int r = adapter_opts_parse(&o->adapters, "perplexity", argc, argv, &i);
        if (r == 0) r = kv_opts_parse(&o->kv, "perplexity", argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(ppl_usage, kv_opts_usage, adapter_opts_usage);
            return 2;
        } else if (!strcmp(a, "--kl-divergence")) {
            o->kl_divergence = true;
        } else if (cli_opt(argc, argv, &i, "-m", &v, &missing) || cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return 1;
            o->model = v;
        } else if (cli_opt(argc, argv, &i, "-f", &v, &missing) || cli_opt(argc, argv, &i, "--file", &v, &missing)) {
            if (missing) return 1;
            o->text_file = v;
        } else if (cli_opt(argc, argv, &i, "--kl-divergence-base", &v, &missing)) {
            if (missing) return 1;
            o->logits_file = v;
        } else if (cli_opt(argc, argv, &i, "-c", &v, &missing) || cli_opt(argc, argv, &i, "--ctx-size", &v, &missing)) {
            if (missing || !cli_parse_int("perplexity", a, v, 4, 1L << 24, &o->ctx)) return 1;
        } else if (cli_opt(argc, argv, &i, "-b", &v, &missing) ||
                   cli_opt(argc, argv, &i, "--batch-size", &v, &missing)) {
            if (missing || !cli_parse_int("perplexity", a, v, 1, 1L << 24, &o->batch)) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &v, &missing) || cli_opt(argc, argv, &i, "--threads", &v, &missing)) {
            if (missing || !cli_parse_int("perplexity", a, v, 1, 1024, &o->threads)) return 1;
        } else {
            return cli_usage_error("perplexity", "unknown option '%s'", a);
        }
    }
    if (!o->model) {
        return cli_usage_error("perplexity", "-m MODEL is required");
    }
    if (o->kl_divergence && !o->logits_file) {
        return cli_usage_error("perplexity", "--kl-divergence needs --kl-divergence-base FILE (the saved logits)");
    }
    if (!o->kl_divergence && !o->text_file) {
        return cli_usage_error("perplexity", "-f TEXT is required");
    }
    if (!o->kl_divergence && o->logits_file) { /* --kl-divergence-base FILE is written */
        const char *inputs[ADAPTER_OPTS_MAX * 2 + 2] = {o->model, o->text_file};
        int n = 2;
        for (int k = 0; k < o->adapters.n_lora; k++) inputs[n++] = o->adapters.lora_path[k];
        for (int k = 0; k < o->adapters.n_overlay; k++) inputs[n++] = o->adapters.overlay_path[k];
        if (!cli_output_is_new("perplexity", o->logits_file, inputs, n)) return 1;
    }
    return 0;
}

int lorc_cmd_perplexity(int argc, char **argv) {
    ppl_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr) return pr == 2 ? 0 : 1;

    lorc_error err = {0};
    ppl_env env = {0};
    adapter_state adapters;
    if (lorc_model_load(o.model, &env.model, &err) != LORC_OK) return cli_fail("perplexity", &err);
    if (adapter_state_load(&adapters, env.model, &o.adapters, &err) != LORC_OK) {
        lorc_model_free(env.model);
        return cli_fail("perplexity", &err);
    }
    env.adapters = &adapters;
    int rc = o.kl_divergence ? ppl_run_kl_divergence(&o, &env) : ppl_run_perplexity(&o, &env);
    ppl_env_close(&env);
    adapter_state_free(&adapters, env.model);
    lorc_model_free(env.model);
    return rc;
}
