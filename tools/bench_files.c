/* bench_files.c — what `lorc bench` reads from the model and adapter files
 * themselves: the weight bytes a decoded token streams (the numerator of
 * the roofline fraction), the file's quantization mix, an adapter's shape. */
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "format/gguf.h"
#include "quant_mix.h"

double bench_weight_bytes_per_token(const char *model_path, lorc_error *err) {
    gguf_file *f = NULL;
    if (gguf_open(model_path, &f, err) != LORC_OK) return 0;
    const bool tied = gguf_find_tensor(f, "output.weight") == NULL;
    double bytes = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        /* a token looks up one row of the embedding table, unless the table
         * is also the output matrix, which every token reads in full */
        if (!strcmp(t->name, "token_embd.weight") && !tied)
            bytes += (double)t->nbytes / (double)(t->ne[1] * t->ne[2] * t->ne[3]);
        else
            bytes += (double)t->nbytes;
    }
    gguf_close(f);
    return bytes;
}

double bench_model_huge_page_fraction(const char *model_path) {
    char want[PATH_MAX];
    if (!realpath(model_path, want)) return -1;
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return -1;
    char line[PATH_MAX + 256], path[PATH_MAX];
    bool in_model = false, seen_pmd = false;
    double size_kb = 0, pmd_kb = 0, v;
    while (fgets(line, sizeof line, fp)) {
        /* a mapping's first line starts with its address (lowercase hex);
         * its fields start with a capitalised name */
        if (isxdigit((unsigned char)line[0]) && !isupper((unsigned char)line[0])) {
            path[0] = '\0';
            in_model = sscanf(line, "%*s %*s %*s %*s %*s %4095[^\n]", path) == 1 && !strcmp(path, want);
        } else if (in_model && sscanf(line, "Size: %lf kB", &v) == 1) {
            size_kb += v;
        } else if (in_model && sscanf(line, "FilePmdMapped: %lf kB", &v) == 1) {
            pmd_kb += v;
            seen_pmd = true;
        }
    }
    fclose(fp);
    return size_kb > 0 && seen_pmd ? pmd_kb / size_kb : -1;
}

const char *bench_file_type_name(const char *model_path) {
    gguf_file *f = NULL;
    if (gguf_open(model_path, &f, NULL) != LORC_OK) return "unknown";
    uint32_t ftype = gguf_get_u32_or(f, "general.file_type", UINT32_MAX);
    gguf_close(f);
    for (int i = 0; quant_mix_at(i); i++)
        if ((uint32_t)quant_mix_at(i)->ftype == ftype) return quant_mix_at(i)->name;
    return "unknown";
}

/* The seven linears of a llama layer: GGUF name part, HF (PEFT) module, short name. */
static const char *const linears[7][3] = {{"attn_q.", "q_proj", "q"},        {"attn_k.", "k_proj", "k"},
                                          {"attn_v.", "v_proj", "v"},        {"attn_output.", "o_proj", "o"},
                                          {"ffn_gate.", "gate_proj", "gate"}, {"ffn_up.", "up_proj", "up"},
                                          {"ffn_down.", "down_proj", "down"}};

static void join_targets(const bool seen[7], char *targets, size_t cap) {
    size_t len = 0;
    targets[0] = 0;
    for (int k = 0; k < 7; k++)
        if (seen[k] && len < cap)
            len += (size_t)snprintf(targets + len, cap - len, "%s%s", len ? "," : "", linears[k][2]);
    if (len == 0) snprintf(targets, cap, "other");
}

/* A PEFT directory: rank and target modules from its adapter_config.json. */
static void peft_shape(const char *dir, int *rank, char *targets, size_t cap) {
    char path[1100];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    if (!cfg) return;
    json_t *r = json_object_get(cfg, "r"), *mods = json_object_get(cfg, "target_modules");
    if (json_is_integer(r)) *rank = (int)json_integer_value(r);
    bool seen[7] = {false};
    size_t i;
    json_t *m;
    json_array_foreach(mods, i, m) {
        for (int k = 0; k < 7; k++)
            if (json_is_string(m) && !strcmp(json_string_value(m), linears[k][1])) seen[k] = true;
    }
    if (json_is_array(mods)) join_targets(seen, targets, cap);
    json_decref(cfg);
}

void bench_adapter_shape(const char *adapter_path, int *rank, char *targets, size_t cap) {
    *rank = 0;
    snprintf(targets, cap, "?");
    gguf_file *f = NULL;
    if (gguf_open(adapter_path, &f, NULL) != LORC_OK) {
        peft_shape(adapter_path, rank, targets, cap);
        return;
    }
    bool seen[7] = {false};
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        const char *a = strstr(t->name, ".lora_a");
        if (!a || a[7] != 0) continue;
        /* lora_a is [n_in, rank]; token_embd's is transposed ([rank, n_vocab]) */
        if (*rank == 0 && strncmp(t->name, "token_embd.", 11) != 0) *rank = (int)t->ne[1];
        for (int k = 0; k < 7; k++)
            if (strstr(t->name, linears[k][0])) seen[k] = true;
    }
    gguf_close(f);
    join_targets(seen, targets, cap);
}
