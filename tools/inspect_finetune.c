/* inspect_finetune.c — summaries of adapters and overlays for `lorc inspect`
 * (see inspect_finetune.h). Reads files through the library's validated
 * readers; prints only to the stream it is given. */
#include "inspect_finetune.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/fingerprint.h"
#include "adapter/overlay.h"
#include "adapter/peft_config.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "tensor/types.h"

/* ---- grouping tensor names into "kind in layers a-b" ---- */

enum { KIND_MAX = 64, KIND_NAME = 96 };

typedef struct kind_group {
    char name[KIND_NAME];
    int count, lo, hi; /* layers seen (lo/hi -1 for global tensors) */
} kind_group;

typedef struct kinds {
    int n;
    kind_group g[KIND_MAX];
    int overflow;
} kinds;

/* "blk.3.attn_q.weight" / "...layers.3.self_attn.q_proj" -> layer 3, kind after it. */
static void kinds_add(kinds *k, const char *name) {
    int layer = -1;
    const char *kind = name;
    const char *p = strstr(name, "blk.");
    size_t skip = 4;
    if (!p) p = strstr(name, "layers."), skip = 7;
    if (p && p[skip] >= '0' && p[skip] <= '9') {
        char *end;
        layer = (int)strtol(p + skip, &end, 10);
        if (*end == '.') kind = end + 1;
        else layer = -1;
    }
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->g[i].name, kind)) {
            kind_group *g = &k->g[i];
            g->count++;
            if (layer >= 0 && (g->lo < 0 || layer < g->lo)) g->lo = layer;
            if (layer > g->hi) g->hi = layer;
            return;
        }
    if (k->n == KIND_MAX) {
        k->overflow++;
        return;
    }
    kind_group *g = &k->g[k->n++];
    snprintf(g->name, sizeof g->name, "%s", kind);
    g->count = 1;
    g->lo = g->hi = layer;
}

static void kinds_print(const kinds *k, FILE *out) {
    for (int i = 0; i < k->n; i++) {
        const kind_group *g = &k->g[i];
        if (g->lo < 0) fprintf(out, "    %s\n", g->name);
        else if (g->hi - g->lo + 1 == g->count)
            fprintf(out, "    %-28s layers %d-%d (%d)\n", g->name, g->lo, g->hi, g->count);
        else fprintf(out, "    %-28s %d layers between %d and %d\n", g->name, g->count, g->lo, g->hi);
    }
    if (k->overflow) fprintf(out, "    ... and %d more kinds\n", k->overflow);
}

static void size_str(uint64_t bytes, char *buf, size_t cap) {
    if (bytes < 10240) snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
    else if (bytes < 10ull << 20) snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < 10ull << 30) snprintf(buf, cap, "%.1f MiB", (double)bytes / 1048576.0);
    else snprintf(buf, cap, "%.2f GiB", (double)bytes / 1073741824.0);
}

