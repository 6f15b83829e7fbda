/* inspect_finetune.h — the fine-tune part of `lorc inspect`: a summary of a
 * LoRA adapter (llama.cpp GGUF file or PEFT directory) or a tensor overlay:
 * which base it fits (architecture, fingerprint), ranks, targets, sizes;
 * and, given a base model, whether it actually fits that base. */
#ifndef LORC_TOOLS_INSPECT_FINETUNE_H
#define LORC_TOOLS_INSPECT_FINETUNE_H

#include <stdio.h>

#include "lorc.h"

/* Summarises `path` on `out` when it is an adapter or an overlay. With
 * `base_path` (may be NULL) the base model is loaded and the file checked
 * against it ("fits" or the first mismatch, one line).
 * Returns 1 when a summary was printed, 0 when `path` is neither an adapter
 * nor an overlay (nothing printed: show it as a model), -1 when it cannot be
 * read (err filled). A mismatch with the base is reported, not an error. */
int inspect_finetune(const char *path, const char *base_path, FILE *out, lorc_error *err);

#endif
