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
    const void *b_cols;  /* b in the column layout (tensor/lora_cols.h) for the B·t tiles, or NULL */
    float scale;         /* the adapter's own factor: alpha/r, alpha/sqrt(r) (rsLoRA), or 1 */
    double ab_bound;     /* max|B| · max|A| · r: no entry of B·A exceeds it (overflow checks) */
    bool has_replace;
    lorc_tensor replace; /* full replacement of the base weight (modules_to_save) */
    bool dora;           /* DoRA slot: a/b/scale and `magnitude` define a replacement that depends on
                            the user scale. The set adds NO term for it and takes the replacement
                            from lorc_adapter_weight_for_scale(). */
    lorc_tensor magnitude; /* DoRA: F32 [n_out], one magnitude per output row (GGUF row order) */
} lorc_adapter_weight;

/* Who pays for memory an adapter allocates after its load (the DoRA
 * weights it computes per scale): a registry charges it to the entry's
 * budget. reserve may refuse (the adapter then fails the request); each
 * reserve is matched by a release of the same bytes when they are freed.
 * All NULL: nobody counts. Called without the adapter's lock held. */
typedef struct lorc_adapter_budget {
    lorc_status (*reserve)(void *user, size_t bytes, lorc_error *err);
    void (*release)(void *user, size_t bytes);
    void *user;
} lorc_adapter_budget;

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
    lorc_adapter_budget budget; /* set by a registry that owns the adapter */
};

/* Bytes the adapter holds now: its mapped files, the buffers its loader
 * allocated (converted tensors, names), its tables, and the DoRA weights
 * cached for it. Thread-safe. */
size_t lorc_adapter_resident_bytes(const lorc_adapter *adapter);

/* For token_embd the A matrix is stored transposed: ne = [r, n_vocab], so the
 * embedding of token t gains scale * B·A[t,:]. */

/* The weight that replaces the model's weight at `slot` while `adapter` is
 * used at `user_scale`: the modules_to_save tensor, or (DoRA slots)
 * m·(W + s·B·A)/‖W + s·B·A‖ with s = user_scale·scale and the norm per output
 * row, computed from the weight in use — `weight` (a sequence's overlay
 * tensor), or when NULL the model's (model->w) — on first request and
 * cached in the adapter per (scale, weight) — thread-safe, valid while the
 * caller holds the reference it gets (lorc_adapter_weight_release). *out = NULL when the adapter replaces nothing there.
 * The set builder: for each adapter and slot, add a term when
 * `has_lora && !dora`, and use this function for the replacement. */
lorc_status lorc_adapter_weight_for_scale(lorc_adapter *adapter, int slot, float user_scale,
                                          const lorc_tensor *weight, const lorc_tensor **out, lorc_error *err);
/* Each successful lorc_adapter_weight_for_scale holds a reference on a DoRA
 * weight it returns; this drops it (tensors that are not DoRA weights are
 * ignored). The cache keeps at most LORC_DORA_CACHED_SCALES weights per
 * slot that no adapter set references, dropping the least recently used. */
void lorc_adapter_weight_release(lorc_adapter *adapter, const lorc_tensor *weight);
#define LORC_DORA_CACHED_SCALES 4
/* Frees the cached DoRA weights no adapter set references and returns their
 * bytes. Calls no budget hook: the caller (a registry making room, under
 * its own lock) settles its books itself. */
size_t lorc_adapter_drop_unused_weights(lorc_adapter *adapter);

/* Per-sequence adapter stack (and overlay), expanded per slot. */
typedef struct lorc_adapter_set {
    const lorc_overlay *overlay; /* borrowed: its tensors are the `replace` of the slots it covers; NULL: none */
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

/* Builds the lists of `n` adapters over `overlay` (NULL: the model's
 * weights in use): every slot the overlay covers gets the overlay's tensor as
 * its replacement (the tied output too when token_embd is replaced), the
 * adapters' terms apply on top and DoRA weights are computed from the
 * overlay's tensor. Refused: an overlay of another model or one applied to
 * the model, an overlay replacing a 1-D weight other than an F32 norm (only
 * lorc_overlay_apply can: biases and RoPE factors are read once per batch),
 * a modules_to_save replacement of a tensor the overlay replaces. A norm
 * slot's list holds the overlay's F32 vector as `replace` (the forward pass
 * reads it per row). On failure *set is unchanged. */
lorc_status lorc_adapter_set_build(lorc_adapter_set *set, const lorc_model *model, const lorc_overlay *overlay,
                                   lorc_adapter *const *adapters, const float *scales, int n, lorc_error *err);
void lorc_adapter_set_clear(lorc_adapter_set *set);
/* The list for a slot, or NULL when no adapter touches it. */
const lorc_lora_list *lorc_adapter_set_slot(const lorc_adapter_set *set, int slot);

#endif
