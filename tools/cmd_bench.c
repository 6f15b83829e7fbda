/* cmd_bench.c — `lorc bench`: in one run, the machine's read bandwidth, the
 * model's prompt (pp) and generation (tg) speed, tg as a share of the
 * bandwidth roofline, the cost of LoRA adapters as speed ratios (rounds
 * alternate base and adapter so both see the same machine state), model
 * load and adapter attach times. The parts are in tools/bench_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "bench.h"
#include "cli.h"
#include "commands.h"
#include "quant_mix.h"
#include "tensor/types.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc bench (-m MODEL | --synthetic NAME --type TYPE) [options]\n"
            "\n"
            "Measures in one run: read bandwidth (STREAM-like, >= 1 GiB, best of 5),\n"
            "prompt speed ppN and generation speed tgN (best of -r rounds), tg as a\n"
            "fraction of the roofline (weight bytes read per token x tg / bandwidth),\n"
            "LoRA overhead as with/without ratios, model load and adapter attach time.\n"
            "\n"
            "  -m MODEL              a GGUF model\n"
            "  --synthetic NAME      a random-weight model written by lorc itself:\n"
            "                        tinyllama-1.1b (dim 2048, 22 layers, ffn 5632, 32/4 heads)\n"
            "                        llama-150m (dim 768, 12 layers, ffn 3072, 12/4 heads)\n"
            "                        both with vocab 32000, ctx 2048\n"
            "  --type TYPE           its weights: a llama-quantize mix (Q4_K_M, Q4_0, Q8_0, F16,\n"
            "                        ...) or a plain type (Q4_K); see lorc quantize --help\n"
            "  --pure                every weight in TYPE's main type (no per-tensor rules)\n"
            "  --synthetic-dir DIR   where synthetic models and adapters are cached and\n"
            "                        reused (default $TMPDIR/lorc-bench, /tmp/lorc-bench)\n"
            "  -t N                  threads (default: the library's default, 0)\n"
            "  -p N                  prompt tokens for pp (default 512; 0: skip)\n"
            "  -n N                  generated tokens for tg (default 128; 0: skip)\n"
            "  -r N                  rounds, best of (default 3)\n"
            "  --lora FILE           bench this adapter (instead of the synthetic ones)\n"
            "  --lora-ranks LIST     ranks of the random adapters, each on q,v and on all\n"
            "                        seven linears (default 8,16,64; 'none': no LoRA)\n"
            "  --lora-type TYPE      their A and B: F16 (the default, as llama.cpp's\n"
            "                        convert_lora_to_gguf.py writes them), F32 or BF16\n"
            "  --bw-mib N            bandwidth buffer in MiB (default 1024)\n"
            "  --scaling             also tgN with 1 thread against -t threads (rounds\n"
            "                        alternate) and the read bandwidth with each\n"
            "  --mixed LIST          multi-adapter throughput for each N in LIST (e.g. 8,32):\n"
            "                        N sequences decoding together on the base, on one adapter,\n"
            "                        and each on its own adapter (random, --synthetic only),\n"
            "                        plus the time to switch a sequence between adapters\n"
            "  --mixed-rank R        rank of those adapters, on all seven linears (default 16)\n"
            "  --mixed-prompt N      prompt tokens per sequence (default 32)\n"
            "  --mixed-gen N         steps of one token per sequence (default 16)\n"
            "  --json                one JSON object on stdout instead of the table\n");
}

#define MAX_RANKS 6

typedef struct bench_args {
    const char *model, *synthetic, *type, *dir, *lora;
    uint32_t lora_type;
    bool pure, json, scaling;
    long threads, n_prompt, n_gen, reps, bw_mib;
    int ranks[MAX_RANKS];
    int n_ranks;
    int mixed[BENCH_MAX_MIXED];
    int n_mixed;
    long mixed_rank, mixed_prompt, mixed_gen;
} bench_args;

static bool parse_mixed(const char *s, bench_args *a) {
    a->n_mixed = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long n;
        if (a->n_mixed == BENCH_MAX_MIXED) {
            cli_usage_error("bench", "at most %d counts in --mixed", BENCH_MAX_MIXED);
            return false;
        }
        if (!cli_parse_int("bench", "--mixed", tok, 1, 256, &n)) return false;
        a->mixed[a->n_mixed++] = (int)n;
    }
    return true;
}

static bool parse_ranks(const char *s, bench_args *a) {
    a->n_ranks = 0;
    if (!strcmp(s, "none")) return true;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long r;
        if (a->n_ranks == MAX_RANKS) {
            cli_usage_error("bench", "at most %d ranks in --lora-ranks", MAX_RANKS);
            return false;
        }
        if (!cli_parse_int("bench", "--lora-ranks", tok, 1, 4096, &r)) return false;
        a->ranks[a->n_ranks++] = (int)r;
    }
    return true;
}

/* 0: parsed, 1: error, 2: --help printed. */
static int parse_args(int argc, char **argv, bench_args *a) {
    *a = (bench_args){.threads = 0, .n_prompt = 512, .n_gen = 128, .reps = 3, .bw_mib = 1024,
                      .ranks = {8, 16, 64}, .n_ranks = 3, .lora_type = LORC_TYPE_F16, .mixed_rank = 16,
                      .mixed_prompt = 32, .mixed_gen = 16};
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        bool missing = false;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 2;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = true;
        } else if (!strcmp(argv[i], "--scaling")) {
            a->scaling = true;
        } else if (!strcmp(argv[i], "--pure")) {
            a->pure = true;
        } else if (cli_opt(argc, argv, &i, "-m", &val, &missing)) {
            a->model = val;
        } else if (cli_opt(argc, argv, &i, "--synthetic", &val, &missing)) {
            a->synthetic = val;
        } else if (cli_opt(argc, argv, &i, "--type", &val, &missing)) {
            a->type = val;
        } else if (cli_opt(argc, argv, &i, "--synthetic-dir", &val, &missing)) {
            a->dir = val;
        } else if (cli_opt(argc, argv, &i, "--lora", &val, &missing)) {
            a->lora = val;
        } else if (cli_opt(argc, argv, &i, "--lora-type", &val, &missing)) {
            if (missing) continue;
            const int t = lorc_type_from_name(val);
            if (t != LORC_TYPE_F32 && t != LORC_TYPE_F16 && t != LORC_TYPE_BF16) {
                cli_usage_error("bench", "--lora-type: '%s' is not F32, F16 or BF16", val);
                return 1;
            }
            a->lora_type = (uint32_t)t;
        } else if (cli_opt(argc, argv, &i, "--lora-ranks", &val, &missing)) {
            if (!missing && !parse_ranks(val, a)) return 1;
        } else if (cli_opt(argc, argv, &i, "-t", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-t", val, 0, 1024, &a->threads)) return 1;
        } else if (cli_opt(argc, argv, &i, "-p", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-p", val, 0, 1 << 16, &a->n_prompt)) return 1;
        } else if (cli_opt(argc, argv, &i, "-n", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-n", val, 0, 1 << 16, &a->n_gen)) return 1;
        } else if (cli_opt(argc, argv, &i, "-r", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-r", val, 1, 1000, &a->reps)) return 1;
        } else if (cli_opt(argc, argv, &i, "--mixed", &val, &missing)) {
            if (!missing && !parse_mixed(val, a)) return 1;
        } else if (cli_opt(argc, argv, &i, "--mixed-rank", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "--mixed-rank", val, 1, 4096, &a->mixed_rank)) return 1;
        } else if (cli_opt(argc, argv, &i, "--mixed-prompt", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "--mixed-prompt", val, 1, 1 << 14, &a->mixed_prompt)) return 1;
        } else if (cli_opt(argc, argv, &i, "--mixed-gen", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "--mixed-gen", val, 1, 1 << 14, &a->mixed_gen)) return 1;
        } else if (cli_opt(argc, argv, &i, "--bw-mib", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "--bw-mib", val, 0, 1 << 20, &a->bw_mib)) return 1;
        } else {
            return cli_usage_error("bench", "unknown option '%s'", argv[i]);
        }
        if (missing) return 1;
    }
    if (!a->model == !a->synthetic) {
        return cli_usage_error("bench", "give one of -m MODEL or --synthetic NAME");
    }
    if (a->synthetic && !bench_synthetic_known(a->synthetic)) {
        return cli_usage_error("bench", "unknown synthetic model '%s' (tinyllama-1.1b or llama-150m)", a->synthetic);
    }
    if (a->synthetic && !a->type) {
        return cli_usage_error("bench", "--synthetic needs --type TYPE");
    }
    if (a->scaling && a->n_gen == 0) {
        return cli_usage_error("bench", "--scaling measures generation: it needs -n N > 0");
    }
    if (a->n_mixed > 0 && !a->synthetic) {
        return cli_usage_error("bench", "--mixed needs --synthetic NAME (its random adapters fit only those shapes)");
    }
    return 0;
}