static uint64_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Type histogram: "F32 x10, Q8_0 x2". */
static void types_print(const uint32_t *types, size_t n, FILE *out) {
    int count[LORC_TYPE_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        if (types[i] < LORC_TYPE_COUNT) count[types[i]]++;
    fprintf(out, "  tensor types:  %s", n ? "" : "none");
    bool first = true;
    for (int t = 0; t < LORC_TYPE_COUNT; t++)
        if (count[t]) {
            fprintf(out, "%s%s x%d", first ? "" : ", ", lorc_type_name((uint32_t)t), count[t]);
            first = false;
        }
    fprintf(out, "\n");
}

/* ---- fit against a base model ---- */

static void print_fit(const char *path, const char *base_path, bool overlay, const gguf_file *ov, FILE *out) {
    lorc_error err = {0};
    lorc_model *m = NULL;
    if (lorc_model_load(base_path, &m, &err)) {
        fprintf(out, "  fits base:     cannot load %s: %s\n", base_path, err.message);
        return;
    }
    lorc_status st;
    if (overlay) {
        st = lorc_overlay_check(m, ov, false, &err);
    } else {
        lorc_adapter *ad = NULL;
        st = lorc_adapter_load(m, path, &ad, &err);
        lorc_adapter_free(ad);
    }
    if (st) fprintf(out, "  fits base:     NO: %s\n", err.message);
    else fprintf(out, "  fits base:     yes (%s)\n", base_path);
    lorc_model_free(m);
}

/* ---- GGUF adapters and overlays ---- */

static void print_str_kv(const gguf_file *f, const char *key, const char *label, FILE *out) {
    char *v = gguf_get_str_dup(f, key);
    if (v) fprintf(out, "  %-14s %s\n", label, v);
    free(v);
}

static void summarise_overlay(const gguf_file *f, FILE *out) {
    fprintf(out, "overlay (tensor subset, version %u): %s\n", gguf_get_u32_or(f, LORC_OVERLAY_KEY_VERSION, 0), f->path);
    print_str_kv(f, "general.architecture", "architecture:", out);
    print_str_kv(f, LORC_OVERLAY_KEY_BASE_NAME, "base name:", out);
    const gguf_kv *th = gguf_find_kv(f, LORC_OVERLAY_KEY_TABLE);
    uint64_t count = 0;
    bool has_cnt = gguf_get_u64_if(f, LORC_OVERLAY_KEY_COUNT, &count);
    if (th && th->type == GGUF_TYPE_STRING)
        fprintf(out, "  base table:    xxh64 %.*s", (int)(th->str.len > 32 ? 32 : th->str.len), th->str.ptr);
    else fprintf(out, "  base table:    (no fingerprint)");
    if (has_cnt) fprintf(out, " (%llu tensors)", (unsigned long long)count);
    else if (gguf_find_kv(f, LORC_OVERLAY_KEY_COUNT))
        fprintf(out, " (%s is not a non-negative integer: ignored)", LORC_OVERLAY_KEY_COUNT);
    fprintf(out, "\n");
    print_str_kv(f, LORC_OVERLAY_KEY_SOURCE, "made by:", out);
    const gguf_kv *h = gguf_find_kv(f, LORC_OVERLAY_KEY_HASHES);
    bool hashes = h && h->type == GGUF_TYPE_ARRAY && h->arr_type == GGUF_TYPE_STRING && h->arr_len == f->n_tensors;
    kinds k = {0};
    uint64_t bytes = 0;
    uint32_t *types = calloc(f->n_tensors + 1, sizeof *types);
    fprintf(out, "  replaces %llu tensor%s:\n", (unsigned long long)f->n_tensors, f->n_tensors == 1 ? "" : "s");
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        kinds_add(&k, t->name);
        bytes += t->nbytes;
        if (types) types[i] = t->type;
    }
    kinds_print(&k, out);
    if (types) types_print(types, (size_t)f->n_tensors, out);
    free(types);
    char a[32], b[32];
    size_str(bytes, a, sizeof a);
    size_str(file_size(f->path), b, sizeof b);
    fprintf(out, "  size:          %s of tensors, file %s\n", a, b);
    if (!hashes) fprintf(out, "  warning:       '%s' is missing or malformed: lorc will refuse this overlay\n",
                         LORC_OVERLAY_KEY_HASHES);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void summarise_gguf_adapter(const gguf_file *f, FILE *out) {
    fprintf(out, "LoRA adapter (llama.cpp GGUF): %s\n", f->path);
    print_str_kv(f, "general.architecture", "architecture:", out);
    print_str_kv(f, "adapter.type", "adapter type:", out);
    float alpha = gguf_get_f32_or(f, "adapter.lora.alpha", 0.0f);
    kinds k = {0};
    int n_pairs = 0, rmin = 0, rmax = 0, n_other = 0;
    uint64_t bytes = 0;
    uint32_t *types = calloc(f->n_tensors + 1, sizeof *types);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor_info *t = &f->tensors[i];
        bytes += t->nbytes;
        if (types) types[i] = t->type;
        if (!ends_with(t->name, ".lora_a")) {
            if (!ends_with(t->name, ".lora_b")) n_other++;
            continue;
        }
        char base[KIND_NAME * 2];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - 7), t->name);
        kinds_add(&k, base);
        /* A is [n_in, r], except token_embd's [r, n_vocab] */
        int r = (int)(strstr(base, "token_embd") ? t->ne[0] : t->ne[1]);
        if (!n_pairs || r < rmin) rmin = r;
        if (!n_pairs || r > rmax) rmax = r;
        n_pairs++;
    }
    if (rmin == rmax) fprintf(out, "  rank:          %d\n", rmax);
    else fprintf(out, "  rank:          %d..%d\n", rmin, rmax);
    if (alpha != 0.0f && rmin == rmax && rmax > 0)
        fprintf(out, "  alpha:         %g (scale alpha/r = %g)\n", (double)alpha, (double)alpha / rmax);
    else if (alpha != 0.0f) fprintf(out, "  alpha:         %g (scale alpha/r per pair)\n", (double)alpha);
    else fprintf(out, "  alpha:         none (scale = the user's scale)\n");
    fprintf(out, "  targets:       %d LoRA pair%s\n", n_pairs, n_pairs == 1 ? "" : "s");
    kinds_print(&k, out);
    if (n_other) fprintf(out, "  other tensors: %d (not LoRA pairs; norms are ignored)\n", n_other);
    if (types) types_print(types, (size_t)f->n_tensors, out);
    free(types);
    char a[32], b[32];
    size_str(bytes, a, sizeof a);
    size_str(file_size(f->path), b, sizeof b);
    fprintf(out, "  size:          %s of tensors, file %s\n", a, b);
    char *arch = gguf_get_str_dup(f, "general.architecture");
    fprintf(out, "  base:          any %s model with these weights' shapes (the format has no base fingerprint)\n",
            arch ? arch : "llama-family");
    free(arch);
}

