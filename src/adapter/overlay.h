/* overlay.h — tensor-subset overlays (docs/overlay-format.md): a GGUF that
 * holds only the tensors a fine-tune changed, plus fingerprints of the base
 * it was made for. Applying one swaps pointers in the model's weight table
 * (model->w); the overlay file stays mmap'd while applied. The writer side
 * (overlay_write.c) is what `lorc merge` and `lorc diff` produce files with. */
#ifndef LORC_ADAPTER_OVERLAY_H
#define LORC_ADAPTER_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "../format/gguf.h"
#include "../model/model.h"
#include "lorc.h"

#define LORC_OVERLAY_VERSION 1
/* Metadata keys (general.type = "overlay" and general.architecture too). */
#define LORC_OVERLAY_KEY_VERSION "overlay.version"          /* u32 */
#define LORC_OVERLAY_KEY_TABLE "overlay.base.table_hash"    /* string, 16 hex digits */
#define LORC_OVERLAY_KEY_COUNT "overlay.base.tensor_count"  /* u64: tensors in the base (for messages) */
#define LORC_OVERLAY_KEY_HASHES "overlay.base.tensor_hashes" /* [string]: per overlay tensor, in file order */
#define LORC_OVERLAY_KEY_BASE_NAME "overlay.base.name"      /* string, optional: the base's general.name */
#define LORC_OVERLAY_KEY_SOURCE "overlay.source"            /* string, optional: how it was made */

/* One weight slot the overlay took over (model->w[slot] = tensor while applied). */
typedef struct lorc_overlay_swap {
    int slot;
    const lorc_tensor *tensor; /* points into the overlay's tensor array */
} lorc_overlay_swap;

struct lorc_overlay {
    char *path;          /* owned */
    gguf_file *file;     /* owned: mmap'd for as long as the overlay is applied */
    lorc_model *model;   /* borrowed: the model it is applied to */
    int n_tensors;
    lorc_tensor *tensors; /* owned [n_tensors]; names and data borrowed from `file` */
    int n_swaps;
    lorc_overlay_swap *swaps; /* owned [n_swaps] (a tied tensor fills two slots) */
    bool applied;             /* lorc_overlay_apply swapped it into model->w; false: loaded for sequences */
    uint64_t identity;        /* content hash of the replacement tensors (identity.c): the prefix cache's key part */
};

/* Checks an open overlay file against a model without changing anything.
 * Format problems and structural mismatches (unknown tensor, other shape,
 * unsupported type, a slot another overlay already replaced) are always
 * refused; identity mismatches (architecture, tensor-table fingerprint, the
 * base contents a tensor replaces) are refused unless `force`. The message
 * names the first mismatch. Used by lorc_overlay_apply and by inspect. */
lorc_status lorc_overlay_check(const lorc_model *model, const gguf_file *ov, bool force, lorc_error *err);

/* ------------------------------------------------------------- writer */

typedef struct lorc_overlay_writer lorc_overlay_writer;

/* An overlay for `base` (borrowed: must stay open until the write returns). */
lorc_status lorc_overlay_writer_new(const gguf_file *base, lorc_overlay_writer **out, lorc_error *err);
void lorc_overlay_writer_free(lorc_overlay_writer *w);
/* The underlying GGUF writer, for extra metadata (e.g. overlay.source). */
gguf_writer *lorc_overlay_writer_gguf(lorc_overlay_writer *w);

/* Adds the replacement of base tensor `name` (same shape, any type whose
 * block size divides the row length). Hashes the base tensor's bytes now.
 * `data` is borrowed until the write returns. */
lorc_status lorc_overlay_writer_add(lorc_overlay_writer *w, const char *name, uint32_t type, const void *data,
                                    lorc_error *err);
/* Same, with the bytes produced during the write (one tensor in memory at a time). */
lorc_status lorc_overlay_writer_add_lazy(lorc_overlay_writer *w, const char *name, uint32_t type,
                                         gguf_tensor_fill_fn fill, void *user, lorc_error *err);
int lorc_overlay_writer_count(const lorc_overlay_writer *w);

/* Writes the file atomically. */
lorc_status lorc_overlay_writer_write(lorc_overlay_writer *w, const char *path, lorc_progress_fn progress,
                                      void *progress_user, lorc_error *err);

#endif