/* Everything a run holds, freed in one place. */
typedef struct bench_run {
    bench_args args;
    char model_path[1024];
    char dir[1024];
    lorc_model *model;
    lorc_context *ctx;
    bench_report report;
    lorc_error err;
} bench_run;

static lorc_status load(bench_run *b) {
    double t0 = bench_now_ms();
    lorc_status st = lorc_model_load(b->model_path, &b->model, &b->err);
    if (st != LORC_OK) return st;
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = (int)b->args.threads;
    long n_ctx = (b->args.n_prompt > b->args.n_gen ? b->args.n_prompt : b->args.n_gen) + 1;
    cp.n_ctx = (int)n_ctx;
    cp.n_batch = b->args.n_prompt > 0 ? (int)b->args.n_prompt : 1;
    st = lorc_context_new(b->model, &cp, &b->ctx, &b->err);
    b->report.load_ms = bench_now_ms() - t0;
    return st;
}

/* One adapter against the base: `reps` pairs of rounds, base then adapter. */
static lorc_status bench_adapter(bench_run *b, const char *path, bench_lora_result *out) {
    double t0 = bench_now_ms();
    lorc_adapter *adapter = NULL;
    lorc_sequence *seq = NULL;
    lorc_status st = lorc_adapter_load(b->model, path, &adapter, &b->err);
    if (st == LORC_OK) st = lorc_sequence_new(b->ctx, &seq, &b->err);
    float scale = 1.0f;
    if (st == LORC_OK) st = lorc_sequence_set_adapters(seq, &adapter, &scale, 1, &b->err);
    out->attach_ms = bench_now_ms() - t0;
    lorc_sequence_free(seq);
    bench_adapter_shape(path, &out->rank, out->targets, sizeof out->targets);
    bench_speed base = BENCH_SPEED_NONE, with = BENCH_SPEED_NONE;
    for (long r = 0; r < b->args.reps && st == LORC_OK; r++) {
        bench_speed round;
        st = bench_speed_round(b->ctx, NULL, (int)b->args.n_prompt, (int)b->args.n_gen, &round, &b->err);
        bench_speed_keep_best(&base, &round);
        if (st == LORC_OK)
            st = bench_speed_round(b->ctx, adapter, (int)b->args.n_prompt, (int)b->args.n_gen, &round, &b->err);
        bench_speed_keep_best(&with, &round);
    }
    out->pp_ratio = base.pp_tps > 0 && with.pp_tps > 0 ? with.pp_tps / base.pp_tps : -1;
    out->tg_ratio = base.tg_tps > 0 && with.tg_tps > 0 ? with.tg_tps / base.tg_tps : -1;
    lorc_adapter_free(adapter);
    return st;
}