/* ---- PEFT directories ---- */

static int summarise_peft(const char *dir, FILE *out, lorc_error *err) {
    peft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (peft_config_load(dir, &cfg, err)) return -1;
    char st_path[4096];
    snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    safetensors_file *st = NULL;
    if (safetensors_open(st_path, &st, err)) {
        peft_config_free(&cfg);
        return -1;
    }
    fprintf(out, "LoRA adapter (Hugging Face PEFT directory): %s\n", dir);
    fprintf(out, "  rank:          %d%s\n", cfg.r, cfg.n_rank_pattern ? " (with rank_pattern overrides)" : "");
    fprintf(out, "  alpha:         %g%s (scale %g)\n", cfg.alpha, cfg.n_alpha_pattern ? " (with alpha_pattern)" : "",
            cfg.r > 0 ? (cfg.use_rslora ? cfg.alpha / sqrt((double)cfg.r) : cfg.alpha / cfg.r) : 0.0);
    if (cfg.use_rslora) fprintf(out, "  rsLoRA:        yes (scale alpha/sqrt(r))\n");
    if (cfg.use_dora) fprintf(out, "  DoRA:          yes (magnitude vectors)\n");
    kinds k = {0};
    int n_pairs = 0, n_saved = 0, n_other = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const safetensors_tensor *t = &st->tensors[i];
        bytes += t->nbytes;
        const char *p = strstr(t->name, ".lora_A");
        if (!p) p = strstr(t->name, ".lora_embedding_A");
        if (p) {
            char mod[KIND_NAME * 2];
            snprintf(mod, sizeof mod, "%.*s", (int)(p - t->name), t->name);
            kinds_add(&k, mod);
            n_pairs++;
        } else if (strstr(t->name, ".lora_B") || strstr(t->name, ".lora_embedding_B") ||
                   strstr(t->name, "lora_magnitude_vector")) {
            continue;
        } else if (ends_with(t->name, ".weight") || ends_with(t->name, ".bias")) {
            n_saved++;
        } else {
            n_other++;
        }
    }
    fprintf(out, "  targets:       %d LoRA pair%s\n", n_pairs, n_pairs == 1 ? "" : "s");
    kinds_print(&k, out);
    if (cfg.n_modules_to_save || n_saved) {
        fprintf(out, "  replaced:      %d full tensor%s (modules_to_save:", n_saved, n_saved == 1 ? "" : "s");
        for (size_t i = 0; i < cfg.n_modules_to_save; i++) fprintf(out, " %s", cfg.modules_to_save[i]);
        fprintf(out, ")\n");
    }
    if (n_other) fprintf(out, "  other tensors: %d\n", n_other);
    char a[32];
    size_str(bytes, a, sizeof a);
    fprintf(out, "  size:          %s of tensors in %zu safetensors entries\n", a, st->n_tensors);
    const char *base = safetensors_meta_get(st, "base_model_name_or_path");
    fprintf(out, "  base:          any llama/qwen2 model with these weights' shapes%s%s\n", base ? "; trained on " : "",
            base ? base : "");
    safetensors_close(st);
    peft_config_free(&cfg);
    return 1;
}

int inspect_finetune(const char *path, const char *base_path, FILE *out, lorc_error *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        int rc = summarise_peft(path, out, err);
        if (rc == 1 && base_path) print_fit(path, base_path, false, NULL, out);
        return rc;
    }
    gguf_file *f = NULL;
    if (gguf_open(path, &f, err)) return -1;
    int rc = 0;
    if (gguf_str_eq(f, "general.type", "overlay")) {
        summarise_overlay(f, out);
        if (base_path) print_fit(path, base_path, true, f, out);
        rc = 1;
    } else if (gguf_str_eq(f, "general.type", "adapter")) {
        summarise_gguf_adapter(f, out);
        if (base_path) print_fit(path, base_path, false, NULL, out);
        rc = 1;
    }
    gguf_close(f);
    return rc;
}
