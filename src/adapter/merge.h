/* merge.h — folding LoRA adapters into weights: W' = (R or W) + Σ s·B·A in
 * F32 (R: an adapter's replacement of W), then re-quantized. The same
 * per-slot lists the forward pass uses (lorc_adapter_set) drive it, so a
 * merged weight means exactly what runtime LoRA computes. merge_write.c
 * turns this into overlay files and complete merged models. */
#ifndef LORC_ADAPTER_MERGE_H
#define LORC_ADAPTER_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/threadpool.h"
#include "../model/model.h"
#include "../tensor/matmul.h"
#include "adapter.h"
#include "lorc.h"

/* The type a merged tensor with rows of row_len values is stored in: `want`
 * when lorc can write it and its block size divides row_len; otherwise the
 * smallest writable type with at least as many bits per weight that fits
 * (F32 in the end). */
uint32_t lorc_merge_pick_type(uint32_t want, int64_t row_len);

/* One weight to merge. `list` may be NULL (the weight is only re-typed). */
typedef struct lorc_merge_job {
    const lorc_model *model;    /* borrowed */
    int slot;
    const lorc_lora_list *list; /* borrowed */
    uint32_t out_type;          /* writable, block size dividing the row length */
    lorc_threadpool *pool;      /* borrowed, may be NULL (single thread) */
} lorc_merge_job;

/* Merged F32 rows [row0, row0 + n_rows) of the job's weight (model->w[slot]
 * unless the list replaces it) into out (n_rows × ne[0]). For tests and
 * for tools that measure the merge. */
lorc_status lorc_merge_rows_f32(const lorc_merge_job *job, int64_t row0, int64_t n_rows, float *out, lorc_error *err);

/* Writes the whole merged weight in job->out_type into dst (nbytes must be
 * ne[1] × row bytes). Matches gguf_tensor_fill_fn with user = the job. */
lorc_status lorc_merge_fill(void *job, void *dst, uint64_t nbytes, lorc_error *err);

/* ------------------------------------------------------------ output */

typedef struct lorc_merge_item {
    int slot;
    char name[96];     /* base tensor name */
    uint32_t base_type; /* type of the weight it replaces */
    uint32_t out_type;  /* type written */
    bool type_fallback; /* the requested type did not fit; out_type was picked instead */
} lorc_merge_item;

typedef struct lorc_merge_plan {
    int n_items;
    lorc_merge_item *items; /* owned, in the base file's tensor order */
} lorc_merge_plan;

/* The weights the set touches and the type each is written in (want < 0:
 * each weight's own type). Refuses a set that touches token_embd of a model
 * whose output is tied to it (an overlay cannot keep the output unchanged). */
lorc_status lorc_merge_plan_build(const lorc_model *model, const lorc_adapter_set *set, int want_type,
                                  lorc_merge_plan *plan, lorc_error *err);
void lorc_merge_plan_free(lorc_merge_plan *plan);

/* Writes the merge atomically: an overlay of only the planned tensors, or
 * (full) a complete model — base metadata copied, untouched tensors copied
 * as they are. `source` (may be NULL) is stored as overlay.source. */
lorc_status lorc_merge_write(const lorc_model *model, const lorc_adapter_set *set, const lorc_merge_plan *plan,
                             bool full, const char *source, lorc_threadpool *pool, const char *path,
                             lorc_progress_fn progress, void *progress_user, lorc_error *err);

#endif
