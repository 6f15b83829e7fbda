/* batch_registry.h — filling `lorc batch`'s registry from its options:
 * NAME=PATH pairs (--lora, --overlay) and a folder of adapters
 * (--adapter-dir). */
#ifndef LORC_TOOLS_BATCH_REGISTRY_H
#define LORC_TOOLS_BATCH_REGISTRY_H

#include "lorc.h"

/* Registers "NAME=PATH" as `kind`; refuses a missing '=' or an empty side. */
lorc_status batch_registry_add_pair(lorc_registry *reg, const char *opt, const char *pair, lorc_entry_kind kind,
                                    lorc_error *err);
/* Registers every *.gguf file of `dir` (name: the file name without .gguf;
 * an adapter or an overlay, decided when first loaded) and every
 * subfolder holding an adapter_config.json (a PEFT adapter; name: the
 * folder's name), in name order. *n_added counts them. */
lorc_status batch_registry_add_dir(lorc_registry *reg, const char *dir, int *n_added, lorc_error *err);

#endif
