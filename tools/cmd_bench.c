/* cmd_bench.c — `lorc bench`: decode and prompt speed of a model, reported
 * as ratios measured in the same run (against the machine's memory
 * bandwidth, and base vs base+LoRA), since absolute times on shared
 * machines are noise. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------ memory bandwidth probe */

typedef struct bandwidth_job {
    const uint64_t *data;
    size_t n_words;
    int reps;
    uint64_t sum; /* keeps the reads from being optimized away */
} bandwidth_job;

static void *bandwidth_worker(void *arg) {
    bandwidth_job *job = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int r = 0; r < job->reps; r++) {
        for (size_t i = 0; i + 4 <= job->n_words; i += 4) {
            s0 += job->data[i];
            s1 += job->data[i + 1];
            s2 += job->data[i + 2];
            s3 += job->data[i + 3];
        }
    }
    job->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Read bandwidth in bytes/s with n_threads readers over a buffer far
 * larger than the caches; best of a few rounds. */
static double measure_read_bandwidth(int n_threads) {
    const size_t bytes = (size_t)256 << 20;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0;
    size_t n_words = bytes / sizeof *buf;
    for (size_t i = 0; i < n_words; i++) buf[i] = i;
    double best = 0;
    for (int round = 0; round < 3; round++) {
        pthread_t th[64];
        bandwidth_job jobs[64];
        size_t per = n_words / (size_t)n_threads;
        double t0 = now_seconds();
        for (int t = 0; t < n_threads; t++) {
            jobs[t] = (bandwidth_job){buf + (size_t)t * per, per, 2, 0};
            pthread_create(&th[t], NULL, bandwidth_worker, &jobs[t]);
        }
        uint64_t sink = 0;
        for (int t = 0; t < n_threads; t++) {
            pthread_join(th[t], NULL);
            sink += jobs[t].sum;
        }
        double dt = now_seconds() - t0;
        double bw = (double)per * n_threads * sizeof *buf * 2 / dt;
        if (bw > best && sink != 1) best = bw;
    }
    free(buf);
    return best;
}

/* ------------------------------------------------------ decode timing */

typedef struct bench_result {
    double prompt_tps;
    double decode_tps;
} bench_result;

static int bench_model(lorc_context *ctx, lorc_model *model, lorc_adapter *adapter, int n_prompt, int n_gen,
                       bench_result *out, lorc_error *err) {
    int n_vocab = lorc_model_n_vocab(model);
    float *logits = malloc(sizeof(float) * (size_t)n_vocab);
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)n_prompt);
    lorc_sequence *seq = NULL;
    int rc = 1;
    if (!logits || !prompt) goto out;
    /* token ids spread over the vocab: content doesn't matter for speed */
    for (int i = 0; i < n_prompt; i++) prompt[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    if (lorc_sequence_new(ctx, &seq, err) != LORC_OK) goto out;
    if (adapter) {
        float scale = 1.0f;
        if (lorc_sequence_set_adapters(seq, &adapter, &scale, 1, err) != LORC_OK) goto out;
    }
    double t0 = now_seconds();
    if (lorc_decode(ctx, seq, prompt, n_prompt, false, logits, err) != LORC_OK) goto out;
    double t1 = now_seconds();
    int32_t tok = prompt[n_prompt - 1];
    for (int i = 0; i < n_gen; i++) {
        tok = (int32_t)((tok * 31 + 7) % n_vocab);
        if (lorc_decode(ctx, seq, &tok, 1, false, logits, err) != LORC_OK) goto out;
    }
    double t2 = now_seconds();
    out->prompt_tps = n_prompt / (t1 - t0);
    out->decode_tps = n_gen / (t2 - t1);
    rc = 0;
out:
    lorc_sequence_free(seq);
    free(logits);
    free(prompt);
    return rc;
}

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lorc bench -m MODEL [-t THREADS] [-p N_PROMPT] [-n N_GEN] [--lora F]\n"
            "  Measures prompt and decode speed, the machine's read bandwidth, and\n"
            "  reports decode as a share of the bandwidth limit (weight bytes read per\n"
            "  token x tokens/s / bandwidth). With --lora, also base+LoRA vs base.\n");
}

