/* adapter.h — a loaded LoRA adapter, resolved against a model's weight slots.
 * Loaders (GGUF adapter files, PEFT directories) fill this; sequences turn a
 * stack of adapters into per-slot lorc_lora_lists for lorc_matmul. */
#ifndef LORC_ADAPTER_ADAPTER_H
#define LORC_ADAPTER_ADAPTER_H

#include <stdbool.h>

#include "../model/model.h"
#include "../tensor/matmul.h"
#include "lorc.h"

typedef struct lorc_adapter_weight {
    bool has_lora;
    lorc_tensor a;       /* ggml [n_in, r] (token_embd: [r, n_vocab], see below) */
    lorc_tensor b;       /* ggml [r, n_out] */
    float scale;         /* the adapter's own factor: alpha/r, alpha/sqrt(r) (rsLoRA), or 1 */
    double ab_bound;     /* max|B| · max|A| · r: no entry of B·A exceeds it (overflow checks) */
    bool has_replace;
    lorc_tensor replace; /* full replacement of the base weight (modules_to_save) */
    bool dora;           /* DoRA slot: a/b/scale and `magnitude` define a replacement that depends on
                            the user scale. The set adds NO term for it and takes the replacement
                            from lorc_adapter_weight_for_scale(). */
    lorc_tensor magnitude; /* DoRA: F32 [n_out], one magnitude per output row (GGUF row order) */
} lorc_adapter_weight;

struct lorc_adapter {
    char *path;              /* owned */
    const lorc_model *model; /* borrowed: the base it was checked against */
    int n_slots;
    lorc_adapter_weight *slots; /* owned [n_slots]; tensor data lives in the storage below */
    int rank;                   /* largest r, for inspect */
    bool is_dora;
    uint64_t identity;          /* content hash (identity.c), set once loaded: the prefix cache's key part */
    void *storage;              /* owned: implementation-specific (mmaps, buffers); freed by lorc_adapter_free */
    void (*free_storage)(void *storage);
};

/* For token_embd the A matrix is stored transposed: ne = [r, n_vocab], so the
 * embedding of token t gains scale * B·A[t,:]. */

/* The weight that replaces the model's weight at `slot` while `adapter` is
 * used at `user_scale`: the modules_to_save tensor, or (DoRA slots)
 * m·(W + s·B·A)/‖W + s·B·A‖ with s = user_scale·scale and the norm per output
 * row, computed from the weight in use (model->w) on first request and
 * cached in the adapter per (scale, weight) — thread-safe, valid until
 * lorc_adapter_free. *out = NULL when the adapter replaces nothing there.
 * The set builder: for each adapter and slot, add a term when
 * `has_lora && !dora`, and use this function for the replacement. */
lorc_status lorc_adapter_weight_for_scale(lorc_adapter *adapter, int slot, float user_scale,
                                          const lorc_tensor **out, lorc_error *err);

/* Per-sequence adapter stack, expanded per slot. */
typedef struct lorc_adapter_set {
    int n_adapters;
    lorc_adapter **adapters; /* borrowed, owned array */
    float *scales;           /* owned [n_adapters] user scales */
    int n_slots;
    lorc_lora_list *lists;   /* owned [n_slots]; n_terms == 0 && !replace: untouched */
    lorc_lora_term *terms;   /* owned storage the lists point into */
} lorc_adapter_set;

/* Refuses (LORC_ERR_NUMERIC, naming the tensor) an effective scale
 * user_scale × w->scale that is not a finite float, or one for which
 * |s|·max|B|·max|A|·r — a cheap bound on every entry of s·B·A — exceeds
 * FLT_MAX. `name` is the base tensor's name. */
lorc_status lorc_adapter_check_scale(const lorc_adapter *ad, const lorc_adapter_weight *w, const char *name,
                                     float user_scale, lorc_error *err);

lorc_status lorc_adapter_set_build(lorc_adapter_set *set, const lorc_model *model, lorc_adapter *const *adapters,
                                   const float *scales, int n, lorc_error *err);
void lorc_adapter_set_clear(lorc_adapter_set *set);
/* The list for a slot, or NULL when no adapter touches it. */
const lorc_lora_list *lorc_adapter_set_slot(const lorc_adapter_set *set, int slot);

#endif