static lorc_status bench_loras(bench_run *b) {
    bench_report *r = &b->report;
    const bench_args *a = &b->args;
    if (a->lora) {
        r->lora_measured = true;
        r->n_lora = 1;
        lorc_status st = bench_adapter(b, a->lora, &r->lora[0]);
        r->attach_ms = r->lora[0].attach_ms;
        return st;
    }
    if (!a->synthetic || a->n_ranks == 0) return LORC_OK; /* random adapters only fit the synthetic shapes */
    r->lora_measured = true;
    r->lora_type = lorc_type_name(a->lora_type);
    for (int i = 0; i < a->n_ranks; i++)
        for (int all = 0; all < 2; all++) {
            char path[1100];
            lorc_status st =
                bench_synthetic_adapter(a->synthetic, a->ranks[i], all, a->lora_type, b->dir, path, sizeof path,
                                        &b->err);
            if (st == LORC_OK) st = bench_adapter(b, path, &r->lora[r->n_lora]);
            if (st != LORC_OK) return st;
            if (r->n_lora == 0) r->attach_ms = r->lora[0].attach_ms;
            r->n_lora++;
            if (!a->json) fprintf(stderr, "lorc bench: LoRA rank %d on %s done\n", a->ranks[i], all ? "all" : "q,v");
        }
    return LORC_OK;
}

