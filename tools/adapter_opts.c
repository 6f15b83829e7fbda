/* adapter_opts.c — parsing and applying --lora / --lora-scaled / --overlay. */
#include "adapter_opts.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "cli.h"

const char adapter_opts_usage[] =
    "  --lora FILE           attach a LoRA adapter (GGUF file or PEFT directory) at scale 1; repeatable\n"
    "  --lora-scaled FILE S  attach a LoRA adapter at scale S; repeatable\n"
    "  --overlay FILE        apply a tensor overlay to the model; repeatable\n"
    "  --force               apply overlays even when their base fingerprint or architecture differs\n";

int adapter_opts_parse(adapter_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--force")) {
        o->force_overlay = true;
        return 1;
    }
    bool lora = !strcmp(a, "--lora"), scaled = !strcmp(a, "--lora-scaled"), overlay = !strcmp(a, "--overlay");
    if (!lora && !scaled && !overlay) return 0;
    int need = scaled ? 2 : 1;
    if (*i + need >= argc) {
        cli_usage_error(cmd, "option %s needs %s", a, scaled ? "a file and a scale" : "a value");
        return -1;
    }
    if (overlay) {
        if (o->n_overlay == ADAPTER_OPTS_MAX) {
            fprintf(stderr, "lorc %s: at most %d --overlay options\n", cmd, ADAPTER_OPTS_MAX);
            return -1;
        }
        o->overlay_path[o->n_overlay++] = argv[++*i];
        return 1;
    }
    if (o->n_lora == ADAPTER_OPTS_MAX) {
        fprintf(stderr, "lorc %s: at most %d LoRA adapters\n", cmd, ADAPTER_OPTS_MAX);
        return -1;
    }
    const char *path = argv[++*i];
    float scale = 1.0f;
    if (scaled && !cli_parse_float(cmd, a, argv[++*i], &scale)) return -1;
    o->lora_path[o->n_lora] = path;
    o->lora_scale[o->n_lora] = scale;
    o->n_lora++;
    return 1;
}

lorc_status adapter_state_load(adapter_state *s, lorc_model *model, const adapter_opts *o, lorc_error *err) {
    memset(s, 0, sizeof *s);
    lorc_status st = LORC_OK;
    for (int i = 0; i < o->n_overlay && st == LORC_OK; i++) {
        st = lorc_overlay_apply(model, o->overlay_path[i], o->force_overlay, &s->overlay[i], err);
        if (st == LORC_OK) s->n_overlay++;
    }
    for (int i = 0; i < o->n_lora && st == LORC_OK; i++) {
        st = lorc_adapter_load(model, o->lora_path[i], &s->lora[i], err);
        if (st == LORC_OK) {
            s->scale[i] = o->lora_scale[i];
            s->n_lora++;
        }
    }
    if (st != LORC_OK) adapter_state_free(s, model);
    return st;
}

lorc_status adapter_state_attach(const adapter_state *s, lorc_sequence *seq, lorc_error *err) {
    if (s->n_lora == 0) return LORC_OK;
    return lorc_sequence_set_adapters(seq, s->lora, s->scale, s->n_lora, err);
}

void adapter_state_free(adapter_state *s, lorc_model *model) {
    for (int i = 0; i < s->n_lora; i++) lorc_adapter_free(s->lora[i]);
    /* Overlays stack: remove them in the reverse order of application. */
    for (int i = s->n_overlay; i-- > 0;) lorc_overlay_remove(model, s->overlay[i]);
    memset(s, 0, sizeof *s);
}
