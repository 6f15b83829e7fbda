/* bench_synthetic.c — `lorc bench --synthetic`: full-size random-weight
 * models and random LoRA adapters written with the project's own writers
 * (tools/synth.c, tools/synth_lora.c) into a cache folder and reused, so a
 * benchmark needs no download. Weights are random: for speed only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "bench.h"
#include "cli.h"
#include "quant_mix.h"
#include "synth.h"
#include "synth_lora.h"
#include "tensor/types.h"

/* Bumped when the files a preset produces change, so stale caches are not reused. */
#define SYNTHETIC_VERSION 1

typedef struct preset {
    const char *name;
    int n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
} preset;

static const preset presets[] = {
    /* TinyLlama-1.1B's shapes */
    {"tinyllama-1.1b", 2048, 22, 5632, 32, 4, 32000, 2048},
    /* ~153M parameters in the same family of shapes (GQA 3:1, 256-aligned rows) */
    {"llama-150m", 768, 12, 3072, 12, 4, 32000, 2048},
};

static const preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}

bool bench_synthetic_known(const char *name) { return find_preset(name) != NULL; }

void bench_synthetic_default_dir(char *dir, size_t cap) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/lorc-bench", tmp && *tmp ? tmp : "/tmp");
}

static synth_params params_of(const preset *pr) {
    synth_params p = synth_default_params();
    p.n_embd = pr->n_embd;
    p.n_layer = pr->n_layer;
    p.n_ff = pr->n_ff;
    p.n_head = pr->n_head;
    p.n_head_kv = pr->n_head_kv;
    p.n_vocab = pr->n_vocab;
    p.n_ctx = pr->n_ctx;
    p.seed = 42;
    return p;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static lorc_status make_dir(const char *dir, lorc_error *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    /* mkdir -p: create each missing parent in turn */
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(buf, 0777);
        *s = '/';
    }
    if (mkdir(buf, 0777) != 0) {
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return lorc_fail(err, LORC_ERR_IO, "%s: cannot create the synthetic model folder", dir);
    }
    return LORC_OK;
}

static uint32_t mix_type_of(void *user, const char *name, uint32_t n_dims, const int64_t ne[2]) {
    return quant_planner_next(user, name, n_dims, ne[0], LORC_TYPE_F32);
}

lorc_status bench_synthetic_model(const char *preset_name, const char *type, bool pure, const char *dir, int n_threads,
                                  bool progress, char *path, size_t cap, lorc_error *err) {
    const preset *pr = find_preset(preset_name);
    if (!pr) return lorc_fail(err, LORC_ERR_INVALID, "--synthetic: unknown model '%s'", preset_name);
    quant_mix mix;
    if (!quant_mix_lookup(type, pure, &mix))
        return lorc_fail(err, LORC_ERR_INVALID, "--type: unknown or unwritable type '%s' (see lorc quantize --help)",
                         type);
    snprintf(path, cap, "%s/%s-%s%s-v%d.gguf", dir, pr->name, mix.name, mix.pure ? "-pure" : "", SYNTHETIC_VERSION);
    if (exists(path)) return LORC_OK; /* the writer renames a complete file into place: present means whole */
    lorc_status st = make_dir(dir, err);
    if (st != LORC_OK) return st;

    synth_params p = params_of(pr);
    quant_model_shape shape = {p.n_layer, p.n_layer, p.n_head / p.n_head_kv, !p.tied_output, false};
    quant_planner plan;
    quant_planner_init(&plan, &mix, &shape);
    p.tensor_type = mix_type_of;
    p.tensor_type_user = &plan;
    p.n_threads = n_threads;
    p.file_type = mix.ftype; /* as llama-quantize records it */
    if (progress) {
        p.progress = cli_progress;
        p.progress_user = (void *)"synthetic model";
    }
    fprintf(stderr, "lorc bench: writing %s (once; reused from then on)\n", path);
    return synth_write_model(path, &p, err);
}

/* the seven linears of a llama layer, in the order llama.cpp's adapters list them */
static const char *const linear_names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                           "ffn_gate", "ffn_up", "ffn_down"};

lorc_status bench_synthetic_adapter(const char *preset_name, int rank, bool all_linears, uint32_t lora_type,
                                    const char *dir, char *path, size_t cap, lorc_error *err) {
    return bench_synthetic_adapter_variant(preset_name, rank, all_linears, lora_type, 0, dir, path, cap, err);
}

lorc_status bench_synthetic_adapter_variant(const char *preset_name, int rank, bool all_linears, uint32_t lora_type,
                                            int variant, const char *dir, char *path, size_t cap, lorc_error *err) {
    const preset *pr = find_preset(preset_name);
    if (!pr) return lorc_fail(err, LORC_ERR_INVALID, "--synthetic: unknown model '%s'", preset_name);
    char suffix[32] = "";
    if (variant > 0) snprintf(suffix, sizeof suffix, "-%d", variant);
    snprintf(path, cap, "%s/%s-lora-r%d-%s%s-%s-v%d.gguf", dir, pr->name, rank, all_linears ? "all" : "qv", suffix,
             lorc_type_name(lora_type), SYNTHETIC_VERSION);
    if (exists(path)) return LORC_OK;
    lorc_status st = make_dir(dir, err);
    if (st != LORC_OK) return st;

    synth_params p = params_of(pr);
    const int per_layer = all_linears ? 7 : 2;
    const int n = per_layer * p.n_layer;
    synth_lora *l = calloc((size_t)n, sizeof *l);
    if (!l) return lorc_fail(err, LORC_ERR_NOMEM, "bench: out of memory for a rank-%d adapter", rank);
    for (int i = 0; i < n && st == LORC_OK; i++) {
        int layer = i / per_layer, k = i % per_layer;
        const char *linear = all_linears ? linear_names[k] : (k == 0 ? "attn_q" : "attn_v");
        char target[64];
        snprintf(target, sizeof target, "blk.%d.%s.weight", layer, linear);
        /* variants draw from seeds far apart: distinct adapters of one shape */
        st = synth_lora_init(&l[i], &p, target, rank, (uint64_t)i + 1000 + (uint64_t)variant * 1000003u, 0.02f, err);
    }
    fprintf(stderr, "lorc bench: writing %s (once)\n", path);
    /* alpha = rank: the adapter applies at scale 1 */
    if (st == LORC_OK) st = synth_write_gguf_adapter(path, "llama", (float)rank, l, n, lora_type, err);
    for (int i = 0; i < n; i++) synth_lora_free(&l[i]);
    free(l);
    return st;
}