/* --mixed: for each N, N distinct random adapters and a context sized for
 * N sequences of mixed_prompt + mixed_gen positions. */
static lorc_status bench_mixed(bench_run *b) {
    const bench_args *a = &b->args;
    bench_report *r = &b->report;
    int max_n = 0;
    for (int i = 0; i < a->n_mixed; i++) max_n = a->mixed[i] > max_n ? a->mixed[i] : max_n;
    if (max_n == 0) return LORC_OK;
    r->lora_type = lorc_type_name(a->lora_type);
    lorc_adapter **adapters = calloc((size_t)max_n, sizeof *adapters);
    if (!adapters) return lorc_fail(&b->err, LORC_ERR_NOMEM, "bench --mixed: out of memory");
    lorc_status st = LORC_OK;
    char path[1100];
    for (int k = 0; k < max_n && st == LORC_OK; k++) {
        st = bench_synthetic_adapter_variant(a->synthetic, (int)a->mixed_rank, true, a->lora_type, k, b->dir, path,
                                             sizeof path,
                                             &b->err);
        if (st == LORC_OK) st = lorc_adapter_load(b->model, path, &adapters[k], &b->err);
    }
    lorc_context *ctx = NULL;
    if (st == LORC_OK) {
        lorc_context_params cp = lorc_context_default_params();
        cp.n_threads = (int)a->threads;
        cp.n_ctx = (int)(a->mixed_prompt + a->mixed_gen + 1);
        cp.n_batch = max_n > 512 ? max_n : 512;
        st = lorc_context_new(b->model, &cp, &ctx, &b->err);
    }
    for (int i = 0; i < a->n_mixed && st == LORC_OK; i++) {
        bench_mixed_result *m = &r->mixed[r->n_mixed];
        st = bench_mixed_run(b->model, ctx, adapters, a->mixed[i], (int)a->mixed_prompt, (int)a->mixed_gen,
                             (int)a->reps, m, &b->err);
        if (st != LORC_OK) break;
        m->rank = (int)a->mixed_rank;
        snprintf(m->targets, sizeof m->targets, "q,k,v,o,gate,up,down");
        r->n_mixed++;
        if (!a->json) fprintf(stderr, "lorc bench: --mixed %d done\n", a->mixed[i]);
    }
    lorc_context_free(ctx);
    for (int k = 0; k < max_n; k++) lorc_adapter_free(adapters[k]);
    free(adapters);
    return st;
}

