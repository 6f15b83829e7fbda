/* batch_registry.h — the registry options of `lorc batch` and `lorc
 * serve` and filling a registry from them: NAME=PATH pairs (--lora,
 * --overlay) and folders of adapters (--adapter-dir). */
#ifndef LORC_TOOLS_BATCH_REGISTRY_H
#define LORC_TOOLS_BATCH_REGISTRY_H

#include "lorc.h"

enum { REGISTRY_OPTS_MAX = 256 };

typedef struct registry_opts {
    const char *lora[REGISTRY_OPTS_MAX];    /* NAME=PATH */
    const char *overlay[REGISTRY_OPTS_MAX]; /* NAME=PATH */
    const char *dirs[REGISTRY_OPTS_MAX];
    int n_lora, n_overlay, n_dirs;
} registry_opts;

/* Consumes argv[*i] and its value when it is --lora, --overlay or
 * --adapter-dir. Returns 1 when consumed, 0 when not ours, -1 after
 * printing an error (missing value, too many). */
int registry_opts_parse(registry_opts *o, const char *cmd, int argc, char **argv, int *i);

/* Registers "NAME=PATH" as `kind`; refuses a missing '=' or an empty side. */
lorc_status batch_registry_add_pair(lorc_registry *reg, const char *opt, const char *pair, lorc_entry_kind kind,
                                    lorc_error *err);
/* Registers every *.gguf file of `dir` (name: the file name without .gguf;
 * an adapter or an overlay, decided when first loaded) and every
 * subfolder holding an adapter_config.json (a PEFT adapter; name: the
 * folder's name), in name order. *n_added counts them. */
lorc_status batch_registry_add_dir(lorc_registry *reg, const char *dir, int *n_added, lorc_error *err);

#endif