int lorc_cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *lora_path = NULL, *val;
    long n_threads = 2, n_prompt = 128, n_gen = 64;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "-m", &val, &missing)) {
            model_path = val;
        } else if (cli_opt(argc, argv, &i, "--lora", &val, &missing)) {
            lora_path = val;
        } else if (cli_opt(argc, argv, &i, "-t", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-t", val, 1, 64, &n_threads)) return 1;
        } else if (cli_opt(argc, argv, &i, "-p", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-p", val, 1, 1 << 20, &n_prompt)) return 1;
        } else if (cli_opt(argc, argv, &i, "-n", &val, &missing)) {
            if (!missing && !cli_parse_int("bench", "-n", val, 1, 1 << 20, &n_gen)) return 1;
        } else {
            return cli_usage_error("bench", "unknown option '%s'", argv[i]);
        }
        if (missing) return 1;
    }
    if (!model_path) {
        return cli_usage_error("bench", "-m MODEL is required");
    }

    lorc_error err = {0};
    lorc_model *model = NULL;
    lorc_context *ctx = NULL;
    lorc_adapter *adapter = NULL;
    int rc = 1;
    if (lorc_model_load(model_path, &model, &err) != LORC_OK) return cli_fail("bench", &err);
    lorc_context_params cp = lorc_context_default_params();
    cp.n_threads = (int)n_threads;
    cp.n_ctx = (int)(n_prompt + n_gen + 1);
    cp.n_batch = (int)n_prompt;
    if (lorc_context_new(model, &cp, &ctx, &err) != LORC_OK) goto fail;
    if (lora_path && lorc_adapter_load(model, lora_path, &adapter, &err) != LORC_OK) goto fail;

    /* The file size approximates the weight bytes read per decoded token:
     * every weight matrix is streamed once per token. */
    struct stat st;
    double weight_bytes = stat(model_path, &st) == 0 ? (double)st.st_size : 0;
    double bw = measure_read_bandwidth((int)n_threads);

    /* Best of `reps` rounds, base and LoRA alternating so both see the same
     * machine state; the first round also pages the weights in. */
    bench_result base = {0, 0}, with = {0, 0};
    for (int rep = 0; rep < 3; rep++) {
        bench_result r;
        if (bench_model(ctx, model, NULL, (int)n_prompt, (int)n_gen, &r, &err)) goto fail;
        if (r.prompt_tps > base.prompt_tps) base.prompt_tps = r.prompt_tps;
        if (r.decode_tps > base.decode_tps) base.decode_tps = r.decode_tps;
        if (!adapter) continue;
        if (bench_model(ctx, model, adapter, (int)n_prompt, (int)n_gen, &r, &err)) goto fail;
        if (r.prompt_tps > with.prompt_tps) with.prompt_tps = r.prompt_tps;
        if (r.decode_tps > with.decode_tps) with.decode_tps = r.decode_tps;
    }
    printf("model            %s\n", model_path);
    printf("threads          %ld\n", n_threads);
    printf("read bandwidth   %.2f GB/s (%ld threads, measured now)\n", bw / 1e9, n_threads);
    printf("prompt           %.1f tokens/s (%ld tokens, one batch; best of 3)\n", base.prompt_tps, n_prompt);
    printf("decode           %.1f tokens/s (best of 3)\n", base.decode_tps);
    if (bw > 0 && weight_bytes > 0)
        printf("decode vs limit  %.1f%% of memory bandwidth (%.1f MB read per token)\n",
               100.0 * weight_bytes * base.decode_tps / bw, weight_bytes / 1e6);
    if (adapter) {
        printf("decode +LoRA     %.1f tokens/s = %.3f x base\n", with.decode_tps, with.decode_tps / base.decode_tps);
        printf("prompt +LoRA     %.1f tokens/s = %.3f x base\n", with.prompt_tps, with.prompt_tps / base.prompt_tps);
    }
    rc = 0;
fail:
    if (rc) cli_fail("bench", &err);
    lorc_adapter_free(adapter);
    lorc_context_free(ctx);
    lorc_model_free(model);
    return rc;
}