static lorc_status run(bench_run *b) {
    const bench_args *a = &b->args;
    bench_report *r = &b->report;
    lorc_status st;
    if (a->synthetic) {
        if (a->dir) snprintf(b->dir, sizeof b->dir, "%s", a->dir);
        else bench_synthetic_default_dir(b->dir, sizeof b->dir);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int writers = a->threads > 0 ? (int)a->threads : cores > 0 ? (int)cores : 1;
        st = bench_synthetic_model(a->synthetic, a->type, a->pure, b->dir, writers, !a->json, b->model_path,
                                   sizeof b->model_path, &b->err);
        if (st != LORC_OK) return st;
        r->model = a->synthetic;
        quant_mix mix;
        if (quant_mix_lookup(a->type, a->pure, &mix)) r->type = mix.name; /* the name asked for, not the file type */
    } else {
        snprintf(b->model_path, sizeof b->model_path, "%s", a->model);
        r->model = a->model;
    }
    if ((st = load(b))) return st;
    if (!r->type) r->type = bench_file_type_name(b->model_path);
    r->threads = bench_threads(b->ctx);
    r->kernels = bench_kernels(b->ctx);
    double weight_bytes = bench_weight_bytes_per_token(b->model_path, &b->err);
    r->weight_mb_per_token = weight_bytes > 0 ? weight_bytes / 1e6 : -1;
    if (a->bw_mib > 0) {
        double bw = bench_read_bandwidth(r->threads, (size_t)a->bw_mib << 20, 5);
        r->bandwidth_gbs = bw > 0 ? bw / 1e9 : -1;
    }

    /* one token first: pages the weights in, so no round pays for the disk */
    bench_speed round;
    if ((st = bench_speed_round(b->ctx, NULL, 0, 1, &round, &b->err))) return st;
    bench_speed best = BENCH_SPEED_NONE;
    for (long i = 0; i < a->reps; i++) {
        if ((st = bench_speed_round(b->ctx, NULL, (int)a->n_prompt, (int)a->n_gen, &round, &b->err))) return st;
        bench_speed_keep_best(&best, &round);
    }
    r->pp_tps = best.pp_tps;
    r->tg_tps = best.tg_tps;
    if (best.tg_tps > 0 && weight_bytes > 0 && r->bandwidth_gbs > 0)
        r->tg_roofline_fraction = weight_bytes * best.tg_tps / (r->bandwidth_gbs * 1e9);
    r->huge_page_fraction = bench_model_huge_page_fraction(b->model_path);
    if (a->scaling) {
        st = bench_scaling_run(b->model, b->ctx, (int)a->n_gen, (int)a->reps, (size_t)a->bw_mib << 20, &r->scaling,
                               &b->err);
        if (st != LORC_OK) return st;
        r->scaling_measured = true;
    }
    if ((st = bench_loras(b))) return st;
    return bench_mixed(b);
}

int lorc_cmd_bench(int argc, char **argv) {
    bench_run *b = calloc(1, sizeof *b);
    if (!b) {
        fprintf(stderr, "lorc bench: out of memory\n");
        return 1;
    }
    int rc = parse_args(argc, argv, &b->args);
    if (rc) {
        free(b);
        return rc == 2 ? 0 : 1;
    }
    b->report = (bench_report){.n_prompt = (int)b->args.n_prompt, .n_gen = (int)b->args.n_gen,
                               .reps = (int)b->args.reps, .bandwidth_gbs = -1, .weight_mb_per_token = -1,
                               .pp_tps = -1, .tg_tps = -1, .tg_roofline_fraction = -1, .huge_page_fraction = -1,
                               .load_ms = -1, .attach_ms = -1, .kernels = "scalar"};
    if (run(b) != LORC_OK) {
        rc = cli_fail("bench", &b->err);
    } else if (b->args.json) {
        rc = bench_print_json(&b->report, stdout) ? 0 : 1;
        if (rc) fprintf(stderr, "lorc bench: could not build the JSON report\n");
    } else {
        bench_print_table(&b->report, stdout);
    }
    lorc_context_free(b->ctx);
    lorc_model_free(b->model);
    free(b);
    return rc;
}
