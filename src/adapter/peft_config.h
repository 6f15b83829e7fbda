/* peft_config.h — adapter_config.json of a PEFT LoRA adapter: the settings
 * lorc honours (rank, alpha, rsLoRA, DoRA, targets, per-module patterns,
 * modules_to_save) and the ones it refuses by name. */
#ifndef LORC_ADAPTER_PEFT_CONFIG_H
#define LORC_ADAPTER_PEFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lorc.h"

typedef struct peft_regex peft_regex; /* a compiled PCRE2 pattern (peft_config.c) */

typedef struct peft_pattern {
    char *key;        /* owned: the pattern as written */
    peft_regex *re;   /* owned: "(.*\.)?(KEY)$" anchored at the start, as PEFT matches it */
    double value;
} peft_pattern;

/* A module selector: a list of names (exact, or a ".name" suffix) or one regex
 * that must match the whole module path. */
typedef struct peft_selector {
    bool present;
    bool all_linear;  /* "all-linear": every linear layer except the output head */
    peft_regex *re;   /* owned, when given as a string */
    char **names;     /* owned, when given as a list */
    size_t n_names;
} peft_selector;

typedef struct peft_config {
    char *path;        /* owned: the config file, for messages */
    int r;
    double alpha;
    bool use_rslora;
    bool use_dora;
    bool fan_in_fan_out;
    peft_selector targets;
    peft_selector excludes;
    peft_pattern *rank_pattern;  /* owned, in file order (the first match wins) */
    size_t n_rank_pattern;
    peft_pattern *alpha_pattern; /* owned */
    size_t n_alpha_pattern;
    char **modules_to_save;      /* owned */
    size_t n_modules_to_save;
    int *layers;                 /* owned: layers_to_transform, when given */
    size_t n_layers;
    bool has_layers;
} peft_config;

/* Reads and checks <dir>/adapter_config.json. */
lorc_status peft_config_load(const char *dir, peft_config *cfg, lorc_error *err);
void peft_config_free(peft_config *cfg);

/* Whether the config puts LoRA on `module` (a path like "model.layers.0.self_attn.q_proj";
 * `linear`: the module is a linear layer; `is_head`: it is lm_head; `layer`: block index or -1). */
bool peft_config_targets(const peft_config *cfg, const char *module, bool linear, bool is_head, int layer);
/* Whether `module` is listed in modules_to_save. */
bool peft_config_saves(const peft_config *cfg, const char *module);
/* Rank, alpha and the resulting scale for `module` (rank_pattern/alpha_pattern applied). */
void peft_config_module(const peft_config *cfg, const char *module, int *r, double *alpha, double *scale);

#endif
