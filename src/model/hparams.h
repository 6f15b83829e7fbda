/* hparams.h — reading a model's hyper-parameters from GGUF metadata, and the
 * expected shape of each weight slot that follows from them. */
#ifndef LORC_MODEL_HPARAMS_H
#define LORC_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* Reads general.architecture (refusing anything but llama/qwen2, by name)
 * and the "<arch>.*" keys. n_vocab is left 0: it comes from token_embd. */
lorc_status lorc_hparams_load(const gguf_file *f, lorc_hparams *hp, char *arch_name, size_t arch_cap,
                              lorc_error *err);

/* Expected dims of a slot's tensor (unused dims 1). *required tells whether
 * a model must have it. Returns the number of dims (1 or 2). */
int lorc_slot_shape(const lorc_hparams *hp, int slot, int64_t ne[4], bool *required);

#endif
