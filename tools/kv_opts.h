/* kv_opts.h — the KV cache options shared by `lorc run` and `lorc
 * perplexity`: -ctk/--cache-type-k and -ctv/--cache-type-v (llama.cpp's
 * names and values: f16, f32, q8_0). */
#ifndef LORC_TOOLS_KV_OPTS_H
#define LORC_TOOLS_KV_OPTS_H

#include "lorc.h"

typedef struct kv_opts {
    lorc_kv_type type_k, type_v; /* the library's defaults until given */
} kv_opts;

/* The library's defaults. */
kv_opts kv_opts_default(void);
/* Consumes argv[*i] and its value when it is one of the options above.
 * Returns 1 when consumed, 0 when not ours, -1 after printing an error. */
int kv_opts_parse(kv_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Copies the choice into context parameters. */
void kv_opts_apply(const kv_opts *o, lorc_context_params *cp);

/* Usage lines for --help. */
extern const char kv_opts_usage[];

#endif
