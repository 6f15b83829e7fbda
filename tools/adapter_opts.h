/* adapter_opts.h — the model-modifying options shared by `lorc run` and
 * `lorc perplexity`: --lora F, --lora-scaled F S (LoRA adapters attached to a
 * sequence) and --overlay F (tensor overlays applied to the model). */
#ifndef LORC_TOOLS_ADAPTER_OPTS_H
#define LORC_TOOLS_ADAPTER_OPTS_H

#include <stdbool.h>

#include "lorc.h"

enum { ADAPTER_OPTS_MAX = 32 };

typedef struct adapter_opts {
    int n_lora;
    const char *lora_path[ADAPTER_OPTS_MAX];
    float lora_scale[ADAPTER_OPTS_MAX];
    int n_overlay;
    const char *overlay_path[ADAPTER_OPTS_MAX];
    bool force_overlay; /* --force: skip the base fingerprint/architecture check */
} adapter_opts;

/* Consumes argv[*i] (and its values) when it is one of the options above.
 * Returns 1 when consumed, 0 when not ours, -1 after printing an error. */
int adapter_opts_parse(adapter_opts *o, const char *cmd, int argc, char **argv, int *i);

/* Usage lines for --help. */
extern const char adapter_opts_usage[];

typedef struct adapter_state {
    int n_lora;
    lorc_adapter *lora[ADAPTER_OPTS_MAX];
    float scale[ADAPTER_OPTS_MAX];
    int n_overlay;
    lorc_overlay *overlay[ADAPTER_OPTS_MAX];
} adapter_state;

/* Applies the overlays to the model and loads the adapters; on failure
 * nothing stays applied or loaded. */
lorc_status adapter_state_load(adapter_state *s, lorc_model *model, const adapter_opts *o, lorc_error *err);
/* Attaches the loaded adapters (if any) to a sequence. */
lorc_status adapter_state_attach(const adapter_state *s, lorc_sequence *seq, lorc_error *err);
/* Frees the adapters and removes the overlays (after every sequence is gone). */
void adapter_state_free(adapter_state *s, lorc_model *model);

#endif
