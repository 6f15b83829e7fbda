/* bench_files.c — what `lorc bench` reads from the model and adapter files
 * themselves: the weight bytes a decoded token streams (the numerator of
 * the roofline fraction), the file's quantization mix, an adapter's shape. */
#include <stdio.h>
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

const char *bench_file_type_name(const char *model_path) {
    gguf_file *f = NULL;
    if (gguf_open(model_path, &f, NULL) != LORC_OK) return "unknown";
    uint32_t ftype = gguf_get_u32_or(f, "general.file_type", UINT32_MAX);
    gguf_close(f);
    for (int i = 0; quant_mix_at(i); i++)
        if ((uint32_t)quant_mix_at(i)->ftype == ftype) return quant_mix_at(i)->name;
    return "unknown";
}

void bench_adapter_shape(const char *adapter_path, int *rank, char *targets, size_t cap) {
    static const char *const linears[][2] = {{"attn_q.", "q"},        {"attn_k.", "k"},   {"attn_v.", "v"},
                                             {"attn_output.", "o"},   {"ffn_gate.", "gate"},
                                             {"ffn_up.", "up"},       {"ffn_down.", "down"}};
    *rank = 0;
    snprintf(targets, cap, "?");
    gguf_file *f = NULL;
    if (gguf_open(adapter_path, &f, NULL) != LORC_OK) return;
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
    size_t len = 0;
    targets[0] = 0;
    for (int k = 0; k < 7; k++)
        if (seen[k] && len < cap)
            len += (size_t)snprintf(targets + len, cap - len, "%s%s", len ? "," : "", linears[k][1]);
    if (len == 0) snprintf(targets, cap, "other");
}
