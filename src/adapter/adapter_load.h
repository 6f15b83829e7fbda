/* adapter_load.h — private helpers shared by the adapter loaders (GGUF
 * adapter files, PEFT directories) and DoRA: the adapter's storage (mapped
 * files, owned buffers, the DoRA cache) and the checks every loaded tensor
 * passes against the base. */
#ifndef LORC_ADAPTER_ADAPTER_LOAD_H
#define LORC_ADAPTER_ADAPTER_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "../format/gguf.h"
#include "../format/safetensors.h"
#include "adapter.h"

typedef struct dora_entry dora_entry; /* see dora.c */

typedef struct adapter_storage {
    gguf_file *gguf;       /* owned: GGUF adapters' tensors are used in place */
    safetensors_file *st;  /* owned: PEFT tensors used in place when aligned and unchanged */
    void **bufs;           /* owned buffers: converted tensors, names */
    size_t n_bufs, cap_bufs;
    size_t buf_bytes;      /* sum of the buffers' sizes */
    pthread_mutex_t lock;  /* guards the DoRA cache */
    dora_entry **dora;     /* owned cache of DoRA weights, one entry per (slot, scale, base data) */
    size_t n_dora, cap_dora;
    size_t dora_bytes;     /* the cached weights' bytes */
    uint64_t dora_clock;   /* use ticks for the cache's LRU order */
} adapter_storage;

/* A new empty adapter for `model` (slots zeroed, storage ready). */
lorc_status adapter_new(const lorc_model *model, const char *path, lorc_adapter **out, lorc_error *err);
static inline adapter_storage *adapter_store(lorc_adapter *ad) { return (adapter_storage *)ad->storage; }
/* An owned buffer freed with the adapter; NULL on OOM. */
void *adapter_alloc(lorc_adapter *ad, size_t n);
char *adapter_strdup(lorc_adapter *ad, const char *s);

/* Whether a slot holds a matrix LoRA can target (attention/FFN projections,
 * output, token_embd). */
bool adapter_slot_is_matrix(int slot);
/* The model's weight at a slot (overlay or base), or NULL. */
const lorc_tensor *adapter_base_weight(const lorc_model *model, int slot);

/* Checks a LoRA pair against the base weight of `slot` (token_embd: A is
 * [r, n_vocab]): 2-D, types lorc computes with, n_in/n_out/rank agreement,
 * finite values. Messages name `name` (the base tensor name). *ab_bound gets
 * max|B|·max|A|·r (see lorc_adapter_weight). */
lorc_status adapter_check_pair(const lorc_adapter *ad, int slot, const char *name, const lorc_tensor *a,
                               const lorc_tensor *b, double *ab_bound, lorc_error *err);
/* Checks that every value of a tensor is finite (dequantizing any type);
 * *max_abs (when not NULL) gets the largest magnitude. */
lorc_status adapter_check_finite(const char *path, const lorc_tensor *t, float *max_abs, lorc_error *err);

/* Frees the DoRA cache (dora.c). */
void adapter_dora_free(adapter_storage *s);

#endif
