/* kv_opts.c — -ctk / -ctv parsing (kv_opts.h). */
#include "kv_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

const char kv_opts_usage[] =
    "  -ctk, --cache-type-k T  KV cache type of K: f16 (default), f32 or q8_0\n"
    "  -ctv, --cache-type-v T  KV cache type of V: f16 (default), f32 or q8_0\n";

kv_opts kv_opts_default(void) {
    const lorc_context_params cp = lorc_context_default_params();
    return (kv_opts){cp.type_k, cp.type_v};
}

static bool parse_type(const char *s, lorc_kv_type *out) {
    static const struct {
        const char *name;
        lorc_kv_type type;
    } types[] = {{"f16", LORC_KV_F16}, {"f32", LORC_KV_F32}, {"q8_0", LORC_KV_Q8_0}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        if (!strcmp(s, types[k].name)) {
            *out = types[k].type;
            return true;
        }
    return false;
}

int kv_opts_parse(kv_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *v = NULL, *a = argv[*i];
    bool missing = false;
    lorc_kv_type *dst;
    if (cli_opt(argc, argv, i, "-ctk", &v, &missing) || cli_opt(argc, argv, i, "--cache-type-k", &v, &missing))
        dst = &o->type_k;
    else if (cli_opt(argc, argv, i, "-ctv", &v, &missing) || cli_opt(argc, argv, i, "--cache-type-v", &v, &missing))
        dst = &o->type_v;
    else
        return 0;
    if (missing) return -1;
    if (!parse_type(v, dst)) {
        cli_usage_error(cmd, "invalid value '%s' for %s (use f16, f32 or q8_0)", v, a);
        return -1;
    }
    return 1;
}

void kv_opts_apply(const kv_opts *o, lorc_context_params *cp) {
    cp->type_k = o->type_k;
    cp->type_v = o->type_v;
}
