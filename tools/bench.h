/* bench.h — the parts of `lorc bench` (tools/cmd_bench.c runs them in order):
 * the machine's read bandwidth, prompt/decode speed of a context, what a
 * model file costs per token, synthetic models and adapters written on
 * demand, and the report (table or one JSON object). */
#ifndef LORC_TOOLS_BENCH_H
#define LORC_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lorc.h"

double bench_now_ms(void); /* monotonic clock */

/* ------------------------------------------------ bench_bandwidth.c */

/* Read bandwidth in bytes/s: n_threads threads sum a `bytes` buffer (each
 * its own slice), best of `reps` passes. 0 when the buffer or threads
 * cannot be had. */
double bench_read_bandwidth(int n_threads, size_t bytes, int reps);

/* ------------------------------------------------ bench_speed.c */

/* Tokens per second; a negative value means "not measured". */
typedef struct bench_speed {
    double pp_tps; /* n_prompt tokens in one batched pass on an empty sequence */
    double tg_tps; /* n_gen tokens decoded one at a time on an empty sequence */
} bench_speed;

#define BENCH_SPEED_NONE ((bench_speed){-1, -1})

/* One round: the prompt pass (n_prompt > 0) and the generation (n_gen > 0),
 * each on a fresh sequence carrying `adapter` (NULL: the base) at scale 1. */
lorc_status bench_speed_round(lorc_context *ctx, lorc_adapter *adapter, int n_prompt, int n_gen, bench_speed *out,
                              lorc_error *err);
/* Keeps the faster of each figure ("best of" rounds). */
void bench_speed_keep_best(bench_speed *best, const bench_speed *round);

/* The kernel family the context computes with, for the report. */
const char *bench_kernels(const lorc_context *ctx);
/* The thread count the context runs with (the library's default for 0). */
int bench_threads(const lorc_context *ctx);

/* ------------------------------------------------ bench_mixed.c */

/* Throughput of n sequences decoding together, indexed by set-up: [0] all
 * on the base, [1] all on one adapter, [2] each on its own adapter. */
typedef struct bench_mixed_result {
    int n;
    int rank;
    char targets[64];
    double pp_tps[3]; /* the n prompts, batched into steps of n_batch tokens */
    double tg_tps[3]; /* n tokens per step (one per sequence), summed over the sequences */
    double switch_ms; /* median time to move one sequence to another resident adapter */
} bench_mixed_result;

/* Rounds alternate the three set-ups (best of `reps` each) on a context
 * whose n_batch holds at least n tokens and whose n_ctx holds
 * n_prompt + n_gen. adapters: n distinct adapters of one shape. */
lorc_status bench_mixed_run(const lorc_model *model, lorc_context *ctx, lorc_adapter *const *adapters, int n,
                            int n_prompt, int n_gen, int reps, bench_mixed_result *out, lorc_error *err);

/* ------------------------------------------------ bench_scaling.c */

/* Decode with 1 thread against ctx_n's N threads; negative: not measured. */
typedef struct bench_scaling_result {
    int threads; /* N */
    double tg_tps_1, tg_tps_n;
    double bandwidth_gbs_1, bandwidth_gbs_n; /* read bandwidth, best of 5 passes each */
} bench_scaling_result;

/* `reps` pairs of n_gen-token rounds, one thread then N, on a one-thread
 * context of its own; then the read bandwidth with 1 and N threads over
 * bw_bytes (0: not measured). */
lorc_status bench_scaling_run(lorc_model *model, lorc_context *ctx_n, int n_gen, int reps, size_t bw_bytes,
                              bench_scaling_result *out, lorc_error *err);

/* ------------------------------------------------ bench_files.c */

/* Bytes of weights one decoded token reads from `model_path`: every tensor
 * once, except the token-embedding table, of which one row (all of it when
 * the output is tied to it). 0 on failure (message in err). */
double bench_weight_bytes_per_token(const char *model_path, lorc_error *err);

/* The share of this process's mappings of `model_path` that the kernel maps
 * in 2 MB pages (FilePmdMapped over Size in /proc/self/smaps): decode reads
 * the weights faster from them. Negative where /proc does not tell. */
double bench_model_huge_page_fraction(const char *model_path);

/* Name of the mix or type the file's general.file_type records ("Q4_K_M"),
 * or "unknown". */
const char *bench_file_type_name(const char *model_path);

/* Rank and targets ("q,v", "q,k,v,o,gate,up,down") of a LoRA adapter (GGUF
 * file or PEFT directory); rank 0 and "?" for one it cannot read. */
void bench_adapter_shape(const char *adapter_path, int *rank, char *targets, size_t cap);

/* ------------------------------------------------ bench_synthetic.c */

/* Writes (unless present) the synthetic model `preset` in mix/type `type`
 * into `dir`; its path goes to `path`. `progress`: draw a progress bar. */
lorc_status bench_synthetic_model(const char *preset, const char *type, bool pure, const char *dir, int n_threads,
                                  bool progress, char *path, size_t cap, lorc_error *err);
/* Same for a random rank-`rank` LoRA on attn_q + attn_v (all_linears: on
 * all seven linears) of every layer of `preset`, its A and B stored as
 * `lora_type` (F32, F16 or BF16). */
lorc_status bench_synthetic_adapter(const char *preset, int rank, bool all_linears, uint32_t lora_type,
                                    const char *dir, char *path, size_t cap, lorc_error *err);
/* Same, the `variant`-th of a family of distinct random adapters (variant
 * 0 is bench_synthetic_adapter's file). */
lorc_status bench_synthetic_adapter_variant(const char *preset, int rank, bool all_linears, uint32_t lora_type,
                                            int variant, const char *dir, char *path, size_t cap, lorc_error *err);
/* True for a preset name bench_synthetic_model knows. */
bool bench_synthetic_known(const char *preset);
/* The default cache folder: $TMPDIR/lorc-bench (TMPDIR unset: /tmp). */
void bench_synthetic_default_dir(char *dir, size_t cap);

/* ------------------------------------------------ bench_report.c */

#define BENCH_MAX_LORA 16

typedef struct bench_lora_result {
    int rank;
    char targets[64];
    double pp_ratio, tg_ratio; /* with adapter ÷ without; < 0: not measured */
    double attach_ms;
} bench_lora_result;

/* Every figure of a run; negative numbers (and NULL strings) print as "not
 * measured" / JSON null. */
typedef struct bench_report {
    const char *model;
    const char *type;
    int threads;
    const char *kernels;
    int n_prompt, n_gen, reps;
    double bandwidth_gbs;
    double weight_mb_per_token;
    double pp_tps, tg_tps;
    double tg_roofline_fraction;
    double huge_page_fraction; /* of the model's mapping, after the speed rounds */
    bench_lora_result lora[BENCH_MAX_LORA];
    int n_lora;
    bool lora_measured; /* false: the JSON says "lora": null */
    const char *lora_type; /* the synthetic adapters' type; NULL: none, or --lora FILE (its own types) */
    double load_ms, attach_ms;
    bench_scaling_result scaling;
    bool scaling_measured; /* false: the JSON says "thread_scaling": null */
#define BENCH_MAX_MIXED 8
    bench_mixed_result mixed[BENCH_MAX_MIXED];
    int n_mixed; /* 0: the JSON says "mixed": null */
} bench_report;

void bench_print_table(const bench_report *r, FILE *fp);
/* Exactly one JSON object and a newline; false when jansson fails. */
bool bench_print_json(const bench_report *r, FILE *fp);

#endif
